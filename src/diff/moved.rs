//! Declared binds that are no longer at their paths but elsewhere: a
//! directory above them was renamed (`mv /var /var.old` takes the binds of
//! `/var/log` and `/var/lib/nixos` with it, trial s8 #14). What is written
//! at the declared path is lost at the next reboot; `diff` says where the
//! bind is now and how to put it back. Observe ([`find`]) → decide
//! ([`renamed`], pure).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Settings;
use crate::layout::{self, EntryState};

/// A declared entry whose bind is at another path now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovedBind {
    /// The declared path (nothing of its persistence is there now).
    pub path: PathBuf,
    /// Where the bind of its persistent source is mounted now.
    pub now_at: PathBuf,
    /// The persistent source.
    pub source: PathBuf,
}

impl MovedBind {
    /// What `diff` says about it, with the fix.
    pub fn text(&self) -> String {
        let (p, n) = (self.path.display(), self.now_at.display());
        let back = match renamed(&self.path, &self.now_at) {
            Some((was, now)) => format!(
                "rename {} back to {} (`mv {0} {1}`, if nothing made {1} again), or ",
                now.display(),
                was.display()
            ),
            None => String::new(),
        };
        format!(
            "{p} is declared, but not persisted now: its bind from {} is at {n} (a directory above it was renamed or moved); what is written at {p} is lost at the next reboot (fix: {back}run `impermctl boot` to bind it at {p} again)",
            self.source.display()
        )
    }
}

/// The rename that moved `path` to `now_at`, as (old, new) directory: the
/// two paths without their common last components (`/var/lib/nixos` and
/// `/var.old/lib/nixos`: `/var` renamed to `/var.old`); `None` when they
/// share no last component, or one side is `/` then (moved below another
/// directory): no rename to undo.
pub fn renamed(path: &Path, now_at: &Path) -> Option<(PathBuf, PathBuf)> {
    let (mut a, mut b) = (path, now_at);
    while let (Some(x), Some(y)) = (a.file_name(), b.file_name())
        && x == y
    {
        (a, b) = (a.parent()?, b.parent()?);
    }
    (a != path && a != Path::new("/") && b != Path::new("/"))
        .then(|| (a.to_path_buf(), b.to_path_buf()))
}

/// The declared entries of `settings` not bound at their path (missing, or
/// a plain directory or file there) whose source is bound elsewhere, as
/// `layout` observed the live mount table.
pub fn find(settings: &Settings, layout: &super::judge::Layout) -> Vec<MovedBind> {
    let Some((state, _)) = layout.get() else {
        return Vec::new();
    };
    let mounts = &state.mounts;
    let elsewhere = |e: &crate::config::Entry| {
        (mounts.mounts().iter())
            .filter(|m| m.mount_point != e.path && !m.mount_point.starts_with(&e.root))
            .find(|m| mounts.is_bind_of(m, &e.source))
            .map(|m| m.mount_point.clone())
    };
    let not_bound = |e| {
        matches!(
            layout::entry_state(state, e),
            EntryState::Missing | EntryState::NotPersisted
        )
    };
    (settings.entries.iter())
        .filter(|e| not_bound(e))
        .filter_map(|e| {
            Some(MovedBind {
                path: e.path.clone(),
                now_at: elsewhere(e)?,
                source: e.source.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rename_is_what_differs_above_the_common_tail() {
        let p = |s: &str| PathBuf::from(s);
        let table = [
            (
                "/var/lib/nixos",
                "/var.old/lib/nixos",
                Some(("/var", "/var.old")),
            ),
            ("/home/u/.ssh", "/home/v/.ssh", Some(("/home/u", "/home/v"))),
            // Moved below another directory (`/` is never renamed), or
            // nothing in common: no rename to undo.
            ("/var/log", "/srv/old/var/log", None),
            ("/var/log", "/mnt/x", None),
        ];
        for (path, now, want) in table {
            let want = want.map(|(a, b)| (p(a), p(b)));
            assert_eq!(
                renamed(Path::new(path), Path::new(now)),
                want,
                "{path} {now}"
            );
        }
        let m = MovedBind {
            path: p("/var/lib/nixos"),
            now_at: p("/var.old/lib/nixos"),
            source: p("/persistent/var/lib/nixos"),
        };
        assert_eq!(
            m.text(),
            "/var/lib/nixos is declared, but not persisted now: its bind from /persistent/var/lib/nixos is at /var.old/lib/nixos (a directory above it was renamed or moved); what is written at /var/lib/nixos is lost at the next reboot (fix: rename /var.old back to /var (`mv /var.old /var`, if nothing made /var again), or run `impermctl boot` to bind it at /var/lib/nixos again)"
        );
    }
}
