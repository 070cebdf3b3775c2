//! Keeping the tally what `diff` would say (issue 14's rule: warnings,
//! `status` and the shutdown summary agree with `diff`): a rewrite of a
//! baseline entry is counted at once while its warning waits
//! ([`judge::HOLD`](super::judge::HOLD)); a retaken baseline drops what it
//! adopted; a renamed or removed directory takes its paths along
//! (`tally::forget`), and a group that cannot tell which of its hashed
//! paths went is counted again by a walk.

use std::path::{Path, PathBuf};

use super::core::Core;
use super::tally::Change;
use crate::classify::grouping::Placement;

impl Core {
    /// A held-back change (`Verdict::Hold`): counted in its group now,
    /// with its size as it is now, without a warning (one comes when the
    /// hold ends and it still differs from the baseline).
    pub(super) fn count_held(
        &mut self,
        logical: &Path,
        host: &Path,
        place: Placement,
        consequence: Option<String>,
        change: Change,
        pid: Option<i32>,
    ) -> Option<(PathBuf, bool)> {
        if let Some(c) = consequence {
            self.important.insert(place.group.clone(), c);
        }
        let change = match change {
            Change::Write { size: None, .. } => {
                change.sized(std::fs::symlink_metadata(host).ok().map(|m| m.len()))
            }
            c => c,
        };
        let quiet = std::mem::replace(&mut self.table.counting_only, true);
        let r = self.apply(logical, host, place.group, change, pid);
        self.table.counting_only = quiet;
        r
    }

    /// Drop every counted path that is gone, or that the baseline has as
    /// it is (a retaken baseline adopted it); groups holding paths by hash
    /// only are queued to be counted again by a walk
    /// ([`Core::recount_queued`]). Returns how many paths were dropped.
    /// After a retaken baseline, and after a rescan: deletions whose events
    /// were lost (queue overflow, unwatched directories) are found here.
    pub(super) fn retally(&mut self) -> usize {
        let Some(j) = &self.judge else { return 0 };
        let root = self.scope.root.clone();
        let dropped = self.table.retain_counted(&mut |logical| {
            let host = root.join(logical.strip_prefix("/").unwrap_or(logical));
            crate::sys::meta::lstat_path(&host).is_ok() && !j.as_in_baseline(logical, &host)
        });
        self.dirty |= dropped > 0;
        dropped
    }

    /// Count again by a walk the groups the table could not correct by
    /// name (`tally::forget`).
    pub(super) fn recount_queued(&mut self) {
        for g in self.table.take_recount() {
            if self.refresh_group(&g, &mut |_, _| {}) {
                tracing::debug!("counted {} again", g.display());
            }
        }
    }
}
