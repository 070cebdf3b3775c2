//! Observing the users' homes for `plan::homes`: the root's `/etc/passwd`
//! and the owner of each candidate home directory, live first, then in
//! each persistence root (in config order); and repairing the leftovers
//! below them (`plan::homes::leftover`).

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;
use tracing::{info, warn};

use super::Cx;
use super::facts::Handles;
use super::levels::level_perms;
use crate::config::Settings;
use crate::plan::homes::{
    Home, candidates, decide, leftover, parse_passwd, repairable, unresolved,
};
use crate::root::Root;
use crate::root::rel;
use crate::sys::{fs, mount};

/// The homes the entries of `settings` lie in (an unreadable passwd is an
/// empty one: only existing `/home/<name>` directories count then), and the
/// `/home/<name>` above entries that are nobody's yet (`unresolved`).
pub fn observe(root: &Root, h: &Handles, settings: &Settings) -> (Vec<Home>, Vec<PathBuf>) {
    let text = std::fs::read_to_string(root.host(Path::new("/etc/passwd"))).unwrap_or_default();
    let passwd = parse_passwd(&text);
    let paths = settings.entries.iter().map(|e| e.path.as_path());
    let mut existing = BTreeMap::new();
    let cands = candidates(&passwd, paths);
    for c in cands.iter().cloned() {
        let persist = settings
            .roots
            .iter()
            .filter_map(|r| h.persist(&r.path).ok());
        let owner = std::iter::once(h.root.as_fd())
            .chain(persist)
            .find_map(|fd| match fs::lstat_beneath(fd, rel(&c)) {
                Ok(Some(m)) if m.is_dir() => Some((m.uid, m.gid)),
                _ => None,
            });
        if let Some(o) = owner {
            existing.insert(c, o);
        }
    }
    let unknown = unresolved(&cands, &passwd, &existing);
    (decide(&passwd, &existing), unknown)
}

/// Give each leftover below a home (`plan::homes::repairable`, `leftover`)
/// the owner `boot` creates it with, in persistence, then on the root,
/// before any step runs (a live level created later copies its repaired
/// persistent one). The live level mirrors the persistent one (as
/// impermanence's create-directories): it is repaired only where its
/// persistent counterpart is missing or the home's owner's now. Each
/// directory is opened beneath its tree without following a symlink,
/// checked and changed through that fd; one that is missing, not a
/// directory, reached through a symlink or the root of a mount is left
/// alone. A failure is a warning naming the `chown` that fixes it.
pub(super) fn repair(cx: &mut Cx, settings: &Settings) {
    let h = cx.h;
    for e in &settings.entries {
        let persistent = h.persist(&e.root).ok();
        for level in repairable(e, &cx.homes) {
            let perms = level_perms(e, &cx.homes, rel(&level), false);
            let Ok(o) = cx.ids.owner(cx.root, &perms) else {
                continue;
            };
            let want = (o.uid, o.gid, o.mode);
            let r = rel(&level);
            let kept = match persistent {
                Some(fd) => repair_side(cx, (fd, r), &e.root.join(r), want) == Found::Kept,
                None => false,
            };
            if !kept {
                repair_side(cx, (h.root.as_fd(), r), &level, want);
            }
        }
    }
}

/// What [`repair_side`] found.
#[derive(PartialEq, Eq)]
enum Found {
    /// Nothing there.
    Missing,
    /// The wanted owner's (now).
    Owned,
    /// Kept as it is: someone else's, not a plain directory (reached
    /// through a symlink, a file), or the repair failed.
    Kept,
}

/// Repair the level `rel` beneath `dir` (`shown`: its logical path) if it
/// is a leftover: log the repair, or warn with the fix.
fn repair_side(
    cx: &mut Cx,
    (dir, rel): (BorrowedFd<'_>, &Path),
    shown: &Path,
    want: (u32, u32, u32),
) -> Found {
    match repair_one(dir, rel, want) {
        Ok((found, false)) => found,
        Ok((found, true)) => {
            info!(
                path = %shown.display(),
                "gave {} to {}:{} (it was root:root 0755, as older impermctl versions and impermanence left directories in a home)",
                shown.display(),
                want.0,
                want.1
            );
            found
        }
        Err(err) => {
            let (p, (u, g)) = (shown.display(), (want.0, want.1));
            let msg =
                format!("cannot give {p} to its home's owner: {err} (fix: chown {u}:{g} {p})");
            warn!("{msg}");
            cx.warnings.push(msg);
            Found::Kept
        }
    }
}

/// Repair `rel` beneath `dir` if it is a leftover: what was found, and
/// whether it was repaired.
fn repair_one(dir: BorrowedFd<'_>, rel: &Path, want: (u32, u32, u32)) -> io::Result<(Found, bool)> {
    use rustix::io::Errno;
    let fd = match fs::open_beneath(dir, rel, OFlags::RDONLY | OFlags::DIRECTORY) {
        Ok(fd) => fd,
        Err(e) => match Errno::from_io_error(&e) {
            Some(Errno::NOENT) => return Ok((Found::Missing, false)),
            // Not a plain directory reached without symlinks: left alone
            // (and a live level mirrors it: kept too).
            Some(Errno::NOTDIR | Errno::LOOP | Errno::XDEV) => return Ok((Found::Kept, false)),
            _ => return Err(e),
        },
    };
    let m = crate::sys::meta::stat_fd(fd.as_fd())?;
    let owned = (m.uid, m.gid) == (want.0, want.1);
    // A mount's root (a dataset, a bind) is not a directory a tool made.
    if owned || !leftover((m.uid, m.gid, m.perm), want) || mount::is_mount_root(fd.as_fd())? {
        let found = if owned { Found::Owned } else { Found::Kept };
        return Ok((found, false));
    }
    fs::chown(fs::At::Fd(fd.as_fd()), want.0, want.1)?;
    Ok((Found::Owned, true))
}
