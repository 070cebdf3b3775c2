//! File data for a copy: data ranges (`copy_file_range`, then `sendfile`,
//! then `pread`/`pwrite`), holes, and opening a source file for reading.
//! Thin wrappers, no policy.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::{self as rfs, OFlags};

/// Open the file `name` in `dir` for reading without following a symlink,
/// without blocking on a fifo and, where permitted, without touching its atime.
pub fn open_read_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
    let name = Path::new(name);
    match super::open_beneath(dir, name, flags | OFlags::NOATIME) {
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) => {
            super::open_beneath(dir, name, flags)
        }
        r => r,
    }
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
