//! The watcher's side of the one classification `diff` uses
//! (`crate::classify`): before a write becomes a group, it is judged
//! against the catalog (regenerated: dropped; temporaries: dropped, their
//! rename's destination is judged; so is any name gone before it is
//! judged), the live state (symlinks into a persistence root hold no data
//! here) and the baseline. A rewrite of an entry the baseline has while a
//! NixOS activation runs ([`super::activation`]) or the baseline predates
//! the last activation ([`Judge::provisional`]), and what a rescan finds
//! then, is counted at once but its warning is held back until the
//! baseline is retaken
//! (`impermctl baseline` at the end of activation, e.g. after `nixos-rebuild
//! switch`) or [`HOLD`] passes: then what the baseline adopted is dropped
//! from the count and the rest is warned about.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::baseline::{Baseline, Rec};
use crate::classify::grouping::{self, Context, Placement};
use crate::classify::{Class, Classifier};
use crate::root::Root;

/// How long a held-back write waits for a new baseline.
pub const HOLD: Duration = Duration::from_secs(30);

/// How long a new name waits before it is warned about (counted at once):
/// a temporary renamed away meanwhile (`ln -sfn`, `sed -i`, `mv tmp
/// target`) is then gone and dropped, never warned about under its name.
pub const SETTLE: Duration = Duration::from_millis(200);

/// What to do with a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not a loss (regenerated, a temporary, persisted, or as in the baseline).
    Drop,
    /// Counted in this group now (`status`, the summary and `diff` agree),
    /// but warned about only if no retaken baseline adopts it within
    /// [`HOLD`] (activation rewrites baseline files, then retakes it).
    Hold {
        /// Where it belongs.
        place: Placement,
        /// What losing it means (important entries).
        consequence: Option<String>,
    },
    /// Record it in this group; `consequence` for important entries.
    Record {
        /// Where it belongs.
        place: Placement,
        /// What losing it means (important entries).
        consequence: Option<String>,
    },
}

/// The watcher's judge: catalog, baseline, live links.
#[derive(Debug)]
pub struct Judge {
    root: Root,
    classifier: Classifier,
    baseline: Option<Baseline>,
    /// The baseline file's (mtime, inode) when loaded: a retake renames a
    /// new file into place, so the inode changes even within a clock tick.
    baseline_mtime: Option<(SystemTime, u64)>,
    persist_roots: Vec<PathBuf>,
    cx: Context,
    /// Held-back host paths, with when they were held (daemon clock).
    pub held: HashMap<PathBuf, Duration>,
    /// New names settling ([`SETTLE`]): when they were held, by whom.
    settling: HashMap<PathBuf, (Duration, Option<i32>)>,
    /// The size of the last file [`Judge::judge`] stat'ed (a write event
    /// before close or a chmod has none: without it the tally would count
    /// the file as 0 B, or as it was, until it is closed).
    pub size: Option<u64>,
    /// Whether a NixOS activation runs (it rewrites baseline files).
    pub activation: super::activation::Activation,
}

impl Judge {
    /// A judge for `root` whose persistence roots are `persist_roots`.
    pub fn new(root: &Root, persist_roots: Vec<PathBuf>) -> Judge {
        let mut j = Judge {
            root: root.clone(),
            classifier: Classifier::load(root),
            baseline: None,
            baseline_mtime: None,
            persist_roots,
            cx: Context::default(),
            held: HashMap::new(),
            settling: HashMap::new(),
            activation: Default::default(),
            size: None,
        };
        j.reload();
        j
    }

    /// Reload the baseline (and `/etc/.clean`) if the baseline file changed
    /// since the last look; true when it did.
    pub fn reload(&mut self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let mtime = std::fs::metadata(self.root.baseline_file())
            .and_then(|m| Ok((m.modified()?, m.ino())))
            .ok();
        if mtime == self.baseline_mtime && (mtime.is_none() || self.baseline.is_some()) {
            return false;
        }
        self.baseline_mtime = mtime;
        self.baseline = Baseline::load(&self.root).ok().flatten();
        self.classifier = Classifier::load(&self.root);
        true
    }

    /// Declared entries that are not persisted (path, is a file, why: not
    /// bound, or refused for a config error), as `diff` gets them
    /// (`diff::judge::not_persisted`, `config::Refused::losses`): what is
    /// in them is lost whatever the baseline says, grouped as the entry.
    pub fn declare(&mut self, not_persisted: Vec<(PathBuf, bool, String)>) {
        self.cx.not_persisted = not_persisted;
    }

    /// The declared entries that are not persisted ([`Judge::declare`]).
    pub fn declared_entries(&self) -> &[(PathBuf, bool, String)] {
        &self.cx.not_persisted
    }

    /// The declared entry that is not persisted holding `logical`, if any.
    pub fn declared(&self, logical: &Path) -> Option<&(PathBuf, bool, String)> {
        (self.cx.not_persisted.iter())
            .filter(|(p, _, _)| logical.starts_with(p))
            .max_by_key(|(p, _, _)| p.as_os_str().len())
    }

