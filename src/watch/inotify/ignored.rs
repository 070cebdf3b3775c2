//! inotify's side of `watch::ignored`: a creation-only watch on every
//! directory of the ignored paths on the root's filesystem, directories
//! made or moved there later included, each before it is read.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{Core, InotifyWatcher, at_limit};
use crate::sys::inotify::{self as sys, ReadFlags as R, WatchFlags as W};
use crate::watch::ignored;

/// What an ignored directory's watch hears: a name made or moved there.
const MASK: W = W::CREATE
    .union(W::MOVED_TO)
    .union(W::ONLYDIR)
    .union(W::DONT_FOLLOW)
    .union(W::EXCL_UNLINK);

impl InotifyWatcher {
    /// Watch `dir` and the directories below it for creations (a watch
    /// already there, e.g. of a directory moved in from a watched place,
    /// becomes creation-only; its path is brought up to date).
    pub(super) fn watch_ignored_tree(&mut self, dir: &Path, core: &mut Core) {
        let mut unheard = false;
        ignored::walk(core, dir, &mut |d| match self.ino.add_watch(d, MASK) {
            Ok(wd) => {
                self.wds.insert(wd, d.to_path_buf());
                self.ignored.insert(wd);
                true
            }
            Err(e) if at_limit(&e) => {
                unheard = true;
                false
            }
            Err(_) => false,
        });
        if unheard {
            // A link made there would go unseen.
            core.changes.ignored_links_heard = false;
        }
    }

    /// An event of an ignored directory's watch: a new name is checked
    /// (and counted: a directory hot with new names is no longer heard), a
    /// new directory is watched (and what it holds checked) unless it was
    /// made in a hot one.
    pub(super) fn ignored_event(&mut self, ev: &sys::Event<'_>, core: &mut Core) {
        let Some(dir) = self.wds.get(&ev.wd) else {
            return;
        };
        let (dir, path) = (dir.clone(), dir.join(OsStr::from_bytes(ev.name)));
        // A directory counts like a file: `tar x` in /tmp makes a hot
        // directory too.
        let made = ev.mask.contains(R::ISDIR) && ev.mask.contains(R::CREATE);
        if (made || !ev.mask.contains(R::ISDIR)) && core.created_in_ignored(&dir, &path) {
            // Hot (a burst of new names): no longer heard; `diff` checks
            // what is below it for links.
            if self.ino.rm_watch(ev.wd).is_ok() {
                self.muted += 1;
            }
        }
        // A directory made or moved here is watched, unless `diff` walks it
        // whole (made in a hot directory): no link below it goes unseen.
        if ev.mask.contains(R::ISDIR) && !(made && core.walked_whole(&dir)) {
            self.watch_ignored_tree(&path, core);
        }
    }
}
