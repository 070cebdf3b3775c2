//! Classification of walked entries: against the baseline (new: not in it;
//! modified: type, inode, size, mtime or ctime changed), or, without a
//! baseline, by ctime after the boot time. Only what is needed is stat'ed:
//! with a baseline, new directories, fifos and sockets need none.

use std::io;

use serde::Serialize;

use crate::baseline::{Baseline, DirView, Rec};
use crate::sys::meta::{Kind, Meta, stat_at};
use crate::walk::{Entry, Visit, parent};

/// How an entry differs from the basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Not in the baseline (or born after boot).
    New,
    /// In the baseline, but changed (or changed after boot).
    Modified,
    /// As in the baseline (listed only with `--all`).
    Unchanged,
}

/// What a diff compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Basis {
    /// The manifest written at boot.
    Baseline {
        /// When it was taken (Unix seconds).
        created: i64,
    },
    /// No baseline: ctime at or after the boot time (`/proc/stat` btime).
    BootTime {
        /// Boot time (Unix seconds).
        btime: i64,
    },
}

/// One entry that differs (or, with `--all`, any entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Logical path, raw bytes.
    pub path: Vec<u8>,
    /// What it is.
    pub kind: Kind,
    /// How it differs.
    pub change: Change,
    /// Apparent size (regular files and symlinks; 0 otherwise).
    pub size: u64,
    /// Inode (0 when not stat'ed).
    pub ino: u64,
    /// Hard link count (1 when not stat'ed).
    pub nlink: u32,
    /// A regular file whose inode differs from the baseline's record of a
    /// regular file at this path: replaced by rename (`sed -i`, `passwd`,
    /// an editor's temporary) or deleted and made again, which a bind
    /// mount refuses (`EBUSY`), so it is persisted with `method = "copy"`.
    /// (A new inode may reuse the old number: then this is not seen.)
    pub replaced: bool,
}

use crate::baseline::replaced;

/// The visitor that classifies entries.
#[derive(Debug)]
pub struct Classify<'a> {
    /// The baseline, if any.
    pub baseline: Option<&'a Baseline>,
    /// Boot time, for the fallback.
    pub btime: i64,
    /// Keep unchanged entries too.
    pub keep_unchanged: bool,
}

/// Per-thread results, with the baseline directory of the last lookup
/// (the walker hands over a directory's entries one after the other).
#[derive(Debug, Default)]
pub struct Found<'a> {
    /// Entries that differ.
    pub items: Vec<Item>,
    dir_seq: u64,
    view: Option<DirView<'a>>,
    next: u32,
}

impl<'a> Visit for Classify<'a> {
    type Acc = Found<'a>;

    fn visit(&self, e: &Entry<'_>, found: &mut Found<'a>) -> io::Result<bool> {
        self.visit_with(e, found, &|| stat_at(e.dir, e.name))
    }
}

impl<'a> Classify<'a> {
    /// Against `baseline` (else `btime`, the boot time), keeping unchanged
    /// entries when `keep_unchanged`.
    pub fn new(baseline: Option<&'a Baseline>, btime: i64, keep_unchanged: bool) -> Self {
        Classify {
            baseline,
            btime,
            keep_unchanged,
        }
    }

    /// [`Visit::visit`] with `stat` giving the entry's metadata when it is
    /// needed (the watcher's list stat'ed it already: no second `statx`).
    pub fn visit_with(
        &self,
        e: &Entry<'_>,
        found: &mut Found<'a>,
        stat: &dyn Fn() -> io::Result<Meta>,
    ) -> io::Result<bool> {
        let Some(b) = self.baseline else {
            let m = stat()?;
            self.push(e, found, (self.since_boot(&m), false), Some(&m));
            return Ok(true);
        };
        if found.dir_seq != e.dir_seq {
            found.dir_seq = e.dir_seq;
            found.view = b.dir(parent(e.path));
            found.next = 0;
        }
        let rec = found
            .view
            .and_then(|v| v.get(e.name.to_bytes(), &mut found.next));
        self.visit_known(e, found, rec, stat)
    }

    /// [`Classify::visit_with`] against a baseline whose record of the
    /// entry is `rec` (`None`: not in it), already looked up (the watcher
    /// sends the records of the paths it lists). Modified when it does not
    /// match its record ([`Rec::matches`]: a directory when its mode,
    /// owner or attributes changed); new entries need a stat only for
    /// their size (files, symlinks).
    pub fn visit_known(
        &self,
        e: &Entry<'_>,
        found: &mut Found<'a>,
        rec: Option<Rec>,
        stat: &dyn Fn() -> io::Result<Meta>,
    ) -> io::Result<bool> {
        let m = match rec {
            None if !matches!(e.kind, Kind::File | Kind::Symlink) => None,
            _ => Some(stat()?),
        };
        let change = match (rec, &m) {
            (None, _) => Change::New,
            (Some(r), Some(m)) if !r.matches(m) => Change::Modified,
            _ => Change::Unchanged,
        };
        self.push(e, found, (change, replaced(rec, m.as_ref())), m.as_ref());
        Ok(true)
    }

    /// Keep the entry unless it is unchanged (and those are not kept);
    /// `replaced`: see [`Item::replaced`].
    fn push(&self, e: &Entry<'_>, found: &mut Found<'a>, how: (Change, bool), m: Option<&Meta>) {
        let (change, replaced) = how;
        if change != Change::Unchanged || self.keep_unchanged {
            let sized = matches!(e.kind, Kind::File | Kind::Symlink);
            found.items.push(Item {
                path: e.path.to_vec(),
                kind: e.kind,
                change,
                size: m.filter(|_| sized).map_or(0, |m| m.size),
                ino: m.map_or(e.ino, |m| m.ino),
                nlink: m.map_or(1, |m| m.nlink),
                replaced,
            });
        }
    }

    /// No baseline: changed when the ctime is at or after the boot time; new
    /// unless the birth time says it existed before.
    fn since_boot(&self, m: &Meta) -> Change {
        let born_before = m.btime.is_some_and(|bt| bt.0 < self.btime);
        match (m.ctime.0 >= self.btime, born_before) {
            (false, _) => Change::Unchanged,
            (true, false) => Change::New,
            // An older directory's ctime moves with every entry added
            // inside; those entries are what is reported.
            (true, true) if m.kind() == Kind::Dir => Change::Unchanged,
            (true, true) => Change::Modified,
        }
    }
}

/// The boot time from `/proc/stat` (`btime`, Unix seconds). Read by hand:
/// procfs's `KernelStats` also insists on the CPU, `ctxt` and `processes`
/// lines, which a container's virtual `/proc/stat` (LXCFS) may trim.
pub fn boot_time() -> anyhow::Result<i64> {
    use anyhow::Context;
    let text = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .context("/proc/stat has no btime line")
}
