//! Declared entries that are not persisted (not bound, or refused for a
//! config error: [`super::judge::Judge::declare`]): `diff` counts all they
//! hold as lost, with the entry's reason, whatever the baseline says. The
//! watcher counts them the same way: whole at start (no warning: nothing
//! was written yet), then every write in them, warned about with the
//! reason and its fix instead of a line that declares them again.

use std::path::Path;

use super::core::Core;
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

    /// What to say to keep `group` ([`super::judge::Judge::suggestion`]).
    pub fn suggestion(&self, group: &Path, how: Kind) -> String {
        match &self.judge {
            Some(j) => j.suggestion(&self.persist_root, group, how),
            None => crate::suggest::nix_line(&self.persist_root, group, how),
        }
    }
}
