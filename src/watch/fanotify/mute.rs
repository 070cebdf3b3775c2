//! fanotify's side of muting (`watch::mute`): evictable ignore marks
//! (`FAN_MARK_IGNORE`, Linux 6.0) on directories, for their entries'
//! events and their children's (`FAN_EVENT_ON_CHILD`), never for events on
//! directories themselves (no `FAN_ONDIR`): `mkdir`, `rmdir` and directory
//! renames still arrive, so new directories are muted and directories
//! moved out are heard again. An evicted mark costs events again, never
//! a write: the next event in that directory places it again.

use std::cell::Cell;
use std::path::Path;

use super::{Core, FanotifyWatcher, scan, sys};

/// The events a muted directory no longer delivers: everything the
/// filesystem mark asks for but directory events (`FAN_ONDIR` stays out, so
/// mkdir, rmdir and directory renames still arrive), for its children too.
pub const IGNORED: u64 =
    (super::MASK & !sys::FAN_ONDIR) | sys::FAN_RENAME | sys::FAN_EVENT_ON_CHILD;

/// The events an ignored directory (`watch.ignore`) no longer delivers:
/// [`IGNORED`] but a name created or moved there, so that a hard link made
/// there is heard (`Core::created_ignored`) and `diff` knows the names to
/// count (`changes::Ignored`); one event per new file.
pub const IGNORED_BUT_CREATE: u64 = IGNORED & !(sys::FAN_CREATE | sys::FAN_MOVED_TO);

/// At most this many directories are muted at once when a group is
/// reported; deeper ones are muted by their first event.
const EAGER: usize = 10_000;

/// Can this kernel place ignore marks (`FAN_MARK_IGNORE`, evictable)?
pub fn probe(fan: &sys::Fanotify, root: &Path) -> bool {
    match fan.ignore_dir(root, IGNORED) {
        Ok(()) => {
            let _ = fan.unignore_dir(root, IGNORED);
            true
        }
        Err(e) => {
            tracing::info!(
                "fanotify ignore marks unavailable ({e}; FAN_MARK_IGNORE needs Linux 6.0): every write costs an event"
            );
            false
        }
    }
}

/// Mute `dir`; true when the mark is in place (counted in `n`).
pub fn mark(fan: &sys::Fanotify, dir: &Path, n: &Cell<u64>) -> bool {
    let ok = fan
        .ignore_dir(dir, IGNORED)
        .inspect_err(|e| tracing::debug!("ignore mark on {}: {e}", dir.display()))
        .is_ok();
    n.set(n.get() + u64::from(ok));
    ok
}

/// Mute the ignored directory `dir` but for creations
/// ([`IGNORED_BUT_CREATE`]); true when the mark is in place.
pub fn mark_ignored(fan: &sys::Fanotify, dir: &Path, n: &Cell<u64>) -> bool {
    let ok = fan
        .ignore_dir(dir, IGNORED_BUT_CREATE)
        .inspect_err(|e| tracing::debug!("ignore mark on {}: {e}", dir.display()))
        .is_ok();
    n.set(n.get() + u64::from(ok));
    ok
}

/// Make `dir`'s mark what its new place wants: muted or heard.
pub fn follow(fan: &sys::Fanotify, dir: &Path, muted: bool, n: &Cell<u64>) {
    if muted {
        mark(fan, dir, n);
    } else {
        // ENOENT: it had no mark.
        let _ = fan.unignore_dir(dir, IGNORED);
    }
}

impl FanotifyWatcher {
    /// Mute the directory of an event (its handle's cache entry says so).
    pub(super) fn mute_dir(&mut self, handle: Option<&[u8]>, dir: &Path) {
        if !mark(&self.fan, dir, &self.muted) {
            return;
        }
        if let Some(d) = handle.and_then(|h| self.cache.get_mut(h)) {
            d.muted = true;
        }
    }

    /// Directories just muted: mute the directories below them now rather
    /// than at each one's first event.
    pub(super) fn mute_fresh(&mut self, core: &mut Core) {
        if core.muting.fresh.is_empty() {
            return;
        }
        let scope = core.scope.clone();
        for g in std::mem::take(&mut core.muting.fresh) {
            let host = scope.root.join(g.strip_prefix("/").unwrap_or(&g));
            let mut n = 0;
            let _ = scan::walk(&scope, &host, false, &mut |v| {
                if let scan::Visit::Dir(p) = v
                    && core.muted_dir(p)
                {
                    n += 1;
                    mark(&self.fan, p, &self.muted);
                }
                Ok(n < EAGER)
            });
        }
    }
}
