//! Has the mount table changed? `/proc/self/mountinfo` polls readable with
//! `POLLPRI | POLLERR` once the namespace's mount table changed since the
//! file was opened (proc_mounts(5): "Since kernel 2.6.15, this file is
//! pollable"), so a change is one `poll(2)` away, not a read and a compare.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// An open `/proc/self/mountinfo` that tells whether the table changed
/// since it was opened.
pub struct Changes(File);

impl Changes {
    /// Start looking: open `/proc/self/mountinfo` (the calling process's
    /// mount namespace). Errors: the file cannot be opened (no `/proc`).
    pub fn open() -> io::Result<Self> {
        Self::at("/proc/self/mountinfo")
    }

    /// Start looking at the mountinfo file `path` (e.g.
    /// `/proc/thread-self/mountinfo` for a thread in a namespace of its own).
    pub fn at(path: &str) -> io::Result<Self> {
        File::open(path).map(Self)
    }

    /// Was anything mounted, unmounted or changed since [`Changes::open`]?
    /// `true` also when the kernel cannot be asked (err on the side of
    /// saying so).
    pub fn changed(&self) -> bool {
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLPRI)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(0) => false,
            Ok(_) => fds[0]
                .revents()
                .is_none_or(|r| r.intersects(PollFlags::POLLPRI | PollFlags::POLLERR)),
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing since opening is no change; a mount is one. Needs root: a
    /// thread in a private mount namespace of its own.
    #[test]
    fn a_mount_since_opening_is_a_change() {
        use rustix::mount::{MountFlags, UnmountFlags, mount, unmount};
        if !crate::testing::privileged("mounts tmpfs") {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let d = t.path().to_path_buf();
        std::thread::spawn(move || {
            // A private mount namespace (not `sys::mount`: mountinfo is
            // below sys in the module map).
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
            rustix::mount::mount_change(
                "/",
                rustix::mount::MountPropagationFlags::PRIVATE
                    | rustix::mount::MountPropagationFlags::REC,
            )
            .unwrap();
            let c = Changes::at("/proc/thread-self/mountinfo").unwrap();
            assert!(!c.changed(), "nothing was mounted yet");
            mount("tmpfs", &d, "tmpfs", MountFlags::empty(), None).unwrap();
            assert!(c.changed(), "a tmpfs was mounted");
            unmount(&d, UnmountFlags::empty()).unwrap();
            assert!(Changes::open().is_ok());
        })
        .join()
        .unwrap();
    }
}
