//! The inotify backend: a watch on every directory of the root's filesystem,
//! new directories caught up by a scan (so no file in them is missed), the
//! wd → path map kept right across renames.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rustix::io::Errno;

use super::backend::Watcher;
use super::core::Core;
use super::scan::{self, Scope};
use super::tally::Change;
use crate::sys::inotify::{self as sys, Inotify, ReadFlags as R, WatchFlags as W};

mod ignored;
mod limit;
mod mute;
mod unwatched;

pub use limit::Unwatched;

const MASK: W = W::CREATE
    .union(W::MODIFY)
    .union(W::CLOSE_WRITE)
    .union(W::ATTRIB)
    .union(W::MOVED_FROM)
    .union(W::MOVED_TO)
    .union(W::DELETE)
    .union(W::MOVE_SELF)
    .union(W::DELETE_SELF)
    .union(W::ONLYDIR)
    .union(W::DONT_FOLLOW)
    .union(W::EXCL_UNLINK);

/// Did a watch fail for the watch limit (or a path inotify cannot take)?
fn at_limit(e: &std::io::Error) -> bool {
    matches!(
        Errno::from_io_error(e),
        Some(Errno::NOSPC | Errno::NAMETOOLONG)
    )
}

/// Recursive inotify watcher.
#[derive(Debug)]
pub struct InotifyWatcher {
    ino: Inotify,
    wds: HashMap<i32, PathBuf>,
    moved_from: HashMap<u32, PathBuf>,
    buf: Vec<std::mem::MaybeUninit<u8>>,
    limit_logged: bool,
    /// Left unwatched at the last full scan (start or rescan).
    unwatched: Unwatched,
    /// The last file event (wd, name, when): a MODIFY/ATTRIB right after
    /// an event for the same file adds nothing (one write = three events).
    last: (i32, Vec<u8>, Option<std::time::Instant>),
    /// Events read so far.
    pub events: u64,
    /// Watches removed to mute directories so far.
    pub muted: u64,
    /// Creation-only watches of ignored directories (`ignored`).
    ignored: HashSet<i32>,
}

impl InotifyWatcher {
    /// Watch every directory of the scope. Fails clearly when the watch
    /// limit (`fs.inotify.max_user_watches`) is too low.
    pub fn start(scope: &Scope) -> anyhow::Result<InotifyWatcher> {
        let mut w = InotifyWatcher {
            ino: Inotify::init().map_err(|e| anyhow::anyhow!("inotify_init1: {e}"))?,
            wds: HashMap::new(),
            moved_from: HashMap::new(),
            buf: vec![std::mem::MaybeUninit::uninit(); 256 * 1024],
            limit_logged: false,
            unwatched: Unwatched::default(),
            last: (-1, Vec::new(), None),
            events: 0,
            muted: 0,
            ignored: HashSet::new(),
        };
        // The watches added, and the directories left unwatched.
        let found = Mutex::new((Vec::new(), Unwatched::default()));
        let lock = || found.lock().unwrap_or_else(PoisonError::into_inner);
        let ino = &w.ino;
        let watch = |p: PathBuf| match ino.add_watch(&p, MASK) {
            Ok(wd) => {
                lock().0.push((wd, p));
                Some(wd)
            }
            Err(e) if at_limit(&e) => {
                lock().1.push(&p);
                None
            }
            Err(_) => None,
        };
        // Another filesystem (mounted after the table was read): no
        // directory of ours has this inode, so the watch is ours alone.
        let unwatch = |wd: i32| {
            let _ = ino.rm_watch(wd);
            lock().0.retain(|(w, _)| *w != wd);
        };
        scan::walk_dirs_parallel(scope, crate::walk::default_threads(), &watch, &unwatch);
        let (added, unwatched) = found.into_inner().unwrap_or_else(PoisonError::into_inner);
        w.wds.extend(added);
        // At the limit the daemon keeps running with what it could watch,
        // says what it could not, and rescans (see `Unwatched`).
        w.unwatched = unwatched;
        if w.unwatched.count > 0 {
            w.limit_logged = true;
            tracing::error!("{}", w.coverage().unwrap_or_default());
        }
        Ok(w)
    }

    /// Watch one directory (or refresh its path after a rename).
    pub fn add(&mut self, dir: &Path) -> std::io::Result<i32> {
        let wd = self.ino.add_watch(dir, MASK)?;
        // Moved out of an ignored place: watched whole again.
        self.ignored.remove(&wd);
        if self.wds.get(&wd).is_none_or(|p| p != dir) {
            self.wds.insert(wd, dir.to_path_buf());
        }
        Ok(wd)
    }

