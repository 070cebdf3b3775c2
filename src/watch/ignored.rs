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

use std::path::{Path, PathBuf};

use super::core::Core;

/// The ignored directories (host paths) the backends listen to for
/// creations: `watch.ignore` (every skipped path but the first, our run
/// directory).
pub fn roots(core: &Core) -> Vec<PathBuf> {
    core.scope.skip.iter().skip(1).cloned().collect()
}

/// Walk `top` (host path) and the directories below it on the root's
/// filesystem (symlinks not followed, other filesystems left out:
/// no link crosses them): `on_dir` sees each directory before it is read
/// (false: skip it), and every regular file is checked for other links
/// (`Core::created_ignored`); every entry, `top` too, is kept for `diff`'s
/// count (`Core::ignored_entry`). A directory that vanished is skipped.
pub fn walk(core: &mut Core, top: &Path, on_dir: &mut dyn FnMut(&Path) -> bool) {
    let dev = core.scope.dev;
    let mut stack = vec![top.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(m) = crate::sys::meta::lstat_path(&d) else {
            continue;
        };
        if m.dev != dev || m.kind() != crate::sys::meta::Kind::Dir || !on_dir(&d) {
            continue;
        }
        core.ignored_entry(&d);
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let t = e.file_type();
            if !t.as_ref().is_ok_and(|t| t.is_dir()) {
                core.ignored_entry(&e.path());
            }
            match t {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => core.created_ignored(&e.path()),
                _ => {}
            }
        }
    }
}
