//! Thin wrappers for walking a tree fast and safely: directories opened
//! relative to their parent's fd without following symlinks, raw
//! `getdents64` reads (names, `d_type`, `d_ino`), `statx` relative to a dir
//! fd, and a private mount namespace with a non-recursive bind (`--shadowed`).

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RawDir, StatxFlags};

/// What an entry is, from `d_type` or the mode bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A unix socket.
    Socket,
    /// A block or character device.
    Device,
    /// `d_type` said DT_UNKNOWN: stat to learn more.
    Unknown,
}

impl Kind {
    fn from_file_type(t: FileType) -> Kind {
        match t {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::Fifo => Kind::Fifo,
            FileType::Socket => Kind::Socket,
            FileType::CharacterDevice | FileType::BlockDevice => Kind::Device,
            _ => Kind::Unknown,
        }
    }

    /// The kind encoded in mode bits.
    pub fn from_mode(mode: u32) -> Kind {
        Kind::from_file_type(FileType::from_raw_mode(mode))
    }
}

/// The facts `diff` and the baseline keep about an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// What it is.
    pub kind: Kind,
    /// Device as (major, minor).
    pub dev: (u32, u32),
    /// Inode number.
    pub ino: u64,
    /// Hard link count.
    pub nlink: u32,
    /// Apparent size in bytes.
    pub size: u64,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, u32),
    /// Status change time (seconds, nanoseconds).
    pub ctime: (i64, u32),
    /// Birth time, when the filesystem reports it.
    pub btime: Option<(i64, u32)>,
}

fn meta(s: &rustix::fs::Statx) -> Meta {
    let btime = StatxFlags::from_bits_retain(s.stx_mask)
        .contains(StatxFlags::BTIME)
        .then_some((s.stx_btime.tv_sec, s.stx_btime.tv_nsec));
    Meta {
        kind: Kind::from_mode(u32::from(s.stx_mode)),
        dev: (s.stx_dev_major, s.stx_dev_minor),
        ino: s.stx_ino,
        nlink: s.stx_nlink,
        size: s.stx_size,
        mtime: (s.stx_mtime.tv_sec, s.stx_mtime.tv_nsec),
        ctime: (s.stx_ctime.tv_sec, s.stx_ctime.tv_nsec),
        btime,
    }
}

const MASK: StatxFlags = StatxFlags::TYPE
    .union(StatxFlags::INO)
    .union(StatxFlags::NLINK)
    .union(StatxFlags::SIZE)
    .union(StatxFlags::MTIME)
    .union(StatxFlags::CTIME)
    .union(StatxFlags::BTIME);

/// `statx(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Meta> {
    let s = rustix::fs::statx(dir, name, AtFlags::SYMLINK_NOFOLLOW, MASK)?;
    Ok(meta(&s))
}

/// `statx` of an open fd (`AT_EMPTY_PATH`).
pub fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<Meta> {
    let s = rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, MASK)?;
    Ok(meta(&s))
}

/// `lstat` of a path.
pub fn stat_path(path: &Path) -> io::Result<Meta> {
    let s = rustix::fs::statx(CWD, path, AtFlags::SYMLINK_NOFOLLOW, MASK)?;
    Ok(meta(&s))
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Open the directory `name` in `dir`, refusing a symlink.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty())?)
}

/// Open a directory by path (the last component must not be a symlink).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(CWD, path, DIR_FLAGS, Mode::empty())?)
}

/// A reusable buffer for [`read_dir`].
#[derive(Debug)]
pub struct DirBuf(Vec<MaybeUninit<u8>>);

impl Default for DirBuf {
    fn default() -> Self {
        DirBuf(vec![MaybeUninit::uninit(); 64 * 1024])
    }
}

/// Read every entry of an open directory (without `.` and `..`), calling
/// `f(name, kind, d_ino)`.
pub fn read_dir(
    dir: BorrowedFd<'_>,
    buf: &mut DirBuf,
    mut f: impl FnMut(&CStr, Kind, u64),
) -> io::Result<()> {
    let mut it = RawDir::new(dir.as_fd(), &mut buf.0);
    while let Some(e) = it.next() {
        let e = e?;
        let name = e.file_name();
        let b = name.to_bytes();
        if b == b"." || b == b".." {
            continue;
        }
        f(name, Kind::from_file_type(e.file_type()), e.ino());
    }
    Ok(())
}

/// The target of the symlink `name` in `dir`.
pub fn read_link_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    Ok(rustix::fs::readlinkat(dir, name, Vec::new())?.into_bytes())
}

/// Enter a private mount namespace: `unshare(CLONE_NEWNS)`, then make every
/// mount private so nothing done here propagates back. The caller must be
/// single-threaded.
pub fn private_mount_namespace() -> io::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
    )?;
    Ok(())
}

/// Bind `src` on `dst`, non-recursively: mounts below `src` are not carried
/// along, so what they hide becomes visible under `dst`.
pub fn bind_non_recursive(src: &Path, dst: &Path) -> io::Result<()> {
    Ok(rustix::mount::mount_bind(src, dst)?)
}

/// Bind `src` on `dst` with every mount below it.
pub fn bind_recursive(src: &Path, dst: &Path) -> io::Result<()> {
    Ok(rustix::mount::mount_bind_recursive(src, dst)?)
}

/// Detach the mount at `target` (`umount2(MNT_DETACH)`), with its children.
pub fn detach(target: &Path) -> io::Result<()> {
    Ok(rustix::mount::unmount(
        target,
        rustix::mount::UnmountFlags::DETACH,
    )?)
}
