//! inotify(7) through rustix: an instance, watches, and draining the event
//! queue. No policy here; the recursive watcher lives in `watch::inotify`.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use rustix::fs::inotify::{self, CreateFlags, Reader};
pub use rustix::fs::inotify::{ReadFlags, WatchFlags};
use rustix::io::Errno;

/// An inotify instance (non-blocking, close-on-exec). Clones share it.
#[derive(Debug, Clone)]
pub struct Inotify {
    fd: Arc<OwnedFd>,
}

/// One event: `name` is empty for events on the watched directory itself.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Watch descriptor (-1 for `IN_Q_OVERFLOW`).
    pub wd: i32,
    /// `IN_*` bits.
    pub mask: ReadFlags,
    /// Pairs `IN_MOVED_FROM` with `IN_MOVED_TO`.
    pub cookie: u32,
    /// The entry's name inside the watched directory, without NUL padding.
    pub name: &'a [u8],
}

impl Inotify {
    /// `inotify_init1(IN_NONBLOCK | IN_CLOEXEC)`.
    pub fn init() -> io::Result<Inotify> {
        let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?;
        Ok(Inotify { fd: Arc::new(fd) })
    }

    /// `inotify_add_watch(path, mask)`; adding an already watched inode
    /// returns its existing descriptor.
    pub fn add_watch(&self, path: &Path, mask: WatchFlags) -> io::Result<i32> {
        Ok(inotify::add_watch(self.fd.as_fd(), path, mask)?)
    }

    /// `inotify_rm_watch(wd)` (an `IN_IGNORED` event follows).
    pub fn rm_watch(&self, wd: i32) -> io::Result<()> {
        Ok(inotify::remove_watch(self.fd.as_fd(), wd)?)
    }

    /// Call `each` for every queued event, reading until the queue is empty.
    /// `buf` is scratch space (256 KiB holds thousands of events).
    pub fn drain(
        &self,
        buf: &mut [MaybeUninit<u8>],
        mut each: impl FnMut(Event<'_>),
    ) -> io::Result<()> {
        let mut r = Reader::new(self.fd.as_fd(), buf);
        loop {
            match r.next() {
                Ok(e) => each(Event {
                    wd: e.wd(),
                    mask: e.events(),
                    cookie: e.cookie(),
                    name: e.file_name().map_or(&[][..], |n| n.to_bytes()),
                }),
                Err(Errno::AGAIN) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for Inotify {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_creates_with_names() {
        let dir = tempfile::tempdir().unwrap();
        let ino = Inotify::init().unwrap();
        let mask = WatchFlags::CREATE | WatchFlags::CLOSE_WRITE | WatchFlags::ONLYDIR;
        let wd = ino.add_watch(dir.path(), mask).unwrap();
        std::fs::write(dir.path().join("hello"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let mut buf = vec![MaybeUninit::uninit(); 4096];
        let mut evs = Vec::new();
        ino.drain(&mut buf, |e| {
            evs.push((e.wd, e.mask, String::from_utf8_lossy(e.name).into_owned()))
        })
        .unwrap();
        assert_eq!(
            evs,
            vec![
                (wd, ReadFlags::CREATE, "hello".to_string()),
                (wd, ReadFlags::CLOSE_WRITE, "hello".to_string()),
                (wd, ReadFlags::CREATE | ReadFlags::ISDIR, "sub".to_string()),
            ]
        );
        let mut more = 0;
        ino.drain(&mut buf, |_| more += 1).unwrap();
        assert_eq!(more, 0);
        assert_eq!(ino.add_watch(dir.path(), WatchFlags::CREATE).unwrap(), wd);
    }
}
