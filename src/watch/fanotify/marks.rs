//! Where fanotify's content events come from. The filesystem mark asks
//! for directory-entry events only ([`DIRENT`]: creations, deletions,
//! renames); content events ([`CONTENT`]: writes, closes after writing,
//! attribute changes) come from an inode mark with `FAN_EVENT_ON_CHILD` on
//! every watched directory. A directory without one costs its writers
//! nothing: the kernel's `fsnotify_parent` returns before looking at the
//! parent when neither the file, its parent nor the filesystem mark wants
//! the event (`fsnotify_object_watched`, `DCACHE_FSNOTIFY_PARENT_WATCHED`).
//! So `watch.ignore` directories and muted (reported) directories carry no
//! content mark, and their ignore marks (for directory-entry events) have
//! no `FAN_EVENT_ON_CHILD`: 0.99× the writer's speed without a watcher,
//! against 0.93× with content events on the filesystem mark
//! (`bench/watch_ignore_floor.c`, modes 1 and 6).
//!
//! The marks are placed by a walk after start ([`super::placing`]); until
//! it is done the filesystem mark carries the content events too (so the
//! watcher is ready at once, and nothing is missed). A directory created
//! later is marked at its `FAN_CREATE` (a file made in it before is heard by
//! its own `FAN_CREATE`, and caught up), one moved in is walked and marked,
//! a rescan marks again. When a mark cannot be placed (`ENOSPC` at
//! `max_user_marks`, or more directories than [`budget`]) the filesystem
//! mark takes the content events back for good ([`Source::Filesystem`]):
//! every write costs again what it cost before, none is missed.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::sys::{self, Fanotify};

/// The filesystem mark's events once the directories are marked.
pub const DIRENT: u64 =
    sys::FAN_CREATE | sys::FAN_MOVED_FROM | sys::FAN_MOVED_TO | sys::FAN_DELETE | sys::FAN_ONDIR;

/// Content events: on the directories' marks (for their entries), or on
/// the filesystem mark while the directories are being marked and after a
/// fall-back.
pub const CONTENT: u64 = sys::FAN_MODIFY | sys::FAN_CLOSE_WRITE | sys::FAN_ATTRIB;

/// A watched directory's mark: its entries' content events (a
/// subdirectory's `FAN_ATTRIB` too: a `chmod` of it is a change, `Rec::matches`).
pub const ON_DIR: u64 = CONTENT | sys::FAN_EVENT_ON_CHILD | sys::FAN_ONDIR;

/// What a muted directory's ignore mark drops when content events come
/// from the directories' marks: its directory-entry events (a muted
/// directory also loses its content mark). No `FAN_EVENT_ON_CHILD`:
/// directory-entry events are the directory's own, and with it every file
/// below would take the kernel's slow path again. No `FAN_ONDIR`: mkdir,
/// rmdir and directory renames still arrive.
pub const MUTE: u64 = (DIRENT & !sys::FAN_ONDIR) | sys::FAN_RENAME;

/// What a muted directory's ignore mark drops while the filesystem mark
/// carries the content events: those too, for its children as well.
pub const MUTE_ALL: u64 = MUTE | CONTENT | sys::FAN_EVENT_ON_CHILD;

/// An ignored directory (`watch.ignore`) keeps hearing the names created or
/// moved there (`Core::created_in_ignored`): the mute masks without those.
const HEAR_NAMES: u64 = !(sys::FAN_CREATE | sys::FAN_MOVED_TO);

/// Where content events come from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The filesystem mark, while the start-up walk marks the directories.
    Placing,
    /// The directories' marks.
    Dirs,
    /// The filesystem mark, for good (a mark could not be placed).
    Filesystem,
}

/// Where the budget comes from, for the log.
pub const BUDGET: &str = "half of fs.fanotify.max_user_marks, or IMPERMCTL_FANOTIFY_MARKS";

/// Within `budget / SLACK` of the budget, the marks are not counted again
/// (each count reads the kernel's list of marks): the watcher falls back.
const SLACK: usize = 16;

/// The most directory marks the watcher places by default: half of
/// `max_user_marks` (shared by every fanotify group of the user, ignore
/// marks included), or `IMPERMCTL_FANOTIFY_MARKS` (tests).
pub fn budget() -> usize {
    if let Some(n) = std::env::var("IMPERMCTL_FANOTIFY_MARKS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return n;
    }
    std::fs::read_to_string("/proc/sys/fs/fanotify/max_user_marks")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .map_or(4096, |n| n / 2)
}

/// The group's marks and how many were placed.
#[derive(Debug)]
pub struct Marks {
    /// The group.
    pub fan: Arc<Fanotify>,
    /// The root (its filesystem carries the filesystem mark).
    pub root: PathBuf,
    /// Where content events come from.
    pub source: Cell<Source>,
    /// The kernel has `FAN_MARK_IGNORE` (6.0).
    pub ignore: bool,
    /// Ignore marks placed so far.
    pub muted: Cell<u64>,
    /// Directory marks placed since the last full walk, re-marks included
    /// (recounted from the kernel at the budget: `Marks::recount`).
    pub placed: Cell<usize>,
    /// At most this many directory marks.
    pub budget: usize,
    /// Directories muted since the last read of events (their paths): a
    /// burst of new directories mutes each parent and each new tree once,
    /// not at every event (`Marks::mute`). Cleared after each read.
    pub recent: RefCell<HashSet<PathBuf>>,
    /// The source just changed: the muted directories are to be marked
    /// again with the masks that fit (`FanotifyWatcher::settle`).
    pub remute: Cell<bool>,
    /// Why content events come from the filesystem mark, once they do
    /// (`watch.json`'s `fallback`, `status`).
    pub fell_back: std::cell::OnceCell<String>,
}