    fn handle(&mut self, ev: sys::Event<'_>, core: &mut Core) -> bool {
        if ev.mask.contains(R::QUEUE_OVERFLOW) {
            return true;
        }
        if ev.mask.contains(R::IGNORED) {
            self.wds.remove(&ev.wd);
            self.ignored.remove(&ev.wd);
            return false;
        }
        if self.ignored.contains(&ev.wd) {
            self.ignored_event(&ev, core);
            return false;
        }
        if ev.name.is_empty() {
            // IN_MOVE_SELF / IN_DELETE_SELF: the parent's MOVED_TO (or
            // IN_IGNORED) brings the map up to date.
            return false;
        }
        let m = ev.mask;
        let same = self.last.0 == ev.wd && self.last.1 == ev.name;
        if !m.contains(R::ISDIR)
            && (R::MODIFY | R::ATTRIB).contains(m)
            && same
            && self
                .last
                .2
                .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1))
        {
            return false;
        }
        if !same {
            self.last.0 = ev.wd;
            self.last.1.clear();
            self.last.1.extend_from_slice(ev.name);
        }
        self.last.2 = Some(std::time::Instant::now());
        let Some(dir) = self.wds.get(&ev.wd) else {
            return false;
        };
        let path = dir.join(OsStr::from_bytes(ev.name));
        if ev.mask.contains(R::ISDIR) {
            self.dir_event(&ev, &path, core);
            return false;
        }
        let write = |size, created| Change::Write { size, created };
        let change = if m.intersects(R::DELETE | R::MOVED_FROM) {
            Change::Gone
        } else if m.intersects(R::CLOSE_WRITE | R::MOVED_TO) {
            let size = std::fs::symlink_metadata(&path).ok().map(|m| m.len());
            write(size, m.contains(R::MOVED_TO))
        } else if m.intersects(R::CREATE | R::MODIFY | R::ATTRIB) {
            write(None, m.contains(R::CREATE))
        } else {
            return false;
        };
        if m.contains(R::MOVED_TO) {
            core.moved_onto(&path);
        }
        let dir = path.parent().unwrap_or(&path);
        if core.record_from(dir, &path, change, None) {
            self.mute_wd(ev.wd);
        }
        false
    }

    /// A directory was made, moved or removed at `path`: the rename map,
    /// the group, and a catch-up of what a new one already holds.
    fn dir_event(&mut self, ev: &sys::Event<'_>, path: &Path, core: &mut Core) {
        if ev.mask.contains(R::ATTRIB) {
            // A chmod, chown, ACL or xattr: `diff` compares it.
            core.record(path, Change::Dir, None);
        }
        if ev.mask.contains(R::MOVED_FROM) {
            if self.moved_from.len() > 1024 {
                self.moved_from.clear();
            }
            self.moved_from.insert(ev.cookie, path.to_path_buf());
        }
        if ev.mask.intersects(R::MOVED_FROM | R::DELETE) {
            core.record(path, Change::GoneDir, None);
        }
        // An ignored directory made or moved in after the start: its
        // creations are heard (`watch::ignored`).
        if ev.mask.intersects(R::CREATE | R::MOVED_TO)
            && crate::watch::ignored::roots(core).iter().any(|r| r == path)
        {
            self.watch_ignored_tree(path, core);
        }
        if ev.mask.intersects(R::CREATE | R::MOVED_TO) && !core.scope.pruned(path) {
            if ev.mask.contains(R::MOVED_TO)
                && let Some(old) = self.moved_from.remove(&ev.cookie)
            {
                self.rename_prefix(&old, path);
            }
            if ev.mask.contains(R::MOVED_TO) {
                core.moved_in(path, None);
            }
            // A directory made in a reported group mutes its parent.
            let parent = path.parent().unwrap_or(path);
            if core.record_from(parent, path, Change::Dir, None) {
                self.mute_wd(ev.wd);
            }
            self.catch_up(path, core);
        }
    }

    /// A directory was renamed: every watched path under `old` moves to `new`.
    fn rename_prefix(&mut self, old: &Path, new: &Path) {
        for p in self.wds.values_mut() {
            if let Ok(rest) = p.strip_prefix(old) {
                *p = if rest.as_os_str().is_empty() {
                    new.to_path_buf()
                } else {
                    new.join(rest)
                };
            }
        }
    }

    /// A new directory: watch it and everything below (a muted group's
    /// directories stay unwatched), and record every file already in it
    /// (written before its watch existed).
    fn catch_up(&mut self, dir: &Path, core: &mut Core) {
        core.catch_up(dir, &mut |p, muted| !muted && self.add_or_log(p));
    }
}

impl Watcher for InotifyWatcher {
    fn name(&self) -> &'static str {
        "inotify"
    }

    fn watched(&self) -> usize {
        self.wds.len()
    }

    fn drain(&mut self, core: &mut Core) -> anyhow::Result<bool> {
        let mut overflow = false;
        let mut buf = std::mem::take(&mut self.buf);
        let ino = self.ino.clone();
        let r = ino.drain(&mut buf, |ev| {
            self.events += 1;
            overflow |= self.handle(ev, core)
        });
        self.buf = buf;
        self.mute_fresh(core);
        r.map_err(|e| anyhow::anyhow!("reading inotify events: {e}"))?;
        Ok(overflow)
    }

    /// Creation-only watches; says in the list whether every ignored
    /// directory could be watched.
    fn watch_ignored(&mut self, core: &mut Core) {
        core.changes.ignored_links_heard = true;
        for top in crate::watch::ignored::roots(core) {
            self.watch_ignored_tree(&top, core);
        }
    }

    fn can_mute(&self) -> bool {
        true
    }

    fn unmute_due(&mut self, core: &mut Core) {
        for g in core.take_due() {
            tracing::debug!("unmuted {}", g.display());
            core.refresh_group(&g, &mut |d, muted| {
                if !muted {
                    self.add_or_log(d);
                }
            });
        }
    }

    fn refresh(&mut self, core: &mut Core) -> usize {
        core.refresh_muted(&mut |_, _| {})
    }

    fn counts(&self) -> (u64, u64) {
        (self.events, self.muted)
    }

    /// At the watch limit a rescan keeps going: directories it cannot
    /// watch are counted and named in the state (`coverage`).
    fn rescan(&mut self, core: &mut Core) -> anyhow::Result<usize> {
        let (mut found, mut failed) = (Unwatched::default(), HashSet::new());
        let n = core.rescan(&mut |d| {
            self.rewatch(d, &mut found, &mut failed);
            Ok(())
        });
        self.end_scan(found);
        n
    }

    fn catch_up_unwatched(&mut self, core: &mut Core) {
        self.walk_unwatched(core);
    }

    fn coverage(&self) -> (u64, Option<String>) {
        (self.unwatched.count as u64, InotifyWatcher::coverage(self))
    }
}

impl AsFd for InotifyWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ino.as_fd()
    }
}
