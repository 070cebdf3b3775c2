//! Extended attributes through an fd, or by name in a directory (symlinks
//! and special files, which cannot be opened) via `/proc/self/fd/<dir>/<name>`
//! and the non-following `l*xattr` calls.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::PathBuf;

use rustix::fs as rfs;
use rustix::io::Errno;

/// `/proc/self/fd/<dir>/<name>`: a path naming `name` in `dir` for the
/// path-only xattr calls (the `l*` variants never follow `name`).
fn proc_path(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    p.push(name);
    p
}

/// Where xattrs are read or written: an open fd, or a name in a directory
/// (symlinks and special files, which cannot be opened).
#[derive(Clone, Copy)]
pub enum At<'a> {
    /// An fd opened for reading or writing.
    Fd(BorrowedFd<'a>),
    /// `name` in directory `dir`, never followed.
    Name(BorrowedFd<'a>, &'a OsStr),
}

/// The names of the extended attributes.
pub fn xattr_list(at: At<'_>) -> io::Result<Vec<CString>> {
    let r = grown(1024, |buf| match at {
        At::Fd(fd) => rfs::flistxattr(fd, buf),
        At::Name(d, n) => rfs::llistxattr(proc_path(d, n), buf),
    });
    match r {
        Ok(buf) => Ok(buf
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .filter_map(|s| CString::new(s).ok())
            .collect()),
        Err(Errno::NOTSUP) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// The value of one extended attribute.
pub fn xattr_get(at: At<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    Ok(grown(256, |buf| match at {
        At::Fd(fd) => rfs::fgetxattr(fd, name, buf),
        At::Name(d, n) => rfs::lgetxattr(proc_path(d, n), name, buf),
    })?)
}

/// What `call` writes into a buffer of `size` bytes, retried with a
/// larger one while it answers `ERANGE` (too small).
fn grown(
    size: usize,
    mut call: impl FnMut(&mut [u8]) -> Result<usize, Errno>,
) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; size];
    loop {
        match call(&mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(e),
        }
    }
}

/// Set one extended attribute.
pub fn xattr_set(at: At<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    let flags = rfs::XattrFlags::empty();
    Ok(match at {
        At::Fd(fd) => rfs::fsetxattr(fd, name, value, flags),
        At::Name(d, n) => rfs::lsetxattr(proc_path(d, n), name, value, flags),
    }?)
}
