//! Fd-relative file operations that never follow a symlink. Every lookup
//! below a directory fd goes through [`open_beneath`]:
//! `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS)`, so a
//! symlink anywhere on the path fails with `ELOOP` and `..` cannot climb out.
//! Where `openat2` is missing (kernels before 5.6, seccomp profiles that
//! answer `ENOSYS`), the same walk is made one component at a time with
//! `openat(O_NOFOLLOW)`, refusing `..`. Everything else acts on a name in an
//! already opened directory (`*at` calls) or on an open fd.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{
    AtFlags, FileType, FlockOperation, Gid, Mode, OFlags, RenameFlags, ResolveFlags, Timespec,
    Timestamps, Uid,
};
use rustix::io::Errno;

use super::meta::{Meta, Time, stat_at};

/// How every lookup resolves: inside the directory, no symlink of any kind.
pub const NO_FOLLOW: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// Open a trusted directory (the root, or a path given by the admin) for
/// reading. Symlinks in the leading components are followed, the last
/// component must be the directory itself.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Open `rel` beneath `dir` with `flags` (plus `O_CLOEXEC|O_NOFOLLOW`),
/// refusing symlinks in every component and any escape from `dir`. An
/// empty `rel` opens `dir` itself again. With `O_PATH` a final symlink is
/// opened as itself; otherwise it fails with `ELOOP`.
pub fn open_beneath(dir: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    // One plain name (a walker's child): `openat(O_NOFOLLOW)` is the same
    // lookup, without openat2's per-call setup (the diff walk's hot path).
    let mut c = rel.components();
    if let (Some(Component::Normal(name)), None) = (c.next(), c.next()) {
        return Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?);
    }
    match rustix::fs::openat2(dir, rel, flags, Mode::empty(), NO_FOLLOW) {
        Err(Errno::NOSYS) => open_beneath_stepwise(dir, rel, flags),
        r => Ok(r?),
    }
}

/// [`open_beneath`] without `openat2`: one `openat(O_NOFOLLOW)` per
/// component, the directories walked so far kept open; `..` steps back to
/// the previous one and is refused above `dir` (`EXDEV`, as `openat2`),
/// as are absolute paths.
fn open_beneath_stepwise(dir: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let step = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let comps: Vec<Component<'_>> = rel.components().collect();
    let mut stack: Vec<OwnedFd> = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        let at = stack.last().map_or(dir, |f| f.as_fd());
        let last = i + 1 == comps.len();
        match c {
            Component::CurDir if last => {
                return Ok(rustix::fs::openat(at, ".", flags, Mode::empty())?);
            }
            Component::CurDir => {}
            Component::ParentDir => {
                stack.pop().ok_or(Errno::XDEV)?;
                if last {
                    let at = stack.last().map_or(dir, |f| f.as_fd());
                    return Ok(rustix::fs::openat(at, ".", flags, Mode::empty())?);
                }
            }
            Component::Normal(n) if last => {
                return Ok(rustix::fs::openat(at, *n, flags, Mode::empty())?);
            }
            Component::Normal(n) => {
                let fd = rustix::fs::openat(at, *n, step, Mode::empty())?;
                match super::meta::stat_fd(fd.as_fd())?.file_type {
                    FileType::Directory => stack.push(fd),
                    FileType::Symlink => return Err(Errno::LOOP.into()),
                    _ => return Err(Errno::NOTDIR.into()),
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(Errno::XDEV.into()),
        }
    }
    Ok(rustix::fs::openat(dir, ".", flags, Mode::empty())?)
}

/// Split a relative path into its parent and a single final name.
pub fn split(rel: &Path) -> io::Result<(&Path, &OsStr)> {
    let name = rel
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no final name"))?;
    Ok((rel.parent().unwrap_or(Path::new("")), name))
}

/// The parent of `rel` beneath `dir` as an `O_PATH` handle and the final
/// name, for the `*at` calls.
fn parent_beneath<'a>(dir: BorrowedFd<'_>, rel: &'a Path) -> io::Result<(OwnedFd, &'a OsStr)> {
    let (parent, name) = split(rel)?;
    let pfd = open_beneath(dir, parent, OFlags::PATH | OFlags::DIRECTORY)?;
    Ok((pfd, name))
}

