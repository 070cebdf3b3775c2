//! The fanotify backend: one filesystem mark on the root's superblock in FID
//! mode for directory-entry events, and a mark on every watched directory
//! for its files' content events (`marks`); events carry the writer's pid;
//! directory handles are resolved through a mount fd and cached.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::backend::Watcher;
use super::core::Core;
use super::scan;
use super::tally::Change;
use crate::sys::fanotify as sys;

mod dirs;
mod marks;
mod mute;
mod placing;
mod queue;
mod start;

pub use marks::Source;

/// A directory handle, resolved.
#[derive(Debug, Clone)]
struct Dir {
    /// Its path (None: gone).
    path: Option<PathBuf>,
    /// Ignored (`watch.ignore`, our run directory, outside the root or a
    /// pruned mount point): nothing in it is recorded.
    excluded: bool,
    /// An ignore mark is on it: the kernel drops its files' events.
    muted: bool,
}

/// fanotify filesystem-mark watcher.
#[derive(Debug)]
pub struct FanotifyWatcher {
    /// The group and its marks.
    marks: marks::Marks,
    mount_fd: OwnedFd,
    /// The filesystem mark reports `FAN_RENAME` (5.17): a directory moved
    /// in is caught up at it, not again at its `FAN_MOVED_TO`.
    renames: bool,
    cache: HashMap<Vec<u8>, Dir>,
    buf: Vec<u8>,
    /// Events read so far.
    pub events: u64,
    /// The queue overflowed since the last drain.
    lost: bool,
    /// The start-up walk placing the directories' marks, until done.
    placing: Option<std::thread::JoinHandle<placing::Walked>>,
    unresolved: u64,
    /// Directories made since the last catch-up, caught up after the
    /// events queued.
    made: Vec<PathBuf>,
    /// Directories made and muted at once since then (`Core::dir_made`):
    /// their fresh mutes need no walk.
    made_muted: Vec<PathBuf>,
}

impl FanotifyWatcher {
    fn dir(&mut self, handle: &[u8], core: &Core) -> Option<&mut Dir> {
        if self.cache.contains_key(handle) {
            return self.cache.get_mut(handle);
        }
        if self.cache.len() >= 65536 {
            self.cache.clear();
        }
        let p = match sys::resolve(self.mount_fd.as_fd(), handle) {
            Ok(p) => Some(p),
            // The directory is gone: nothing left there to lose.
            Err(e) if e.raw_os_error() == Some(Errno::ESTALE as i32) => None,
            Err(e) => {
                // Never dropped silently: said once, and the caller
                // rescans (as after an overflow) so the write is found.
                if self.unresolved == 0 {
                    tracing::warn!(
                        "fanotify: an event's directory cannot be resolved to a path ({e}); rescanning to find what was written"
                    );
                }
                self.unresolved += 1;
                return None;
            }
        };
        let excluded = p
            .as_ref()
            .is_some_and(|p| !p.starts_with(&core.scope.root) || core.scope.excluded(p));
        let d = Dir {
            path: p,
            excluded,
            muted: false,
        };
        Some(self.cache.entry(handle.to_vec()).or_insert(d))
    }

    /// The path an event names, unless its directory is ignored (then
    /// muted, once) or gone. `files`: for a file's event, None when the
    /// directory is muted (the refresh counts what is written there).
    fn path(
        &mut self,
        dir: Option<&[u8]>,
        name: &[u8],
        files: bool,
        core: &Core,
    ) -> Option<PathBuf> {
        let handle = dir?;
        self.dir(handle, core)?;
        let d = self.cache.get_mut(handle)?;
        let p = d.path.as_ref()?;
        if d.excluded || (files && d.muted) {
            if self.marks.ignore && !d.muted {
                d.muted = match d.excluded {
                    true => self.marks.mute_ignored(p),
                    false => self.marks.mute(p),
                };
            }
            return None;
        }
        if name.is_empty() {
            return None;
        }
        let p = p.join(OsStr::from_bytes(name));
        (!core.scope.pruned(&p)).then_some(p)
    }

