//! Keeping the watcher's view of what is persisted current: the declared
//! entries that are not persisted (`judge::Judge::declare`) and the mount
//! points the scope prunes were taken at start; a path bound later (`boot`
//! after a config change, `persist`) or unbound, and a config edited then
//! signalled (SIGHUP), change them. The daemon looks at the mount table on
//! every tick (`mountinfo::Changes`: one `poll`, the table is read only
//! when the kernel says it changed) and on SIGHUP; [`Core::remount`] takes
//! the new view, and a rescan finds what the newly visible paths hold.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use super::core::Core;

/// The declared entries that are not persisted, as `diff` gets them
/// (path, is a file, why), read again from the config and the live state;
/// `None` when they cannot be read now (the last list stays).
pub type Declared = Vec<(PathBuf, bool, String)>;

/// How the daemon reads [`Declared`] again (the CLI knows the config).
#[derive(Clone)]
pub struct Redeclare(pub Arc<dyn Fn() -> Option<Declared>>);

impl std::fmt::Debug for Redeclare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redeclare(..)")
    }
}

/// The paths (logical) whose counting changes between two views (mount
/// points, declared entries), and whether anything did: mount
/// points that appeared (what is below them is hidden now), and the
/// declared entries added or dropped (counted whole, or as any write).
/// Pure.
pub fn changed_paths(
    old: (&HashSet<PathBuf>, &Declared),
    new: (&HashSet<PathBuf>, &Declared),
) -> (Vec<PathBuf>, bool) {
    let mut v: Vec<PathBuf> = new.0.difference(old.0).cloned().collect();
    let entries = |d: &Declared| -> HashSet<PathBuf> { d.iter().map(|e| e.0.clone()).collect() };
    let (was, now) = (entries(old.1), entries(new.1));
    v.extend(was.symmetric_difference(&now).cloned());
    // A reason alone changing (refused → not bound) changes no count.
    let unpruned = old.0.difference(new.0).next().is_some();
    v.sort();
    v.dedup();
    let changed = !v.is_empty() || unpruned;
    (v, changed)
}

impl Core {
    /// Take the new mount points `prune` (host paths; `scan::Scope`) and `declared`
    /// entries: what is below a new mount point or in an entry added or
    /// dropped is forgotten, the declared entries are counted whole again.
    /// Returns whether the view changed (then the caller rescans: an
    /// unmounted directory is watched again and what it holds is found).
    pub fn remount(&mut self, prune: HashSet<PathBuf>, declared: Option<Declared>) -> bool {
        let Some(j) = &self.judge else { return false };
        let old_declared = j.declared_entries().to_vec();
        let declared = declared.unwrap_or_else(|| old_declared.clone());
        let logical = |s: &HashSet<PathBuf>| -> HashSet<PathBuf> {
            s.iter().filter_map(|p| self.scope.logical(p)).collect()
        };
        let (paths, changed) = changed_paths(
            (&logical(&self.scope.prune), &old_declared),
            (&logical(&prune), &declared),
        );
        if let Some(j) = &mut self.judge {
            // The reasons may change alone (shown in the suggestion).
            j.declare(declared);
        }
        self.scope.prune = prune;
        if !changed {
            return false;
        }
        for p in &paths {
            tracing::debug!("counted anew: {}", p.display());
            self.table.gone_below(p);
        }
        self.count_declared();
        self.dirty = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> HashSet<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    fn decl(v: &[&str]) -> Declared {
        v.iter()
            .map(|p| (PathBuf::from(p), false, "not bound".into()))
            .collect()
    }

    #[test]
    fn what_changes_between_two_views() {
        type Paths = &'static [&'static str];
        let rows: &[(Paths, Paths, Paths, Paths, Paths, bool)] = &[
            // old prune, old declared, new prune, new declared → paths, changed
            (&["/a"], &["/x"], &["/a"], &["/x"], &[], false),
            (&[], &["/x"], &["/x"], &[], &["/x"], true),
            (&["/x"], &[], &[], &["/x"], &["/x"], true),
            (&[], &[], &[], &["/srv/cfg"], &["/srv/cfg"], true),
            (&["/m"], &[], &[], &[], &[], true),
        ];
        for (op, od, np, nd, want, ch) in rows {
            let (op, od, np, nd) = (set(op), decl(od), set(np), decl(nd));
            let (paths, changed) = changed_paths((&op, &od), (&np, &nd));
            let want: Vec<PathBuf> = want.iter().map(PathBuf::from).collect();
            assert_eq!(
                (paths, changed),
                (want, *ch),
                "{op:?} {od:?} → {np:?} {nd:?}"
            );
        }
        // The same entry with another reason changes no count.
        let mut other = decl(&["/x"]);
        other[0].2 = "its entry is refused".into();
        assert!(!changed_paths((&set(&[]), &decl(&["/x"])), (&set(&[]), &other)).1);
    }
}
