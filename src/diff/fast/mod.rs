//! `diff` in O(changes): when the watcher has listed every path changed
//! since before the baseline's oldest record (`watch::changes`), only those
//! paths are looked at (and walked whole where a directory is new or
//! replaced, or the watcher stopped listening). Otherwise `diff` walks the
//! root and says why ([`Source::Walk`]).
//!
//! Observe ([`ask`]: the watcher's answer) → decide ([`vouch`], pure) →
//! apply ([`classify`]).

use std::ffi::{CStr, OsStr};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::compare::{Classify, Found};
use crate::baseline::Rec;
use crate::mountinfo::MountTable;
use crate::sys::meta::{Kind, stat_at};
use crate::walk::{self, Entry, Outcome, Scope, parent, under};
pub use crate::watch::changes::{FileId, List};

mod answer;
mod dirs;
mod links;
pub mod mapped;
mod sorted;
mod source;
mod verdicts;

pub use answer::{ask, file_id, known};
pub use source::Source;

/// Paths this long or longer are reached one directory at a time
/// (`PATH_MAX` is 4,096 bytes with its NUL).
const LONG: usize = 4_000;

/// More directories to walk whole than this: one walk of the root is cheaper.
pub const MAX_SUBTREES: usize = 256;

/// What the baseline says frames its records: its origin (no record is
/// older; `None` for a version 1 file) and the mount points its walks left out.
pub type BaselineFrame<'a> = (Option<(i64, u32)>, &'a [Vec<u8>]);

/// What decides whether the list stands for a walk.
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    /// `--all`: unchanged and ignored entries are listed too.
    pub all: bool,
    /// The baseline's origin and mount points, if there is a baseline.
    pub baseline: Option<BaselineFrame<'a>>,
    /// The watcher's answer.
    pub list: &'a List,
    /// Is this logical path a mount point now?
    pub mounted: &'a dyn Fn(&[u8]) -> bool,
    /// Does diff leave this logical path out (at or below a pruned path)?
    pub left_out: &'a dyn Fn(&[u8]) -> bool,
}

/// Why `--all` walks: what it adds is what the watcher's list leaves out.
pub const ALL_WALKS: &str = "--all lists unchanged entries and compares watch.ignore paths, where the watcher keeps names but does not hear writes";

/// Can the watcher's list stand for a walk? `Err` says why not.
pub fn vouch(f: &Frame<'_>) -> Result<(), String> {
    let show = |p: &[u8]| crate::names::human(p);
    if f.all {
        return Err(ALL_WALKS.into());
    }
    let Some((origin, mounts)) = f.baseline else {
        return Err("there is no baseline to hold the watcher's list against".into());
    };
    let Some(origin) = origin else {
        return Err("the baseline does not say when its records were taken (written by an older impermctl; `impermctl baseline` retakes it)".into());
    };
    if let Some(g) = &f.list.gap {
        return Err(format!("the watcher cannot vouch for its list: {g}"));
    }
    if f.list.since > origin {
        return Err(format!(
            "the watcher's list starts at {}, after the baseline's oldest record ({}): the baseline was taken before what the watcher can look back on",
            crate::human::local_time(f.list.since.0),
            crate::human::local_time(origin.0)
        ));
    }
    // A mount point gone from where diff looks (not from /dev, /run…, which
    // it leaves out anyway, nor one only the watcher's namespace had there).
    let gone = |m: &&Vec<u8>| !(f.mounted)(m) && !(f.left_out)(m);
    if let Some(m) = mounts.iter().chain(&f.list.mounts).find(gone) {
        return Err(format!(
            "{} is no longer a mount point (unmounted, or moved along with a directory above it): no event announced what is there now",
            show(m)
        ));
    }
    if let Some(i) = f.list.ignore.iter().find(|i| !(f.left_out)(i)) {
        return Err(format!(
            "the watcher does not watch {} (watch.ignore when it started), which diff compares",
            show(i)
        ));
    }
    Ok(())
}

/// Is `p` (logical) or one of its ancestors pruned by `scope`?
pub fn left_out(scope: &Scope, p: &[u8]) -> bool {
    let mut a = p;
    loop {
        if scope.is_pruned(a) {
            return true;
        }
        if a == b"/" || a.is_empty() {
            return false;
        }
        a = parent(a);
    }
}