    /// Record a file's change seen in directory `handle`; mute the
    /// directory when the core says so.
    fn record(
        &mut self,
        handle: Option<&[u8]>,
        path: &Path,
        change: Change,
        core: &mut Core,
        pid: Option<i32>,
    ) {
        let dir = path.parent().unwrap_or(path);
        if core.record_from(dir, path, change, pid) {
            self.mute_dir(handle, dir);
        }
    }

    fn handle(&mut self, ev: sys::Event<'_>, core: &mut Core) -> bool {
        let m = ev.mask;
        if m & sys::FAN_Q_OVERFLOW != 0 {
            return true;
        }
        let pid = Some(ev.pid);
        if m & sys::FAN_ONDIR != 0 && m & (sys::FAN_MOVED_FROM | sys::FAN_DELETE) != 0 {
            // Paths below it changed, in an ignored directory too.
            self.cache.clear();
        }
        if m & (sys::FAN_CREATE | sys::FAN_MOVED_TO) != 0 {
            self.created_in_excluded(ev.dir, ev.name, m, core);
        }
        if m & sys::FAN_RENAME != 0 {
            if m & sys::FAN_ONDIR != 0 {
                self.cache.clear();
            }
            let files = m & sys::FAN_ONDIR == 0;
            if let Some(old) = self.path(ev.old_dir, ev.old_name, files, core) {
                let gone = if files { Change::Gone } else { Change::GoneDir };
                core.record(&old, gone, pid);
            }
            if let Some(new) = self.path(ev.dir, ev.name, files, core) {
                if files {
                    core.moved_onto(&new);
                }
                self.arrived(&new, !files, core, pid);
            }
            return false;
        }
        let files = m & sys::FAN_ONDIR == 0;
        let Some(path) = self.path(ev.dir, ev.name, files, core) else {
            return false;
        };
        if m & sys::FAN_ONDIR != 0 {
            if m & (sys::FAN_DELETE | sys::FAN_MOVED_FROM) != 0 {
                self.cache.clear();
                if m & sys::FAN_DELETE != 0 {
                    // Its mark went with it.
                    let n = &self.marks.placed;
                    n.set(n.get().saturating_sub(1));
                }
                if crate::sys::meta::lstat_path(&path).is_err() {
                    core.record(&path, Change::GoneDir, pid);
                    return false;
                }
            }
            if m & sys::FAN_MOVED_TO != 0 {
                if !self.renames {
                    self.arrived(&path, true, core, pid);
                }
            } else if m & sys::FAN_CREATE != 0 {
                self.made_dir(ev.dir, &path, core, pid);
            } else if m & sys::FAN_ATTRIB != 0 {
                // A chmod, chown, ACL or xattr (its own mark's event, named
                // `.`): `diff` compares it.
                core.record(&path.components().collect::<PathBuf>(), Change::Dir, pid);
            }
            return false;
        }
        let h = ev.dir;
        if m & (sys::FAN_DELETE | sys::FAN_MOVED_FROM) != 0 {
            // Merged events lose their order: the file's presence decides.
            match crate::sys::meta::lstat_path(&path) {
                Ok(md) => self.record(h, &path, Change::found(Some(md.size)), core, pid),
                Err(_) => core.record(&path, Change::Gone, pid),
            }
        } else if m & (sys::FAN_CLOSE_WRITE | sys::FAN_MOVED_TO) != 0 {
            if m & sys::FAN_MOVED_TO != 0 {
                core.moved_onto(&path);
            }
            let size = crate::sys::meta::lstat_path(&path).ok().map(|m| m.size);
            let created = m & (sys::FAN_CREATE | sys::FAN_MOVED_TO) != 0;
            self.record(h, &path, Change::Write { size, created }, core, pid);
        } else if m & (sys::FAN_CREATE | sys::FAN_MODIFY | sys::FAN_ATTRIB) != 0 {
            let created = m & sys::FAN_CREATE != 0;
            let change = Change::Write {
                size: None,
                created,
            };
            self.record(h, &path, change, core, pid);
        }
        false
    }
}

