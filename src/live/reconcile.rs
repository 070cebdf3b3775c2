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
//! Passes repeat until nothing changed for [`SETTLE`]; if the original still
//! changes after [`GIVE_UP`], the caller gets an error naming what is left
//! where. Nothing is ever deleted from the copy.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::fs::{FileType, Mode, OFlags};

use super::files::copy_at;
use crate::sys::meta::{Meta, Time};
use crate::sys::{copy as sysc, dir as sdir, fs as sfs, meta as smeta};

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
}

impl Snapshot {
    /// Take it from the copy at host path `copy` (a directory or a file).
    pub fn take(copy: &Path) -> anyhow::Result<Snapshot> {
        let (parent, name) = (
            copy.parent().context("no parent")?,
            copy.file_name().context("no name")?,
        );
        Self::take_at(sfs::open_dir(parent)?.as_fd(), name)
    }

    /// Take it from `name` in `dir`.
    pub fn take_at(dir: BorrowedFd<'_>, name: &OsStr) -> anyhow::Result<Snapshot> {
        let mut s = Snapshot::default();
        let m = smeta::stat_at(dir, name)?;
        match m.file_type {
            FileType::Directory => {
                let d = sdir::open(dir, name)?;
                s.walk(d.as_fd(), Path::new(""))?;
            }
            FileType::RegularFile => {
                s.files.insert(PathBuf::new(), (m.size, m.mtime));
            }
            _ => {}
        }
        Ok(s)
    }

