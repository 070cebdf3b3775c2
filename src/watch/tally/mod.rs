//! The tally of unpersisted groups (pure): which groups were written, how
//! many files and bytes, by whom. When to warn (per-group reminders and a
//! global token bucket) is in `warn`. Time is injected as `Duration` since
//! the daemon started.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::attribution::Writer;
use crate::config::Kind;

mod forget;
mod warn;

pub use warn::{Decision, Suppressed, TokenBucket};

/// Bounds and intervals.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Reminder interval per group.
    pub warn_every: Duration,
    /// Global warning budget per minute.
    pub per_minute: u32,
    /// Paths remembered by name per group.
    pub sample_paths: usize,
    /// Paths remembered by name over all groups.
    pub total_samples: usize,
    /// Paths remembered by hash (beyond the samples) over all groups.
    pub total_hashed: usize,
    /// Groups tracked; an area (`fairness::area`) holds at most a quarter
    /// of them, and further groups fold into their area.
    pub max_groups: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            warn_every: Duration::from_secs(600),
            per_minute: 10,
            sample_paths: 1000,
            total_samples: 100_000,
            total_hashed: 400_000,
            max_groups: 4096,
        }
    }
}

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A file was created or written; `size` when known (after a stat).
    Write { size: Option<u64>, created: bool },
    /// A directory was created or moved in, or its attributes changed.
    Dir,
    /// A baseline directory's mode, owner or attributes changed
    /// (`Rec::matches`, as `diff` compares it): the reboot restores them.
    DirAttrs,
    /// The path was deleted or moved away.
    Gone,
    /// The directory was deleted or moved away: what was counted below it
    /// goes too ([`Table::gone_below`]).
    GoneDir,
}

impl Change {
    /// A file found in place (by a walk, or moved in): counted as created,
    /// with its size when known.
    pub fn found(size: Option<u64>) -> Change {
        Change::Write {
            size,
            created: true,
        }
    }

    /// A write without a size (a modification before close, a chmod) with
    /// `size` (the judge's stat of it); any other change as it is.
    pub fn sized(self, size: Option<u64>) -> Change {
        match self {
            Change::Write {
                size: None,
                created,
            } => Change::Write { size, created },
            c => c,
        }
    }
}

/// One unpersisted group.
#[derive(Debug, Clone)]
pub struct Group {
    /// The directory (or file) to persist.
    pub path: PathBuf,
    /// Directory or file.
    pub kind: Kind,
    /// Distinct files written and still present (a lower bound when `approximate`).
    pub files: u64,
    /// Their bytes, as of their last close.
    pub bytes: u64,
    /// First and last write, since the daemon started.
    pub first_seen: Duration,
    /// Last write.
    pub last_seen: Duration,
    /// Writers (at most 8).
    pub writers: Vec<Writer>,
    /// Counting stopped being exact (memory caps reached).
    pub approximate: bool,
    /// Warnings logged for this group.
    pub warnings: u32,
    samples: HashMap<PathBuf, u64>,
    /// Baseline directories whose mode, owner or attributes changed (at
    /// most `Limits::sample_paths`; past it `approximate`).
    dirs: HashSet<PathBuf>,
    hashed: HashMap<u64, u64>,
    warned_at: Option<Duration>,
    /// When its writers were last looked for in the open files (inotify).
    looked_at: Option<Duration>,
    suppressed: bool,
}

impl Group {
    /// A new group at `group`, first written at `path`: a file group when
    /// the write is the group itself.
    fn new(group: &Path, path: &Path, change: Change, now: Duration) -> Group {
        let kind = if path == group && !matches!(change, Change::Dir | Change::DirAttrs) {
            Kind::File
        } else {
            Kind::Directory
        };
        Group {
            path: group.to_path_buf(),
            kind,
            files: 0,
            bytes: 0,
            first_seen: now,
            last_seen: now,
            writers: Vec::new(),
            approximate: false,
            warnings: 0,
            samples: HashMap::new(),
            dirs: HashSet::new(),
            hashed: HashMap::new(),
            warned_at: None,
            looked_at: None,
            suppressed: false,
        }
    }

