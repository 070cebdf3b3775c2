//! Directories: one reader (rustix's `RawDir`, `getdents64` into a reused
//! buffer: names, `d_type`, `d_ino`, no `fdopendir`), creating missing
//! levels beneath a directory fd, and a small tree summary.

use std::ffi::{CStr, OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{FileType, OFlags, RawDir};

use super::fs::{Owner, mkdir_at, open_beneath, set_owner};
use super::meta::{Meta, stat_at};

/// A reusable buffer for [`read`] (64 KiB).
#[derive(Debug)]
pub struct DirBuf(Vec<MaybeUninit<u8>>);

impl Default for DirBuf {
    fn default() -> Self {
        DirBuf(vec![MaybeUninit::uninit(); 64 * 1024])
    }
}

/// Open the directory `rel` beneath `dir` for reading:
/// [`open_beneath`] with `O_RDONLY|O_DIRECTORY` (no symlink anywhere).
pub fn open(dir: BorrowedFd<'_>, rel: impl AsRef<Path>) -> io::Result<OwnedFd> {
    open_beneath(dir, rel.as_ref(), OFlags::RDONLY | OFlags::DIRECTORY)
}

/// Read every entry of the directory open for reading at `dir` (without
/// `.` and `..`), calling `f(name, d_type, d_ino)`. `d_type` is
/// `FileType::Unknown` where the filesystem does not say: stat then.
pub fn read(
    dir: BorrowedFd<'_>,
    buf: &mut DirBuf,
    mut f: impl FnMut(&CStr, FileType, u64),
) -> io::Result<()> {
    let mut it = RawDir::new(dir, &mut buf.0);
    while let Some(e) = it.next() {
        let e = e?;
        let name = e.file_name();
        let b = name.to_bytes();
        if b == b"." || b == b".." {
            continue;
        }
        f(name, e.file_type(), e.ino());
    }
    Ok(())
}

/// The names of the entries of a directory open for reading (without `.`
/// and `..`).
pub fn names(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut out = Vec::new();
    read(dir, &mut DirBuf::default(), |n, _, _| {
        out.push(OsStr::from_bytes(n.to_bytes()).to_owned())
    })?;
    Ok(out)
}

/// Is the directory `rel` beneath `dir` empty?
pub fn is_empty(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<bool> {
    let fd = open(dir, rel)?;
    let mut empty = true;
    read(fd.as_fd(), &mut DirBuf::default(), |_, _, _| empty = false)?;
    Ok(empty)
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
    let path_dir = OFlags::PATH | OFlags::DIRECTORY;
    let mut cur = open_beneath(dir, Path::new(""), path_dir)?;
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
        let next = match super::optional(open_beneath(cur.as_fd(), Path::new(name), path_dir))? {
            Some(fd) => fd,
            None => {
                let o = owner(i)?;
                // Made with its final permission bits but any write for
                // group or others (and the sticky, set-id ones) until its
                // owner is set: killed between the two, a directory is never
                // more open than it will be, nor narrower than a root-owned
                // 0755 one (which `apply::dirs::tighten_to_live` would take
                // for a live mode to copy).
                match mkdir_at(cur.as_fd(), name, o.mode & 0o755) {
                    Ok(()) => {
                        let fd = open(cur.as_fd(), name)?;
                        set_owner(fd.as_fd(), o)?;
                        created.push(so_far.clone());
                        fd
                    }
                    // Lost a race with another creator: use theirs.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        open_beneath(cur.as_fd(), Path::new(name), path_dir)?
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        cur = next;
    }
    Ok((cur, created))
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
    let mut s = TreeSummary::default();
    each_below(open(dir, rel)?.as_fd(), Path::new(""), 64, &mut |p, m| {
        s.entries += 1;
        if s.sample.len() < sample {
            s.sample.push(p.to_path_buf());
        }
        if m.file_type == FileType::RegularFile {
            s.bytes += m.size;
        }
    })?;
    Ok(s)
}

/// Call `f(path, meta)` for every entry below the directory open for
/// reading at `fd` (depth first; `path` is `at` joined with the entry's
/// path from `fd`), never following a symlink, descending into at most
/// `depth` levels of subdirectories.
pub fn each_below(
    fd: BorrowedFd<'_>,
    at: &Path,
    depth: u32,
    f: &mut dyn FnMut(&Path, &Meta),
) -> io::Result<()> {
    for name in names(fd)? {
        let (p, m) = (at.join(&name), stat_at(fd, &name)?);
        f(&p, &m);
        if m.file_type == FileType::Directory && depth > 0 {
            each_below(open(fd, &name)?.as_fd(), &p, depth - 1, f)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_names_types_and_inodes() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("f"), b"").unwrap();
        let dir = std::fs::File::open(t.path()).unwrap();
        let mut got = Vec::new();
        read(dir.as_fd(), &mut DirBuf::default(), |n, t, ino| {
            got.push((String::from_utf8_lossy(n.to_bytes()).into_owned(), t, ino))
        })
        .unwrap();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let ino = |n: &str| std::fs::metadata(t.path().join(n)).unwrap().ino();
        assert_eq!(
            got,
            vec![
                ("d".into(), FileType::Directory, ino("d")),
                ("f".into(), FileType::RegularFile, ino("f")),
            ]
        );
        let d = std::fs::File::open(t.path()).unwrap();
        assert!(!is_empty(d.as_fd(), Path::new("")).unwrap());
        assert!(is_empty(d.as_fd(), Path::new("d")).unwrap());
    }

    #[test]
    fn summarizes_a_tree() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/f"), b"12345").unwrap();
        let d = std::fs::File::open(t.path()).unwrap();
        let s = summarize_tree(d.as_fd(), Path::new("a"), 1).unwrap();
        assert_eq!((s.entries, s.bytes, s.sample.len()), (2, 5, 1));
    }
}
