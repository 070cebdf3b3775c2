//! The two kernel interfaces behind one face: which one runs (fanotify
//! when it can, else inotify, saying why), and what the daemon asks of it
//! (drain, rescan, mute, coverage).

use std::time::Duration;

use nix::errno::Errno;

use super::core::Core;
use super::{BackendChoice, fanotify, inotify, scan};

/// The running backend.
pub(super) enum Backend {
    Inotify(inotify::InotifyWatcher),
    Fanotify(fanotify::FanotifyWatcher),
}

impl Backend {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Backend::Inotify(_) => "inotify",
            Backend::Fanotify(_) => "fanotify",
        }
    }

    pub(super) fn watched(&self) -> usize {
        match self {
            Backend::Inotify(w) => w.watched(),
            Backend::Fanotify(_) => 0,
        }
    }

    /// The fd to poll for events.
    pub(super) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        match self {
            Backend::Inotify(w) => w.as_fd(),
            Backend::Fanotify(w) => w.as_fd(),
        }
    }

    pub(super) fn drain(&mut self, core: &mut Core) -> anyhow::Result<bool> {
        match self {
            Backend::Inotify(w) => w.drain(core),
            Backend::Fanotify(w) => w.drain(core),
        }
    }

    /// Listen to names created in the ignored directories and check the
    /// files already there for hard links (`ignored`).
    pub(super) fn watch_ignored(&mut self, core: &mut Core) {
        match self {
            Backend::Inotify(w) => w.watch_ignored(core),
            Backend::Fanotify(_) => {
                // The filesystem mark hears them (ignore marks there let
                // creations through): only the links already made.
                core.changes.ignored_links_heard = true;
                for top in super::ignored::roots(core) {
                    super::ignored::walk(core, &top, &mut |_| true);
                }
            }
        }
    }

    /// Can reported groups and ignored directories be muted (`mute`)?
    pub(super) fn can_mute(&self) -> bool {
        match self {
            Backend::Inotify(_) => true,
            Backend::Fanotify(w) => w.ignore_marks,
        }
    }

    /// Unmute the groups whose reminder is due; refresh the muted ones'
    /// counts when due (`every`), or now (`force`).
    pub(super) fn muting(&mut self, core: &mut Core, every: Duration, force: bool) {
        match self {
            Backend::Inotify(w) => w.unmute_due(core),
            Backend::Fanotify(w) => w.unmute_due(core),
        }
        if force || core.refresh_due(every) {
            let n = match self {
                Backend::Inotify(w) => w.refresh(core),
                Backend::Fanotify(w) => w.refresh(core),
            };
            tracing::debug!("refreshed the muted groups: {n} changed");
        }
    }

    /// Events read, and directories muted (watches removed, marks placed).
    pub(super) fn counts(&self) -> (u64, u64) {
        match self {
            Backend::Inotify(w) => (w.events, w.muted),
            Backend::Fanotify(w) => (w.events, w.muted.get()),
        }
    }
}

/// Errors after which `auto` falls back from fanotify to inotify.
const FALLBACK: [Errno; 5] = [
    Errno::EPERM,
    Errno::EINVAL,
    Errno::EXDEV,
    Errno::ENODEV,
    Errno::EOPNOTSUPP,
];

pub(super) fn choose(
    choice: BackendChoice,
    scope: &scan::Scope,
) -> anyhow::Result<(Backend, Option<String>)> {
    let mut why = None;
    if choice != BackendChoice::Inotify {
        match fanotify::FanotifyWatcher::start(&scope.root) {
            Ok(w) => return Ok((Backend::Fanotify(w), None)),
            Err(u) if choice == BackendChoice::Auto && FALLBACK.contains(&u.errno) => {
                tracing::info!("fanotify unavailable, falling back to inotify: {}", u.why);
                why = Some(u.why);
            }
            Err(u) => anyhow::bail!("{}", u.why),
        }
    }
    Ok((
        Backend::Inotify(inotify::InotifyWatcher::start(scope)?),
        why,
    ))
}

/// Rescan the root (see [`Core::rescan`]); inotify re-adds watches on
/// the way.
pub(super) fn rescan(backend: &mut Backend, core: &mut Core) -> anyhow::Result<usize> {
    match backend {
        // At the watch limit a rescan keeps going: directories it cannot
        // watch are counted and named in the state (`coverage`).
        Backend::Inotify(w) => {
            w.begin_scan();
            let n = core.rescan(&mut |d| {
                w.add_scanned(d);
                Ok(())
            });
            w.end_scan();
            n
        }
        Backend::Fanotify(_) => core.rescan(&mut |_| Ok(())),
    }
}

/// Directories the watch limit leaves unwatched, for the state (inotify).
pub(super) fn coverage(backend: &Backend) -> (u64, Option<String>) {
    match backend {
        Backend::Inotify(w) => (w.unwatched().count as u64, w.coverage()),
        Backend::Fanotify(_) => (0, None),
    }
}
