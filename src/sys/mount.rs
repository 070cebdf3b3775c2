//! Mounting through file descriptors: a bind is `open_tree(OPEN_TREE_CLONE)`
//! of an already opened source, then `move_mount` onto an already opened
//! target, so no path is resolved between the checks and the mount. Where
//! the new mount API is unavailable (old kernels, seccomp profiles of some
//! container managers answer `ENOSYS`/`EPERM`), the classic `mount(2)` bind
//! runs on the same fds through their `/proc/self/fd` links.
//! Unmounting is always `MNT_DETACH`, never `MNT_FORCE`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
use rustix::io::Errno;
use rustix::mount::{MountPropagationFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags};

/// Which syscalls make a bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `open_tree` + `move_mount`, falling back to `mount(2)` when refused.
    Auto,
    /// `mount(2)` with `MS_BIND` on `/proc/self/fd` links only.
    Legacy,
}

impl Api {
    /// `IMPERMCTL_MOUNT_API=legacy` forces the fallback (tests, debugging).
    pub fn from_env() -> Api {
        match std::env::var("IMPERMCTL_MOUNT_API").as_deref() {
            Ok("legacy") => Api::Legacy,
            _ => Api::Auto,
        }
    }
}

/// Bind the file or directory behind `src` onto `dst` (non-recursive, like
/// `mount --bind`: mounts below `src` are not carried along, so what they
/// hide is visible under `dst`). Both may be `O_PATH` handles.
pub fn bind(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, api: Api) -> io::Result<()> {
    bind_with(src, dst, api, false)
}

/// Bind `src` onto `dst` with every mount below it (`mount --rbind`).
pub fn bind_recursive(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, api: Api) -> io::Result<()> {
    bind_with(src, dst, api, true)
}

fn bind_with(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, api: Api, rec: bool) -> io::Result<()> {
    if api == Api::Legacy {
        return bind_legacy(src, dst, rec);
    }
    match bind_new(src, dst, rec) {
        Err(e) if e == Errno::NOSYS || e == Errno::PERM => bind_legacy(src, dst, rec),
        r => r.map_err(io::Error::from),
    }
}

fn bind_new(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, rec: bool) -> Result<(), Errno> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    if rec {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let tree = rustix::mount::open_tree(src, "", flags)?;
    rustix::mount::move_mount(
        &tree,
        "",
        dst,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
}

fn bind_legacy(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, rec: bool) -> io::Result<()> {
    let s = format!("/proc/self/fd/{}", src.as_raw_fd());
    let d = format!("/proc/self/fd/{}", dst.as_raw_fd());
    if rec {
        rustix::mount::mount_bind_recursive(s.as_str(), d.as_str())?;
    } else {
        rustix::mount::mount_bind(s.as_str(), d.as_str())?;
    }
    Ok(())
}

/// A detached copy of the mount tree whose root `fd` is (`open_tree` with
/// `OPEN_TREE_CLONE|AT_RECURSIVE`: the same filesystems, with the mounts
/// below it), to be attached elsewhere with [`attach`]. It disappears
/// with the fd when never attached. Needs the new mount API (`ENOSYS` or
/// `EPERM` where it is refused: no fallback).
pub fn clone_tree(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH
        | OpenTreeFlags::AT_RECURSIVE;
    Ok(rustix::mount::open_tree(fd, "", flags)?)
}

/// Attach the detached tree `tree` (from [`clone_tree`] or
/// [`clone_hidden`]) on `dst` (`move_mount`).
pub fn attach(tree: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<()> {
    let flags = MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH;
    Ok(rustix::mount::move_mount(tree, "", dst, "", flags)?)
}

/// A detached copy (as [`clone_tree`]) of the mount at `hidden`, which the
/// mount at `cover` (an ancestor path) hides: no path reaches it here, so
/// a thread of its own enters a private copy of the mount namespace
/// (`unshare(CLONE_NEWNS)` unshares only that thread's view), detaches its
/// copy of `cover` there and clones what then shows at `hidden`. Nothing
/// done in that namespace is seen outside it, and it ends with the thread.
/// Both paths are relative to the directory `root` (a host path, opened
/// again inside the namespace), resolved without symlinks; `hidden`
/// must be a mount point once `cover` is gone (`EINVAL` otherwise).
pub fn clone_hidden(root: &Path, cover: &Path, hidden: &Path) -> io::Result<OwnedFd> {
    let (root, cover, hidden) = (root.to_owned(), cover.to_owned(), hidden.to_owned());
    let run = move || -> io::Result<OwnedFd> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
        rustix::mount::mount_change(
            "/",
            MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
        )?;
        let r = super::fs::open_dir(&root)?;
        let path = rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY;
        let c = super::fs::open_beneath(r.as_fd(), &cover, path)?;
        detach(c.as_fd())?;
        let h = super::fs::open_beneath(r.as_fd(), &hidden, path)?;
        if !is_mount_root(h.as_fd())? {
            return Err(Errno::INVAL.into());
        }
        clone_tree(h.as_fd())
    };
    std::thread::spawn(run)
        .join()
        .map_err(|_| io::Error::other("the namespace thread panicked"))?
}

/// Lazily unmount the mount whose root `fd` is (`MNT_DETACH`, resolved
/// through `/proc/self/fd`, so the path is not looked up again).
pub fn detach(fd: BorrowedFd<'_>) -> io::Result<()> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::mount::unmount(path.as_str(), UnmountFlags::DETACH)?;
    Ok(())
}

/// Is the object behind `fd` the root of a mount (something mounted on it)?
pub fn is_mount_root(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let x = rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS)?;
    Ok(x.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT)
        && x.stx_attributes.contains(StatxAttributes::MOUNT_ROOT))
}

/// Enter a private mount namespace: `unshare(CLONE_NEWNS)`, then make every
/// mount private so nothing done here propagates back. The caller must be
/// single-threaded.
pub fn private_namespace() -> io::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )?;
    Ok(())
}
