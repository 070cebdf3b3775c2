//! fanotify's side of muting (`watch::mute`): a muted directory loses its
//! content mark and gets an evictable ignore mark for its entries' events
//! (`marks::MUTE`; `FAN_MARK_IGNORE`, Linux 6.0), never for events on
//! directories themselves (no `FAN_ONDIR`): `mkdir`, `rmdir` and directory
//! renames still arrive, so new directories are muted and directories
//! moved out are heard again. An evicted mark costs events again, never
//! a write: the next event in that directory places it again.

use std::path::{Path, PathBuf};

use super::marks::MUTE_ALL;
use super::{Core, FanotifyWatcher, scan, sys};

/// At most this many directories are muted at once when a group is
/// reported; deeper ones are muted by their first event.
const EAGER: usize = 10_000;

/// Can this kernel place ignore marks (`FAN_MARK_IGNORE`, evictable)?
pub fn probe(fan: &sys::Fanotify, root: &Path) -> bool {
    match fan.ignore_dir(root, MUTE_ALL) {
        Ok(()) => {
            let _ = fan.unignore_dir(root, MUTE_ALL);
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

impl FanotifyWatcher {
    /// Mute the directory of an event (its handle's cache entry says so).
    pub(super) fn mute_dir(&mut self, handle: Option<&[u8]>, dir: &Path) {
        let cached = handle.and_then(|h| self.cache.get(h));
        if cached.is_some_and(|d| d.muted) || !self.marks.mute(dir) {
            return;
        }
        if let Some(d) = handle.and_then(|h| self.cache.get_mut(h)) {
            d.muted = true;
        }
    }

    /// Directories just muted: mute the directories below them now rather
    /// than at each one's first event, but for those `walked` (made
    /// muted: sorted, outermost) and below other muted directories.
    pub(super) fn mute_fresh(&mut self, core: &mut Core, walked: &[PathBuf]) {
        if core.muting.fresh.is_empty() {
            return;
        }
        let scope = core.scope.clone();
        for g in std::mem::take(&mut core.muting.fresh) {
            let host = scope.root.join(g.strip_prefix("/").unwrap_or(&g));
            // `walked` is sorted and outermost: an ancestor of `host` in
            // it is the last one at or before `host`.
            let i = walked.partition_point(|w| w.as_path() <= host.as_path());
            if i > 0 && host.starts_with(&walked[i - 1]) {
                // Made muted: what is below it is muted by its own mkdir.
                continue;
            }
            let (mut n, mut visits) = (0, 0);
            let _ = scan::walk(&scope, &host, false, &mut |v| {
                let scan::Visit::Dir(p) = v else {
                    return Ok(true);
                };
                self.keep_up(core, &mut visits);
                if !core.muted_dir(p) {
                    return Ok(n < EAGER);
                }
                n += 1;
                self.marks.mute(p);
                // Another muted directory: walked when it was muted.
                let own = p != host
                    && (scope.logical(p)).is_some_and(|l| core.muting.dirs.contains_key(&l));
                Ok(n < EAGER && !own)
            });
        }
    }
}
