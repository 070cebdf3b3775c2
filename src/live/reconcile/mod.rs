//! Writes that raced a seed or `persist`: a process that opens, appends and
//! closes (never seen by the `/proc` writers scan) may write to the live
//! file after it was copied and before the bind: that write lands in the
//! original, now hidden under the bind, and the reboot discards it.
//!
//! After the bind, the hidden original is still reachable through an fd
//! opened on it before the bind. Each pass compares it with the snapshot of
//! the copy (size and mtime of every file right after copying):
//! - a file that grew and still starts with what was copied: the new bytes
//!   are appended to the bound file (`O_APPEND`, so writes that already
//!   reach the bound file are kept too; they may end up before the carried
//!   bytes);
//! - a file changed otherwise: replaces the copy if nobody touched the copy
//!   since, else both are kept (`<name>.impermctl-hidden`) with a warning;
//! - an entry new in the original: copied over (or kept beside a new entry
//!   of the same name).
//!
//! Passes repeat until nothing changed for [`SETTLE`] and no process holds
//! a file of the original open for writing (or one of its directories
//! open): such a holder resolved its path before the bind and may write
//! into the hidden original any moment, however long it was descheduled.
//! Then one final pass. If the original still changes or is held after
//! [`GIVE_UP`], the caller gets an error naming what is left where and who
//! holds it. Nothing is ever deleted from the copy.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{FileType, OFlags};

use crate::sys::meta::Time;
use crate::sys::proc::{Hold, Holder, holders_of};
use crate::sys::{dir as sdir, fs as sfs, meta as smeta};

mod many;
mod pass;
pub use many::{Original, reconcile_all};
use pass::Pass;

/// Quiet time after which the hidden original counts as settled.
pub const SETTLE: Duration = Duration::from_millis(150);
/// How long to keep reconciling an original that does not settle.
pub const GIVE_UP: Duration = Duration::from_secs(10);

/// Size and mtime of every regular file of a copy right after it was made
/// (the copy keeps mtimes, so these are the original's at copy time), by
/// path relative to the top (`""` for a single file).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    files: HashMap<PathBuf, (u64, Time)>,
    /// Inode numbers of files seen mapped shared and writable (any device:
    /// the maps give the superblock's). A write through an already dirty
    /// mapped page changes neither size nor mtime: these are compared by
    /// content.
    mapped: HashSet<u64>,
    /// Places below the top (relative) where a filesystem was mounted
    /// before the bind and mounted again on top of it (a nested entry's
    /// bind): what the original shows there once that mount is gone is
    /// stale data from before it, never carried ([`Snapshot::skipping`]).
    skip: HashSet<PathBuf>,
}

impl Snapshot {
    /// The same, never carrying what is at `below` (relative to the top)
    /// in the original: see [`Snapshot`]'s `skip`.
    pub fn skipping(mut self, below: impl IntoIterator<Item = PathBuf>) -> Snapshot {
        self.skip.extend(below);
        self
    }

    /// Take it from the copy at host path `copy` (a directory or a file).
    pub fn take(copy: &Path) -> anyhow::Result<Snapshot> {
        let (parent, name) = crate::sys::fs::split(copy)?;
        Self::take_at(sfs::open_dir(parent)?.as_fd(), name)
    }

    /// Take it from `name` in `dir`.
    pub fn take_at(dir: BorrowedFd<'_>, name: &OsStr) -> anyhow::Result<Snapshot> {
        let mut files = HashMap::new();
        let m = smeta::stat_at(dir, name)?;
        let mut file = |p: &Path, m: &smeta::Meta| {
            if m.file_type == FileType::RegularFile {
                files.insert(p.to_path_buf(), (m.size, m.mtime));
            }
        };
        match m.file_type {
            FileType::Directory => {
                let d = sdir::open(dir, name)?;
                sdir::each_below(d.as_fd(), Path::new(""), u32::MAX, &mut file)?;
            }
            _ => file(Path::new(""), &m),
        }
        Ok(Snapshot {
            files,
            ..Snapshot::default()
        })
    }
}

/// The places (relative to `path`) of the filesystems mounted below
/// `path` in `table`, as a bind over `path` mounts them again on top of
/// it: for [`Snapshot::skipping`].
pub fn below(table: &crate::mountinfo::MountTable, path: &Path) -> Vec<PathBuf> {
    let rel =
        |m: &crate::mountinfo::Mount| m.mount_point.strip_prefix(path).ok().map(Path::to_path_buf);
    table
        .visible_below(path)
        .into_iter()
        .filter_map(rel)
        .collect()
}

