//! Filesystems hidden under the bind of a declared directory: mounted
//! below its path before the bind was made over it (a vpsFree subdataset
//! mounted at `/var/lib/app/db`, then `/var/lib/app` bound from
//! persistence). No path reaches them any more: what is written to their
//! path lands in the persistent directory instead. `boot` mounts them back
//! on top of its binds; `status` and `diff --shadowed` report any left.

use std::path::PathBuf;

use crate::config::{Kind, Settings};
use crate::mountinfo::MountTable;
use crate::names::{printable, show};

/// One filesystem hidden under a declared directory's bind (in JSON
/// `{path, under, instead, what}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HiddenMount {
    /// Where it is mounted (logical).
    pub path: PathBuf,
    /// The declared directory whose bind hides it.
    pub under: PathBuf,
    /// Where writes to `path` go instead (in that directory's persistent source).
    pub instead: PathBuf,
    /// Its filesystem type and source (`tmpfs tank/ct/101/sub`).
    pub what: String,
}

impl HiddenMount {
    /// The sentence `status` and `diff --shadowed` print.
    pub fn text(&self) -> String {
        let (p, u, i) = (show(&self.path), show(&self.under), show(&self.instead));
        format!(
            "the filesystem mounted at {p} ({}) is hidden under the bind of {u}: what is written to {p} goes to {i}, not to it; `impermctl boot` mounts it back on top",
            self.what
        )
    }
}

/// The mounts of `table` hidden under the bind of a declared directory of
/// `settings` with no copy of the same filesystem shown on top.
pub fn hidden_mounts(settings: &Settings, table: &MountTable) -> Vec<HiddenMount> {
    let dirs = settings
        .entries
        .iter()
        .filter(|e| e.kind == Kind::Directory);
    let mut out: Vec<HiddenMount> = (table.hidden().into_iter())
        .filter(|h| !h.twin_on_top(table))
        .filter_map(|h| {
            let e = dirs.clone().find(|e| e.path == h.cover.mount_point)?;
            let rel = h.mount.mount_point.strip_prefix(&e.path).ok()?;
            Some(HiddenMount {
                path: h.mount.mount_point.clone(),
                under: e.path.clone(),
                instead: e.source.join(rel),
                what: format!("{} {}", h.mount.fstype, printable(&h.mount.source)),
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    out
}
