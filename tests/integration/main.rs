//! The integration suite: one binary, one module per area. Tests run the
//! real `impermctl` binary against fake roots and, as root, against real
//! mounts in private mount namespaces (see `util`).

mod boot;
mod cli;
mod config;
mod copy_kill;
mod deb;
mod diff;
mod docs;
mod hardening;
mod manifest;
mod module_map;
mod nix;
mod persist;
mod persist_copy;
mod persist_replaced;
mod schemas;
mod snapshots;
mod status;
mod sys;
mod util;
mod verify;
mod watch;