/// The outcome of a directory's content mark: placed (`Ok(true)`), the
/// directory gone or not a directory any more (`Ok(false)`: nothing to
/// mark), or why content events must fall back to the filesystem mark
/// (the marks limit, `ENOSPC`, or any other error: what is below would go
/// unheard).
pub fn placed(r: std::io::Result<()>, dir: &Path) -> Result<bool, String> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => {
            Err("the fanotify marks limit (fs.fanotify.max_user_marks) is reached".into())
        }
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(nix::libc::ENOENT | nix::libc::ENOTDIR)
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

impl Marks {
    /// Content events from `dir`'s entries (unless they come from the
    /// filesystem mark for good). True when the mark is in place. At the
    /// marks limit or past the budget: falls back first, so nothing is
    /// missed.
    pub fn watch(&self, dir: &Path) -> bool {
        if self.source.get() == Source::Filesystem {
            return false;
        }
        if self.placed.get() >= self.budget && !self.recount() {
            return false;
        }
        match placed(self.fan.mark_dir(dir, ON_DIR), dir) {
            Ok(true) => {
                self.placed.set(self.placed.get() + 1);
                true
            }
            Ok(false) => false,
            Err(why) => {
                self.fall_back(&why);
                false
            }
        }
    }

    /// `placed` counts every mark placed, also again on a directory
    /// already marked (a tree moved away and back is marked again): at the
    /// budget, ask the kernel how many directories carry a content mark.
    /// True when well below the budget (`placed` is set to that); else
    /// falls back, naming the count, and false.
    fn recount(&self) -> bool {
        let why = match self.fan.inode_marks(sys::FAN_MODIFY, false) {
            Ok(n) if n < self.budget - self.budget / SLACK => {
                tracing::debug!("fanotify: {n} directories carry a content mark");
                self.placed.set(n);
                return true;
            }
            Ok(n) => format!(
                "{n} directories are marked, the budget is {} ({BUDGET})",
                self.budget
            ),
            Err(e) => format!("cannot count the marks placed: {e}"),
        };
        self.fall_back(&why);
        false
    }

    /// No content events from `dir`'s entries.
    pub fn unwatch(&self, dir: &Path) {
        if self.fan.unmark_dir(dir, ON_DIR).is_ok() {
            self.placed.set(self.placed.get().saturating_sub(1));
        }
    }

    /// Content events come from the filesystem mark from now on (said once).
    pub fn fall_back(&self, why: &str) {
        if self.source.replace(Source::Filesystem) == Source::Filesystem {
            return;
        }
        self.remute.set(true);
        let _ = self.fell_back.set(why.to_string());
        self.recent.borrow_mut().clear();
        if let Err(e) = self.fan.mark_filesystem(&self.root, CONTENT) {
            // The mark carried them until now (`Placing`) or cannot take
            // them: say so, the rescan after an error finds the writes.
            tracing::error!("fanotify: cannot add content events to the filesystem mark: {e}");
        }
        tracing::warn!(
            "fanotify: directories are not marked one by one ({why}): content events come from the filesystem mark, every write costs an event again (writes into ignored and reported directories too)"
        );
    }

    /// The ignore masks for a muted directory and for an ignored one.
    fn masks(&self) -> (u64, u64) {
        let mute = match self.source.get() {
            Source::Filesystem => MUTE_ALL,
            _ => MUTE,
        };
        (mute, mute & HEAR_NAMES)
    }

    fn ignore_mark(&self, dir: &Path, mask: u64) -> bool {
        if !self.ignore {
            return false;
        }
        let mut r = self.fan.ignore_dir(dir, mask);
        if r.as_ref().err().and_then(|e| e.raw_os_error()) == Some(nix::libc::EEXIST) {
            // An evictable ignore mark cannot join a pinned (content)
            // mark: that goes first.
            self.unwatch(dir);
            r = self.fan.ignore_dir(dir, mask);
        }
        let ok = r
            .inspect_err(|e| tracing::debug!("ignore mark on {}: {e}", dir.display()))
            .is_ok();
        self.muted.set(self.muted.get() + u64::from(ok));
        ok
    }

    /// Mute the directory `dir` of a reported group; true when its ignore
    /// mark is in place.
    pub fn mute(&self, dir: &Path) -> bool {
        if self.recent.borrow().contains(dir) {
            return true;
        }
        let ok = self.ignore_mark(dir, self.masks().0);
        if ok {
            self.recent.borrow_mut().insert(dir.to_path_buf());
        }
        ok
    }

    /// Mute the ignored directory `dir` but for the names created there;
    /// true when its ignore mark is in place.
    pub fn mute_ignored(&self, dir: &Path) -> bool {
        self.recent.borrow_mut().remove(dir);
        self.ignore_mark(dir, self.masks().1)
    }

    /// Remove `dir`'s ignore mark (ENOENT: it had none).
    fn unignore(&self, dir: &Path) {
        self.recent.borrow_mut().remove(dir);
        if self.ignore {
            let _ = self.fan.unignore_dir(dir, MUTE_ALL);
        }
    }

    /// Make `dir`'s marks what its new place wants: muted, or heard (its
    /// content mark placed before anything in it is read).
    pub fn follow(&self, dir: &Path, muted: bool) {
        if muted {
            self.mute(dir);
        } else {
            self.unignore(dir);
            self.watch(dir);
        }
    }

    /// `dir` is now in an ignored directory: every name created there is
    /// heard (until it is hot again), no content event.
    pub fn ignored(&self, dir: &Path) {
        self.unignore(dir);
        self.unwatch(dir);
    }
}
