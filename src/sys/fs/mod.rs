//! Fd-relative file operations that never follow a symlink. Every lookup
//! below a directory fd goes through [`open_beneath`]:
//! `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS)`, so a
//! symlink anywhere on the path fails with `ELOOP` and `..` cannot climb out.
//! Where `openat2` is missing (kernels before 5.6, seccomp profiles that
//! answer `ENOSYS`), the same walk is made one component at a time with
//! `openat(O_NOFOLLOW)`, refusing `..`. Everything else acts on a name in an
//! already opened directory (`*at` calls) or on an open fd: [`change`];
//! a copy's file data and extended attributes: [`data`], [`xattr`].

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::meta::{Meta, stat_at};

mod change;
mod data;
mod xattr;

pub use change::{
    Owner, chmod, chown, create_at, create_file_at, link_at, lock, lock_file, mkdir_at, mknod_at,
    rename, set_owner, set_times, symlink_replace_at, unlink_at, write_atomic_at,
    write_file_atomic,
};
pub use data::{Method, copy_chunk, next_data, open_read_at};
/// `fsync(2)`, `ftruncate(2)` and `symlinkat(2)` as rustix has them.
pub use rustix::fs::{RenameFlags, fsync, ftruncate as truncate, symlinkat as symlink_at};
pub use xattr::{At, xattr_get, xattr_list, xattr_set};

/// How every lookup resolves: inside the directory, no symlink of any kind.
pub const NO_FOLLOW: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// Open a trusted directory (the root, or a path given by the admin) for
/// reading. Symlinks in the leading components are followed, the last
/// component must be the directory itself.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::open(path, flags, Mode::empty())?)
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
        match c {
            Component::CurDir => {}
            Component::ParentDir => drop(stack.pop().ok_or(Errno::XDEV)?),
            Component::Normal(n) if i + 1 == comps.len() => {
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
    // Ends in `.` or `..`: the directory reached.
    let at = stack.last().map_or(dir, |f| f.as_fd());
    Ok(rustix::fs::openat(at, ".", flags, Mode::empty())?)
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
    let Some((pfd, name)) = super::optional(parent_beneath(dir, rel))? else {
        return Ok(None);
    };
    super::optional(stat_at(pfd.as_fd(), name))
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

/// FNV-1a (64 bit) of `b`: stable across builds and machines, unlike the
/// standard library's hasher (baseline index keys, long sibling names).
pub fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `base` when `taken` says it is free, else the first free one of
/// `base-<first>`, `base-<first + 1>`, … (a name or a whole path).
pub fn free_name(base: OsString, first: u32, taken: impl Fn(&OsStr) -> bool) -> OsString {
    let numbered = (first..).map(|n| {
        let mut name = base.clone();
        name.push(format!("-{n}"));
        name
    });
    let mut all = std::iter::once(base.clone()).chain(numbered);
    all.find(|n| !taken(n)).expect("an endless sequence")
}

/// `.<name><suffix>`, within `NAME_MAX` (255 bytes): a name too long for
/// that keeps its first bytes and gets `~` and 16 hex digits of its FNV-1a
/// hash, so the same name always gives the same sibling (a stale one left
/// by a killed run is found again) and different names rarely collide.
pub fn sibling_name(name: &OsStr, suffix: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    const NAME_MAX: usize = 255;
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(NAME_MAX);
    out.push(b'.');
    if 1 + b.len() + suffix.len() <= NAME_MAX {
        out.extend_from_slice(b);
    } else {
        let hash = fnv1a(b);
        let keep = NAME_MAX - 1 - suffix.len() - 17;
        out.extend_from_slice(&b[..keep]);
        out.extend_from_slice(format!("~{hash:016x}").as_bytes());
    }
    out.extend_from_slice(suffix.as_bytes());
    std::ffi::OsString::from_vec(out)
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
