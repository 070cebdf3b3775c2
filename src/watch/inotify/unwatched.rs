//! What inotify cannot watch (directories past `PATH_MAX`, or past the
//! watch limit) is walked before the shutdown summary and when `status`
//! asks, as muted groups are (trial-s8 finding 5: the summary left out
//! writes below `PATH_MAX` depth until the minute's rescan).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{InotifyWatcher, Unwatched, at_limit};
use crate::watch::backend::Watcher;
use crate::watch::core::Core;

/// Failed directories remembered during a rescan to tell the unwatched
/// ones from those below them; past it each is counted.
const REMEMBERED: usize = 65_536;

impl InotifyWatcher {
    /// Walk the directories holding what is not watched (each unwatched
    /// directory's parent, which is watched), recording what changed since
    /// the baseline and dropping what is gone; the whole root when there
    /// are more than [`Unwatched::KEPT`].
    pub(super) fn walk_unwatched(&mut self, core: &mut Core) {
        if self.unwatched.count == 0 {
            return;
        }
        if !self.unwatched.all_kept() {
            if let Err(e) = Watcher::rescan(self, core) {
                tracing::warn!("rescan of what inotify does not watch: {e:#}");
            }
            return;
        }
        let mut parents: Vec<PathBuf> = (self.unwatched.kept.iter())
            .filter_map(|p| Some(p.parent()?.to_path_buf()))
            .collect();
        parents.sort();
        parents.dedup();
        let mut last: Option<PathBuf> = None;
        let mut n = 0;
        for p in parents {
            if last.as_ref().is_some_and(|l| p.starts_with(l)) {
                continue;
            }
            n += core.rescan_below(&p, &mut |_| Ok(())).unwrap_or(0);
            last = Some(p);
        }
        let gone = core.retally();
        tracing::debug!("walked what inotify does not watch: {n} changed, {gone} gone");
    }

    /// A rescan's `on_dir`: watch `d` again; when that fails, count it
    /// unless its parent failed too (`failed`: this rescan's failures).
    pub(super) fn rewatch(
        &mut self,
        d: &Path,
        found: &mut Unwatched,
        failed: &mut HashSet<PathBuf>,
    ) {
        let Err(e) = self.add(d) else { return };
        if !at_limit(&e) {
            return;
        }
        let below = d.parent().is_some_and(|p| failed.contains(p));
        if failed.len() < REMEMBERED {
            failed.insert(d.to_path_buf());
        }
        if !below {
            found.push(d);
        }
    }
}
