//! The watcher's list of what changed, for `impermctl diff` (issue 17):
//! every logical path an event or a rescan named, kept as directories and
//! names, plus subtrees to walk whole. Asked by `diff` (SIGUSR1), the
//! daemon drains its queue and writes the list atomically to
//! `/run/impermctl/changes` with what frames it (since when it is
//! complete, the mount points and ignored paths it leaves out, or why it
//! cannot stand for a walk). `diff` checks that frame against its baseline
//! and stats only the listed paths (`diff::fast`).
//!
//! Bounded: past [`CAP`] paths the list is dropped and the watcher stops
//! vouching for this run (diff walks). 65,536 names cost at most ~4 MiB
//! (a name, its box and its slot in a set), inside the watcher's 32 MiB
//! peak goal; past that many, a walk of a typical root is not much slower.
//! The file's format is in `format`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

use super::core::Core;
use crate::walk::{parent, under};

mod format;
mod ignored;
pub mod links;

pub use format::{FileId, HEADER, List, decode, encode, header};
pub use ignored::Ignored;

/// Most paths (names plus subtrees) the list holds; past it the watcher
/// stops vouching until it restarts.
pub const CAP: usize = 65_536;

/// The paths changed since the watcher's `since`.
#[derive(Debug)]
pub struct Changes {
    dirs: HashMap<Box<[u8]>, HashSet<Box<[u8]>>>,
    trees: BTreeSet<Box<[u8]>>,
    len: usize,
    /// [`CAP`], or `IMPERMCTL_CHANGES_CAP` (tests reach it quickly).
    pub cap: usize,
    /// The cap was passed: nothing is kept any more.
    pub full: bool,
    /// Answers written so far.
    pub seq: u64,
    /// Hard links made since start: a write through either name changes
    /// the other, which no event names ([`links::Links`]).
    pub links: links::Links,
    /// The backend hears names created in ignored directories (`watch.ignore`)
    /// on the root's filesystem and passes them to [`Changes::created`]:
    /// said in the list ([`List::ignored_links_heard`]).
    pub ignored_links_heard: bool,
    /// Ignored directories (logical) no longer heard name by name (a
    /// burst of creations made them hot): `diff` checks every file below
    /// them for other links instead.
    pub link_trees: BTreeSet<Box<[u8]>>,
    /// Names below the ignored directories, for `diff`'s count of what
    /// changed there ([`Ignored`]).
    pub ignored: Ignored,
    /// Creations heard per ignored directory (host), until it is hot.
    ignored_heat: HashMap<Box<Path>, u32>,
}

impl Default for Changes {
    fn default() -> Changes {
        let cap = std::env::var("IMPERMCTL_CHANGES_CAP")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CAP);
        Changes {
            dirs: HashMap::new(),
            trees: BTreeSet::new(),
            len: 0,
            cap,
            full: false,
            seq: 0,
            links: Default::default(),
            ignored_links_heard: false,
            link_trees: BTreeSet::new(),
            ignored: Ignored::default(),
            ignored_heat: HashMap::new(),
        }
    }
}

impl Changes {
    /// Something happened at the logical path `p` (created, written,
    /// changed, removed, moved from or to).
    pub fn note(&mut self, p: &Path) {
        if self.full {
            return;
        }
        let b = p.as_os_str().as_bytes();
        let dir = parent(b);
        let name = b[dir.len()..].strip_prefix(b"/").unwrap_or(&b[dir.len()..]);
        // `diff` walks a subtree whole: the names below it need no entry
        // (a refresh walk of a muted group finds every name again).
        if name.is_empty() || self.in_tree(dir) {
            return;
        }
        let names = match self.dirs.get_mut(dir) {
            Some(n) => n,
            None => self.dirs.entry(dir.into()).or_default(),
        };
        if !names.contains(name) {
            names.insert(name.into());
            self.grew();
        }
    }

    /// `host` (logical `p`) was created: if it is a regular file with more
    /// than one link, it is a hard link (or has one), and the list stops
    /// standing for a walk ([`links::Links`]). One `open(O_PATH)` per create.
    /// A name already gone when the event is handled is not checked.
    pub fn created(&mut self, host: &Path, p: &Path) {
        self.links.created(host, p);
    }

