//! The watcher daemon: backends, grouping, rate limits, journal, D-Bus.

pub mod groups;
