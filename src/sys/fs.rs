//! Fd-relative file operations that never follow a symlink: every lookup is
//! `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS)` from a
//! directory fd, directories are created one level at a time (`mkdirat`,
//! then `fchown`/`fchmod` through the new directory's fd), and files are
//! written atomically (temporary file, fsync, `renameat`, fsync of the dir).
//! A symlink anywhere on a path makes the call fail with `ELOOP`.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{
    AtFlags, Dir, FileType, FlockOperation, Gid, Mode, OFlags, ResolveFlags, Stat, StatxAttributes,
    StatxFlags, Uid,
};
use rustix::io::Errno;

/// How every lookup resolves: inside the directory, no symlink of any kind.
pub const NO_FOLLOW: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

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

/// Open a trusted directory (a root or a persistence root given by the admin)
/// as an `O_PATH` handle. Symlinks in `path` itself are followed.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn rel_arg(rel: &Path) -> &Path {
    if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    }
}

/// Open `rel` beneath `dir` with `flags` (plus `O_CLOEXEC|O_NOFOLLOW`),
/// refusing symlinks in every component.
pub fn open_beneath(dir: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat2(
        dir,
        rel_arg(rel),
        flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        NO_FOLLOW,
    )?)
}

/// Open the directory `rel` beneath `dir` as an `O_PATH` handle.
pub fn open_dir_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    open_beneath(dir, rel, OFlags::PATH | OFlags::DIRECTORY)
}

/// `lstat` of `rel` beneath `dir`: the parent is resolved without symlinks,
/// the last component is not followed. `Ok(None)` when it (or a parent) is missing.
pub fn lstat_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<Option<Stat>> {
    let (parent, name) = split(rel)?;
    let pfd = match open_dir_beneath(dir, parent) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc_enoent()) => return Ok(None),
        Err(e) => return Err(e),
    };
    match rustix::fs::statat(&pfd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn libc_enoent() -> i32 {
    Errno::NOENT.raw_os_error()
}

/// The type of a stat result.
pub fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// Read the symlink `rel` beneath `dir` (its parent resolved without symlinks).
pub fn readlink_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<PathBuf> {
    let (parent, name) = split(rel)?;
    let pfd = open_dir_beneath(dir, parent)?;
    let target = rustix::fs::readlinkat(&pfd, name, Vec::new())?;
    Ok(PathBuf::from(OsStr::from_bytes(target.as_bytes())))
}

/// Split a relative path into its parent and a single final name.
pub fn split(rel: &Path) -> io::Result<(&Path, &OsStr)> {
    let name = rel
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no final name"))?;
    Ok((rel.parent().unwrap_or(Path::new("")), name))
}

/// Create every missing directory of `rel` beneath `dir`, top-down, one
/// level at a time. A created level gets `owner(i)` (`i` = index of the
/// component, 0 = first), set through its own fd; existing levels are left
/// alone. Returns an `O_PATH` handle of the last level and the relative
/// paths that were created.
pub fn mkdir_beneath(
    dir: BorrowedFd<'_>,
    rel: &Path,
    owner: &mut dyn FnMut(usize) -> io::Result<Owner>,
) -> io::Result<(OwnedFd, Vec<PathBuf>)> {
    let mut cur = open_dir_beneath(dir, Path::new(""))?;
    let mut created = Vec::new();
    let mut so_far = PathBuf::new();
    for (i, c) in rel.components().enumerate() {
        let Component::Normal(name) = c else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: only plain names are allowed", rel.display()),
            ));
        };
        so_far.push(name);
        let next = match open_dir_beneath(cur.as_fd(), Path::new(name)) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc_enoent()) => {
                let o = owner(i)?;
                match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {
                        let fd = open_beneath(
                            cur.as_fd(),
                            Path::new(name),
                            OFlags::RDONLY | OFlags::DIRECTORY,
                        )?;
                        set_owner(fd.as_fd(), o)?;
                        created.push(so_far.clone());
                        fd
                    }
                    // Lost a race with another creator: use theirs.
                    Err(Errno::EXIST) => open_dir_beneath(cur.as_fd(), Path::new(name))?,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e),
        };
        cur = next;
    }
    Ok((cur, created))
}

/// `fchown` + `fchmod` through an fd opened for reading or writing.
pub fn set_owner(fd: BorrowedFd<'_>, o: Owner) -> io::Result<()> {
    rustix::fs::fchown(fd, Some(Uid::from_raw(o.uid)), Some(Gid::from_raw(o.gid)))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(o.mode))?;
    Ok(())
}

