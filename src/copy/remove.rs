//! Removing a temporary copy left by a killed run: fd-relative, never
//! following a symlink, never leaving the filesystem it started on.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use anyhow::{Context, bail};
use rustix::fs::FileType;

use crate::sys::copy as sys;

/// Remove `name` in `dir` and everything below it. Returns false when it did
/// not exist.
pub(super) fn remove_tree(dir: BorrowedFd<'_>, name: &OsStr) -> anyhow::Result<bool> {
    let m = match sys::stat_at(dir, name) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).context("stat"),
    };
    if m.kind != FileType::Directory {
        sys::unlink_at(dir, name, false).context("unlink")?;
        return Ok(true);
    }
    let top = sys::stat_fd(dir).context("stat")?;
    remove_dir(dir, name, (top.dev, top.mnt_id), name)?;
    Ok(true)
}

fn remove_dir(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    dev: (u64, u64),
    shown: &OsStr,
) -> anyhow::Result<()> {
    let d = sys::open_dir_at(parent, name).with_context(|| format!("cannot open {shown:?}"))?;
    let m = sys::stat_fd(d.as_fd())?;
    if (m.dev, m.mnt_id) != dev || m.kind != FileType::Directory {
        bail!("{shown:?} is on another filesystem (a mount point?): not removing it");
    }
    // Our own copies may carry read-only modes; we own them.
    let _ = sys::chmod_fd(d.as_fd(), 0o700);
    for (n, _) in sys::read_dir(d.as_fd()).with_context(|| format!("cannot list {shown:?}"))? {
        let n = OsStr::from_bytes(n.as_bytes());
        let cm = sys::stat_at(d.as_fd(), n)
            .with_context(|| format!("cannot stat {n:?} in {shown:?}"))?;
        if cm.kind == FileType::Directory {
            remove_dir(d.as_fd(), n, dev, n)?;
        } else {
            sys::unlink_at(d.as_fd(), n, false)
                .with_context(|| format!("cannot remove {n:?} in {shown:?}"))?;
        }
    }
    drop(d);
    sys::unlink_at(parent, name, true)
        .with_context(|| format!("cannot remove the directory {shown:?}"))
}
