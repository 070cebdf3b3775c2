//! Mounting through file descriptors: a bind is `open_tree(OPEN_TREE_CLONE)`
//! of an already opened source, then `move_mount` onto an already opened
//! target, so no path is resolved between the checks and the mount.
//! Unmounting is always `MNT_DETACH`, never `MNT_FORCE`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::mount::{MoveMountFlags, OpenTreeFlags, UnmountFlags};

/// Bind the file or directory behind `src` onto `dst` (non-recursive, like
/// `mount --bind`). Both may be `O_PATH` handles.
pub fn bind(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<()> {
    let tree = rustix::mount::open_tree(
        src,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )?;
    rustix::mount::move_mount(
        &tree,
        "",
        dst,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )?;
    Ok(())
}

/// Lazily unmount the mount whose root `fd` is (`MNT_DETACH`, resolved
/// through `/proc/self/fd`, so the path is not looked up again).
pub fn detach(fd: BorrowedFd<'_>) -> io::Result<()> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::mount::unmount(path.as_str(), UnmountFlags::DETACH)?;
    Ok(())
}
