//! What the watcher hears in the ignored directories (`watch.ignore`, on
//! the root's filesystem): every name created or moved there is checked
//! for other hard links (`Core::created_ignored`) and kept as a name that
//! may have changed ([`Ignored`]), so that `diff` from the list counts
//! what changed there (the note "not counting watch.ignore …") by looking
//! at those names only, not by walking the directories. Every entry there
//! when the watcher starts (or after a lost event) is kept too: an
//! in-place write is not heard, so an entry once there may change later.
//! A directory hot with creations (`mute::hot`) is no longer heard name by
//! name: it is in `link_trees`, and `diff` walks it whole.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Changes;
use crate::watch::core::Core;

/// Most names kept; past it the watcher stops vouching for them (diff
/// counts the ignored directories by a walk, as without a watcher).
pub const CAP: usize = 16_384;

/// Logical paths below the ignored directories that exist, or existed,
/// since the watcher started listening there.
#[derive(Debug, Default)]
pub struct Ignored {
    /// The names (logical, sorted).
    pub names: BTreeSet<Box<[u8]>>,
    /// Past [`CAP`], or an ignored directory could not be listened to:
    /// `names` no longer stands for what is there.
    pub full: bool,
}

impl Ignored {
    /// Keep `p` unless it is below a directory walked whole (`trees`).
    fn note(&mut self, p: &[u8], trees: &BTreeSet<Box<[u8]>>) {
        let walked = |t: &[u8]| t.len() < p.len() && crate::walk::under(t, p);
        if self.full || trees.iter().any(|t| walked(t)) {
            return;
        }
        if self.names.len() >= CAP {
            tracing::info!(
                "more than {CAP} names in watch.ignore directories: impermctl diff counts them by a walk"
            );
            self.give_up();
            return;
        }
        self.names.insert(p.into());
    }

    /// Stop vouching for the names (memory freed).
    pub fn give_up(&mut self) {
        self.full = true;
        self.names = BTreeSet::new();
    }
}

impl Changes {
    /// The ignored names as the list sends them: `None` when the watcher
    /// does not vouch for them.
    pub fn ignored_names(&self) -> Option<&BTreeSet<Box<[u8]>>> {
        (self.ignored_links_heard && !self.ignored.full).then_some(&self.ignored.names)
    }
}

impl Core {
    /// The logical path of `host` if it is strictly below an ignored
    /// directory (`watch.ignore`; not our run directory).
    fn below_ignored(&self, host: &Path) -> Option<Box<[u8]>> {
        let mut roots = self.scope.skip.iter().skip(1);
        roots.find(|r| host.starts_with(r) && host != *r)?;
        Some(self.scope.logical(host)?.as_os_str().as_bytes().into())
    }

    /// An entry at `host` below an ignored directory was found by a walk,
    /// or created or moved there: kept for `diff`'s count ([`Ignored`]).
    pub fn ignored_entry(&mut self, host: &Path) {
        if let Some(l) = self.below_ignored(host) {
            let c = &mut self.changes;
            c.ignored.note(&l, &c.link_trees);
        }
    }

    /// A name was created at `host` in an ignored directory
    /// (`watch.ignore`, heard only for this): a hard link made there to a
    /// compared file stops the vouching as one made anywhere else does.
    /// Names in our own run directory (the first skipped path) are not
    /// looked at.
    pub fn created_ignored(&mut self, host: &Path) {
        let run = self.scope.skip.first();
        if run.is_some_and(|r| host.starts_with(r)) {
            return;
        }
        let logical = self.scope.logical(host);
        let logical = logical.as_deref().unwrap_or(host);
        self.changes.created(host, logical);
    }

    /// Is the ignored directory `dir` (host) walked whole by `diff` (it, or
    /// a directory above it, was hot: [`Changes::link_trees`])? Then a
    /// directory made in it need not be heard name by name.
    pub fn walked_whole(&self, dir: &Path) -> bool {
        let trees = &self.changes.link_trees;
        !trees.is_empty()
            && self.scope.logical(dir).is_some_and(|l| {
                l.ancestors()
                    .any(|a| trees.contains(a.as_os_str().as_bytes()))
            })
    }

    /// [`Core::created_ignored`] for a name created or moved into the
    /// ignored directory `dir` (host), and kept ([`Core::ignored_entry`]);
    /// true when `dir` is now hot (as muting's `HOT`): the backend stops
    /// hearing its creations, and `diff` walks it instead (for links, and
    /// to count what changed: [`Changes::link_trees`]), so a build writing
    /// thousands of files there costs a few dozen events.
    pub fn created_in_ignored(&mut self, dir: &Path, host: &Path) -> bool {
        if self.scope.skip.first().is_some_and(|r| dir.starts_with(r)) {
            // Our own run directory: only our files, never heard.
            return true;
        }
        self.created_ignored(host);
        self.ignored_entry(host);
        let heat = &mut self.changes.ignored_heat;
        if heat.len() >= 4096 {
            heat.clear();
        }
        let n = heat.entry(dir.into()).or_insert(0);
        *n += 1;
        if !crate::watch::mute::hot(*n) {
            return false;
        }
        heat.remove(dir);
        if let Some(l) = self.scope.logical(dir) {
            tracing::debug!("creations in {} no longer heard one by one", l.display());
            self.changes
                .link_trees
                .insert(l.as_os_str().as_bytes().into());
        }
        true
    }
}
