//! Starting fanotify: a filesystem mark on the root's superblock (with
//! `FAN_RENAME` when the kernel has it), and a probe that events resolve to
//! paths; when either fails, why (the errno decides whether `auto` falls
//! back to inotify).

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;

use super::{FanotifyWatcher, MASK, mute, sys};
use crate::sys::fanotify::Fanotify;

/// Check that events will resolve to paths: the root's own file handle
/// must open again through `mount_fd`. In a user namespace that owns the
/// filesystem (kernel 6.8+) the mark succeeds but `open_by_handle_at`
/// needs `CAP_DAC_READ_SEARCH` in the initial namespace and fails with
/// `EPERM`: every event would be dropped, so fanotify is not used.
fn probe(root: &Path, mount_fd: BorrowedFd<'_>) -> Result<(), Unavailable> {
    let errno = |e: &std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(0));
    let unusable = |call: &str, e: &std::io::Error| Unavailable {
        // Any failure here means events cannot be resolved: fall back.
        errno: Errno::EPERM,
        why: format!(
            "fanotify marks {} but its events cannot be resolved to paths: {call} failed with {} (e.g. a user namespace that owns the filesystem: resolving needs CAP_DAC_READ_SEARCH in the initial namespace)",
            root.display(),
            errno(e)
        ),
    };
    let handle = sys::handle_of(root).map_err(|e| unusable("name_to_handle_at", &e))?;
    let back = sys::resolve(mount_fd, &handle).map_err(|e| unusable("open_by_handle_at", &e))?;
    let same = |a: &Path, b: &Path| {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
            _ => false,
        }
    };
    if !same(&back, root) {
        return Err(Unavailable {
            errno: Errno::EPERM,
            why: format!(
                "fanotify events resolve to {} instead of {}: paths would be wrong",
                back.display(),
                root.display()
            ),
        });
    }
    Ok(())
}

/// Why fanotify could not be used (the errno decides whether to fall back).
#[derive(Debug)]
pub struct Unavailable {
    /// The failing call's errno.
    pub errno: Errno,
    /// A sentence for the log.
    pub why: String,
}

impl FanotifyWatcher {
    /// Mark the filesystem of `root`.
    pub fn start(root: &Path) -> Result<FanotifyWatcher, Unavailable> {
        let errno = |e: &std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(0));
        let fan = Fanotify::init().map_err(|e| Unavailable {
            errno: errno(&e),
            why: format!("fanotify_init(FAN_REPORT_DFID_NAME) failed: {}", errno(&e)),
        })?;
        let mut rename = true;
        if let Err(e) = fan.mark_filesystem(root, MASK | sys::FAN_RENAME) {
            rename = false;
            let retry = if errno(&e) == Errno::EINVAL {
                fan.mark_filesystem(root, MASK)
            } else {
                Err(e)
            };
            if let Err(e) = retry {
                let hint = match errno(&e) {
                    Errno::EPERM => {
                        " (no CAP_SYS_ADMIN over the filesystem's owner: e.g. an unprivileged container)"
                    }
                    Errno::EXDEV => " (a btrfs subvolume: mark the top-level subvolume)",
                    Errno::ENODEV | Errno::EOPNOTSUPP => {
                        " (the filesystem cannot report file handles)"
                    }
                    _ => "",
                };
                return Err(Unavailable {
                    errno: errno(&e),
                    why: format!(
                        "fanotify filesystem mark on {} failed: {}{hint}",
                        root.display(),
                        errno(&e)
                    ),
                });
            }
        }
        let mount_fd = crate::sys::fs::open_dir(root).map_err(|e| Unavailable {
            errno: errno(&e),
            why: format!("cannot open {}: {}", root.display(), errno(&e)),
        })?;
        probe(root, mount_fd.as_fd())?;
        let ignore_marks = rename && mute::probe(&fan, root);
        Ok(FanotifyWatcher {
            fan,
            mount_fd,
            cache: HashMap::new(),
            buf: vec![0u8; 1024 * 1024],
            rename,
            ignore_marks,
            events: 0,
            muted: std::cell::Cell::new(0),
            unresolved: 0,
        })
    }
}
