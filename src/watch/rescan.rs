//! Catching up with writes nobody listened to: the rescan after an
//! overflow or at start (everything changed since the baseline), and the
//! walk of a directory that appeared (made, or moved in).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::core::Core;
use super::scan::{self, Visit};
use super::tally::Change;

impl Core {
    /// After an overflow, and at start when a boot baseline exists: record
    /// every file and directory under the root whose ctime is at or after
    /// `since`, then drop what is counted but no longer there (its deletion
    /// was among the lost events; [`Core::retally`]). `on_dir` sees every
    /// directory (to re-add watches).
    pub fn rescan(
        &mut self,
        on_dir: &mut dyn FnMut(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<usize> {
        let root = self.scope.root.clone();
        let n = self.rescan_below(&root, on_dir)?;
        // What was deleted while nobody listened is counted no more.
        let gone = self.retally();
        self.recount_queued();
        tracing::debug!("the rescan dropped {gone} counted paths no longer there");
        Ok(n)
    }

    /// [`Core::rescan`]'s walk of `start` (host) and what is below it,
    /// without the tally's reconciliation.
    pub fn rescan_below(
        &mut self,
        start: &Path,
        on_dir: &mut dyn FnMut(&Path) -> anyhow::Result<()>,
    ) -> anyhow::Result<usize> {
        let scope = self.scope.clone();
        let root = scope.root.clone();
        let mut n = 0;
        self.rescanning = true;
        let r = scan::walk(&scope, start, true, &mut |v| {
            match v {
                Visit::Dir(p) => {
                    // A muted group's directories stay unwatched.
                    if !self.muted_dir(p) {
                        on_dir(p)?;
                    }
                    if p != root
                        && let Ok(m) = crate::sys::meta::lstat_path(p)
                        && ctime(&m) >= self.since
                        && !self.as_recorded(p, &m)
                    {
                        n += 1;
                        self.record(p, Change::Dir, None);
                    }
                }
                Visit::File(p) => n += usize::from(self.record_if_changed(p).is_some()),
            }
            Ok(true)
        });
        self.rescanning = false;
        r?;
        Ok(n)
    }

    /// Record the file `p` (host) a walk found, if it changed at or after
    /// `since`, differs from the baseline's record of it (or has none) and
    /// is on the root's filesystem (a bind from another one made after
    /// start is not in the scope's pruned set). Returns its ctime when
    /// recorded. Looked at fd-relatively past `PATH_MAX`.
    pub fn record_if_changed(&mut self, p: &Path) -> Option<SystemTime> {
        let m = crate::sys::meta::lstat_path(p).ok()?;
        let ct = ctime(&m);
        if m.dev != self.scope.dev || ct < self.since || self.as_recorded(p, &m) {
            return None;
        }
        self.record(p, Change::found(Some(m.size)), None);
        Some(ct)
    }

    /// Is the entry at `host` (`m`, just stat'ed) as the baseline recorded
    /// it ([`crate::baseline::Rec::matches`])? Then it has not changed since
    /// the baseline, whatever its ctime says about `since` (the baseline's
    /// origin is a second before its walk: a root populated just before
    /// the baseline has every ctime after it), and neither the list nor
    /// the table needs it: `diff` and the judge find it unchanged too.
    pub(super) fn as_recorded(&self, host: &Path, m: &crate::sys::meta::Meta) -> bool {
        let Some((b, _)) = self.judge.as_ref().and_then(|j| j.baseline()) else {
            return false;
        };
        self.scope
            .logical(host)
            .and_then(|l| b.get(l.as_os_str().as_bytes()))
            .is_some_and(|r| r.matches(m))
    }

    /// A directory appeared (made, or moved in): record every directory
    /// and file below it, written before anyone listened there. `on_dir`
    /// sees each directory with whether it is in a muted group, and says
    /// whether to go into it (the backend watches or marks it first, so
    /// nothing written meanwhile is missed). Files go through
    /// [`Core::record_from`]: one that reports its group mutes it.
    pub fn catch_up(&mut self, dir: &Path, on_dir: &mut dyn FnMut(&Path, bool) -> bool) {
        tracing::debug!("catching up {}", dir.display());
        let scope = self.scope.clone();
        let _ = scan::walk(&scope, dir, true, &mut |v| {
            match v {
                Visit::Dir(p) => {
                    if !on_dir(p, self.muted_dir(p)) {
                        return Ok(false);
                    }
                    if p != dir {
                        self.record(p, Change::Dir, None);
                    }
                }
                Visit::File(p) => {
                    let size = crate::sys::meta::lstat_path(p).ok().map(|m| m.size);
                    self.record_from(p.parent().unwrap_or(p), p, Change::found(size), None);
                }
            }
            Ok(true)
        });
    }
}

/// An inode's change time.
pub(super) fn ctime(m: &crate::sys::meta::Meta) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(m.ctime.0.max(0) as u64, m.ctime.1.min(999_999_999))
}
