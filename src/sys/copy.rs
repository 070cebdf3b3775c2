//! fd-relative file operations for copying trees with all metadata: stat,
//! open/create without following symlinks, xattrs, ownership, times, data
//! ranges (copy_file_range with a pread/pwrite fallback), renames, and a bind
//! mount through the new mount API. Thin wrappers, no policy.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, StatxFlags, Timespec, Timestamps};

pub use rustix::fs::FileType as Kind;

mod xattr;
pub use xattr::{At, xattr_get, xattr_list, xattr_set};

/// A timestamp: seconds and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds.
    pub nsec: u32,
}

/// What `statx` says about one inode (never following a final symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// File type.
    pub kind: FileType,
    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    pub perm: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Link count.
    pub nlink: u32,
    /// Device of the filesystem (`makedev(major, minor)`).
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Device number of a char/block device.
    pub rdev: u64,
    /// Mount id (0 when the kernel does not say).
    pub mnt_id: u64,
    /// Last access.
    pub atime: Time,
    /// Last modification.
    pub mtime: Time,
}

fn meta(s: &rfs::Statx) -> Meta {
    let t = |t: &rfs::StatxTimestamp| Time {
        sec: t.tv_sec,
        nsec: t.tv_nsec,
    };
    Meta {
        kind: FileType::from_raw_mode(u32::from(s.stx_mode)),
        perm: u32::from(s.stx_mode) & 0o7777,
        uid: s.stx_uid,
        gid: s.stx_gid,
        size: s.stx_size,
        blocks: s.stx_blocks,
        nlink: s.stx_nlink,
        dev: rfs::makedev(s.stx_dev_major, s.stx_dev_minor),
        ino: s.stx_ino,
        rdev: rfs::makedev(s.stx_rdev_major, s.stx_rdev_minor),
        mnt_id: if s.stx_mask & StatxFlags::MNT_ID.bits() != 0 {
            s.stx_mnt_id
        } else {
            0
        },
        atime: t(&s.stx_atime),
        mtime: t(&s.stx_mtime),
    }
}

const STATX_MASK: StatxFlags = StatxFlags::BASIC_STATS.union(StatxFlags::MNT_ID);

/// `statx(dirfd, name, AT_SYMLINK_NOFOLLOW)`.
pub fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Meta> {
    Ok(meta(&rfs::statx(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
        STATX_MASK,
    )?))
}

/// `statx(fd, "", AT_EMPTY_PATH)`.
pub fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<Meta> {
    Ok(meta(&rfs::statx(fd, c"", AtFlags::EMPTY_PATH, STATX_MASK)?))
}

/// Open a host path for reference only (`O_PATH|O_NOFOLLOW`): the final
/// component is never followed.
pub fn open_path(path: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Open `rel` below `dir` for reference only (`O_PATH`), refusing a symlink
/// in any component and any escape from `dir` (`openat2` with
/// `RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH`).
pub fn open_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    use rfs::ResolveFlags as R;
    Ok(rfs::openat2(
        dir,
        rel,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        R::NO_SYMLINKS | R::BENEATH,
    )?)
}

/// Open the directory `name` in `dir` for reading, refusing symlinks.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rfs::openat(dir, name, flags, Mode::empty())?)
}

/// Open the directory at a host path (final component not followed).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rfs::open(path, flags, Mode::empty())?)
}

/// Open a file for reading without following a symlink, without blocking on
/// a fifo and, where permitted, without touching its atime.
pub fn open_read_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    Ok(
        match rfs::openat(dir, name, flags | OFlags::NOATIME, Mode::empty()) {
            Err(rustix::io::Errno::PERM) => rfs::openat(dir, name, flags, Mode::empty()),
            r => r,
        }?,
    )
}

/// Create a new file (`O_EXCL`, mode 0600) for writing.
pub fn create_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rfs::openat(dir, name, flags, Mode::from_raw_mode(0o600))?)
}

/// The entries of a directory (without `.` and `..`), with their `d_type`.
pub fn read_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<(CString, FileType)>> {
    let mut out = Vec::new();
    for e in rfs::Dir::read_from(dir)? {
        let e = e?;
        let n = e.file_name();
        if n == c"." || n == c".." {
            continue;
        }
        out.push((n.to_owned(), e.file_type()));
    }
    Ok(out)
}

/// `mkdirat(dir, name, mode)`.
pub fn mkdir_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    Ok(rfs::mkdirat(dir, name, Mode::from_raw_mode(mode))?)
}

/// `mknodat` for a fifo, socket, char or block device (mode 0, set later).
pub fn mknod_at(dir: BorrowedFd<'_>, name: &OsStr, kind: FileType, rdev: u64) -> io::Result<()> {
    Ok(rfs::mknodat(dir, name, kind, Mode::empty(), rdev)?)
}

/// `symlinkat(target, dir, name)`.
pub fn symlink_at(target: &OsStr, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rfs::symlinkat(target, dir, name)?)
}

/// `readlinkat(dir, name)`.
pub fn readlink_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<CString> {
    Ok(rfs::readlinkat(dir, name, Vec::new())?)
}

/// `linkat(old_dir, old, new_dir, new, 0)`: a hard link, never following.
pub fn link_at(
    old_dir: BorrowedFd<'_>,
    old: &Path,
    new_dir: BorrowedFd<'_>,
    new: &OsStr,
) -> io::Result<()> {
    Ok(rfs::linkat(old_dir, old, new_dir, new, AtFlags::empty())?)
}

