//! Declared entries that are not persisted (not bound, or refused for a
//! config error: [`super::judge::Judge::declare`]): `diff` counts all they
//! hold as lost, with the entry's reason, whatever the baseline says. The
//! watcher counts them the same way: whole at start (no warning: nothing
//! was written yet), then every write in them, warned about with the
//! reason and its fix instead of a line that declares them again.

use std::path::Path;

use super::core::Core;

/// Most names remembered as replaced by rename ([`Core::moved_onto`]).
pub const REPLACED_MAX: usize = 4096;
use super::scan::{self, Visit};
use super::tally::Change;
use crate::config::Kind;

impl Core {
    /// Count what each declared entry that is not persisted holds now
    /// (files, with their sizes), quietly.
    pub(super) fn count_declared(&mut self) {
        let Some(j) = &self.judge else { return };
        let entries: Vec<_> = j.declared_entries().to_vec();
        let now = self.now();
        let quiet = std::mem::replace(&mut self.table.counting_only, true);
        let scope = self.scope.clone();
        for (entry, file, _) in entries {
            let host = scope.root.join(entry.strip_prefix("/").unwrap_or(&entry));
            let count = |table: &mut super::tally::Table, host: &Path, size: u64| {
                if let Some(logical) = scope.logical(host) {
                    table.record(&entry, &logical, Change::found(Some(size)), now);
                }
            };
            if file {
                match std::fs::symlink_metadata(&host) {
                    Ok(m) if !m.is_dir() => count(&mut self.table, &host, m.len()),
                    _ => {}
                }
                continue;
            }
            let _ = scan::walk(&scope, &host, true, &mut |v| {
                if let Visit::File(p) = v
                    && let Ok(m) = std::fs::symlink_metadata(p)
                {
                    count(&mut self.table, p, m.len());
                }
                Ok(true)
            });
        }
        self.table.counting_only = quiet;
        self.dirty = true;
    }

    /// What to say to keep `group` ([`super::judge::Judge::suggestion`]):
    /// a file a rename landed on ([`Core::moved_onto`]) with `method = "copy"`;
    /// a group of directories whose own mode, owner or attributes changed,
    /// nothing else, why there is nothing to persist (as `diff` says).
    pub fn suggestion(&self, group: &Path, how: Kind) -> String {
        if self.table.get(group).is_some_and(|g| g.attributes_only()) {
            return crate::suggest::ATTRIBUTES_ONLY.into();
        }
        let replaced = self.replaced.contains(group);
        match &self.judge {
            Some(j) => j.suggestion(&self.persist_root, group, (how, replaced)),
            None => crate::suggest::nix_line_replaced(&self.persist_root, group, how, replaced),
        }
    }

    /// A rename landed on `host` (the backends call this for a file moved
    /// in, before recording it): if it is a regular file, its suggestion
    /// says `method = "copy"` (a bind-mounted file cannot be renamed over).
    /// Bounded by [`REPLACED_MAX`]: when full, only the names that are
    /// groups are kept.
    pub fn moved_onto(&mut self, host: &Path) {
        let regular = crate::sys::meta::lstat_path(host)
            .is_ok_and(|m| m.kind() == crate::sys::meta::Kind::File);
        let Some(logical) = self.scope.logical(host).filter(|_| regular) else {
            return;
        };
        if self.replaced.len() >= REPLACED_MAX {
            let table = &self.table;
            self.replaced.retain(|p| table.get(p).is_some());
        }
        if self.replaced.len() < REPLACED_MAX {
            self.replaced.insert(logical);
        }
    }
}
