//! Raw inotify(7): init, add/remove watches, read and parse the event buffer.
//! No policy here; the recursive watcher lives in `watch::inotify`.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::libc;

pub use libc::{
    IN_ATTRIB, IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_DONT_FOLLOW,
    IN_EXCL_UNLINK, IN_IGNORED, IN_ISDIR, IN_MODIFY, IN_MOVE_SELF, IN_MOVED_FROM, IN_MOVED_TO,
    IN_ONLYDIR, IN_Q_OVERFLOW, IN_UNMOUNT,
};

/// An inotify instance (non-blocking, close-on-exec).
#[derive(Debug)]
pub struct Inotify {
    fd: OwnedFd,
}

/// One event: `name` is empty for events on the watched directory itself.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Watch descriptor (-1 for `IN_Q_OVERFLOW`).
    pub wd: i32,
    /// `IN_*` bits.
    pub mask: u32,
    /// Pairs `IN_MOVED_FROM` with `IN_MOVED_TO`.
    pub cookie: u32,
    /// The entry's name inside the watched directory, without NUL padding.
    pub name: &'a [u8],
}

impl Inotify {
    /// `inotify_init1(IN_NONBLOCK | IN_CLOEXEC)`.
    pub fn init() -> Result<Inotify, Errno> {
        // SAFETY: plain syscall, no pointers.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(Inotify {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// `inotify_add_watch(path, mask)`; adding an already watched inode
    /// returns its existing descriptor.
    pub fn add_watch(&self, path: &Path, mask: u32) -> Result<i32, Errno> {
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        // SAFETY: c is a valid NUL-terminated string for the call's duration.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), mask) };
        if wd < 0 { Err(Errno::last()) } else { Ok(wd) }
    }

    /// `inotify_rm_watch`.
    pub fn rm_watch(&self, wd: i32) -> Result<(), Errno> {
        // SAFETY: plain syscall.
        let r = unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), wd) };
        if r < 0 { Err(Errno::last()) } else { Ok(()) }
    }

    /// Read as many events as fit into `buf`; `Ok(0)` when none are queued.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        match nix::unistd::read(self.fd.as_fd(), buf) {
            Ok(n) => Ok(n),
            Err(Errno::EAGAIN) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

impl AsFd for Inotify {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Iterate over the events in a buffer filled by [`Inotify::read`].
pub fn events(buf: &[u8]) -> Events<'_> {
    Events { buf }
}

/// Iterator over a read buffer.
#[derive(Debug)]
pub struct Events<'a> {
    buf: &'a [u8],
}

const HEADER: usize = std::mem::size_of::<libc::inotify_event>();

impl<'a> Iterator for Events<'a> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        if self.buf.len() < HEADER {
            return None;
        }
        let u32_at = |o: usize| u32::from_ne_bytes(self.buf[o..o + 4].try_into().unwrap());
        let wd = u32_at(0) as i32;
        let mask = u32_at(4);
        let cookie = u32_at(8);
        let len = u32_at(12) as usize;
        let end = (HEADER + len).min(self.buf.len());
        let raw = &self.buf[HEADER..end];
        let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
        self.buf = &self.buf[end..];
        Some(Event {
            wd,
            mask,
            cookie,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_creates_with_names() {
        let dir = tempfile::tempdir().unwrap();
        let ino = Inotify::init().unwrap();
        let wd = ino
            .add_watch(dir.path(), IN_CREATE | IN_CLOSE_WRITE | IN_ONLYDIR)
            .unwrap();
        std::fs::write(dir.path().join("hello"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = ino.read(&mut buf).unwrap();
        let evs: Vec<_> = events(&buf[..n])
            .map(|e| (e.wd, e.mask, String::from_utf8_lossy(e.name).into_owned()))
            .collect();
        assert_eq!(
            evs,
            vec![
                (wd, IN_CREATE, "hello".to_string()),
                (wd, IN_CLOSE_WRITE, "hello".to_string()),
                (wd, IN_CREATE | IN_ISDIR, "sub".to_string()),
            ]
        );
        assert_eq!(ino.read(&mut buf).unwrap(), 0);
        assert_eq!(ino.add_watch(dir.path(), IN_CREATE).unwrap(), wd);
    }
}