    /// What a warning and `status` say to keep `group` (persisted as
    /// `how` under `persist_root`; `replaced`: a rename landed on it, see
    /// [`crate::suggest::nix_line_replaced`]): the config line, or, for a
    /// declared entry that is not persisted, why and its fix (adding it
    /// again would be the config's "declared twice" error).
    pub fn suggestion(
        &self,
        persist_root: &Path,
        group: &Path,
        (how, replaced): (crate::config::Kind, bool),
    ) -> String {
        match self.declared(group) {
            Some((p, _, why)) => format!(
                "{} is already declared, but not persisted: {why}",
                crate::names::show(p)
            ),
            None => crate::suggest::nix_line_replaced(persist_root, group, how, replaced),
        }
    }

    /// The entry at `logical` is as the baseline recorded it (never inside
    /// a declared entry that is not persisted: all of it is lost).
    pub fn as_in_baseline(&self, logical: &Path, host: &Path) -> bool {
        self.declared(logical).is_none()
            && self
                .recorded(logical)
                .is_some_and(|rec| crate::sys::meta::stat_path(host).is_ok_and(|m| rec.matches(&m)))
    }

    /// Is `host` (at `logical`) a directory the baseline has, whose mode,
    /// owner or attributes changed since (`Rec::matches`, as `diff`
    /// compares it)? Then the reboot restores them: a loss.
    pub fn changed_dir(&self, logical: &Path, host: &Path) -> bool {
        self.recorded(logical).is_some_and(|rec| {
            rec.kind == crate::sys::meta::Kind::Dir
                && crate::sys::meta::lstat_path(host)
                    .is_ok_and(|m| m.kind() == crate::sys::meta::Kind::Dir && !rec.matches(&m))
        })
    }

    /// The baseline's record of the logical path `logical`, if any.
    fn recorded(&self, logical: &Path) -> Option<Rec> {
        self.baseline.as_ref()?.get(logical.as_os_str().as_bytes())
    }

    /// The baseline held, with its file's (mtime, inode) when loaded.
    pub fn baseline(&self) -> Option<(&Baseline, (SystemTime, u64))> {
        Some((self.baseline.as_ref()?, self.baseline_mtime?))
    }

    /// The baseline predates the end of the last activation (the
    /// `/run/current-system` link activation writes last): it will be
    /// retaken, so what a rescan finds waits for it.
    pub fn provisional(&self) -> bool {
        let cs = crate::sys::meta::lstat_path(&self.root.host(Path::new("/run/current-system")));
        cs.is_ok_and(|m| (self.baseline_mtime).is_none_or(|(t, _)| t < super::rescan::ctime(&m)))
    }

    fn links_into_persistence(&self, logical: &Path, host: &Path) -> bool {
        let Ok(t) = std::fs::read_link(host) else {
            return false;
        };
        let joined = logical.parent().unwrap_or(Path::new("/")).join(t);
        let norm = crate::walk::normalize(joined.as_os_str().as_bytes());
        let norm = Path::new(std::ffi::OsStr::from_bytes(&norm));
        self.persist_roots.iter().any(|r| norm.starts_with(r))
    }

    /// Judge a write (or a new directory) at `host` (`logical` on the
    /// root). `rescan`: found by a rescan rather than seen live; `created`:
    /// a new file (its warning waits [`SETTLE`]: see [`Judge::hold`]).
    pub fn judge(
        &mut self,
        logical: &Path,
        host: &Path,
        (is_dir, rescan, created): (bool, bool, bool),
    ) -> Verdict {
        let bytes = logical.as_os_str().as_bytes();
        if self.classifier.is_temporary(bytes) {
            return Verdict::Drop;
        }
        // Gone before it was judged: renamed away (`ln -sfn`'s and `sed -i`'s
        // temporaries, `mv tmp target`: the destination's own event is
        // judged) or deleted. Nothing under this name to discard.
        use std::io::ErrorKind::{NotADirectory, NotFound};
        let m = std::fs::symlink_metadata(host);
        if m.as_ref()
            .is_err_and(|e| matches!(e.kind(), NotFound | NotADirectory))
        {
            return Verdict::Drop;
        }
        self.size = m.as_ref().ok().filter(|m| !m.is_dir()).map(|m| m.len());
        let is_link = !is_dir && m.is_ok_and(|m| m.file_type().is_symlink());
        if is_link && self.links_into_persistence(logical, host) {
            return Verdict::Drop;
        }
        let class = self.classifier.classify(bytes, is_link);
        if !class.is_loss() || self.as_in_baseline(logical, host) {
            return Verdict::Drop;
        }
        let rewrite = self.recorded(logical).is_some()
            && class == Class::Ordinary
            && self.declared(logical).is_none();
        // A rewrite waits only while activation may still adopt it (it runs,
        // or the baseline predates its end): else it is warned about now.
        // So does a baseline directory's chmod (activation's tmpfiles); a
        // new directory is never held.
        let hold = (!is_dir || rewrite)
            && ((rescan && self.provisional())
                || (rewrite && (self.provisional() || self.activation.running())));
        // Bounded: past it (a burst of new files), warned at once. Writes
        // to a name still settling wait with it.
        let settling = self.settling.contains_key(host);
        let settle =
            settling || (!is_dir && !hold && created && !rescan && self.settling.len() < 4096);
        if settle && !settling {
            self.settling
                .insert(host.to_path_buf(), (Duration::MAX, None));
        }
        self.place(logical, is_dir, &class, hold || settle)
    }

