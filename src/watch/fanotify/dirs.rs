//! Directories made, moved in, or moved into an ignored directory: their
//! marks follow their new place (`marks`), and what they hold is caught up.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::marks::Source;
use super::{Core, FanotifyWatcher, sys};
use crate::watch::tally::Change;

impl FanotifyWatcher {
    /// A name created or moved into an excluded directory (its ignore
    /// mark lets these through, `mask` says which): is it a hard link, and
    /// kept for `diff` (`Core::created_in_ignored`). A directory moved
    /// there is walked for both, its marks removed first (a hot one's
    /// mark moved with it: heard again, until hot again).
    pub(super) fn created_in_excluded(
        &mut self,
        dir: Option<&[u8]>,
        name: &[u8],
        mask: u64,
        core: &mut Core,
    ) {
        let Some(d) = dir.and_then(|h| self.dir(h, core)) else {
            return;
        };
        let (true, Some(p)) = (d.excluded, d.path.clone()) else {
            return;
        };
        let path = p.join(OsStr::from_bytes(name));
        // Hot (a burst of new files): creations there are muted too.
        if core.created_in_ignored(&p, &path) && self.marks.ignore {
            self.marks.mute(&p);
        }
        if mask & sys::FAN_ONDIR != 0 && mask & sys::FAN_MOVED_TO != 0 {
            let marks = &self.marks;
            crate::watch::ignored::walk(core, &path, &mut |d| {
                marks.ignored(d);
                true
            });
        }
    }

    /// Something appeared at `path` by creation or rename. A directory moved
    /// in brings its files along: record them. Marks move with the
    /// directories: a tree moved out of an ignored or reported place is
    /// heard again (before its content is read, so nothing written
    /// meanwhile is missed), one moved into a muted group is muted.
    pub(super) fn arrived(&mut self, path: &Path, is_dir: bool, core: &mut Core, pid: Option<i32>) {
        if !is_dir {
            let size = crate::sys::meta::lstat_path(path).ok().map(|m| m.size);
            core.record(path, Change::found(size), pid);
            return;
        }
        core.record(path, Change::Dir, pid);
        let marks = &self.marks;
        core.catch_up(path, &mut |p, muted| {
            marks.follow(p, muted);
            true
        });
    }

    /// A directory was made at `path`: muted in a muted group, else its
    /// content mark, then what was made in it before the mark is caught up
    /// (its files' creations were heard, their sizes may have changed
    /// since). Nothing to do while the filesystem mark has the content
    /// events for good.
    pub(super) fn made_dir(&mut self, path: &Path, core: &mut Core) {
        match self.marks.source.get() {
            Source::Filesystem if self.marks.ignore && core.muted_dir(path) => {
                self.marks.mute(path);
            }
            Source::Filesystem => {}
            _ => {
                let marks = &self.marks;
                core.catch_up(path, &mut |p, muted| {
                    marks.follow(p, muted);
                    true
                });
            }
        }
    }
}
