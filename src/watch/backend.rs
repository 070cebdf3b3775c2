//! The two kernel interfaces behind one face: which one runs (fanotify
//! when it can, else inotify, saying why), and what the daemon asks of it
//! (drain, rescan, mute, coverage).

use std::os::fd::AsFd;
use std::time::Duration;

use nix::errno::Errno::{self, EINVAL, ENODEV, EOPNOTSUPP, EPERM, EXDEV};

use super::core::Core;
use super::{fanotify, inotify, scan};
use crate::config::Backend as BackendChoice;

/// What the daemon asks of a backend; its fd is the one to poll for events.
pub(super) trait Watcher: AsFd {
    /// `inotify` or `fanotify`.
    fn name(&self) -> &'static str;

    /// Directories watched (0: the filesystem is, by one mark).
    fn watched(&self) -> usize {
        0
    }

    /// Read and handle every queued event. Returns true on queue overflow.
    fn drain(&mut self, core: &mut Core) -> anyhow::Result<bool>;

    /// Listen to names created in the ignored directories and check the
    /// files already there for hard links (`ignored`).
    fn watch_ignored(&mut self, core: &mut Core);

    /// Can reported groups and ignored directories be muted (`mute`)?
    fn can_mute(&self) -> bool;

    /// Why it runs in a fallback mode since start (fanotify: content
    /// events from the filesystem mark, not the directories' marks).
    fn fell_back(&self) -> Option<&str> {
        None
    }

    /// Groups whose reminder is due: heard again and counted again.
    fn unmute_due(&mut self, core: &mut Core);

    /// Count the muted groups again; returns how many changed.
    fn refresh(&mut self, core: &mut Core) -> usize;

    /// Events read, and directories muted (watches removed, marks placed).
    fn counts(&self) -> (u64, u64);

    /// Rescan the root (see [`Core::rescan`]).
    fn rescan(&mut self, core: &mut Core) -> anyhow::Result<usize> {
        core.rescan(&mut |_| Ok(()))
    }

    /// Directories the watch limit leaves unwatched, for the state, and
    /// what is not watched in a sentence (inotify).
    fn coverage(&self) -> (u64, Option<String>) {
        (0, None)
    }

    /// Find what was written where no event comes from (inotify: the
    /// directories it cannot watch), as a rescan would. Before the
    /// summary and when `status` asks (SIGUSR2).
    fn catch_up_unwatched(&mut self, _core: &mut Core) {}

    /// Unmute the groups whose reminder is due; refresh the muted ones'
    /// counts when due (`every`), or now (`force`: with what is not
    /// watched, [`Watcher::catch_up_unwatched`]).
    fn muting(&mut self, core: &mut Core, every: Duration, force: bool) {
        self.unmute_due(core);
        if force || core.refresh_due(every) {
            let n = self.refresh(core);
            tracing::debug!("refreshed the muted groups: {n} changed");
        }
        if force {
            self.catch_up_unwatched(core);
        }
    }
}

/// The running backend.
pub(super) type Backend = Box<dyn Watcher>;

/// Errors after which `auto` falls back from fanotify to inotify.
const FALLBACK: [Errno; 5] = [EPERM, EINVAL, EXDEV, ENODEV, EOPNOTSUPP];

pub(super) fn choose(
    choice: BackendChoice,
    scope: &scan::Scope,
) -> anyhow::Result<(Backend, Option<String>)> {
    let mut why = None;
    if choice != BackendChoice::Inotify {
        match fanotify::FanotifyWatcher::start(scope) {
            Ok(w) => return Ok((Box::new(w), None)),
            Err(u) if choice == BackendChoice::Auto && FALLBACK.contains(&u.errno) => {
                tracing::info!("fanotify unavailable, falling back to inotify: {}", u.why);
                why = Some(u.why);
            }
            Err(u) => anyhow::bail!("{}", u.why),
        }
    }
    Ok((Box::new(inotify::InotifyWatcher::start(scope)?), why))
}