/// The original and the snapshot of its copy, held across a bind.
#[derive(Debug)]
pub struct Guard {
    hidden: Option<(std::os::fd::OwnedFd, Snapshot)>,
    copy: PathBuf,
    shown: PathBuf,
    forced: Vec<u32>,
}

impl Guard {
    /// Right before binding the copy at host path `copy` over the logical
    /// `path` (opened beneath `root`, no symlinks): hold the original and
    /// snapshot the copy. Best effort: without them, nothing is reconciled.
    pub fn before_bind(root: BorrowedFd<'_>, path: &Path, copy: &Path) -> Guard {
        let rel = crate::root::rel(path);
        let fd = crate::sys::fs::open_beneath(root, rel, OFlags::RDONLY | OFlags::NONBLOCK).ok();
        let hidden = fd.and_then(|fd| Some((fd, Snapshot::take(copy).ok()?)));
        Guard {
            hidden,
            copy: copy.to_path_buf(),
            shown: path.to_path_buf(),
            forced: Vec::new(),
        }
    }

    /// The writers `pids` the caller proceeds despite (`persist --force`):
    /// see [`reconcile`].
    pub fn forcing(mut self, pids: impl IntoIterator<Item = u32>) -> Guard {
        self.forced.extend(pids);
        self
    }

    /// Never carrying what is at `below` (relative to the path): see
    /// [`Snapshot::skipping`].
    pub fn skipping(mut self, below: impl IntoIterator<Item = PathBuf>) -> Guard {
        if let Some((_, snap)) = &mut self.hidden {
            snap.skip.extend(below);
        }
        self
    }

    /// After the bind: carry over what raced it (logged); an error when the
    /// original does not settle.
    pub fn after_bind(&mut self) -> anyhow::Result<Carried> {
        let Some((fd, mut snap)) = self.hidden.take() else {
            return Ok(Carried::default());
        };
        let c = reconcile(fd.as_fd(), &self.copy, &mut snap, &self.shown, &self.forced)?;
        if c.files > 0 {
            tracing::info!(path = %self.shown.display(), files = c.files, bytes = c.bytes, passes = c.passes,
                "{}", c.said(&self.shown, &self.copy));
        }
        for k in &c.kept {
            tracing::warn!(path = %self.shown.display(), "{} changed both in the original and in the bound copy meanwhile: the original's version is kept at {}; merge it by hand", self.shown.display(), k.display());
        }
        Ok(c)
    }
}

/// What reconciling carried over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    /// Files appended to, replaced or added.
    pub files: u64,
    /// Bytes carried: what was appended, plus the size of the last version
    /// written of each file replaced or added (a file replaced in every
    /// pass counts once: trial-s10 F8, "carried 159383552 bytes in 1
    /// files" for a 1 MiB mapped file).
    pub bytes: u64,
    /// Versions kept beside the copy because both sides changed (host paths).
    pub kept: Vec<PathBuf>,
    /// Passes made.
    pub passes: u32,
    /// What was carried (paths relative to the original; kept versions by
    /// host path), with its bytes: `files` and `bytes` count each once,
    /// however many passes carried it.
    carried: HashMap<PathBuf, u64>,
    /// Carries made, one per file per pass: whether a pass carried anything.
    changes: u64,
}

impl Carried {
    /// `n` bytes were appended to `rel`.
    pub(super) fn appended(&mut self, rel: &Path, n: u64) {
        let was = self.carried.get(rel).copied().unwrap_or(0);
        self.note(rel, was + n);
    }

    /// A whole version of `n` bytes was written at `rel` (replaced, added
    /// or kept beside): it stands for what earlier passes carried there.
    pub(super) fn written(&mut self, rel: &Path, n: u64) {
        self.note(rel, n);
    }

    fn note(&mut self, rel: &Path, n: u64) {
        self.changes += 1;
        let was = self.carried.insert(rel.to_path_buf(), n).unwrap_or(0);
        self.bytes = self.bytes - was + n;
        self.files = self.carried.len() as u64;
    }

    /// `carried 1.0 MiB in 1 file written to {shown} during the copy over
    /// into {into}`: the log line of what was carried.
    pub fn said(&self, shown: &Path, into: &Path) -> String {
        format!(
            "carried {} in {} written to {} during the copy over into {}",
            crate::human::size(self.bytes),
            crate::human::counted(self.files, "file"),
            shown.display(),
            into.display()
        )
    }
}

