//! Observing the users' homes for `plan::homes`: the root's `/etc/passwd`
//! and the owner of each candidate home directory, live first, then in
//! each persistence root (in config order); and repairing the leftovers
//! below them (`plan::homes::leftover`).

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;
use tracing::{info, warn};

use super::Cx;
use super::facts::{Handles, rel};
use super::levels::level_perms;
use crate::config::Settings;
use crate::plan::homes::{
    Home, candidates, decide, leftover, parse_passwd, repairable, unresolved,
};
use crate::root::Root;
use crate::sys::fs;

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
/// the owner `boot` creates it with, in persistence and on the root,
/// before any step runs (a live level created later copies its repaired
/// persistent one). Each directory is opened beneath its tree without
/// following a symlink, checked and changed through that fd; one that is
/// missing, not a directory or reached through a symlink is left alone. A
/// failure is a warning naming the `chown` that fixes it.
pub(super) fn repair(cx: &mut Cx, settings: &Settings) {
    let h = cx.h;
    for e in &settings.entries {
        let sides = [
            (Some(h.root.as_fd()), Path::new("/")),
            (h.persist(&e.root).ok(), &e.root),
        ];
        for level in repairable(e, &cx.homes) {
            let Ok(want) = cx
                .ids
                .owner(cx.root, &level_perms(e, &cx.homes, rel(&level), false))
            else {
                continue;
            };
            for (fd, top) in sides
                .iter()
                .filter_map(|(fd, top)| Some((fd.as_ref()?, top)))
            {
                let shown = top.join(rel(&level));
                match repair_one(*fd, rel(&level), (want.uid, want.gid, want.mode)) {
                    Ok(false) => {}
                    Ok(true) => info!(
                        path = %shown.display(),
                        "gave {} to {}:{} (it was root:root 0755, as older impermctl versions and impermanence left directories in a home)",
                        shown.display(), want.uid, want.gid
                    ),
                    Err(err) => {
                        let msg = format!(
                            "cannot give {} to its home's owner: {err} (fix: chown {}:{} {})",
                            shown.display(),
                            want.uid,
                            want.gid,
                            shown.display()
                        );
                        warn!("{msg}");
                        cx.warnings.push(msg);
                    }
                }
            }
        }
    }
}

/// Repair `rel` beneath `dir` if it is a leftover; whether it was.
fn repair_one(dir: BorrowedFd<'_>, rel: &Path, want: (u32, u32, u32)) -> std::io::Result<bool> {
    use rustix::io::Errno;
    let fd = match fs::open_beneath(dir, rel, OFlags::RDONLY | OFlags::DIRECTORY) {
        Ok(fd) => fd,
        Err(e) => match Errno::from_io_error(&e) {
            Some(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV) => return Ok(false),
            _ => return Err(e),
        },
    };
    let m = crate::sys::meta::stat_fd(fd.as_fd())?;
    if !leftover((m.uid, m.gid, m.perm), want) {
        return Ok(false);
    }
    fs::chown(fs::At::Fd(fd.as_fd()), want.0, want.1)?;
    Ok(true)
}