/// `renameat2(dir, from, dir, to, RENAME_NOREPLACE)`.
pub fn rename_noreplace(dir: BorrowedFd<'_>, from: &OsStr, to: &OsStr) -> io::Result<()> {
    Ok(rfs::renameat_with(
        dir,
        from,
        dir,
        to,
        rfs::RenameFlags::NOREPLACE,
    )?)
}

/// `unlinkat(dir, name)`, with `AT_REMOVEDIR` for directories.
pub fn unlink_at(dir: BorrowedFd<'_>, name: &OsStr, is_dir: bool) -> io::Result<()> {
    let flags = if is_dir {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    Ok(rfs::unlinkat(dir, name, flags)?)
}

/// `fchown(fd, uid, gid)`.
pub fn chown_fd(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    Ok(rfs::fchown(fd, Some(u), Some(g))?)
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)` (lchown).
pub fn chown_at(dir: BorrowedFd<'_>, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    Ok(rfs::chownat(
        dir,
        name,
        Some(u),
        Some(g),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

fn ids(uid: u32, gid: u32) -> (rustix::fs::Uid, rustix::fs::Gid) {
    // An inode's owner is never -1, the only value `from_raw` rejects.
    (
        rustix::fs::Uid::from_raw(uid),
        rustix::fs::Gid::from_raw(gid),
    )
}

/// `fchmod(fd, perm)` (including setuid, setgid, sticky).
pub fn chmod_fd(fd: BorrowedFd<'_>, perm: u32) -> io::Result<()> {
    Ok(rfs::fchmod(fd, Mode::from_raw_mode(perm))?)
}

/// `fchmodat(dir, name, perm)` for a special file we just created ourselves
/// (Linux has no non-following fchmodat for them before fchmodat2).
pub fn chmod_at(dir: BorrowedFd<'_>, name: &OsStr, perm: u32) -> io::Result<()> {
    Ok(rfs::chmodat(
        dir,
        name,
        Mode::from_raw_mode(perm),
        AtFlags::empty(),
    )?)
}

/// `utimensat(dir, name, [atime, mtime], AT_SYMLINK_NOFOLLOW)`.
pub fn set_times_at(dir: BorrowedFd<'_>, name: &OsStr, atime: Time, mtime: Time) -> io::Result<()> {
    Ok(rfs::utimensat(
        dir,
        name,
        &stamps(atime, mtime),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// `futimens(fd, [atime, mtime])`.
pub fn set_times_fd(fd: BorrowedFd<'_>, atime: Time, mtime: Time) -> io::Result<()> {
    Ok(rfs::futimens(fd, &stamps(atime, mtime))?)
}

fn stamps(a: Time, m: Time) -> Timestamps {
    let ts = |t: Time| Timespec {
        tv_sec: t.sec,
        tv_nsec: t.nsec.into(),
    };
    Timestamps {
        last_access: ts(a),
        last_modification: ts(m),
    }
}

/// `fsync(fd)`.
pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(rfs::fsync(fd)?)
}

/// `ftruncate(fd, len)`.
pub fn truncate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    Ok(rfs::ftruncate(fd, len)?)
}

/// The next data segment at or after `off`: `Some((start, end))`, or `None`
/// at the end of the file. `Err` when the filesystem cannot tell.
pub fn next_data(fd: BorrowedFd<'_>, off: u64) -> io::Result<Option<(u64, u64)>> {
    let start = match rfs::seek(fd, rfs::SeekFrom::Data(off)) {
        Ok(s) => s,
        Err(rustix::io::Errno::NXIO) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let end = rfs::seek(fd, rfs::SeekFrom::Hole(start))?;
    Ok(Some((start, end)))
}

/// How file data is copied; a copy starts with the fastest and steps down
/// when the kernel or the filesystems refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// `copy_file_range` (in-kernel, reflinks where the filesystem can).
    #[default]
    CopyFileRange,
    /// `sendfile` (in-kernel, any filesystems).
    Sendfile,
    /// `pread`/`pwrite` through a buffer.
    ReadWrite,
}

/// Copy up to `len` bytes at offset `off` from `src` to the same offset in
/// `dst`, with `method`, stepping it down on refusal. Returns the bytes
/// copied (0 at end of file).
pub fn copy_chunk(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    off: u64,
    len: usize,
    method: &mut Method,
) -> io::Result<usize> {
    use rustix::io::Errno;
    let refused = |e: Errno| {
        matches!(
            e,
            Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::PERM
        )
    };
    if *method == Method::CopyFileRange {
        let (mut i, mut o) = (off, off);
        match rfs::copy_file_range(src, Some(&mut i), dst, Some(&mut o), len) {
            Ok(n) => return Ok(n),
            Err(e) if refused(e) => *method = Method::Sendfile,
            Err(e) => return Err(e.into()),
        }
    }
    if *method == Method::Sendfile {
        rfs::seek(dst, rfs::SeekFrom::Start(off))?;
        let mut i = off;
        match rfs::sendfile(dst, src, Some(&mut i), len) {
            Ok(n) => return Ok(n),
            Err(e) if refused(e) => *method = Method::ReadWrite,
            Err(e) => return Err(e.into()),
        }
    }
    let s = std::fs::File::from(src.try_clone_to_owned()?);
    let d = std::fs::File::from(dst.try_clone_to_owned()?);
    let mut buf = vec![0u8; len.min(1 << 20)];
    let n = s.read_at(&mut buf, off)?;
    d.write_all_at(&buf[..n], off)?;
    Ok(n)
}

/// The bytes of an `OsStr` as a C string (names from `readdir` never hold NUL).
pub fn cname(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}
