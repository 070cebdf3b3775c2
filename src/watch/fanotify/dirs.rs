//! Directories made, moved in, or moved into an ignored directory: their
//! marks follow their new place (`marks`), and what they hold is caught up.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::marks::Source;
use super::{Core, FanotifyWatcher, sys};
use crate::watch::scan::Visit;
use crate::watch::tally::Change;

impl FanotifyWatcher {
    /// A name created or moved into an excluded directory (its ignore
    /// mark lets these through, `mask` says which): is it a hard link, and
    /// kept for `diff` (`Core::created_in_ignored`). A directory made in
    /// one `diff` walks whole is muted at once. A directory moved
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
        // Made in a directory `diff` walks whole: its names need not be
        // heard (no link below it goes unseen), so it is muted at once; a
        // burst of new directories (`tar x` in /tmp) then costs one event
        // per directory, not a few dozen.
        let made_dir = sys::FAN_CREATE | sys::FAN_ONDIR;
        if mask & made_dir == made_dir
            && self.marks.ignore
            && core.walked_whole(&p)
            && self.marks.mute(&path)
        {
            return;
        }
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

    /// A directory was made at `path` in the directory `dir` (its handle):
    /// recorded, unless made in a muted tree ([`Self::mute_new`]). In a
    /// reported group it mutes its parent when that is hot, and may be
    /// muted itself (`Core::dir_made`); else its content mark, then what
    /// was made in it before the mark is caught up (its files' creations
    /// were heard, their sizes may have changed since): after the events
    /// queued ([`Self::catch_up_made`]). No mark while the filesystem
    /// mark has the content events for good.
    pub(super) fn made_dir(
        &mut self,
        dir: Option<&[u8]>,
        path: &Path,
        core: &mut Core,
        pid: Option<i32>,
    ) {
        // Its parent muted (everything below a muted directory goes to
        // its group, this one too), or another muted directory above it.
        let in_muted = dir
            .and_then(|h| self.cache.get(h))
            .is_some_and(|d| d.muted && !d.excluded);
        if self.marks.ignore && (in_muted || core.muted_dir(path)) && self.mute_new(path) {
            return;
        }
        let parent = path.parent().unwrap_or(path);
        let (hot, muted) = core.dir_made(parent, path, pid);
        if hot {
            self.mute_dir(dir, parent);
        }
        if muted && self.marks.ignore && self.mute_new(path) {
            // Muted just now (`Core::mute_now`): its fresh mute needs no
            // walk, what is below it is muted by its own `mkdir`.
            self.made_muted.push(path.to_path_buf());
            return;
        }
        if self.marks.source.get() != Source::Filesystem {
            self.made.push(path.to_path_buf());
        }
    }

    /// Mute the directory just made at `path` in a muted tree, and
    /// nothing else: the group's walks count what it holds and `diff`
    /// walks the tree; no catch-up: each directory made in it is heard
    /// (`mkdir` passes the ignore marks) and muted in turn. Its handle is
    /// cached as muted, so the creations in it heard before its mark are
    /// dropped without resolving it. False when it cannot be muted.
    fn mute_new(&mut self, path: &Path) -> bool {
        if !self.marks.mute(path) {
            return false;
        }
        if let Ok(h) = sys::handle_of(path) {
            if self.cache.len() >= 65536 {
                self.cache.clear();
            }
            let d = super::Dir {
                path: Some(path.to_path_buf()),
                excluded: false,
                muted: true,
            };
            self.cache.insert(h, d);
        }
        true
    }

    /// The directories made since the last call are marked and caught up,
    /// each tree once: a burst (`cp -a`, `tar x`) makes directories faster
    /// than their events are read, and a directory whose parent is caught
    /// up too is walked with it. Until then nothing is lost: the
    /// filesystem mark hears every creation there, and the walk, after
    /// each mark, finds the sizes. A muted directory met is muted and not
    /// walked: what is below it was made after it and is muted by its own
    /// `mkdir`, the group's walks count its files. Returns the trees made
    /// muted at once (outermost), whose fresh mutes need no walk.
    pub(super) fn catch_up_made(&mut self, core: &mut Core) -> Vec<PathBuf> {
        let scope = core.scope.clone();
        let mut visits = 0;
        for root in outermost(std::mem::take(&mut self.made)) {
            let _ = crate::watch::scan::walk(&scope, &root, true, &mut |v| {
                match v {
                    Visit::Dir(p) => {
                        self.keep_up(core, &mut visits);
                        let muted = self.marks.ignore && core.muted_dir(p);
                        self.marks.follow(p, muted);
                        if p != root && !muted {
                            core.record(p, Change::Dir, None);
                        }
                        return Ok(!muted);
                    }
                    Visit::File(p) => {
                        let size = crate::sys::meta::lstat_path(p).ok().map(|m| m.size);
                        let dir = p.parent().unwrap_or(p);
                        core.record_from(dir, p, Change::found(size), None);
                    }
                }
                Ok(true)
            });
        }
        outermost(std::mem::take(&mut self.made_muted))
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
