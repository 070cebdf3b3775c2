//! impermctl makes an ephemeral-root system safe to live on.
//!
//! The binary is a thin face over this library. Decisions are pure data
//! (`layout` findings, `plan` steps); every kernel call lives in `sys`.

/// Applying a boot plan: create, seed, bind, link, through `sys`.
pub mod apply;
/// The manifest of the ephemeral root right after activation, for `diff`.
pub mod baseline;
/// One classification of written paths (catalog, grouping, suggestions) for `diff` and the watcher.
pub mod classify;
/// The command line: one file per subcommand.
pub mod cli;
/// `/etc/impermctl/config.toml`: raw serde → defaults → validated `Settings`.
pub mod config;
/// Copying a tree with all metadata, atomically (seeding, `persist`).
pub mod copy;
/// What the next reboot will discard: walk, compare with the baseline, render.
pub mod diff;
/// Exit codes and how they merge.
pub mod exit;
/// Sizes, counts, plurals and times for people: one function each.
pub mod human;
/// User and group names → ids, on the live root (NSS) or a `--root` tree.
pub mod ids;
/// Observed layout (mounts, filesystems) and the registry of named checks.
pub mod layout;
/// Live changes without loss: `method = "copy"` files, entries left
/// pending while processes write, reconciling writes that raced a bind, and
/// the shutdown sync.
pub mod live;
/// Logging to journald (structured) or stderr.
pub mod logging;
/// A parser and queries for `/proc/self/mountinfo`.
pub mod mountinfo;
/// File names as data: one human rendering, one byte-exact JSON encoding.
pub mod names;
/// Versioned machine-readable documents (`--json`).
pub mod output;
/// Moving live data into persistence (`impermctl persist`).
pub mod persist;
/// The boot plan: a pure function of settings and observed state.
pub mod plan;
/// The tree impermctl works on (`/` or `--root DIR`) and every path derived from it.
pub mod root;
/// Services whose `StateDirectory=` is not persisted (systemd over D-Bus).
pub mod services;
/// `/run/impermctl/state.json`: what `boot` did, for idempotence and what it left in place.
pub mod state;
/// The config line (Nix or TOML) that persists a path.
pub mod suggest;
/// Every syscall: mounts, utab, files, sd_notify, inotify/fanotify.
pub mod sys;
/// Helpers of the unit tests.
#[cfg(test)]
mod testing;
/// The one parallel, fd-relative tree walker, behind a small visitor interface.
pub mod walk;
/// The watcher daemon: backends, grouping, rate limits, journal, D-Bus.
pub mod watch;
