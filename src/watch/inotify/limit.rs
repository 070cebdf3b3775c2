//! inotify's watch limit (`fs.inotify.max_user_watches`, or a user
//! namespace's own): what it leaves unwatched, said in a sentence, and
//! counted anew by each rescan (which also finds what was written there).

use std::path::{Path, PathBuf};

use rustix::io::Errno;

use super::InotifyWatcher;

/// The inotify watch limit that applies here: this user namespace's own
/// (`/proc/sys/user/max_inotify_watches`, inside a container) when it is
/// lower than the host-wide `fs.inotify.max_user_watches`. A sentence.
pub fn watch_limit() -> String {
    let read = |f: &str| std::fs::read_to_string(f).ok()?.trim().parse::<u64>().ok();
    let global = read("/proc/sys/fs/inotify/max_user_watches");
    let ours = read("/proc/sys/user/max_inotify_watches");
    match (ours, global) {
        (Some(o), Some(g)) if o < g => format!(
            "{o} watches, this user namespace's limit (user.max_inotify_watches; the host's fs.inotify.max_user_watches is {g})"
        ),
        (_, Some(g)) => format!("{g} watches (fs.inotify.max_user_watches)"),
        (Some(o), None) => format!("{o} watches (user.max_inotify_watches)"),
        _ => "unknown".into(),
    }
}

/// The warning for an exhausted watch limit: what is watched, what is not,
/// the limit that was hit, and the fix.
pub fn enospc_message(dirs: usize) -> String {
    format!(
        "inotify watch limit reached after {dirs} directories (limit: {}; watches count per user, other programs' too): \
         raise it, e.g. `sysctl -w fs.inotify.max_user_watches=524288` (on NixOS: \
         boot.kernel.sysctl.\"fs.inotify.max_user_watches\" = 524288;; in a container, the host raises it or \
         user.max_inotify_watches)",
        watch_limit()
    )
}

/// Directories left unwatched by the watch limit or by `PATH_MAX`: how
/// many, and which (everything below each is unwatched too, and not
/// counted: a directory whose parent is unwatched is not one of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unwatched {
    /// Directories whose watch failed (`ENOSPC`, `ENAMETOOLONG`).
    pub count: usize,
    /// The first of them (at most [`Unwatched::KEPT`]): walked before the
    /// summary and when `status` asks (`catch_up_unwatched`).
    pub kept: Vec<PathBuf>,
}

impl Unwatched {
    /// Paths shown in the coverage sentence.
    pub const SAMPLE: usize = 10;
    /// Paths kept to walk; past it the whole root is rescanned instead.
    pub const KEPT: usize = 1024;

    pub(super) fn push(&mut self, p: &Path) {
        self.count += 1;
        if self.kept.len() < Self::KEPT {
            self.kept.push(p.to_path_buf());
        }
    }

    /// Every unwatched directory is kept by name.
    pub fn all_kept(&self) -> bool {
        self.kept.len() == self.count
    }
}

impl InotifyWatcher {
    /// What is not watched, in a sentence (None: everything is).
    pub fn coverage(&self) -> Option<String> {
        let u = &self.unwatched;
        (u.count > 0).then(|| {
            let sample = &u.kept[..u.kept.len().min(Unwatched::SAMPLE)];
            let shown: Vec<String> = sample.iter().map(|p| crate::names::show(p)).collect();
            format!(
                "{}; NOT watched: {} and everything below them ({}{}); writes there are found by a rescan every minute, and before the summary and `status`",
                if sample.iter().all(|p| p.as_os_str().len() >= 4096) {
                    "directories deeper than PATH_MAX (4,096 bytes) cannot be watched by inotify".to_string()
                } else {
                    enospc_message(self.wds.len())
                },
                crate::human::count(u.count as u64, "directory", "directories"),
                shown.join(", "),
                if u.count > sample.len() { ", …" } else { "" }
            )
        })
    }

    /// End a rescan, which left `found` unwatched (counted anew); log when
    /// the coverage changed.
    pub(super) fn end_scan(&mut self, found: Unwatched) {
        let was = std::mem::replace(&mut self.unwatched, found).count;
        if self.unwatched.count != was {
            match self.coverage() {
                Some(c) => tracing::error!("{c}"),
                None => tracing::info!(
                    "every directory is watched again ({} directories)",
                    self.wds.len()
                ),
            }
        }
    }

    /// Watch a directory met at run time; log (once) when the limit is hit.
    pub(super) fn add_or_log(&mut self, dir: &Path) -> bool {
        match self.add(dir).map_err(|e| Errno::from_io_error(&e)) {
            Ok(_) => true,
            // Deeper than PATH_MAX: inotify takes paths only. Counted as
            // unwatched, so the periodic rescan (fd-relative) covers it.
            Err(Some(Errno::NAMETOOLONG)) => {
                self.unwatched.push(dir);
                false
            }
            Err(Some(Errno::NOSPC)) => {
                self.unwatched.push(dir);
                if !self.limit_logged {
                    self.limit_logged = true;
                    tracing::error!(
                        "{}; new directories are left unwatched, and a rescan every minute finds what is written there",
                        enospc_message(self.wds.len())
                    );
                }
                false
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_watch_limit_error_names_the_sysctl_and_the_fix() {
        let m = super::enospc_message(8192);
        assert!(m.contains("after 8192 directories"), "{m}");
        assert!(m.contains("limit: "), "{m}");
        assert!(m.contains("fs.inotify.max_user_watches"), "{m}");
        assert!(m.contains("sysctl -w fs.inotify.max_user_watches="), "{m}");
    }
}
