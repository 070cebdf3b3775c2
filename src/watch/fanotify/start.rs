//! Starting fanotify: a filesystem mark on the root's superblock (with
//! `FAN_RENAME` when the kernel has it), and a probe that events resolve to
//! paths; when either fails, why (the errno decides whether `auto` falls
//! back to inotify). Then the walk that marks the directories starts
//! (`placing`); the filesystem mark carries content events until it is done.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;

use super::marks::{self, CONTENT, DIRENT, Marks, Source};
use super::{FanotifyWatcher, mute, placing, sys};
use crate::sys::fanotify::Fanotify;
use crate::watch::scan::Scope;

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
    /// Mark the filesystem of the scope's root; start marking its directories.
    pub fn start(scope: &Scope) -> Result<FanotifyWatcher, Unavailable> {
        let root = scope.root.as_path();
        let errno = |e: &std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(0));
        let fan = Fanotify::init().map_err(|e| Unavailable {
            errno: errno(&e),
            why: format!("fanotify_init(FAN_REPORT_DFID_NAME) failed: {}", errno(&e)),
        })?;
        let mut rename = true;
        let mask = DIRENT | CONTENT;
        if let Err(e) = fan.mark_filesystem(root, mask | sys::FAN_RENAME) {
            rename = false;
            let retry = if errno(&e) == Errno::EINVAL {
                fan.mark_filesystem(root, mask)
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
        let ignore = rename && mute::probe(&fan, root);
        let fan = std::sync::Arc::new(fan);
        let budget = marks::budget();
        let walk = placing::spawn(fan.clone(), scope.clone(), budget);
        let marks = Marks {
            fan,
            root: root.to_path_buf(),
            source: std::cell::Cell::new(Source::Placing),
            ignore,
            muted: std::cell::Cell::new(0),
            placed: std::cell::Cell::new(0),
            budget,
            remute: std::cell::Cell::new(false),
            recent: Default::default(),
            fell_back: Default::default(),
        };
        let placing = match walk {
            Ok(h) => Some(h),
            Err(e) => {
                marks.fall_back(&format!("no thread for the walk: {e}"));
                None
            }
        };
        Ok(FanotifyWatcher {
            marks,
            mount_fd,
            cache: HashMap::new(),
            buf: vec![0u8; 1024 * 1024],
            events: 0,
            renames: rename,
            placing,
            unresolved: 0,
            made: Vec::new(),
        })
    }
}