    /// Baseline directories whose mode, owner or attributes changed.
    pub fn dirs(&self) -> u64 {
        self.dirs.len() as u64
    }

    /// Is all it would lose directories' own mode, owner or attributes
    /// (no file)? Then there is nothing to persist
    /// ([`crate::suggest::ATTRIBUTES_ONLY`]).
    pub fn attributes_only(&self) -> bool {
        self.files == 0 && !self.dirs.is_empty()
    }

    /// Does the reboot discard something of it (a file, or a directory's
    /// mode, owner or attributes)?
    pub fn loses(&self) -> bool {
        self.files > 0 || !self.dirs.is_empty()
    }

    /// Sample paths remembered by name (sorted).
    pub fn sample(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = self.samples.keys().map(|p| p.as_path()).collect();
        v.sort();
        v
    }
}

/// All groups, and the warning budget.
#[derive(Debug, Default)]
pub struct Table {
    limits: Limits,
    groups: HashMap<PathBuf, Group>,
    bucket: TokenBucket,
    hasher: RandomState,
    samples: usize,
    hashed: usize,
    suppressed: u64,
    suppressed_groups: Vec<PathBuf>,
    window_start: Option<Duration>,
    /// Groups per area (`fairness::area`).
    per_area: HashMap<PathBuf, usize>,
    /// Groups an earlier instance of the daemon already warned about:
    /// their first write here spends no warning token (it prints nothing).
    announced: HashSet<PathBuf>,
    /// Count only, never decide to warn (a muted group counted again by a
    /// walk: nothing was written by that).
    pub counting_only: bool,
    /// Groups to count again by a walk (`forget`).
    recount: Vec<PathBuf>,
}

impl Table {
    /// An empty table at time `now`.
    pub fn new(limits: Limits, now: Duration) -> Table {
        Table {
            bucket: TokenBucket::new(limits.per_minute, now),
            limits,
            ..Table::default()
        }
    }

    /// The group a write to `group` is counted in: itself, or its area
    /// when the table or the area's share is full (`fairness::slot`).
    pub fn slot_of(&self, group: &Path) -> PathBuf {
        self.slot(group).into_owned()
    }