    /// Everything below the logical directory `p` may have changed without
    /// an event (e.g. its events are muted): `diff` walks it.
    /// What was listed below it goes: it is walked with it.
    pub fn tree(&mut self, p: &Path) {
        let t = p.as_os_str().as_bytes();
        if self.full || self.in_tree(t) {
            return;
        }
        let mut gone = 0;
        self.dirs.retain(|d, names| {
            let below = under(t, d);
            gone += if below { names.len() } else { 0 };
            !below
        });
        self.trees.retain(|d| {
            let below = under(t, d);
            gone += usize::from(below);
            !below
        });
        self.len -= gone;
        self.trees.insert(t.into());
        self.grew();
    }

    /// Is the logical directory `dir` at or below a listed subtree?
    fn in_tree(&self, dir: &[u8]) -> bool {
        let mut d = dir;
        while !self.trees.is_empty() {
            if self.trees.contains(d) {
                return true;
            }
            if d == b"/" {
                break;
            }
            d = parent(d);
        }
        false
    }

    fn grew(&mut self) {
        self.len += 1;
        if self.len > self.cap {
            self.full = true;
            self.dirs = HashMap::new();
            self.trees = BTreeSet::new();
            tracing::info!(
                "more than {} paths changed: the watcher stops listing them (impermctl diff walks the root)",
                self.cap
            );
        }
    }

    /// Names and subtrees held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Why the list cannot stand for a walk, if it cannot: the cap (`full`) was passed,
/// or inotify's watch limit leaves directories unwatched. (A queue
/// overflow is not one: the daemon rescans before it answers.)
pub fn gap(full: Option<usize>, unwatched: u64) -> Option<String> {
    if let Some(cap) = full {
        return Some(format!(
            "more than {} paths changed since the baseline: the watcher stopped listing them",
            crate::human::thousands(cap as u64)
        ));
    }
    (unwatched > 0).then(|| {
        format!(
            "inotify leaves {} unwatched (watch limit or PATH_MAX)",
            crate::human::count(unwatched, "directory", "directories")
        )
    })
}

/// `/run/impermctl/changes` of `root`.
pub fn file(root: &crate::root::Root) -> std::path::PathBuf {
    root.run_dir().join("changes")
}

/// This process's start (clock ticks after boot).
pub fn own_start() -> u64 {
    procfs::process::Process::myself()
        .and_then(|p| p.stat())
        .map_or(0, |s| s.starttime)
}

/// Write the list to `file` atomically (0600), answering `for_pid` (0: no
/// one). `unwatched`: directories inotify's watch limit left unwatched.
pub fn answer(core: &mut Core, file: &Path, for_pid: u32, unwatched: u64) {
    if for_pid != 0 {
        core.changes.seq += 1;
    }
    core.poll_links();
    let unix = |t: SystemTime| {
        let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        (d.as_secs() as i64, d.subsec_nanos())
    };
    let logical = |h: &PathBuf| core.scope.logical(h).map(|p| p.into_os_string().into_vec());
    let mut mounts: Vec<Vec<u8>> = core.scope.prune.iter().filter_map(logical).collect();
    mounts.sort();
    let list = List {
        pid: std::process::id(),
        start: own_start(),
        seq: core.changes.seq,
        for_pid,
        since: unix(core.since),
        gap: gap(core.changes.full.then_some(core.changes.cap), unwatched).or_else(|| {
            let origin = core.judge.as_ref().and_then(|j| j.baseline()?.0.origin);
            core.changes.links.gap(origin, &core.scope.root)
        }),
        mounts,
        ignore: core.scope.skip.iter().filter_map(logical).collect(),
        ignored_links_heard: core.changes.ignored_links_heard,
        ..List::default()
    };
    // Each path's baseline record, from the baseline the judge holds:
    // `diff` opening the same file need not look them up itself.
    let baseline = (core.judge.as_ref().and_then(|j| j.baseline()))
        .map(|(b, (t, ino))| (b, (unix(t).0, unix(t).1, ino)));
    let bytes = encode(&list, &core.changes, baseline);
    if let Err(e) = crate::sys::fs::write_file_atomic(file, &bytes, 0o600)
        .with_context(|| format!("cannot write {}", file.display()))
    {
        tracing::warn!("{e:#}");
    }
}

#[cfg(test)]
mod tests;
