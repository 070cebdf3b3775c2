//! Fd-relative calls that create or change something: files and
//! directories made with an exact [`Owner`], atomic writes and renames,
//! links, special files, owner, mode and times, `flock`, `fsync`. Each acts
//! on a name in an already opened directory (`*at`) or on an open fd; none
//! follows a symlink.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{
    AtFlags, FileType, FlockOperation, Gid, Mode, OFlags, RenameFlags, Timespec, Timestamps, Uid,
};

use super::{At, open_dir};
use crate::sys::meta::Time;

/// Owner and permission bits of a directory or file being created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Numeric user id.
    pub uid: u32,
    /// Numeric group id.
    pub gid: u32,
    /// Permission bits (applied exactly, umask does not matter).
    pub mode: u32,
}

impl Owner {
    /// `root:root` with `mode`.
    pub const fn root(mode: u32) -> Owner {
        Owner {
            uid: 0,
            gid: 0,
            mode,
        }
    }
}

/// `fchown` + `fchmod` through an fd opened for reading or writing.
pub fn set_owner(fd: BorrowedFd<'_>, o: Owner) -> io::Result<()> {
    chown(At::Fd(fd), o.uid, o.gid)?;
    chmod(At::Fd(fd), o.mode)
}

/// Create the new file `name` in `dir` (`O_EXCL`, mode 0600) for writing.
pub fn create_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(0o600);
    Ok(rustix::fs::openat(dir, name, flags, mode)?)
}

/// Create the empty file `name` in `dir` (which must not exist yet) with `owner`.
pub fn create_file_at(dir: BorrowedFd<'_>, name: &OsStr, o: Owner) -> io::Result<()> {
    set_owner(create_at(dir, name)?.as_fd(), o)
}

/// `.<name><suffix>-<pid>`: a temporary sibling of `name`.
fn tmp_sibling(name: &OsStr, suffix: &str) -> std::ffi::OsString {
    super::sibling_name(name, &format!("{suffix}-{}", std::process::id()))
}

/// Write `data` to `name` in the directory `dir` atomically: a temporary
/// sibling is written, given `owner`, fsynced and renamed over `name`, then
/// the directory is fsynced. `dir` must be opened for reading (not `O_PATH`).
pub fn write_atomic_at(dir: BorrowedFd<'_>, name: &OsStr, data: &[u8], o: Owner) -> io::Result<()> {
    let tmp = tmp_sibling(name, ".impermctl-tmp");
    let _ = unlink_at(dir, &tmp, false);
    let fd = create_at(dir, &tmp)?;
    let result = (|| {
        let mut f = std::fs::File::from(fd);
        f.write_all(data)?;
        set_owner(f.as_fd(), o)?;
        f.sync_all()?;
        rustix::fs::renameat(dir, &tmp, dir, name)?;
        Ok(rustix::fs::fsync(dir)?)
    })();
    if result.is_err() {
        let _ = unlink_at(dir, &tmp, false);
    }
    result
}

/// Write `data` to the host path `path` atomically (temporary sibling,
/// fsync, rename, fsync of the directory), creating the directory if needed.
/// For impermctl's own files under `/run`.
pub fn write_file_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let (parent, name) = super::split(path)?;
    std::fs::create_dir_all(parent)?;
    let dir = open_dir(parent)?;
    let o = Owner {
        uid: rustix::process::geteuid().as_raw(),
        gid: rustix::process::getegid().as_raw(),
        mode,
    };
    write_atomic_at(dir.as_fd(), name, data, o)
}

/// Take an exclusive `flock` on `path` (created if missing); released when
/// the returned fd is dropped.
pub fn lock_file(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = rustix::fs::open(path, flags, Mode::from_raw_mode(0o644))?;
    lock(fd.as_fd())?;
    Ok(fd)
}

/// An exclusive `flock` on an open fd (waits for it).
pub fn lock(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(rustix::fs::flock(fd, FlockOperation::LockExclusive)?)
}