/// Is the logical path `p` a mount point in `mounts`?
pub fn mounted(mounts: &MountTable, p: &[u8]) -> bool {
    mounts.is_mount_point(Path::new(OsStr::from_bytes(p)))
}

/// Is `p` in `subtrees` (all when empty)?
fn in_subtrees(subtrees: &[Vec<u8>], p: &[u8]) -> bool {
    subtrees.is_empty() || subtrees.iter().any(|s| under(s, p))
}

/// The listed paths and subtrees that fall in `subtrees` (all when empty),
/// outside what `scope` leaves out.
fn wanted<'a>(scope: &'a Scope, subtrees: &'a [Vec<u8>]) -> impl Fn(&[u8]) -> bool + 'a {
    move |p| in_subtrees(subtrees, p) && !left_out(scope, p)
}

/// Classify the listed paths as the walk would, walking whole the listed
/// subtrees and every directory that is new or replaced; each path's
/// baseline record from `known` ([`known`]) when given, else looked up.
/// `Err`: too many of those directories (a walk of the root is cheaper).
pub fn classify<'b>(
    scope: &Scope,
    visit: &Classify<'b>,
    list: &List,
    known: Option<&[Option<Rec>]>,
    subtrees: &[PathBuf],
    count: &AtomicU64,
) -> anyhow::Result<Result<(Outcome<Found<'b>>, u64), String>> {
    let subs: Vec<Vec<u8>> = subtrees
        .iter()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .collect();
    let want = wanted(scope, &subs);
    let root = crate::sys::fs::open_dir(&scope.host_root)?;
    let dev = crate::sys::meta::stat_fd(root.as_fd())?.dev;
    let mut whole: foldhash::HashSet<Vec<u8>> = Default::default();
    for t in &list.trees {
        if want(t) {
            whole.insert(t.clone());
        } else if let Some(s) = subs.iter().find(|s| under(t, s)) {
            whole.insert(s.clone());
        }
    }
    // Unless the watcher hears every name made there (and stops vouching
    // at a hard link), an ignored path on the compared filesystem may hold
    // a link to a compared file.
    let linked = match list.ignored_links_heard {
        true => links::linked_below(&scope.host_root, dev, &list.link_trees),
        false => links::linkable_ignored(root.as_fd(), dev, &list.ignore),
    };
    if let Some(why) = linked {
        return Ok(Err(why));
    }
    let mut found = Found::default();
    found.items.reserve(list.paths.len());
    let mut unreadable = Vec::new();
    let mut seen = 0u64;
    let mut cname = Vec::with_capacity(256);
    // Listed paths that are not directories now (e.g. a directory replaced
    // by a symlink): nothing is looked at below them.
    let mut not_dirs: foldhash::HashSet<&[u8]> = Default::default();
    let mut dirs = dirs::Chain::new(root.as_fd());
    // The parent's verdict (left out, in a directory walked whole, or below
    // one that is not a directory) is every path's in it: the paths come
    // sorted, so one look per directory, and per ancestor while shared.
    let mut verdicts = verdicts::Verdicts::new(scope.is_pruned(b"/"));
    for (seq, p) in list.paths.iter().enumerate() {
        let up = parent(p);
        let up_out = verdicts.of(up, |a| {
            scope.is_pruned(a) || whole.contains(a) || not_dirs.contains(a)
        });
        // An ancestor of the subtrees asked for is looked at only to know
        // whether it is still a directory.
        let above = !in_subtrees(&subs, p) && subs.iter().any(|s| under(p, s));
        if up_out || scope.is_pruned(p) || !(above || in_subtrees(&subs, p)) {
            continue;
        }
        // Stat'ed by its whole path from the root, without opening the
        // directories on the way: a symlink there would be followed, but
        // every directory the list names is real where it was heard
        // (fanotify resolves handles, inotify and the rescans never follow
        // links) and one replaced since is listed itself, sorted before
        // what is below it, and found not to be a directory (`not_dirs`).
        // Past `PATH_MAX` the directory is opened one name at a time.
        let (at, from) = match p.len() < LONG {
            true => (root.as_fd(), &b"/"[..]),
            false => match dirs.get(up) {
                Some(fd) => (fd, up),
                None => continue,
            },
        };
        cname.clear();
        cname.extend_from_slice(&p[from.len() + usize::from(from != b"/")..]);
        cname.push(0);
        let rel = CStr::from_bytes_with_nul(&cname)?;
        let m = match stat_at(at, rel) {
            Ok(m) => m,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                continue;
            }
            Err(e) => {
                unreadable.push((p.clone(), e.to_string()));
                continue;
            }
        };
        let kind = m.kind();
        // (Sorted: what is below `p` follows it, after the names that
        // extend it with a byte before `/`.)
        let below = |x: &&Vec<u8>| x.starts_with(p) && x.get(p.len()).is_some_and(|&c| c <= b'/');
        if kind != Kind::Dir
            && list.paths[seq + 1..]
                .iter()
                .take_while(below)
                .any(|x| x[p.len()] == b'/')
        {
            not_dirs.insert(p);
            verdicts.forget();
        }
        if m.dev != dev || above {
            continue;
        }
        let name = CStr::from_bytes_with_nul(
            &cname[cname.len() - 1 - (p.len() - up.len() - usize::from(up != b"/"))..],
        )?;
        // Other names may hold the same data, and the watcher named only
        // this one (a write through it changes them all) — unless the inode
        // is as the baseline recorded it: a write or a new or removed name
        // since would have moved its ctime. (A root populated just before
        // the baseline is listed whole by the watcher's start-up rescan,
        // hard-linked files included.)
        let rec = |b: &crate::baseline::Baseline| match known {
            Some(k) => k[seq],
            None => b.get(p),
        };
        if kind == Kind::File
            && m.nlink > 1
            && !visit.baseline.and_then(rec).is_some_and(|r| r.matches(&m))
        {
            return Ok(Err(format!(
                "a changed file has other hard links: {}",
                crate::names::human(p)
            )));
        }
        if kind == Kind::Symlink && scope.skipped_symlink(at, rel, p) {
            continue;
        }
        seen += 1;
        // `dir` is not the entry's directory: the entry was stat'ed above,
        // and `name` serves only the baseline lookup by name.
        let e = Entry {
            dir: root.as_fd(),
            name,
            path: p,
            kind,
            ino: m.ino,
            // Every path its own: the baseline lookup starts afresh.
            dir_seq: u64::MAX - seq as u64,
        };
        let before = found.items.len();
        let r = match (known, visit.baseline) {
            (Some(k), Some(_)) => visit.visit_known(&e, &mut found, k[seq], &|| Ok(m)),
            _ => visit.visit_with(&e, &mut found, &|| Ok(m)),
        };
        if let Err(e) = r {
            unreadable.push((p.clone(), e.to_string()));
        }
        // A directory that is new or replaced: everything below is new (or
        // not what the baseline had there); the walk lists it, itself too.
        if kind == Kind::Dir && found.items.len() > before {
            found.items.truncate(before);
            whole.insert(p.clone());
            verdicts.forget();
        }
    }
    count.fetch_add(seen, Ordering::Relaxed);
    if whole.len() > MAX_SUBTREES {
        return Ok(Err(format!(
            "{} directories are new or replaced: one walk of the root is cheaper",
            crate::human::thousands(whole.len() as u64)
        )));
    }
    let n = whole.len() as u64;
    let mut out = Outcome {
        accs: vec![found],
        unreadable,
        entries: seen,
    };
    if !whole.is_empty() {
        let mut sub = scope.clone();
        let mut trees: Vec<Vec<u8>> = whole.into_iter().collect();
        trees.sort();
        sub.set_subtrees(trees);
        let w = walk::walk_auto(&sub, visit, count)?;
        let more = w.accs.into_iter().flat_map(|f| f.items).collect();
        sorted::merge(&mut out.accs[0].items, more);
        out.unreadable.extend(w.unreadable);
    }
    out.entries = count.load(Ordering::Relaxed);
    Ok(Ok((out, n)))
}

#[cfg(test)]
mod tests;
