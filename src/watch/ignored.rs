//! Hard links in ignored directories (`watch.ignore`, e.g. `/tmp` and
//! `/var/tmp` on the root's own filesystem, as on vpsFree): the watcher
//! does not record what is written there, but it hears every *name
//! created* there (fanotify: the ignore mark lets `FAN_CREATE` through;
//! inotify: creation-only watches on every directory below them) and
//! checks whether it is a hard link (`Core::created_ignored`). Links that
//! exist when the watcher starts are found by one walk of those
//! directories ([`walk`]), which also keeps every entry there for
//! `diff`'s count of what changed under them (`changes::Ignored`). So
//! `diff` may use the list although ignored directories share the compared
//! filesystem (`changes::List::ignored_links_heard`).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::core::Core;
use super::scan::{self, Visit};

/// The ignored directories (host paths) the backends listen to for
/// creations: `watch.ignore` (every skipped path but the first, our run
/// directory).
pub fn roots(core: &Core) -> Vec<PathBuf> {
    core.scope.skip.iter().skip(1).cloned().collect()
}

/// Walk `top` (host path) and the directories below it on the root's
/// filesystem ([`scan::walk`]: symlinks not followed, other filesystems and
/// mount points left out: no link crosses them): `on_dir` sees each
/// directory before it is read (false: skip it), and every other entry is
/// checked for other links (`Core::created_ignored`: regular files only);
/// every entry, `top` too, is kept for `diff`'s count
/// (`Core::ignored_entry`). A directory that vanished is skipped.
pub fn walk(core: &mut Core, top: &Path, on_dir: &mut dyn FnMut(&Path) -> bool) {
    // The ignored paths are what is walked here: only our run directory is
    // skipped.
    let mut scope = core.scope.clone();
    scope.skip.truncate(1);
    let _ = scan::walk(&scope, top, true, &mut |v| {
        match v {
            Visit::Dir(d) if !on_dir(d) => return Ok(false),
            Visit::Dir(d) => core.ignored_entry(d),
            Visit::File(p) => {
                core.ignored_entry(p);
                core.created_ignored(p);
            }
        }
        Ok(true)
    });
}

impl Core {
    /// Look at the inodes of the hard links followed
    /// (`changes::links::Links::poll`): a change seen through any name
    /// (e.g. a write through `/tmp/alias`) is recorded for the inode's
    /// names outside `watch.ignore` when they differ from the baseline.
    /// Every tick, before each answer to `diff`, and before the summary.
    pub fn poll_links(&mut self) {
        let skip: Vec<PathBuf> = self.scope.skip.iter().skip(1).cloned().collect();
        let root = self.scope.root.clone();
        let ignored = |l: &[u8]| {
            let host = root.join(std::ffi::OsStr::from_bytes(
                l.strip_prefix(b"/").unwrap_or(l),
            ));
            skip.iter().any(|s| host.starts_with(s))
        };
        let base = self.judge.as_ref().and_then(|j| j.baseline());
        let changed = self.changes.links.poll(&root, base, &ignored);
        for host in changed {
            self.record_if_changed(&host);
        }
    }
}
