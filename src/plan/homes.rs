//! Whose a directory is that `boot` creates inside a user's home.
//!
//! The rule (README, "Created directories"): a missing directory created
//! strictly below a home takes the home's owner (user and group) and mode
//! 0755, on the root and in persistence alike; a missing home itself is
//! created 0700 with that owner; levels above the home keep root's.
//! The entry itself counts when its perms are the defaults (root:root 0755,
//! which every rendered entry carries: undeclared, as `layout::drift`).
//! Declared perms win where they apply: the entry's own perms, a file's
//! `parent` for its direct parent, a directory's non-default `parent` for
//! every level; `users.<name>` entries keep their own rule (`levels`).
//! Directories that exist are never changed, but for leftovers:
//!
//! Leftovers (see [`repairable`], [`leftover`]): a directory that is such
//! a level (not the entry itself) and exists as root:root 0755 — what impermctl
//! before this rule and impermanence's default perms left there (its #74,
//! #140, #298) — is given the owner the rule gives it (the mode is kept), on
//! each side; a live level copies its persistent one (as impermanence's
//! create-directories.bash does), so an unrepaired persistent leftover made
//! the live one root's at every boot. Nothing else that exists is changed.
//!
//! Homes (decided here from observed facts, see [`decide`]): the home of
//! every `/etc/passwd` user with uid 1000–65533 (NixOS' normal users; not
//! `/`), and every existing directory directly below `/home` not owned by
//! root. The owner is the home directory's own (live first, then in
//! persistence; numeric, so a uid without a passwd entry works), else the
//! passwd entry's uid and primary gid.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::config::{Entry, Kind, Perms};

/// A home and its owner: as `/etc/passwd` gives it (the user's uid and
/// primary gid), or as decided (the owner its created subdirectories get).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// The home directory (absolute, normalised).
    pub path: PathBuf,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// The conventional parent of homes: its existing children are homes.
pub const HOMES_DIR: &str = "/home";

/// The normal users' homes of an `/etc/passwd` text (`name:x:uid:gid:gecos:home:shell`);
/// bad lines, system users (uid < 1000), `nobody` (65534) and the home `/` are skipped.
pub fn parse_passwd(text: &str) -> Vec<Home> {
    crate::ids::records(text)
        .filter_map(|(_, uid, f)| {
            let gid: u32 = f.first()?.parse().ok()?;
            let raw = Path::new(f.get(2)?);
            let dotdot = raw.components().any(|c| c == Component::ParentDir);
            let path: PathBuf = raw.components().collect();
            let normal = (1000..65534).contains(&uid);
            (normal && !dotdot && path.is_absolute() && path != Path::new("/")).then_some(Home {
                path,
                uid,
                gid,
            })
        })
        .collect()
}

/// The directories whose owner `decide` needs for `paths`: each passwd home
/// that contains one of them, and each `/home/<name>` above one of them.
pub fn candidates<'a>(passwd: &[Home], paths: impl Iterator<Item = &'a Path>) -> Vec<PathBuf> {
    let mut out = std::collections::BTreeSet::new();
    for p in paths {
        let homes = passwd.iter().filter(|h| p.starts_with(&h.path));
        out.extend(homes.map(|h| h.path.clone()));
        if let Ok(rest) = p.strip_prefix(HOMES_DIR)
            && let Some(first) = rest.components().next()
        {
            out.insert(Path::new(HOMES_DIR).join(first));
        }
    }
    out.into_iter().collect()
}

/// The homes, from the passwd homes and the observed owners (uid, gid) of
/// the candidate directories that exist (as directories).
pub fn decide(passwd: &[Home], existing: &BTreeMap<PathBuf, (u32, u32)>) -> Vec<Home> {
    let mut homes: BTreeMap<PathBuf, (u32, u32)> = existing
        .iter()
        .filter(|(p, (uid, _))| *uid != 0 && p.parent() == Some(Path::new(HOMES_DIR)))
        .map(|(p, o)| (p.clone(), *o))
        .collect();
    for h in passwd {
        let owner = existing.get(&h.path).copied().unwrap_or((h.uid, h.gid));
        homes.entry(h.path.clone()).or_insert(owner);
    }
    homes
        .into_iter()
        .filter(|(_, (uid, _))| *uid != 0)
        .map(|(path, (uid, gid))| Home { path, uid, gid })
        .collect()
}

/// The `/home/<name>` candidates that are nobody's yet: in no passwd entry
/// and existing nowhere. `boot --defer-unknown-owners` (the NixOS pass
/// before users exist) defers the entries below them: the pass after users
/// and groups then knows the owner.
pub fn unresolved(
    candidates: &[PathBuf],
    passwd: &[Home],
    existing: &BTreeMap<PathBuf, (u32, u32)>,
) -> Vec<PathBuf> {
    candidates
        .iter()
        .filter(|c| c.parent() == Some(Path::new(HOMES_DIR)))
        .filter(|c| !existing.contains_key(*c) && !passwd.iter().any(|h| &h.path == *c))
        .cloned()
        .collect()
}

/// The innermost home that is `level` or contains it.
pub fn home_of<'a>(homes: &'a [Home], level: &Path) -> Option<&'a Home> {
    homes
        .iter()
        .filter(|h| level.starts_with(&h.path))
        .max_by_key(|h| h.path.components().count())
}

/// The perms of `level` (absolute), a created directory (`leaf`: the
/// entry itself), when it lies in a home (else `None`: the other rules).
pub fn level_in_home(e: &Entry, homes: &[Home], level: &Path, leaf: bool) -> Option<Perms> {
    if e.home.is_some() || (leaf && e.perms != Perms::default()) {
        return None;
    }
    let h = home_of(homes, level)?;
    let own = |mode| Perms {
        user: h.uid.to_string(),
        group: h.gid.to_string(),
        mode,
    };
    if level == h.path {
        return Some(own(0o700));
    }
    let declared = !leaf && e.parent != Perms::default();
    let applies = e.kind == Kind::Directory || e.path.parent() == Some(level);
    Some(if declared && applies {
        e.parent.clone()
    } else {
        own(0o755)
    })
}

/// The directories of `e` that `boot` gives their owner when it finds them
/// as leftovers ([`leftover`]), outermost first: the levels strictly below
/// the home holding `e` (a `users.<name>` entry's own `home`, else
/// [`home_of`]) down to `e`'s parent. Never the entry itself (its owner is
/// the config's, and a root-owned `~/.ssh` may be deliberate: bound, the
/// user cannot replace it), nor the home (NixOS' `createHome` sets its
/// owner) or anything above it; nothing outside homes.
pub fn repairable(e: &Entry, homes: &[Home]) -> Vec<PathBuf> {
    let home = match &e.home {
        Some(h) => h.as_path(),
        None => match home_of(homes, &e.path) {
            Some(h) => h.path.as_path(),
            None => return Vec::new(),
        },
    };
    let mut out: Vec<PathBuf> = (e.path.ancestors().skip(1))
        .take_while(|l| *l != home && l.starts_with(home))
        .map(Path::to_path_buf)
        .collect();
    out.reverse();
    out
}

/// Is a directory found with `found` (uid, gid, mode) a leftover that gets
/// `want` (what `boot` creates it with)? Only exactly root:root 0755 (what
/// the earlier rules made), only for a non-root owner with that same mode:
/// the owner changes, the mode never; a directory with any other owner,
/// group or mode was made so by someone else and is kept.
pub fn leftover(found: (u32, u32, u32), want: (u32, u32, u32)) -> bool {
    found == (0, 0, 0o755) && want.0 != 0 && want.2 == 0o755
}