/// `lstat` of `rel` beneath `dir`: the parent is resolved without symlinks,
/// the last component is not followed. `Ok(None)` when it (or a parent) is missing.
pub fn lstat_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<Option<Meta>> {
    let pfd = match parent_beneath(dir, rel) {
        Ok((fd, name)) => (fd, name),
        Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => return Ok(None),
        Err(e) => return Err(e),
    };
    match stat_at(pfd.0.as_fd(), pfd.1) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Read the symlink `rel` beneath `dir` (its parent resolved without symlinks).
pub fn readlink_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<PathBuf> {
    let (pfd, name) = parent_beneath(dir, rel)?;
    let target = readlink_at(pfd.as_fd(), name)?;
    Ok(PathBuf::from(OsStr::from_bytes(&target)))
}

/// `readlinkat(dir, name)`: the target's bytes.
pub fn readlink_at<P: rustix::path::Arg>(dir: BorrowedFd<'_>, name: P) -> io::Result<Vec<u8>> {
    Ok(rustix::fs::readlinkat(dir, name, Vec::new())?.into_bytes())
}

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

/// `fchown` + `fchmod` through an fd opened for reading or writing.
pub fn set_owner(fd: BorrowedFd<'_>, o: Owner) -> io::Result<()> {
    chown_fd(fd, o.uid, o.gid)?;
    chmod_fd(fd, o.mode)
}

/// Create the new file `name` in `dir` (`O_EXCL`, mode 0600) for writing.
pub fn create_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(
        dir,
        name,
        flags,
        Mode::from_raw_mode(0o600),
    )?)
}

/// Create the empty file `name` in `dir` (which must not exist yet) with `owner`.
pub fn create_file_at(dir: BorrowedFd<'_>, name: &OsStr, o: Owner) -> io::Result<()> {
    set_owner(create_at(dir, name)?.as_fd(), o)
}

/// `.<name><suffix>-<pid>`: a temporary sibling of `name`.
fn tmp_sibling(name: &OsStr, suffix: &str) -> std::ffi::OsString {
    let mut tmp = b".".to_vec();
    tmp.extend_from_slice(name.as_bytes());
    tmp.extend_from_slice(format!("{suffix}-{}", std::process::id()).as_bytes());
    std::ffi::OsString::from(OsStr::from_bytes(&tmp))
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
        fsync(dir)
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
    let parent = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent)?;
    let dir = open_dir(parent)?;
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

/// `symlinkat(target, dir, name)`.
pub fn symlink_at(target: &OsStr, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::symlinkat(target, dir, name)?)
}

/// `linkat(old_dir, old, new_dir, new, 0)`: a hard link, never following.
pub fn link_at(
    old_dir: BorrowedFd<'_>,
    old: &Path,
    new_dir: BorrowedFd<'_>,
    new: &OsStr,
) -> io::Result<()> {
    Ok(rustix::fs::linkat(
        old_dir,
        old,
        new_dir,
        new,
        AtFlags::empty(),
    )?)
}

/// `renameat2(dir, from, dir, to, RENAME_NOREPLACE)`.
pub fn rename_noreplace(dir: BorrowedFd<'_>, from: &OsStr, to: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::renameat_with(
        dir,
        from,
        dir,
        to,
        RenameFlags::NOREPLACE,
    )?)
}

