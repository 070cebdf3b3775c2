//! One reconciling pass: walk the hidden original beside the bound copy,
//! carry appended bytes, replaced files and new entries over, keep both
//! versions when both sides changed.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::{FileType, OFlags};

use super::{Carried, Snapshot};
use crate::live::files::copy_at;
use crate::sys::meta::Meta;
use crate::sys::{dir as sdir, fs as sfs, meta as smeta};

/// One pass over the hidden original: what it learns and what it carried.
pub(super) struct Pass<'a> {
    pub snap: &'a mut Snapshot,
    pub out: &'a mut Carried,
    /// Paths (relative to the top) where something was carried.
    pub changing: Vec<PathBuf>,
    /// `(st_dev, st_ino)` of every directory and regular file of the
    /// hidden original seen in this pass (for the holders scan).
    pub ids: HashSet<(u64, u64)>,
    /// Device and mount ID of the original's top: another filesystem
    /// mounted inside it is not the original's data, never carried.
    pub mount: (u64, u64),
}

impl Pass<'_> {
    pub fn top(&mut self, hidden: BorrowedFd<'_>, copy: &Path) -> anyhow::Result<()> {
        let hm = smeta::stat_fd(hidden)?;
        self.ids.insert((hm.dev, hm.ino));
        self.mount = (hm.dev, hm.mnt_id);
        match hm.file_type {
            FileType::Directory => {
                let cdir = sfs::open_dir(copy)
                    .with_context(|| format!("cannot open {}", copy.display()))?;
                // A fresh fd each pass: reading `hidden` itself would go on
                // from where the last pass left its offset (the end), and
                // every later pass would see no entry at the top.
                let h = sdir::open(hidden, "")?;
                self.dir(h.as_fd(), cdir.as_fd(), copy, Path::new(""))
            }
            FileType::RegularFile => {
                let (parent, name) = crate::sys::fs::split(copy)?;
                let cdir = sfs::open_dir(parent)?;
                self.file(hidden, &hm, cdir.as_fd(), parent, name, Path::new(""))
            }
            _ => Ok(()),
        }
    }

    fn dir(
        &mut self,
        hdir: BorrowedFd<'_>,
        cdir: BorrowedFd<'_>,
        chost: &Path,
        rel: &Path,
    ) -> anyhow::Result<()> {
        for name in sdir::names(hdir)? {
            let name = name.as_os_str();
            let r = rel.join(name);
            let Ok(hm) = smeta::stat_at(hdir, name) else {
                continue; // removed meanwhile: nothing to carry
            };
            let (dev, mnt) = self.mount;
            if hm.dev != dev || (hm.mnt_id != 0 && mnt != 0 && hm.mnt_id != mnt) {
                continue; // another filesystem mounted here
            }
            if self.snap.skip.contains(&r) {
                continue; // one was, before the bind: stale below it
            }
            if matches!(hm.file_type, FileType::Directory | FileType::RegularFile) {
                self.ids.insert((hm.dev, hm.ino));
            }
            let cm = crate::sys::optional(smeta::stat_at(cdir, name))?;
            match (hm.file_type, cm.map(|m| m.file_type)) {
                (FileType::Directory, Some(FileType::Directory)) => {
                    let (h, c) = (sdir::open(hdir, name)?, sdir::open(cdir, name)?);
                    self.dir(h.as_fd(), c.as_fd(), &chost.join(name), &r)?;
                }
                (FileType::RegularFile, Some(FileType::RegularFile)) => {
                    let Ok(h) = sfs::open_read_at(hdir, name) else {
                        continue;
                    };
                    self.file(h.as_fd(), &hm, cdir, chost, name, &r)?;
                }
                (_, None) => {
                    // New in the original since the copy.
                    self.add_new(hdir, name, cdir, &r)?;
                    self.changing.push(r);
                }
                (FileType::RegularFile, Some(_)) if !self.snap.files.contains_key(&r) => {
                    self.keep_both(hdir, name, cdir, chost)?;
                    self.snap.files.insert(r.clone(), (hm.size, hm.mtime));
                    self.changing.push(r);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Copy a new entry (any type, a whole subtree) into the copy directory.
    fn add_new(
        &mut self,
        hdir: BorrowedFd<'_>,
        name: &OsStr,
        cdir: BorrowedFd<'_>,
        rel: &Path,
    ) -> anyhow::Result<()> {
        let shown = Path::new("…").join(rel);
        copy_at(hdir, name, &shown, cdir, name, &shown)?;
        let mut sub = Snapshot::take_at(cdir, name)?;
        if sub.files.is_empty() {
            self.out.written(rel, 0);
        }
        for (k, v) in sub.files.drain() {
            let r = rel.join(k);
            self.out.written(&r, v.0);
            self.snap.files.insert(r, v);
        }
        Ok(())
    }

    /// Both sides hold a different version: keep the original's beside the copy.
    fn keep_both(
        &mut self,
        hdir: BorrowedFd<'_>,
        name: &OsStr,
        cdir: BorrowedFd<'_>,
        chost: &Path,
    ) -> anyhow::Result<()> {
        let candidate = sfs::free_name(hidden_name(name), 1, |n| smeta::stat_at(cdir, n).is_ok());
        let shown = chost.join(&candidate);
        let stats = copy_at(hdir, name, &shown, cdir, &candidate, &shown)?;
        self.out.written(&chost.join(&candidate), stats.bytes);
        self.out.kept.push(chost.join(&candidate));
        Ok(())
    }

    /// Reconcile one regular file, whose copy is `name` in `dir` (host path
    /// `host`), `rel` from the top; noted in `changing` when carried.
    fn file(
        &mut self,
        h: BorrowedFd<'_>,
        hm: &Meta,
        dir: BorrowedFd<'_>,
        host: &Path,
        name: &OsStr,
        rel: &Path,
    ) -> anyhow::Result<()> {
        let (snap, out) = (&mut *self.snap, &mut *self.out);
        let Some(&(s_size, s_mtime)) = snap.files.get(rel) else {
            return Ok(());
        };
        if hm.size == s_size && hm.mtime == s_mtime && !changed_mapped(snap, h, hm, dir, name)? {
            return Ok(());
        }
        let c = sfs::open_beneath(dir, Path::new(name), OFlags::RDWR | OFlags::APPEND)?;
        let cm = smeta::stat_fd(c.as_fd())?;
        let hf = std::fs::File::from(h.try_clone_to_owned()?);
        let cf = std::fs::File::from(c);
        let now = if hm.size > s_size
            && cm.size >= s_size
            && crate::copy::same_bytes(&hf, &cf, Some(s_size))?
        {
            let mut buf = vec![0u8; (hm.size - s_size) as usize];
            let n = crate::copy::read_full_at(&hf, &mut buf, s_size)?;
            use std::io::Write;
            (&cf).write_all(&buf[..n])?;
            cf.sync_data()?;
            out.appended(rel, n as u64);
            (s_size + n as u64, hm.mtime)
        } else if cm.size == s_size && cm.mtime == s_mtime {
            // Nobody wrote to the copy since: the original's version wins.
            out.written(rel, write_from_fd(h, hm, dir, name)?);
            (hm.size, hm.mtime)
        } else {
            let kept = hidden_name(name);
            out.written(&host.join(&kept), write_from_fd(h, hm, dir, &kept)?);
            out.kept.push(host.join(&kept));
            (hm.size, hm.mtime)
        };
        snap.files.insert(rel.to_path_buf(), now);
        self.changing.push(rel.to_path_buf());
        Ok(())
    }
}

/// Was the original `h` (size and mtime as in the snapshot) mapped for
/// writing, and does its content differ from its copy `name` in `dir`?
fn changed_mapped(
    snap: &Snapshot,
    h: BorrowedFd<'_>,
    hm: &Meta,
    dir: BorrowedFd<'_>,
    name: &OsStr,
) -> anyhow::Result<bool> {
    if !snap.mapped.contains(&hm.ino) {
        return Ok(false);
    }
    let c = sfs::open_beneath(dir, Path::new(name), OFlags::RDONLY)?;
    let hf = std::fs::File::from(h.try_clone_to_owned()?);
    Ok(!crate::copy::same_bytes(
        &hf,
        &std::fs::File::from(c),
        None,
    )?)
}

/// `<name>.impermctl-hidden-<pid>`: the original's version kept beside
/// the copy's.
fn hidden_name(name: &OsStr) -> OsString {
    let mut kept = OsString::from(name);
    kept.push(format!(".impermctl-hidden-{}", std::process::id()));
    kept
}

/// Write the data of the open file `h` (with `hm`'s owner, mode and
/// mtime) to `name` in `dir`, atomically: a temporary name, fsync, rename
/// (over an existing `name`). Returns the bytes written.
fn write_from_fd(
    h: BorrowedFd<'_>,
    hm: &Meta,
    dir: BorrowedFd<'_>,
    name: &OsStr,
) -> anyhow::Result<u64> {
    let tmp = crate::copy::sibling_name(name, ".impermctl-reconcile");
    let _ = sfs::unlink_at(dir, &tmp, false);
    let tf = std::fs::File::from(sfs::create_at(dir, &tmp)?);
    let (mut off, mut method) = (0u64, sfs::Method::default());
    loop {
        let n = sfs::copy_chunk(h, tf.as_fd(), off, 1 << 20, &mut method)?;
        if n == 0 {
            break;
        }
        off += n as u64;
    }
    let at = sfs::At::Fd(tf.as_fd());
    sfs::chown(at, hm.uid, hm.gid)?;
    sfs::chmod(at, hm.perm)?;
    sfs::set_times(at, hm.atime, hm.mtime)?;
    tf.sync_all()?;
    sfs::rename(dir, &tmp, name, sfs::RenameFlags::empty())?;
    Ok(off)
}
