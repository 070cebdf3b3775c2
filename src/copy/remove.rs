//! Removing a temporary copy left by a killed run: fd-relative, never
//! following a symlink, never leaving the filesystem it started on.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};

use anyhow::{Context, bail};
use rustix::fs::FileType;

use crate::sys::fs::At;
use crate::sys::meta::{stat_at, stat_fd};
use crate::sys::{dir, fs};

/// Remove the tree `name` in `dir` (never following symlinks nor leaving its
/// filesystem); `Ok(false)` when there is none.
pub fn remove_tree_at(dir: BorrowedFd<'_>, name: &OsStr) -> anyhow::Result<bool> {
    let Some(m) = crate::sys::optional(stat_at(dir, name)).context("stat")? else {
        return Ok(false);
    };
    if m.file_type != FileType::Directory {
        fs::unlink_at(dir, name, false).context("unlink")?;
        return Ok(true);
    }
    let top = stat_fd(dir).context("stat")?;
    remove_dir(dir, name, (top.dev, top.mnt_id), name)?;
    Ok(true)
}

fn remove_dir(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    dev: (u64, u64),
    shown: &OsStr,
) -> anyhow::Result<()> {
    let d = dir::open(parent, name).with_context(|| format!("cannot open {shown:?}"))?;
    let m = stat_fd(d.as_fd())?;
    if (m.dev, m.mnt_id) != dev || m.file_type != FileType::Directory {
        bail!("{shown:?} is on another filesystem (a mount point?): not removing it");
    }
    // Our own copies may carry read-only modes; we own them.
    let _ = fs::chmod(At::Fd(d.as_fd()), 0o700);
    for n in dir::names(d.as_fd()).with_context(|| format!("cannot list {shown:?}"))? {
        let n = n.as_os_str();
        let cm =
            stat_at(d.as_fd(), n).with_context(|| format!("cannot stat {n:?} in {shown:?}"))?;
        if cm.file_type == FileType::Directory {
            remove_dir(d.as_fd(), n, dev, n)?;
        } else {
            fs::unlink_at(d.as_fd(), n, false)
                .with_context(|| format!("cannot remove {n:?} in {shown:?}"))?;
        }
    }
    drop(d);
    fs::unlink_at(parent, name, true)
        .with_context(|| format!("cannot remove the directory {shown:?}"))
}