/// Reconcile the hidden original `hidden` (an fd opened on it before the
/// bind: a directory opened for reading, or a regular file opened for
/// reading) with the bound copy at host path `copy`, whose `snap` was taken
/// right after copying. `shown`: the live path, for messages.
///
/// Settled means: nothing carried for [`SETTLE`], then no holder (a process
/// with a file of the original open for writing, or one of its directories
/// open; see [`holders_of`]), then a final pass that carries nothing. A
/// holder may write any moment, so passes go on while one exists. Error
/// after [`GIVE_UP`], naming what still changes and who holds what.
///
/// `forced`: the writers (pids) the caller proceeds despite
/// (`persist --force`): they are waited for like any holder (what they
/// write before closing is carried), but if at [`GIVE_UP`] nothing changes
/// and only they still hold files open, it succeeds with a warning instead
/// of an error (they were warned about already).
pub fn reconcile(
    hidden: BorrowedFd<'_>,
    copy: &Path,
    snap: &mut Snapshot,
    shown: &Path,
    forced: &[u32],
) -> anyhow::Result<Carried> {
    let mut one = [many::Original {
        hidden,
        copy,
        snap,
        shown,
    }];
    many::reconcile_all(&mut one, forced)
        .pop()
        .expect("one original, one result")
}

/// The holders of `ids`, split: those that may write any moment (an open
/// fd, a writable shared mapping), and those holding only a working
/// directory, which are warned about instead ([`warn_working_directories`]):
/// a shell `cd`'d there never lets go.
fn held(proc: &Path, ids: &HashSet<(u64, u64)>) -> (Vec<Holder>, Vec<Holder>) {
    holders_of(proc, ids)
        .into_iter()
        .partition(|h| h.how != Hold::WorkingDirectory)
}

/// One warning per process whose working directory is in the hidden
/// original: what it creates by a relative name from now on is hidden
/// under the bind of `shown` and the reboot discards it.
fn warn_working_directories(shown: &Path, holders: &[Holder]) {
    for h in holders {
        tracing::warn!(path = %shown.display(), "{h}, the original now hidden under the bind of {shown}: files it creates by a relative name go there and the reboot discards them; in it, `cd {shown}` (a shell: `cd \"$PWD\"`) or restart it", shown = shown.display());
    }
}

/// Note in `snap` every file now mapped shared and writable by a process
/// (one scan of `proc`, see [`crate::sys::proc::maps::mapped_inodes`]).
fn note_mapped(proc: &Path, snaps: &mut [&mut Snapshot]) {
    let inos = crate::sys::proc::maps::mapped_inodes(proc, &[]);
    for s in snaps {
        s.mapped.extend(&inos);
    }
}

/// What one pass learnt.
struct Learnt {
    carried: bool,
    changing: Vec<PathBuf>,
    ids: HashSet<(u64, u64)>,
}

fn pass(
    hidden: BorrowedFd<'_>,
    copy: &Path,
    snap: &mut Snapshot,
    out: &mut Carried,
) -> anyhow::Result<Learnt> {
    out.passes += 1;
    let before = (out.changes, out.bytes, out.kept.len());
    let mut p = Pass {
        snap,
        out,
        changing: Vec::new(),
        ids: HashSet::new(),
        mount: (0, 0),
    };
    p.top(hidden, copy)?;
    let (changing, ids) = (p.changing, p.ids);
    let carried = before != (out.changes, out.bytes, out.kept.len());
    Ok(Learnt {
        carried,
        changing,
        ids,
    })
}

/// The error when the original does not settle: what still changes (paths
/// relative to `shown`) and who holds what open there.
fn give_up_message(shown: &Path, copy: &Path, changing: &[PathBuf], holders: &[Holder]) -> String {
    let mut what: Vec<String> = changing
        .iter()
        .map(|p| format!("{} changes", shown.join(p).display()))
        .collect();
    what.extend(holders.iter().map(ToString::to_string));
    format!(
        "{} is bound, but the original hidden under it is still written to or held open after {} s ({}): what is written there is not in {} and the reboot discards it; stop those processes, then copy the hidden files by hand after `umount {}` (running `impermctl persist` again is not needed)",
        shown.display(),
        GIVE_UP.as_secs(),
        what.join("; "),
        copy.display(),
        shown.display()
    )
}

#[cfg(test)]
mod tests;
