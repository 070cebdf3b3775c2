//! How `diff` found the changed entries: a walk (and why), or the
//! watcher's list; its line under the basis line.

use serde::Serialize;

/// How `diff` found the changed entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Source {
    /// It walked the root.
    Walk {
        /// Why the watcher's list was not used.
        reason: String,
    },
    /// The watcher's list of changed paths.
    Watcher {
        /// The watcher's pid.
        pid: u32,
        /// Paths in its list.
        paths: u64,
        /// Directories walked whole (new or replaced, or not listened to).
        subtrees: u64,
        /// The watcher started after the baseline and made its list
        /// complete by a start-up rescan (its list starts at the
        /// baseline's origin); else it listened since before the baseline.
        #[serde(skip)]
        rescanned: bool,
    },
}

impl std::fmt::Display for Source {
    /// The line under the basis line: how the entries were found.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::human::count;
        match self {
            Source::Walk { reason } => write!(f, "found by: walking the root: {reason}"),
            Source::Watcher {
                pid,
                paths,
                subtrees,
                rescanned,
            } => write!(
                f,
                "found by: the watcher's list (pid {pid}, complete since {}): {} looked at, {} walked whole (--no-watcher walks the root)",
                match rescanned {
                    true => "the baseline: rescanned at start",
                    false => "before the baseline",
                },
                count(*paths, "changed path", "changed paths"),
                count(*subtrees, "directory", "directories"),
            ),
        }
    }
}