/// Create the empty file `name` in `dir` (which must not exist yet) with `owner`.
pub fn create_file_at(dir: BorrowedFd<'_>, name: &OsStr, o: Owner) -> io::Result<()> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    set_owner(fd.as_fd(), o)
}

/// Write `data` to `name` in the directory `dir` atomically: a temporary
/// sibling is written, given `owner`, fsynced and renamed over `name`, then
/// the directory is fsynced. `dir` must be opened for reading (not `O_PATH`).
pub fn write_atomic_at(dir: BorrowedFd<'_>, name: &OsStr, data: &[u8], o: Owner) -> io::Result<()> {
    let mut tmp = b".".to_vec();
    tmp.extend_from_slice(name.as_bytes());
    tmp.extend_from_slice(format!(".impermctl-tmp-{}", std::process::id()).as_bytes());
    let tmp = OsStr::from_bytes(&tmp);
    let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
    let fd = rustix::fs::openat(
        dir,
        tmp,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let result = (|| {
        let mut f = std::fs::File::from(fd);
        f.write_all(data)?;
        set_owner(f.as_fd(), o)?;
        f.sync_all()?;
        rustix::fs::renameat(dir, tmp, dir, name)?;
        rustix::fs::fsync(dir)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
    }
    result
}

/// Write `data` to the host path `path` atomically (temporary sibling,
/// fsync, rename, fsync of the directory), creating the directory if needed.
/// For impermctl's own files under `/run`.
pub fn write_file_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent)?;
    let dir = rustix::fs::open(
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
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
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o644),
    )?;
    rustix::fs::flock(&fd, FlockOperation::LockExclusive)?;
    Ok(fd)
}

/// Is the directory `rel` beneath `dir` empty?
pub fn dir_is_empty(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<bool> {
    let fd = open_beneath(dir, rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
    let mut d = Dir::new(fd)?;
    while let Some(e) = d.read() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What a directory holds: entries, bytes of regular files, the first few
/// relative paths (at most `sample`). Walks through fds, never following links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeSummary {
    /// Entries below the directory (files, directories, links, …).
    pub entries: u64,
    /// Bytes in regular files.
    pub bytes: u64,
    /// A few relative paths.
    pub sample: Vec<PathBuf>,
}

/// Summarise the tree of the directory `rel` beneath `dir`.
pub fn summarize_tree(dir: BorrowedFd<'_>, rel: &Path, sample: usize) -> io::Result<TreeSummary> {
    let fd = open_beneath(dir, rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
    let mut s = TreeSummary::default();
    walk(fd, Path::new(""), sample, &mut s, 0)?;
    Ok(s)
}

fn walk(fd: OwnedFd, at: &Path, sample: usize, s: &mut TreeSummary, depth: u32) -> io::Result<()> {
    let mut d = Dir::read_from(&fd)?;
    while let Some(e) = d.read() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        let name = OsStr::from_bytes(n);
        let p = at.join(name);
        s.entries += 1;
        if s.sample.len() < sample {
            s.sample.push(p.clone());
        }
        let st = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
        match file_type(&st) {
            FileType::RegularFile => s.bytes += st.st_size as u64,
            FileType::Directory if depth < 64 => {
                let sub = open_beneath(
                    fd.as_fd(),
                    Path::new(name),
                    OFlags::RDONLY | OFlags::DIRECTORY,
                )?;
                walk(sub, &p, sample, s, depth + 1)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Is the object behind `fd` the root of a mount (something mounted on it)?
pub fn is_mount_root(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let x = rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS)?;
    Ok(x.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT)
        && x.stx_attributes.contains(StatxAttributes::MOUNT_ROOT))
}

/// Symlink `name` in `dir` to `target` atomically (a temporary link renamed
/// into place, replacing whatever non-directory is there).
pub fn symlink_replace_at(dir: BorrowedFd<'_>, name: &OsStr, target: &Path) -> io::Result<()> {
    let mut tmp = b".".to_vec();
    tmp.extend_from_slice(name.as_bytes());
    tmp.extend_from_slice(format!(".impermctl-link-{}", std::process::id()).as_bytes());
    let tmp = OsStr::from_bytes(&tmp);
    let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
    rustix::fs::symlinkat(target, dir, tmp)?;
    if let Err(e) = rustix::fs::renameat(dir, tmp, dir, name) {
        let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
        return Err(e.into());
    }
    Ok(())
}

/// Remove the name `name` in `dir` (`rmdir` when `dir_entry`).
pub fn remove_at(dir: BorrowedFd<'_>, name: &OsStr, dir_entry: bool) -> io::Result<()> {
    let flags = if dir_entry {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    Ok(rustix::fs::unlinkat(dir, name, flags)?)
}
