//! inotify's side of muting (`watch::mute`): a muted directory's watch is
//! removed (the kernel then queues nothing for it, nor for directories
//! created in it); when the group is unmuted its directories are watched
//! again, each before it is read.

use super::{Core, InotifyWatcher};

impl InotifyWatcher {
    /// Stop watching `wd` (its queued events are dropped: the refresh
    /// counts what they said).
    pub(super) fn mute_wd(&mut self, wd: i32) {
        if self.wds.remove(&wd).is_some() && self.ino.rm_watch(wd).is_ok() {
            self.muted += 1;
        }
    }

    /// Directories just muted: remove the watches on them and on the
    /// directories below them now.
    pub(super) fn mute_fresh(&mut self, core: &mut Core) {
        if core.muting.fresh.is_empty() {
            return;
        }
        let fresh = std::mem::take(&mut core.muting.fresh);
        let hosts: Vec<_> = fresh
            .iter()
            .map(|g| core.scope.root.join(g.strip_prefix("/").unwrap_or(g)))
            .collect();
        let wds: Vec<i32> = self
            .wds
            .iter()
            .filter(|(_, p)| hosts.iter().any(|h| p.starts_with(h)) && core.muted_dir(p))
            .map(|(wd, _)| *wd)
            .collect();
        for wd in wds {
            self.mute_wd(wd);
        }
    }
}
