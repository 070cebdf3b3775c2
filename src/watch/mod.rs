//! The watcher daemon: a write on the ephemeral root becomes a group
//! (`core`, `tally`), a journal warning (`journal`), an entry in the list
//! `diff` asks for (`changes`), a row in `watch.json` and on D-Bus
//! (`report`, `dbus`), and a line of the shutdown summary. The daemon's
//! decisions are a pure state machine (`machine`); `daemon` does its I/O.

pub mod activation;
pub mod attribution;
mod backend;
pub mod changes;
pub mod config_stamp;
pub mod core;
mod daemon;
#[cfg(feature = "dbus")]
pub mod dbus;
mod declared;
pub mod fairness;
pub mod fanotify;
pub mod ignored;
pub mod inotify;
pub mod journal;
pub mod judge;
pub mod lock;
pub mod machine;
pub mod mapped;
mod moved_in;
pub mod mute;
pub mod refresh;
pub mod remount;
pub mod report;
mod rescan;
mod retally;
pub mod scan;
pub mod tally;

use std::path::PathBuf;
use std::time::Duration;

use self::tally::Limits;
use crate::root::Root;

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The tree to watch.
    pub root: Root,
    /// Backend choice (`--backend`, else the config's `watch.backend`).
    pub backend: crate::config::Backend,
    /// Bounds and warning intervals.
    pub limits: Limits,
    /// The persistence root named in suggestions.
    pub persist_root: PathBuf,
    /// Minimum interval between `watch.json` writes.
    pub json_every: Duration,
    /// Serve D-Bus.
    pub dbus: bool,
    /// Logical paths never warned about (`watch.ignore`): not even watched.
    pub ignore: Vec<PathBuf>,
    /// Interval of the rescans while the inotify watch limit leaves
    /// directories unwatched.
    pub rescan_every: Duration,
    /// Declared entries that are not persisted: path, is a file, why
    /// (`diff::judge::not_persisted`, `config::Refused::losses`).
    pub declared: Vec<(PathBuf, bool, String)>,
    /// Reads them again (config and live state) when the mount table
    /// changes or on SIGHUP (`remount`).
    pub redeclare: Option<remount::Redeclare>,
    /// The config file, looked at each tick: an edit is read again as
    /// SIGHUP reads it ([`config_stamp`]).
    pub config: Option<config_stamp::ConfigStamp>,
}

/// Run the daemon until SIGTERM/SIGINT (see `daemon`).
pub fn run(opts: Options) -> anyhow::Result<()> {
    daemon::run(opts)
}