    fn walk(&mut self, dir: BorrowedFd<'_>, rel: &Path) -> anyhow::Result<()> {
        for (name, _) in sdir::names(dir)? {
            let name = OsStr::from_bytes(name.to_bytes());
            let m = smeta::stat_at(dir, name)?;
            let r = rel.join(name);
            match m.file_type {
                FileType::RegularFile => {
                    self.files.insert(r, (m.size, m.mtime));
                }
                FileType::Directory => {
                    let d = sdir::open(dir, name)?;
                    self.walk(d.as_fd(), &r)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The original and the snapshot of its copy, held across a bind.
#[derive(Debug)]
pub struct Guard {
    hidden: Option<(std::os::fd::OwnedFd, Snapshot)>,
    copy: PathBuf,
    shown: PathBuf,
}

impl Guard {
    /// Right before binding the copy at host path `copy` over the logical
    /// `path` (opened beneath `root`, no symlinks): hold the original and
    /// snapshot the copy. Best effort: without them, nothing is reconciled.
    pub fn before_bind(root: BorrowedFd<'_>, path: &Path, copy: &Path) -> Guard {
        let rel = path.strip_prefix("/").unwrap_or(path);
        let fd = crate::sys::fs::open_beneath(root, rel, OFlags::RDONLY | OFlags::NONBLOCK).ok();
        let hidden = fd.and_then(|fd| Some((fd, Snapshot::take(copy).ok()?)));
        Guard {
            hidden,
            copy: copy.to_path_buf(),
            shown: path.to_path_buf(),
        }
    }

    /// After the bind: carry over what raced it (logged); an error when the
    /// original does not settle.
    pub fn after_bind(&mut self) -> anyhow::Result<Carried> {
        let Some((fd, mut snap)) = self.hidden.take() else {
            return Ok(Carried::default());
        };
        let c = reconcile(fd.as_fd(), &self.copy, &mut snap, &self.shown)?;
        if c.files > 0 {
            tracing::info!(path = %self.shown.display(), files = c.files, bytes = c.bytes, passes = c.passes,
                "carried {} bytes in {} files written to {} during the copy over into the bound copy", c.bytes, c.files, self.shown.display());
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
    /// Bytes carried.
    pub bytes: u64,
    /// Versions kept beside the copy because both sides changed (host paths).
    pub kept: Vec<PathBuf>,
    /// Passes made.
    pub passes: u32,
}

/// Reconcile the hidden original `hidden` (an fd opened on it before the
/// bind: a directory opened for reading, or a regular file opened for
/// reading) with the bound copy at host path `copy`, whose `snap` was taken
/// right after copying. `shown`: the live path, for messages.
pub fn reconcile(
    hidden: BorrowedFd<'_>,
    copy: &Path,
    snap: &mut Snapshot,
    shown: &Path,
) -> anyhow::Result<Carried> {
    let mut out = Carried::default();
    let start = Instant::now();
    let mut last = start;
    loop {
        out.passes += 1;
        let before = (out.files, out.bytes, out.kept.len());
        let mut changing = Vec::new();
        pass(hidden, copy, snap, &mut out, &mut changing)?;
        let now = Instant::now();
        if before != (out.files, out.bytes, out.kept.len()) {
            last = now;
        }
        if now - last >= SETTLE {
            return Ok(out);
        }
        if now - start >= GIVE_UP {
            let list: Vec<String> = changing
                .iter()
                .map(|p| shown.join(p).display().to_string())
                .collect();
            anyhow::bail!(
                "{} is bound, but processes keep writing to the original hidden under it after {} s ({}): what they write there is not in {} and the reboot discards it; stop them, then `impermctl persist` again is not needed: copy the hidden files by hand after `umount {}`",
                shown.display(),
                GIVE_UP.as_secs(),
                list.join(", "),
                copy.display(),
                shown.display()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn pass(
    hidden: BorrowedFd<'_>,
    copy: &Path,
    snap: &mut Snapshot,
    out: &mut Carried,
    changing: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let hm = smeta::stat_fd(hidden)?;
    match hm.file_type {
        FileType::Directory => {
            let cdir =
                sfs::open_dir(copy).with_context(|| format!("cannot open {}", copy.display()))?;
            dir_pass(
                hidden,
                cdir.as_fd(),
                copy,
                Path::new(""),
                snap,
                out,
                changing,
            )
        }
        FileType::RegularFile => {
            let (parent, name) = (
                copy.parent().context("no parent")?,
                copy.file_name().context("no name")?,
            );
            let cdir = sfs::open_dir(parent)?;
            let changed = carry_file(
                hidden,
                &hm,
                cdir.as_fd(),
                parent,
                name,
                Path::new(""),
                snap,
                out,
            )?;
            if changed {
                changing.push(PathBuf::new());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn dir_pass(
    hdir: BorrowedFd<'_>,
    cdir: BorrowedFd<'_>,
    chost: &Path,
    rel: &Path,
    snap: &mut Snapshot,
    out: &mut Carried,
    changing: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    for (cname, _) in sdir::names(hdir)? {
        let name = OsStr::from_bytes(cname.to_bytes());
        let r = rel.join(name);
        let Ok(hm) = smeta::stat_at(hdir, name) else {
            continue; // removed meanwhile: nothing to carry
        };
        let cm = match smeta::stat_at(cdir, name) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        match (hm.file_type, cm.map(|m| m.file_type)) {
            (FileType::Directory, Some(FileType::Directory)) => {
                let (h, c) = (sdir::open(hdir, name)?, sdir::open(cdir, name)?);
                dir_pass(
                    h.as_fd(),
                    c.as_fd(),
                    &chost.join(name),
                    &r,
                    snap,
                    out,
                    changing,
                )?;
            }
            (FileType::RegularFile, Some(FileType::RegularFile)) => {
                let Ok(h) = sysc::open_read_at(hdir, name) else {
                    continue;
                };
                if carry_file(h.as_fd(), &hm, cdir, chost, name, &r, snap, out)? {
                    changing.push(r);
                }
            }
            (_, None) => {
                // New in the original since the copy.
                add_new(hdir, name, cdir, &r, snap, out)?;
                changing.push(r);
            }
            (FileType::RegularFile, Some(_)) if !snap.files.contains_key(&r) => {
                keep_both(hdir, name, cdir, chost, out)?;
                snap.files.insert(r.clone(), (hm.size, hm.mtime));
                changing.push(r);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Copy a new entry (any type, a whole subtree) into the copy directory.
fn add_new(
    hdir: BorrowedFd<'_>,
    name: &OsStr,
    cdir: BorrowedFd<'_>,
    rel: &Path,
    snap: &mut Snapshot,
    out: &mut Carried,
) -> anyhow::Result<()> {
    let shown = Path::new("…").join(rel);
    let stats = copy_at(hdir, name, &shown, cdir, name, &shown)?;
    out.files += stats.files.max(1);
    out.bytes += stats.bytes;
    let mut sub = Snapshot::take_at(cdir, name)?;
    for (k, v) in sub.files.drain() {
        snap.files.insert(rel.join(k), v);
    }
    Ok(())
}

/// Both sides hold a different version: keep the original's beside the copy.
fn keep_both(
    hdir: BorrowedFd<'_>,
    name: &OsStr,
    cdir: BorrowedFd<'_>,
    chost: &Path,
    out: &mut Carried,
) -> anyhow::Result<()> {
    let mut kept = OsString::from(name);
    kept.push(format!(".impermctl-hidden-{}", std::process::id()));
    let mut n = 0;
    let mut candidate = kept.clone();
    while smeta::stat_at(cdir, &candidate).is_ok() {
        n += 1;
        candidate = kept.clone();
        candidate.push(format!("-{n}"));
    }
    let shown = chost.join(&candidate);
    let stats = copy_at(hdir, name, &shown, cdir, &candidate, &shown)?;
    out.files += 1;
    out.bytes += stats.bytes;
    out.kept.push(chost.join(&candidate));
    Ok(())
}

/// Reconcile one regular file; `true` when something was carried.
#[allow(clippy::too_many_arguments)]
fn carry_file(
    h: BorrowedFd<'_>,
    hm: &Meta,
    cdir: BorrowedFd<'_>,
    chost: &Path,
    name: &OsStr,
    rel: &Path,
    snap: &mut Snapshot,
    out: &mut Carried,
) -> anyhow::Result<bool> {
    let Some(&(s_size, s_mtime)) = snap.files.get(rel) else {
        return Ok(false);
    };
    if hm.size == s_size && hm.mtime == s_mtime {
        return Ok(false);
    }
    let c = rustix::fs::openat(
        cdir,
        name,
        OFlags::RDWR | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let cm = smeta::stat_fd(c.as_fd())?;
    let hf = std::fs::File::from(h.try_clone_to_owned()?);
    let cf = std::fs::File::from(c);
    if hm.size > s_size && cm.size >= s_size && same_prefix(&hf, &cf, s_size)? {
        let mut buf = vec![0u8; (hm.size - s_size) as usize];
        let n = read_full_at(&hf, &mut buf, s_size)?;
        buf.truncate(n);
        use std::io::Write;
        (&cf).write_all(&buf)?;
        cf.sync_data()?;
        out.files += 1;
        out.bytes += n as u64;
        snap.files
            .insert(rel.to_path_buf(), (s_size + n as u64, hm.mtime));
        return Ok(true);
    }
    drop(cf);
    if cm.size == s_size && cm.mtime == s_mtime {
        // Nobody wrote to the copy since: the original's version wins.
        out.bytes += write_from_fd(h, hm, cdir, name, true)?;
        out.files += 1;
    } else {
        let mut kept = OsString::from(name);
        kept.push(format!(".impermctl-hidden-{}", std::process::id()));
        out.bytes += write_from_fd(h, hm, cdir, &kept, true)?;
        out.files += 1;
        out.kept.push(chost.join(&kept));
    }
    snap.files.insert(rel.to_path_buf(), (hm.size, hm.mtime));
    Ok(true)
}

/// Write the data of the open file `h` (with `hm`'s owner, mode and
/// mtime) to `name` in `dir`, atomically: a temporary name, fsync, rename
/// (over an existing `name` when `replace`). Returns the bytes written.
fn write_from_fd(
    h: BorrowedFd<'_>,
    hm: &Meta,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    replace: bool,
) -> anyhow::Result<u64> {
    let tmp = super::files::staged(name, ".impermctl-reconcile");
    let _ = sfs::unlink_at(dir, &tmp, false);
    let t = sfs::create_at(dir, &tmp)?;
    let (hf, tf) = (
        std::fs::File::from(h.try_clone_to_owned()?),
        std::fs::File::from(t),
    );
    let mut buf = vec![0u8; 1 << 16];
    let mut off = 0u64;
    loop {
        let n = hf.read_at(&mut buf, off)?;
        if n == 0 {
            break;
        }
        tf.write_all_at(&buf[..n], off)?;
        off += n as u64;
    }
    sfs::chown_fd(tf.as_fd(), hm.uid, hm.gid)?;
    sfs::chmod_fd(tf.as_fd(), hm.perm)?;
    sfs::set_times_fd(tf.as_fd(), hm.atime, hm.mtime)?;
    tf.sync_all()?;
    if replace {
        crate::sys::fs::rename_replace(dir, &tmp, name)?;
    } else {
        sfs::rename_noreplace(dir, &tmp, name)?;
    }
    Ok(off)
}

fn read_full_at(f: &std::fs::File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let n = f.read_at(&mut buf[done..], off + done as u64)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

fn same_prefix(a: &std::fs::File, b: &std::fs::File, len: u64) -> std::io::Result<bool> {
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut off = 0u64;
    while off < len {
        let want = ((len - off) as usize).min(x.len());
        let n = read_full_at(a, &mut x[..want], off)?;
        let m = read_full_at(b, &mut y[..want], off)?;
        if n != want || m != want || x[..n] != y[..m] {
            return Ok(false);
        }
        off += want as u64;
    }
    Ok(true)
}