    /// Hold back `host` (judged [`Verdict::Hold`]) from `now` (daemon
    /// clock), written by `pid` if known: a new name for [`SETTLE`], the
    /// rest for [`HOLD`] or until the baseline is retaken.
    pub fn hold(&mut self, host: &Path, now: Duration, pid: Option<i32>) {
        match self.settling.get_mut(host) {
            Some(s) if s.0 == Duration::MAX => *s = (now, pid),
            // Found by a walk first (no pid): a later event names the writer.
            Some(s) => s.1 = s.1.or(pid),
            None => _ = self.held.entry(host.to_path_buf()).or_insert(now),
        }
    }

    /// The host paths to judge again now (and who wrote them, when known),
    /// in the order they were held (a burst is warned about in the order
    /// it was written): those held for [`HOLD`] (all of them when `all`),
    /// and the new names that settled.
    pub fn due(&mut self, now: Duration, all: bool) -> Vec<(PathBuf, Option<i32>)> {
        let due = |t: Duration, wait| all || now.saturating_sub(t) >= wait;
        let held = self.held.extract_if(|_, t| due(*t, HOLD));
        let mut out: Vec<_> = held.map(|(p, t)| (t, p, None)).collect();
        let settled =
            (self.settling).extract_if(|_, (t, _)| *t != Duration::MAX && due(*t, SETTLE));
        out.extend(settled.map(|(p, (t, pid))| (t, p, pid)));
        out.sort_unstable();
        out.into_iter().map(|(_, p, pid)| (p, pid)).collect()
    }

    /// Where a deleted path's group is (no stat: it is gone).
    pub fn gone(&mut self, logical: &Path) -> Verdict {
        let class = self
            .classifier
            .classify(logical.as_os_str().as_bytes(), false);
        if !class.is_loss() {
            return Verdict::Drop;
        }
        self.place(logical, false, &class, false)
    }

    /// Where a change belongs, without judging it: held back when `hold`.
    fn place(&mut self, logical: &Path, is_dir: bool, class: &Class, hold: bool) -> Verdict {
        if let Some(p) = logical.parent()
            && self.recorded(p).is_some()
        {
            self.cx.existed.insert(p.to_path_buf());
        }
        let consequence = match class {
            Class::Important { consequence, .. } => Some(consequence.clone()),
            _ => None,
        };
        let place = grouping::place(logical, is_dir, class, &self.cx);
        match hold {
            true => Verdict::Hold { place, consequence },
            false => Verdict::Record { place, consequence },
        }
    }

    /// Would every write strictly inside the logical directory `dir` be
    /// recorded in `group` (or dropped), whatever its name? Then the
    /// watcher may stop listening to `dir`'s files once `group` is
    /// reported: no other group can hide there. False when a declared
    /// entry, a service's state directory or an important catalog entry
    /// could place something below `dir` elsewhere, and for a shared
    /// `/etc` directory (a file directly in it is its own group).
    pub fn uniform(&self, dir: &Path, group: &Path) -> bool {
        let below = |p: &PathBuf| p.starts_with(dir) && p != dir;
        let shared_etc = group.starts_with("/etc") && dir == group;
        // A declared entry is counted whole at start: never muted.
        let other_entries = self.declared(dir).is_some()
            || self.cx.not_persisted.iter().any(|(p, _, _)| below(p))
            || self.cx.state_dirs.iter().any(below);
        dir.starts_with(group)
            && !shared_etc
            && !other_entries
            && self
                .classifier
                .uniform_below(dir.as_os_str().as_bytes(), group.as_os_str().as_bytes())
    }

    /// Judge again a held-back write: after a new baseline, or once
    /// [`HOLD`] has passed (`expired`), it is recorded unless the baseline
    /// has it as it is now.
    pub fn rejudge(&mut self, logical: &Path, host: &Path) -> Verdict {
        // Also past `PATH_MAX` (a file caught up deep in a new tree).
        let Ok(m) = crate::sys::meta::lstat_path(host) else {
            return Verdict::Drop;
        };
        let is_link = m.kind() == crate::sys::meta::Kind::Symlink;
        let class = self
            .classifier
            .classify(logical.as_os_str().as_bytes(), is_link);
        if !class.is_loss() || self.as_in_baseline(logical, host) {
            return Verdict::Drop;
        }
        let is_dir = m.kind() == crate::sys::meta::Kind::Dir;
        self.place(logical, is_dir, &class, false)
    }
}

#[cfg(test)]
mod tests;
