//! `method = "copy"` files: copy the persistent file onto the ephemeral
//! root at boot, save the live file back into persistence. Both directions
//! are atomic (a complete copy under a temporary name, fsynced, then
//! renamed over the old one), keep owner, mode, times and xattrs, and reach
//! both sides through directory fds opened beneath their roots without
//! following symlinks (`/proc/self/fd/N/…` anchors the copy on those fds).

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::FileType;

use crate::config::Entry;
use crate::copy::{self, CopyStats, Differ};
use crate::root::Root;
use crate::sys::fs::{self, Owner};

/// The host path that resolves through `fd` (a magic link: the kernel
/// follows the fd itself, not a path that could be swapped meanwhile).
pub fn via(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn rel(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

/// `.<name><suffix>`.
pub fn staged(name: &OsStr, suffix: &str) -> OsString {
    let mut s = OsString::from(".");
    s.push(name);
    s.push(suffix);
    s
}

/// Copy `from` (a host path) to `name` in `dir`, replacing it atomically:
/// built as `.<name><suffix>` (a stale one is removed first), fsynced, renamed.
pub fn replace_with_copy(
    from: &Path,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    suffix: &str,
) -> anyhow::Result<CopyStats> {
    let tmp = staged(name, suffix);
    copy::remove_tree_at(dir, &tmp)?;
    let stats = copy::copy_tree_atomic(from, &via(dir).join(&tmp))?;
    crate::sys::live::rename_replace(dir, &tmp, name)?;
    let d = crate::sys::copy::open_dir(&via(dir))?;
    crate::sys::copy::fsync(d.as_fd())?;
    Ok(stats)
}

/// The directory holding `e`'s target, opened beneath the root (`None` when missing).
fn target_dir(rootfd: BorrowedFd<'_>, e: &Entry) -> anyhow::Result<Option<(OwnedFd, OsString)>> {
    let (parent, name) = fs::split(rel(&e.path))?;
    match fs::open_dir_beneath(rootfd, parent) {
        Ok(fd) => Ok(Some((fd, name.to_os_string()))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| {
            format!(
                "cannot open the directory of {} (a symlink on the way is refused)",
                e.path.display()
            )
        }),
    }
}

/// The directory holding `e`'s source, created (with the entry's parent
/// perms) when `create`.
fn source_dir(
    root: &Root,
    rootfd: BorrowedFd<'_>,
    e: &Entry,
    create: bool,
) -> anyhow::Result<Option<(OwnedFd, OsString)>> {
    let pfd = fs::open_dir_beneath(rootfd, rel(&e.root))
        .with_context(|| format!("cannot open the persistence root {}", e.root.display()))?;
    let srel = e.source.strip_prefix(&e.root).unwrap_or(&e.source);
    let (parent, name) = fs::split(srel)?;
    if create {
        let mut ids = crate::apply::Ids::default();
        let o = ids.owner(root, &e.parent)?;
        let mut owner = |_| Ok::<Owner, std::io::Error>(o);
        let (fd, _) = fs::mkdir_beneath(pfd.as_fd(), parent, &mut owner)
            .with_context(|| format!("cannot create the parents of {}", e.source.display()))?;
        return Ok(Some((fd, name.to_os_string())));
    }
    match fs::open_dir_beneath(pfd.as_fd(), parent) {
        Ok(fd) => Ok(Some((fd, name.to_os_string()))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => {
            Err(err).with_context(|| format!("cannot open the parent of {}", e.source.display()))
        }
    }
}

fn regular(dir: BorrowedFd<'_>, name: &OsStr) -> bool {
    crate::sys::copy::stat_at(dir, name).is_ok_and(|m| m.kind == FileType::RegularFile)
}

/// Boot: copy the persistent file onto the target, replacing what is there
/// (an empty file, a symlink to the source, or data already kept aside).
pub fn copy_in(root: &Root, e: &Entry) -> anyhow::Result<CopyStats> {
    let rootfd = fs::open_dir(root.dir())?;
    let (sdir, sname) = source_dir(root, rootfd.as_fd(), e, false)?
        .with_context(|| format!("{} does not exist", e.source.display()))?;
    anyhow::ensure!(
        regular(sdir.as_fd(), &sname),
        "{} is not a regular file",
        e.source.display()
    );
    let (tdir, tname) = target_dir(rootfd.as_fd(), e)?
        .with_context(|| format!("the directory of {} does not exist", e.path.display()))?;
    replace_with_copy(
        &via(sdir.as_fd()).join(&sname),
        tdir.as_fd(),
        &tname,
        ".impermctl-in",
    )
    .with_context(|| {
        format!(
            "cannot copy {} onto {}",
            e.source.display(),
            e.path.display()
        )
    })
}

/// What [`save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// The persistent copy already matches the live file.
    Unchanged,
    /// Saved (entries and bytes copied).
    Saved(CopyStats),
    /// There is no live regular file (deleted, or not created yet): the
    /// persistent copy is kept as it is, never deleted.
    NoLiveFile,
}

/// Save the live file into persistence if it differs (content, owner,
/// mode, mtime, xattrs), atomically: `.<name>.impermctl-save`, fsynced,
/// renamed over the source. Killed at any point, the source is the old or
/// the new version.
pub fn save(root: &Root, e: &Entry) -> anyhow::Result<Saved> {
    let rootfd = fs::open_dir(root.dir())?;
    let Some((tdir, tname)) = target_dir(rootfd.as_fd(), e)? else {
        return Ok(Saved::NoLiveFile);
    };
    if !regular(tdir.as_fd(), &tname) {
        return Ok(Saved::NoLiveFile);
    }
    let (sdir, sname) = source_dir(root, rootfd.as_fd(), e, true)?
        .with_context(|| format!("cannot reach {}", e.source.display()))?;
    let live = via(tdir.as_fd()).join(&tname);
    if regular(sdir.as_fd(), &sname) {
        let same = copy::compare_trees(
            &live,
            &via(sdir.as_fd()).join(&sname),
            Differ { content: true },
        )?
        .is_none();
        if same {
            return Ok(Saved::Unchanged);
        }
    }
    let stats = replace_with_copy(&live, sdir.as_fd(), &sname, ".impermctl-save")
        .with_context(|| format!("cannot save {} to {}", e.path.display(), e.source.display()))?;
    Ok(Saved::Saved(stats))
}
