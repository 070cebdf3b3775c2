//! Declared owner and mode against the existing persistent directory.
//! impermctl applies `user`/`group`/`mode` only when it creates a directory
//! (as impermanence does); when an existing persistent directory differs,
//! `verify` and `status` say so with the command that aligns it, and
//! nothing is changed.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::config::{Entry, Kind, Perms, Settings};
use crate::root::Root;

/// One directory entry whose persistent directory differs from its declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The entry's path on the ephemeral root.
    pub path: PathBuf,
    /// Its persistent source.
    pub source: PathBuf,
    /// As declared (names as written, mode resolved).
    pub declared: Perms,
    /// What the persistent directory has: uid, gid, mode bits.
    pub actual: (u32, u32, u32),
    /// The declared owner as numeric ids (None when a name does not exist).
    pub declared_ids: Option<(u32, u32)>,
    /// Why the declared owner cannot be resolved (a user or group that does
    /// not exist): reported besides a mode that differs, never instead of it.
    pub owner_error: Option<String>,
}

/// The drifts of `settings`' directory entries that declare perms other than
/// the defaults (root:root 0755, which every rendered entry carries): an
/// owner or mode that differs, or a declared owner that does not exist.
pub fn observe_drift(root: &Root, settings: &Settings) -> Vec<Drift> {
    let mut ids = crate::ids::Ids::default();
    let declared = |e: &&Entry| e.kind == Kind::Directory && e.perms != Perms::default();
    let dirs = settings.entries.iter().filter(declared);
    dirs.filter_map(|e| {
        let md = std::fs::symlink_metadata(root.host(&e.source)).ok();
        let md = md.filter(|m| m.is_dir())?;
        let actual = (md.uid(), md.gid(), md.mode() & 0o7777);
        let owner = ids.owner(root, &e.perms).map(|o| (o.uid, o.gid));
        let owner_ok = owner
            .as_ref()
            .is_ok_and(|&(u, g)| (u, g) == (actual.0, actual.1));
        (!owner_ok || actual.2 != e.perms.mode).then(|| Drift {
            path: e.path.clone(),
            source: e.source.clone(),
            declared: e.perms.clone(),
            actual,
            declared_ids: owner.as_ref().ok().copied(),
            owner_error: owner.err().map(|e| format!("{e:#}")),
        })
    })
    .collect()
}