impl Watcher for FanotifyWatcher {
    fn name(&self) -> &'static str {
        "fanotify"
    }

    /// Everything queued is read and handled first (cheap per event), then
    /// the slow work once: the catch-up walks of the new trees, the walks
    /// of freshly muted directories (reading on meanwhile); again until
    /// nothing new came.
    fn drain(&mut self, core: &mut Core) -> anyhow::Result<bool> {
        self.settle(core);
        let before = self.unresolved;
        loop {
            let seen = self.events;
            self.read_queued(core)?;
            let walked = self.catch_up_made(core);
            self.settle(core);
            self.mute_fresh(core, &walked);
            self.marks.recent.borrow_mut().clear();
            if self.events == seen {
                break;
            }
        }
        // An unresolvable event is handled like a lost one: rescan.
        Ok(std::mem::take(&mut self.lost) || self.unresolved != before)
    }

    /// The filesystem mark hears them (ignore marks there let creations
    /// through): only the links already made.
    fn watch_ignored(&mut self, core: &mut Core) {
        core.changes.ignored_links_heard = true;
        for top in crate::watch::ignored::roots(core) {
            crate::watch::ignored::walk(core, &top, &mut |_| true);
        }
    }

    fn can_mute(&self) -> bool {
        self.marks.ignore
    }

    fn fell_back(&self) -> Option<&str> {
        self.marks.fell_back.get().map(String::as_str)
    }

    /// Marks are removed before each directory is read.
    fn unmute_due(&mut self, core: &mut Core) {
        self.settle(core);
        let due = core.take_due();
        if due.is_empty() {
            return;
        }
        self.cache.clear();
        for g in due {
            tracing::debug!("unmuted {}", g.display());
            let marks = &self.marks;
            core.refresh_group(&g, &mut |d, muted| marks.follow(d, muted));
        }
    }

    /// The refresh walks every muted group: not while events are queued
    /// (a burst goes on, the queue would fill meanwhile), unless forced;
    /// it stays due.
    fn muting(&mut self, core: &mut Core, every: std::time::Duration, force: bool) {
        self.unmute_due(core);
        let fd = self.marks.fan.as_fd();
        let busy = || crate::sys::poll::readable(fd, fd, Default::default()).is_ok_and(|r| r.0);
        if force || (core.refresh_due(every) && !busy()) {
            let n = self.refresh(core);
            tracing::debug!("refreshed the muted groups: {n} changed");
        }
    }

    /// Marks the kernel evicted are placed again on the way.
    fn refresh(&mut self, core: &mut Core) -> usize {
        let marks = &self.marks;
        core.refresh_muted(&mut |d, muted| {
            if muted {
                marks.mute(d);
            }
        })
    }

    /// Every directory the rescan meets gets its content mark (those made
    /// while events were lost have none).
    fn rescan(&mut self, core: &mut Core) -> anyhow::Result<usize> {
        let marks = &self.marks;
        if marks.source.get() != Source::Filesystem {
            marks.placed.set(0);
        }
        core.rescan(&mut |d| {
            marks.watch(d);
            Ok(())
        })
    }

    /// Muted: the directories carrying an ignore mark now (the kernel's
    /// count; the ignore marks placed when it cannot say).
    fn counts(&self) -> (u64, u64) {
        let now = self.marks.fan.inode_marks(!0, true);
        let muted = now.map_or(self.marks.muted.get(), |n| n as u64);
        (self.events, muted)
    }
}

impl AsFd for FanotifyWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.marks.fan.as_fd()
    }
}