    /// [`Table::slot_of`], allocating nothing for a known group (every
    /// event but a group's first).
    fn slot<'a>(&self, group: &'a Path) -> Cow<'a, Path> {
        if self.groups.contains_key(group) {
            return Cow::Borrowed(group);
        }
        let in_area = self
            .per_area
            .get(&super::fairness::area(group))
            .copied()
            .unwrap_or(0);
        Cow::Owned(super::fairness::slot(
            group,
            false,
            self.groups.len(),
            in_area,
            self.limits.max_groups,
        ))
    }

    /// Record a change to `path` (logical) in `group`; say whether to warn.
    /// A directory alone does not make a group (creating `/srv` or
    /// `/var/lib/foo` loses nothing yet), nor does a deletion: only files
    /// do, and a baseline directory's changed mode, owner or attributes.
    pub fn record(&mut self, group: &Path, path: &Path, change: Change, now: Duration) -> Decision {
        if change == Change::GoneDir {
            self.gone_below(path);
            return Decision::Quiet;
        }
        if matches!(change, Change::Dir | Change::Gone) && !self.groups.contains_key(group) {
            return Decision::Quiet;
        }
        let slot = self.slot(group);
        let group: &Path = &slot;
        if !self.groups.contains_key(group) {
            *self
                .per_area
                .entry(super::fairness::area(group))
                .or_default() += 1;
            let g = Group::new(group, path, change, now);
            self.groups.insert(group.to_path_buf(), g);
        }
        let g = self.groups.get_mut(group).expect("inserted above");
        g.last_seen = now;
        if path != g.path && change != Change::Gone {
            g.kind = Kind::Directory;
        }
        match change {
            Change::Dir => return Decision::Quiet,
            Change::DirAttrs => {
                if g.dirs.len() < self.limits.sample_paths {
                    g.dirs.insert(path.to_path_buf());
                } else if !g.dirs.contains(path) {
                    g.approximate = true;
                }
            }
            Change::Write { size, created } => {
                let key_hash = self.hasher.hash_one(path);
                let old = (g.samples.get_mut(path))
                    .or_else(|| g.hashed.get_mut(&key_hash))
                    .map(|s| std::mem::replace(s, size.unwrap_or(*s)));
                match old {
                    Some(old) => g.bytes = g.bytes - old + size.unwrap_or(old),
                    None => {
                        let sz = size.unwrap_or(0);
                        if g.samples.len() < self.limits.sample_paths
                            && self.samples < self.limits.total_samples
                        {
                            g.samples.insert(path.to_path_buf(), sz);
                            self.samples += 1;
                        } else if self.hashed < self.limits.total_hashed {
                            g.hashed.insert(key_hash, sz);
                            self.hashed += 1;
                        } else {
                            g.approximate = true;
                            if !created {
                                return self.decide(group, now);
                            }
                        }
                        g.files += 1;
                        g.bytes += sz;
                    }
                }
            }
            Change::Gone | Change::GoneDir => {
                let old = (g.samples.remove(path).inspect(|_| self.samples -= 1)).or_else(|| {
                    let hash = self.hasher.hash_one(path);
                    g.hashed.remove(&hash).inspect(|_| self.hashed -= 1)
                });
                if let Some(old) = old {
                    g.files -= 1;
                    g.bytes -= old;
                }
                return Decision::Quiet;
            }
        }
        self.decide(group, now)
    }

    /// Remember a writer of `group` (at most 8 distinct).
    pub fn add_writer(&mut self, group: &Path, w: Writer) {
        if let Some(g) = self.groups.get_mut(group)
            && g.writers.len() < 8
            && !g.writers.contains(&w)
        {
            g.writers.push(w);
        }
    }

    /// Look for `group`'s writers in the open files now (a backend without
    /// pids)? Yes when it lists fewer than 8 and was not looked at within
    /// `every`; then it counts as looked at `now`.
    pub fn look_for_writers(&mut self, group: &Path, now: Duration, every: Duration) -> bool {
        let Some(g) = self.groups.get_mut(group) else {
            return false;
        };
        let due = g.writers.len() < 8 && g.looked_at.is_none_or(|t| now.saturating_sub(t) >= every);
        if due {
            g.looked_at = Some(now);
        }
        due
    }

    /// Does `group` already list 8 writers (or is it unknown)?
    pub fn writers_full(&self, group: &Path) -> bool {
        self.groups.get(group).is_none_or(|g| g.writers.len() >= 8)
    }

    /// Groups with at least one file (or directory's attributes) still to
    /// lose, biggest first.
    pub fn groups(&self) -> Vec<&Group> {
        let mut v: Vec<&Group> = self.groups.values().filter(|g| g.loses()).collect();
        v.sort_by(|a, b| (b.bytes, b.files, &a.path).cmp(&(a.bytes, a.files, &b.path)));
        v
    }

    /// The group at `path`.
    pub fn get(&self, path: &Path) -> Option<&Group> {
        self.groups.get(path)
    }

    /// Number of groups with something still to lose.
    pub fn len(&self) -> usize {
        self.groups.values().filter(|g| g.loses()).count()
    }

    /// No groups yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The group at `path`, to change (the refresh sets its last write).
    pub fn get_mut(&mut self, path: &Path) -> Option<&mut Group> {
        self.groups.get_mut(path)
    }

    /// A group's (files, bytes).
    pub fn counts(&self, group: &Path) -> (u64, u64) {
        self.groups
            .get(group)
            .map_or((0, 0), |g| (g.files, g.bytes))
    }
}

#[cfg(test)]
mod tests;
