//! Directories made, moved in, or moved into an ignored directory: their
//! marks follow their new place (`marks`), and what they hold is caught up.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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
        core.moved_in(path, pid);
        let marks = &self.marks;
        core.catch_up(path, &mut |p, muted| {
            marks.follow(p, muted);
            true
        });
    }

    /// A directory was made at `path`: muted in a muted group, else its
    /// content mark, then what was made in it before the mark is caught up
    /// (its files' creations were heard, their sizes may have changed
    /// since): after the events of this read ([`Self::catch_up_made`]).
    /// Nothing to do while the filesystem mark has the content events for
    /// good.
    pub(super) fn made_dir(&mut self, path: &Path, core: &mut Core) {
        match self.marks.source.get() {
            Source::Filesystem if self.marks.ignore && core.muted_dir(path) => {
                self.marks.mute(path);
            }
            Source::Filesystem => {}
            _ => self.made.push(path.to_path_buf()),
        }
    }

    /// The directories made during the last read are marked (or muted)
    /// and caught up, each tree once: a burst (`cp -a`, `tar x`) makes
    /// directories faster than their events are read, and a directory
    /// whose parent is caught up too is walked with it. Until then
    /// nothing is lost: the filesystem mark hears every creation there,
    /// and the walk, after each mark, finds the sizes. Returns the trees
    /// walked.
    pub(super) fn catch_up_made(&mut self, core: &mut Core) -> Vec<PathBuf> {
        let roots = outermost(std::mem::take(&mut self.made));
        let marks = &self.marks;
        for r in &roots {
            core.catch_up(r, &mut |p, muted| {
                marks.follow(p, muted);
                true
            });
        }
        roots
    }
}

/// The paths of `v` not below another one of them (nor equal to an
/// earlier one), sorted.
pub(super) fn outermost(mut v: Vec<PathBuf>) -> Vec<PathBuf> {
    v.sort_unstable();
    let mut out: Vec<PathBuf> = Vec::with_capacity(v.len());
    for p in v {
        // Sorted: an ancestor of `p` in `out` is the last one kept (the
        // paths between them are below that ancestor as well).
        if out.last().is_none_or(|l| !p.starts_with(l)) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::outermost;
    use std::path::PathBuf;

    #[test]
    fn outermost_keeps_the_roots_of_a_burst() {
        let v = |s: &[&str]| s.iter().map(PathBuf::from).collect::<Vec<_>>();
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &[]),
            (&["/a/b", "/a", "/a/b/c", "/a"], &["/a"]),
            (&["/a/b", "/a/c", "/ab", "/a/b/x"], &["/a/b", "/a/c", "/ab"]),
            (&["/a b", "/a", "/a/b", "/a-c/d"], &["/a", "/a b", "/a-c/d"]),
        ];
        for (input, want) in cases {
            assert_eq!(outermost(v(input)), v(want), "{input:?}");
        }
    }
}
