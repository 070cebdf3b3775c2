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

    /// An event of an ignored directory's watch: a new directory is
    /// watched (and what it holds checked), a new name is checked.
    pub(super) fn ignored_event(&mut self, ev: &sys::Event<'_>, core: &mut Core) {
        let Some(dir) = self.wds.get(&ev.wd) else {
            return;
        };
        let path = dir.join(OsStr::from_bytes(ev.name));
        if ev.mask.contains(R::ISDIR) {
            self.watch_ignored_tree(&path, core);
        } else if core.created_in_ignored(&dir.clone(), &path) {
            // Hot (a burst of new files): no longer heard; `diff` checks
            // what is below it for links.
            if self.ino.rm_watch(ev.wd).is_ok() {
                self.muted += 1;
            }
        }
    }
}
