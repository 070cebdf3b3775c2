//! One `stat`: [`Meta`], what `statx(2)` says about an inode (never
//! following a final symlink), for the copy, `persist`, `boot`, the
//! baseline and `diff` alike.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, CWD, FileType, Mode, OFlags, StatxFlags};

/// What an entry is, as `diff` and the baseline see it (from `d_type` or
/// the mode bits): devices are one kind.
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

impl From<FileType> for Kind {
    fn from(t: FileType) -> Kind {
        match t {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Symlink,
            FileType::Fifo => Kind::Fifo,
            FileType::Socket => Kind::Socket,
            FileType::CharacterDevice | FileType::BlockDevice => Kind::Device,
            FileType::Unknown => Kind::Unknown,
        }
    }
}

impl Kind {
    /// The kind encoded in mode bits.
    pub fn from_mode(mode: u32) -> Kind {
        Kind::from(FileType::from_raw_mode(mode))
    }
}

/// A timestamp: seconds since the epoch and nanoseconds.
pub type Time = (i64, u32);

/// What `statx` says about one inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// File type (devices told apart: a copy recreates them).
    pub file_type: FileType,
    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    pub perm: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Apparent size in bytes.
    pub size: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Hard link count.
    pub nlink: u32,
    /// Device of the filesystem (`makedev(major, minor)`, as `st_dev`).
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
    /// Last status change.
    pub ctime: Time,
    /// Birth time, when the filesystem reports it.
    pub btime: Option<Time>,
}

impl Meta {
    /// The coarse kind (`diff`, baseline).
    pub fn kind(&self) -> Kind {
        Kind::from(self.file_type)
    }

    /// Is it a directory?
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }
}

fn meta(s: &rfs::Statx) -> Meta {
    let t = |t: &rfs::StatxTimestamp| (t.tv_sec, t.tv_nsec);
    let has = |f: StatxFlags| StatxFlags::from_bits_retain(s.stx_mask).contains(f);
    Meta {
        file_type: FileType::from_raw_mode(u32::from(s.stx_mode)),
        perm: u32::from(s.stx_mode) & 0o7777,
        uid: s.stx_uid,
        gid: s.stx_gid,
        size: s.stx_size,
        blocks: s.stx_blocks,
        nlink: s.stx_nlink,
        dev: rfs::makedev(s.stx_dev_major, s.stx_dev_minor),
        ino: s.stx_ino,
        rdev: rfs::makedev(s.stx_rdev_major, s.stx_rdev_minor),
        mnt_id: if has(StatxFlags::MNT_ID) {
            s.stx_mnt_id
        } else {
            0
        },
        atime: t(&s.stx_atime),
        mtime: t(&s.stx_mtime),
        ctime: t(&s.stx_ctime),
        btime: has(StatxFlags::BTIME).then(|| t(&s.stx_btime)),
    }
}

const MASK: StatxFlags = StatxFlags::BASIC_STATS
    .union(StatxFlags::MNT_ID)
    .union(StatxFlags::BTIME);

/// `statx(dir, name, AT_SYMLINK_NOFOLLOW)`: `name` is one entry of `dir`
/// (a `&CStr` from a directory read, or an `&OsStr`/`&Path`).
pub fn stat_at<P: rustix::path::Arg>(dir: BorrowedFd<'_>, name: P) -> io::Result<Meta> {
    let flags = AtFlags::SYMLINK_NOFOLLOW;
    Ok(meta(&rfs::statx(dir, name, flags, MASK)?))
}

/// `lstat` of any absolute or relative `path`, also one longer than
/// `PATH_MAX`: such a path is opened a few components at a time
/// (`O_PATH|O_DIRECTORY|O_NOFOLLOW`, each relative to the last), and the
/// final name is looked at from its parent's fd. No symlink is followed.
pub fn lstat_path(path: &Path) -> io::Result<Meta> {
    match stat_at(rfs::CWD, path) {
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NAMETOOLONG.raw_os_error()) => {}
        r => return r,
    }
    let name = path.file_name().ok_or(rustix::io::Errno::INVAL)?;
    let parent = path.parent().unwrap_or(Path::new("/"));
    let start = if path.is_absolute() { "/" } else { "." };
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let open = |at: BorrowedFd<'_>, p: &Path| rfs::openat(at, p, flags, Mode::empty());
    let mut fd = open(rfs::CWD, Path::new(start))?;
    let mut chunk = PathBuf::new();
    for c in parent.components() {
        let std::path::Component::Normal(c) = c else {
            continue;
        };
        if chunk.as_os_str().len() + c.len() > 2048 {
            fd = open(fd.as_fd(), &chunk)?;
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.as_os_str().is_empty() {
        fd = open(fd.as_fd(), &chunk)?;
    }
    stat_at(fd.as_fd(), name)
}

/// `statx(fd, "", AT_EMPTY_PATH)`: the inode behind an open fd (`O_PATH` too).
pub fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<Meta> {
    Ok(meta(&rfs::statx(fd, c"", AtFlags::EMPTY_PATH, MASK)?))
}

/// `lstat` of a trusted host path (a root given by the admin).
pub fn stat_path(path: &Path) -> io::Result<Meta> {
    stat_at(CWD, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn stats_agree_with_std() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), b"hello").unwrap();
        std::os::unix::fs::symlink("f", t.path().join("l")).unwrap();
        let d = std::fs::File::open(t.path()).unwrap();
        let m = stat_at(d.as_fd(), c"f").unwrap();
        let s = std::fs::symlink_metadata(t.path().join("f")).unwrap();
        assert_eq!(
            (m.kind(), m.size, m.ino, m.dev),
            (Kind::File, 5, s.ino(), s.dev())
        );
        assert_eq!((m.perm, m.uid, m.nlink), (s.mode() & 0o7777, s.uid(), 1));
        assert_eq!(m.mtime, (s.mtime(), s.mtime_nsec() as u32));
        assert_eq!(m.ctime, (s.ctime(), s.ctime_nsec() as u32));
        assert_eq!(stat_at(d.as_fd(), "l").unwrap().kind(), Kind::Symlink);
        assert!(stat_fd(d.as_fd()).unwrap().is_dir());
        assert_eq!(
            stat_path(&t.path().join("l")).unwrap().kind(),
            Kind::Symlink
        );
        assert_eq!(Kind::from_mode(0o060644), Kind::Device);
    }
}