fn ids(uid: u32, gid: u32) -> (Option<Uid>, Option<Gid>) {
    // An inode's owner is never -1, the only value `from_raw` rejects.
    (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
}

/// `fchown(fd, uid, gid)`.
pub fn chown_fd(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    Ok(rustix::fs::fchown(fd, u, g)?)
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)` (lchown).
pub fn chown_at(dir: BorrowedFd<'_>, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
    let (u, g) = ids(uid, gid);
    Ok(rustix::fs::chownat(
        dir,
        name,
        u,
        g,
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// `fchmod(fd, perm)` (including setuid, setgid, sticky).
pub fn chmod_fd(fd: BorrowedFd<'_>, perm: u32) -> io::Result<()> {
    Ok(rustix::fs::fchmod(fd, Mode::from_raw_mode(perm))?)
}

/// `fchmodat(dir, name, perm)` for a special file we just created ourselves
/// (Linux has no non-following fchmodat for them before fchmodat2).
pub fn chmod_at(dir: BorrowedFd<'_>, name: &OsStr, perm: u32) -> io::Result<()> {
    Ok(rustix::fs::chmodat(
        dir,
        name,
        Mode::from_raw_mode(perm),
        AtFlags::empty(),
    )?)
}

fn stamps(a: Time, m: Time) -> Timestamps {
    let ts = |t: Time| Timespec {
        tv_sec: t.0,
        tv_nsec: t.1.into(),
    };
    Timestamps {
        last_access: ts(a),
        last_modification: ts(m),
    }
}

/// `utimensat(dir, name, [atime, mtime], AT_SYMLINK_NOFOLLOW)`.
pub fn set_times_at(dir: BorrowedFd<'_>, name: &OsStr, atime: Time, mtime: Time) -> io::Result<()> {
    let t = stamps(atime, mtime);
    Ok(rustix::fs::utimensat(
        dir,
        name,
        &t,
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// `futimens(fd, [atime, mtime])`.
pub fn set_times_fd(fd: BorrowedFd<'_>, atime: Time, mtime: Time) -> io::Result<()> {
    Ok(rustix::fs::futimens(fd, &stamps(atime, mtime))?)
}

/// `fsync(fd)`.
pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(rustix::fs::fsync(fd)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, OwnedFd) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink("b", t.path().join("a/l")).unwrap();
        std::os::unix::fs::symlink("/", t.path().join("up")).unwrap();
        let fd = open_dir(t.path()).unwrap();
        (t, fd)
    }

    /// `openat2` and the component-wise fallback agree on every input.
    #[test]
    fn open_beneath_and_its_fallback_agree() {
        let (_t, d) = tree();
        let errno = |r: io::Result<OwnedFd>| r.map(|_| 0).map_err(|e| e.raw_os_error().unwrap());
        let ro = OFlags::RDONLY;
        let dir = OFlags::RDONLY | OFlags::DIRECTORY;
        let cases: &[(&str, OFlags, Result<i32, i32>)] = &[
            ("a/b/f", ro, Ok(0)),
            ("a/b", dir, Ok(0)),
            ("", dir, Ok(0)),
            ("a/l", ro, Err(libc_errno(Errno::LOOP))),
            ("a/l/f", ro, Err(libc_errno(Errno::LOOP))),
            ("up/etc", dir, Err(libc_errno(Errno::LOOP))),
            ("a/../a/b", dir, Ok(0)),
            ("a/..", dir, Ok(0)),
            ("a/../../x", dir, Err(libc_errno(Errno::XDEV))),
            ("../x", dir, Err(libc_errno(Errno::XDEV))),
            ("/etc", dir, Err(libc_errno(Errno::XDEV))),
            ("a/missing", ro, Err(libc_errno(Errno::NOENT))),
            ("a/l", OFlags::PATH, Ok(0)),
        ];
        for (rel, flags, want) in cases {
            let got = errno(open_beneath(d.as_fd(), Path::new(rel), *flags));
            assert_eq!(&got, want, "openat2 {rel:?}");
            let rel2 = if rel.is_empty() { "." } else { rel };
            let flags = *flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
            let got = errno(open_beneath_stepwise(d.as_fd(), Path::new(rel2), flags));
            assert_eq!(&got, want, "fallback {rel:?}");
        }
    }

    fn libc_errno(e: Errno) -> i32 {
        e.raw_os_error()
    }

    #[test]
    fn lstat_and_readlink_beneath() {
        let (_t, d) = tree();
        let m = lstat_beneath(d.as_fd(), Path::new("a/l")).unwrap().unwrap();
        assert_eq!(m.file_type, FileType::Symlink);
        assert!(
            lstat_beneath(d.as_fd(), Path::new("a/nope/x"))
                .unwrap()
                .is_none()
        );
        assert!(lstat_beneath(d.as_fd(), Path::new("a/l/f")).is_err());
        assert_eq!(
            readlink_beneath(d.as_fd(), Path::new("a/l")).unwrap(),
            Path::new("b")
        );
    }

    #[test]
    fn writes_atomically_and_replaces_links() {
        let (t, _) = tree();
        let d = open_dir(&t.path().join("a")).unwrap();
        let o = Owner {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            mode: 0o640,
        };
        write_atomic_at(d.as_fd(), OsStr::new("w"), b"data", o).unwrap();
        assert_eq!(std::fs::read(t.path().join("a/w")).unwrap(), b"data");
        symlink_replace_at(d.as_fd(), OsStr::new("w"), Path::new("/target")).unwrap();
        assert_eq!(
            std::fs::read_link(t.path().join("a/w")).unwrap(),
            Path::new("/target")
        );
        let names: Vec<_> = std::fs::read_dir(t.path().join("a")).unwrap().collect();
        assert_eq!(names.len(), 3, "no temporary left behind");
    }
}