/// Symlink `name` in `dir` to `target` atomically (a temporary link renamed
/// into place, replacing whatever non-directory is there).
pub fn symlink_replace_at(dir: BorrowedFd<'_>, name: &OsStr, target: &Path) -> io::Result<()> {
    let tmp = tmp_sibling(name, ".impermctl-link");
    let _ = unlink_at(dir, &tmp, false);
    rustix::fs::symlinkat(target, dir, &tmp)?;
    if let Err(e) = rustix::fs::renameat(dir, &tmp, dir, name) {
        let _ = unlink_at(dir, &tmp, false);
        return Err(e.into());
    }
    Ok(())
}

/// `unlinkat(dir, name)`, with `AT_REMOVEDIR` for directories.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &OsStr, is_dir: bool) -> io::Result<()> {
    let flags = if is_dir {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    Ok(rustix::fs::unlinkat(dir, name, flags)?)
}

/// `mkdirat(dir, name, mode)`.
pub fn mkdir_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode))?)
}

/// `mknodat` for a fifo, socket, char or block device (mode 0, set later).
pub fn mknod_at(dir: BorrowedFd<'_>, name: &OsStr, kind: FileType, rdev: u64) -> io::Result<()> {
    Ok(rustix::fs::mknodat(dir, name, kind, Mode::empty(), rdev)?)
}

/// `linkat(old_dir, old, new_dir, new, 0)`: a hard link, never following.
pub fn link_at(
    old_dir: BorrowedFd<'_>,
    old: &Path,
    new_dir: BorrowedFd<'_>,
    new: &OsStr,
) -> io::Result<()> {
    let flags = AtFlags::empty();
    Ok(rustix::fs::linkat(old_dir, old, new_dir, new, flags)?)
}

/// `renameat2(dir, from, dir, to, flags)`: with no flags `to` is replaced
/// atomically if it exists; `NOREPLACE` fails if it does; `EXCHANGE` (both
/// must exist) makes each name what the other did, in one atomic step.
pub fn rename(dir: BorrowedFd<'_>, from: &OsStr, to: &OsStr, flags: RenameFlags) -> io::Result<()> {
    Ok(rustix::fs::renameat_with(dir, from, dir, to, flags)?)
}

/// Owner of an fd (`fchown`), or of a name in a directory, never followed
/// (`fchownat(AT_SYMLINK_NOFOLLOW)`, lchown).
pub fn chown(at: At<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // An inode's owner is never -1, the only value `from_raw` rejects.
    let (u, g) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    Ok(match at {
        At::Fd(fd) => rustix::fs::fchown(fd, u, g),
        At::Name(dir, n) => rustix::fs::chownat(dir, n, u, g, AtFlags::SYMLINK_NOFOLLOW),
    }?)
}

/// Permission bits (including setuid, setgid, sticky) of an fd (`fchmod`),
/// or of a special file we just created ourselves (`fchmodat`: Linux has no
/// non-following one for them before fchmodat2).
pub fn chmod(at: At<'_>, perm: u32) -> io::Result<()> {
    let mode = Mode::from_raw_mode(perm);
    Ok(match at {
        At::Fd(fd) => rustix::fs::fchmod(fd, mode),
        At::Name(dir, n) => rustix::fs::chmodat(dir, n, mode, AtFlags::empty()),
    }?)
}

/// Access and modification times of an fd (`futimens`), or of a name in a
/// directory, never followed (`utimensat(AT_SYMLINK_NOFOLLOW)`).
pub fn set_times(at: At<'_>, atime: Time, mtime: Time) -> io::Result<()> {
    let ts = |t: Time| Timespec {
        tv_sec: t.0,
        tv_nsec: t.1.into(),
    };
    let t = Timestamps {
        last_access: ts(atime),
        last_modification: ts(mtime),
    };
    Ok(match at {
        At::Fd(fd) => rustix::fs::futimens(fd, &t),
        At::Name(dir, n) => rustix::fs::utimensat(dir, n, &t, AtFlags::SYMLINK_NOFOLLOW),
    }?)
}
