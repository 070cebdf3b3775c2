//! `diff` in O(changes): when the watcher has listed every path changed
//! since before the baseline's oldest record (`watch::changes`), only those
//! paths are looked at (and walked whole where a directory is new or
//! replaced, or the watcher stopped listening). Otherwise `diff` walks the
//! root and says why ([`Source::Walk`]).
//!
//! Observe ([`ask`]: the watcher's answer) → decide ([`vouch`], pure) →
//! apply ([`classify`]).

use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::OFlags;
use serde::Serialize;

use super::compare::{Classify, Found};
use crate::mountinfo::MountTable;
use crate::sys::meta::{Kind, stat_at};
use crate::walk::{self, Entry, Outcome, Scope, parent, under};
use crate::watch::changes;
pub use crate::watch::changes::List;

/// How `diff` found the changed entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Source {
    /// It walked the root.
    Walk {
        /// Why the watcher's list was not used.
        reason: String,
    },
    /// The watcher's list of changed paths.
    Watcher {
        /// The watcher's pid.
        pid: u32,
        /// Paths in its list.
        paths: u64,
        /// Directories walked whole (new or replaced, or not listened to).
        subtrees: u64,
    },
}

impl std::fmt::Display for Source {
    /// The line under the basis line: how the entries were found.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::human::count;
        match self {
            Source::Walk { reason } => write!(f, "found by: walking the root: {reason}"),
            Source::Watcher {
                pid,
                paths,
                subtrees,
            } => write!(
                f,
                "found by: the watcher's list (pid {pid}, complete since before the baseline): {} looked at, {} walked whole (--no-watcher walks the root)",
                count(*paths, "changed path", "changed paths"),
                count(*subtrees, "directory", "directories"),
            ),
        }
    }
}

/// How long `diff` waits for the watcher's answer.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(2);
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
pub const ALL_WALKS: &str = "--all compares watch.ignore paths, which the watcher does not track";

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
            "{} is no longer a mount point: what it covered is visible now, and no event announced it",
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

/// Ask the running watcher for its list: send it SIGUSR1 and wait (at most
/// [`ANSWER_WITHIN`]) for an answer to this process in `file`.
pub fn ask(file: &Path) -> Result<List, String> {
    let read = |what: &str| -> Result<Vec<u8>, String> {
        std::fs::read(file).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                "the watcher is not running (impermctl-watch.service)".into()
            }
            _ => format!("cannot read {} ({what}): {e}", file.display()),
        })
    };
    let bad = |e: anyhow::Error| format!("{} is damaged: {e:#}", file.display());
    let (pid, start, mut seq, _) = changes::header(&read("the watcher's list")?).map_err(bad)?;
    let alive = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .is_ok_and(|s| s.starttime == start);
    if !alive {
        return Err(format!(
            "the watcher that wrote {} (pid {pid}) is not running",
            file.display()
        ));
    }
    let me = std::process::id();
    let deadline = Instant::now() + ANSWER_WITHIN;
    let signal = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGUSR1,
        )
        .map_err(|e| format!("cannot ask the watcher (pid {pid}): {e}"))
    };
    signal()?;
    let mut nap = Duration::from_micros(200);
    loop {
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(5));
        let bytes = read("the watcher's answer")?;
        let (p, s, n, for_pid) = changes::header(&bytes).map_err(bad)?;
        if (p, s) != (pid, start) {
            return Err("the watcher was restarted while diff asked".into());
        }
        if n > seq && for_pid == me {
            return changes::decode(&bytes).map_err(bad);
        }
        if n > seq {
            // It answered someone else (signals to one process coalesce).
            seq = n;
            signal()?;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the watcher (pid {pid}) did not answer within {} s",
                ANSWER_WITHIN.as_secs()
            ));
        }
    }
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

/// The listed paths and subtrees that fall in `subtrees` (all when empty),
/// outside what `scope` leaves out.
fn wanted<'a>(scope: &'a Scope, subtrees: &'a [Vec<u8>]) -> impl Fn(&[u8]) -> bool + 'a {
    move |p| (subtrees.is_empty() || subtrees.iter().any(|s| under(s, p))) && !left_out(scope, p)
}

/// Classify the listed paths as the walk would, walking whole the listed
/// subtrees and every directory that is new or replaced. `Err`: too many
/// of those (a walk of the root is cheaper).
pub fn classify<'b>(
    scope: &Scope,
    visit: &Classify<'b>,
    list: &List,
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
    let mut whole: HashSet<Vec<u8>> = HashSet::new();
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
        true => linked_below(&scope.host_root, dev, &list.link_trees),
        false => linkable_ignored(root.as_fd(), dev, &list.ignore),
    };
    if let Some(why) = linked {
        return Ok(Err(why));
    }
    let mut found = Found::default();
    let mut unreadable = Vec::new();
    let mut dir: Option<(Vec<u8>, OwnedFd)> = None;
    let mut seen = 0u64;
    for (seq, p) in list.paths.iter().enumerate() {
        if !want(p) || ancestors(p).any(|a| whole.contains(a)) {
            continue;
        }
        let up = parent(p);
        if dir.as_ref().is_none_or(|(d, _)| d.as_slice() != up) {
            let rel = Path::new(OsStr::from_bytes(up.strip_prefix(b"/").unwrap_or(up)));
            dir = match crate::sys::fs::open_beneath(
                root.as_fd(),
                rel,
                OFlags::RDONLY | OFlags::DIRECTORY,
            ) {
                Ok(fd) => Some((up.to_vec(), fd)),
                // Gone, or a symlink on the way: the walk would not see it.
                Err(_) => None,
            };
        }
        let Some((_, fd)) = &dir else { continue };
        let name = CString::new(&p[up.len() + usize::from(up != b"/")..])?;
        let m = match stat_at(fd.as_fd(), name.as_c_str()) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                unreadable.push((p.clone(), e.to_string()));
                continue;
            }
        };
        if m.dev != dev {
            continue;
        }
        let kind = m.kind();
        // Other names may hold the same data, and the watcher named only
        // this one (a write through it changes them all).
        if kind == Kind::File && m.nlink > 1 {
            return Ok(Err(format!(
                "a changed file has other hard links: {}",
                crate::names::human(p)
            )));
        }
        if kind == Kind::Symlink && scope.skipped_symlink(fd.as_fd(), &name, p) {
            continue;
        }
        seen += 1;
        let e = Entry {
            dir: fd.as_fd(),
            name: &name,
            path: p,
            kind,
            ino: m.ino,
            // Every path its own: the baseline lookup starts afresh.
            dir_seq: u64::MAX - seq as u64,
        };
        let before = found.items.len();
        if let Err(e) = visit.visit_with(&e, &mut found, &|| Ok(m)) {
            unreadable.push((p.clone(), e.to_string()));
        }
        // A directory that is new or replaced: everything below is new (or
        // not what the baseline had there); the walk lists it, itself too.
        if kind == Kind::Dir && found.items.len() > before {
            found.items.truncate(before);
            whole.insert(p.clone());
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
        let w = walk::walk(&sub, visit, walk::default_threads(), count)?;
        out.accs.extend(w.accs);
        out.unreadable.extend(w.unreadable);
    }
    out.entries = count.load(Ordering::Relaxed);
    Ok(Ok((out, n)))
}

/// An ignored path (`watch.ignore`; not the watcher's own run directory)
/// on the root's filesystem (`dev`), itself or, when it does not exist, its
/// nearest existing ancestor: a hard link made there to a compared file,
/// and a write through it, would change that file without an event the
/// watcher sees (inotify does not watch there, fanotify ignores it). `None`:
/// every ignored path is on another filesystem (e.g. a tmpfs `/tmp`).
fn linkable_ignored(root: BorrowedFd<'_>, dev: u64, ignore: &[Vec<u8>]) -> Option<String> {
    ignore
        .iter()
        .filter(|i| i.as_slice() != crate::root::RUN_DIR.as_bytes())
        .find(|i| {
            let mut a: &[u8] = i;
            loop {
                let rel = a.strip_prefix(b"/").unwrap_or(a);
                let rel = if rel.is_empty() { &b"."[..] } else { rel };
                match crate::sys::fs::open_beneath(
                    root,
                    Path::new(OsStr::from_bytes(rel)),
                    OFlags::PATH,
                ) {
                    Ok(fd) => {
                        return crate::sys::meta::stat_fd(fd.as_fd()).is_ok_and(|m| m.dev == dev);
                    }
                    Err(_) if a != b"/" && !a.is_empty() => a = parent(a),
                    Err(_) => return true,
                }
            }
        })
        .map(|i| {
            format!(
                "the watcher does not watch {} (watch.ignore), on the filesystem diff compares: a hard link made there to a compared file goes unseen",
                crate::names::human(i)
            )
        })
}

/// A regular file with other links below the ignored directories whose
/// creations the watcher stopped hearing one by one (`link_trees`, logical;
/// `host_root` the root's host path), on the root's filesystem (`dev`):
/// why the list cannot stand for a walk. Symlinks are not followed.
fn linked_below(host_root: &Path, dev: u64, trees: &[Vec<u8>]) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let host = |l: &[u8]| host_root.join(OsStr::from_bytes(l.strip_prefix(b"/").unwrap_or(l)));
    let mut stack: Vec<PathBuf> = trees.iter().map(|t| host(t)).collect();
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && m.nlink() > 1 {
                let p = e.path();
                let rel = p.strip_prefix(host_root).unwrap_or(&p);
                return Some(format!(
                    "a file in a watch.ignore directory whose new names the watcher stopped hearing one by one has other hard links: /{}",
                    rel.display()
                ));
            }
        }
    }
    None
}

/// The strict ancestors of a logical path, nearest first (not `/`).
fn ancestors(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut a = p;
    std::iter::from_fn(move || {
        let up = parent(a);
        if up == a || up == b"/" {
            return None;
        }
        a = up;
        Some(up)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> List {
        List {
            since: (100, 0),
            mounts: vec![b"/p0".to_vec()],
            ignore: vec![b"/run/impermctl".to_vec()],
            ..List::default()
        }
    }

    /// `vouch` with the baseline's origin and mount points, the watcher's
    /// list, what is mounted now and what diff leaves out.
    fn check(
        all: bool,
        baseline: Option<BaselineFrame<'_>>,
        l: &List,
        now_mounted: &[&str],
    ) -> Result<(), String> {
        let mounted = |p: &[u8]| now_mounted.iter().any(|m| m.as_bytes() == p);
        let left_out = |p: &[u8]| p.starts_with(b"/run");
        vouch(&Frame {
            all,
            baseline,
            list: l,
            mounted: &mounted,
            left_out: &left_out,
        })
    }

    #[test]
    fn every_reason_not_to_use_the_list() {
        let bm = vec![b"/p1".to_vec()];
        let ok = Some((Some((100, 0)), bm.as_slice()));
        let both = ["/p0", "/p1"];
        assert_eq!(check(false, ok, &list(), &both), Ok(()));
        assert_eq!(
            check(false, Some((Some((200, 5)), &bm[..])), &list(), &both),
            Ok(()),
            "a baseline retaken later is fine"
        );
        let gap = List {
            gap: Some("inotify's watch limit leaves 3 directories unwatched".into()),
            ..list()
        };
        let ignored = List {
            ignore: vec![b"/srv/scratch".to_vec()],
            ..list()
        };
        let late = List {
            since: (100, 1),
            ..list()
        };
        let linked = List {
            gap: Some("a hard link was made: /srv/hl".into()),
            ..list()
        };
        let table: [(&str, Result<(), String>); 8] = [
            ("--all", check(true, ok, &list(), &both)),
            ("no baseline", check(false, None, &list(), &both)),
            (
                "does not say when",
                check(false, Some((None, &bm[..])), &list(), &both),
            ),
            ("watch limit", check(false, ok, &gap, &both)),
            (
                "after the baseline's oldest record",
                check(false, ok, &late, &both),
            ),
            (
                "/p1 is no longer a mount point",
                check(false, ok, &list(), &["/p0"]),
            ),
            (
                "does not watch /srv/scratch",
                check(false, ok, &ignored, &both),
            ),
            (
                "cannot vouch for its list: a hard link was made: /srv/hl",
                check(false, ok, &linked, &both),
            ),
        ];
        for (want, got) in table {
            let why = got.expect_err(want);
            assert!(why.contains(want), "{want}: {why}");
        }
        assert!(
            check(false, ok, &list(), &["/p1"])
                .unwrap_err()
                .contains("/p0 is no longer"),
            "the watcher's own mount points count too"
        );
        let devs = List {
            mounts: vec![b"/p0".to_vec(), b"/run/user/0".to_vec()],
            ..list()
        };
        assert_eq!(
            check(false, ok, &devs, &both),
            Ok(()),
            "a mount point where diff does not look (the watcher's private /run) does not count"
        );
    }

    /// The listed paths and subtrees give the walk's answer: a subtree the
    /// watcher stopped listening to, and a new directory whose content is
    /// not listed, are walked whole.
    #[test]
    fn listed_paths_and_subtrees_give_the_walks_answer() {
        use crate::baseline::{Baseline, Rec, encode};
        use crate::sys::meta::stat_path;
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        for d in ["a/deep", "b", "d"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        for f in ["a/x", "a/deep/y", "b/y", "d/same"] {
            std::fs::write(r.join(f), "1").unwrap();
        }
        let mut entries: Vec<(Vec<u8>, Rec)> = [
            "/a",
            "/a/deep",
            "/b",
            "/d",
            "/a/x",
            "/a/deep/y",
            "/b/y",
            "/d/same",
        ]
        .iter()
        .map(|p| {
            let m = stat_path(&r.join(&p[1..])).unwrap();
            let rec = Rec {
                kind: m.kind(),
                ino: m.ino,
                size: m.size,
                mtime: m.mtime,
                ctime: m.ctime,
            };
            (p.as_bytes().to_vec(), rec)
        })
        .collect();
        let b = Baseline::decode(encode(1, &mut entries)).unwrap();
        std::fs::write(r.join("a/deep/y"), "changed").unwrap();
        std::fs::write(r.join("b/new"), "n").unwrap();
        std::fs::create_dir_all(r.join("c/sub")).unwrap();
        std::fs::write(r.join("c/sub/z"), "z").unwrap();
        let scope = Scope::tree(r);
        let visit = Classify {
            baseline: Some(&b),
            btime: 0,
            keep_unchanged: false,
        };
        let list = List {
            // /c is new; what it holds is not listed. /d/same is unchanged.
            paths: vec![
                b"/b/new".to_vec(),
                b"/c".to_vec(),
                b"/d/same".to_vec(),
                b"/gone".to_vec(),
            ],
            trees: vec![b"/a".to_vec()],
            ..List::default()
        };
        let got = |o: Outcome<Found<'_>>| {
            let mut v: Vec<(Vec<u8>, super::super::Change)> = o
                .accs
                .into_iter()
                .flat_map(|f| f.items)
                .map(|i| (i.path, i.change))
                .collect();
            v.sort();
            v
        };
        let (fast, n) = classify(&scope, &visit, &list, &[], &AtomicU64::new(0))
            .unwrap()
            .unwrap();
        assert_eq!(n, 2, "/a and /c walked whole");
        let walked = walk::walk(&scope, &visit, 2, &AtomicU64::new(0)).unwrap();
        let (fast, walked) = (got(fast), got(walked));
        assert_eq!(fast, walked);
        let paths: Vec<&[u8]> = fast.iter().map(|(p, _)| p.as_slice()).collect();
        assert_eq!(
            paths,
            [&b"/a/deep/y"[..], b"/b/new", b"/c", b"/c/sub", b"/c/sub/z"]
        );
        // Restricted to PATH /c: only what is under it.
        let only_c = [PathBuf::from("/c")];
        let (o, _) = classify(&scope, &visit, &list, &only_c, &AtomicU64::new(0))
            .unwrap()
            .unwrap();
        assert_eq!(got(o).len(), 3);
    }

    /// A listed file with other names, and an ignored path on the compared
    /// filesystem (or missing, its parent there): the list cannot stand
    /// for a walk. The watcher's run directory and other filesystems can.
    #[test]
    fn hard_links_the_list_cannot_see_make_diff_walk() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        std::fs::create_dir_all(r.join("srv")).unwrap();
        std::fs::create_dir_all(r.join("tmp")).unwrap();
        std::fs::write(r.join("srv/f"), "1").unwrap();
        std::fs::write(r.join("srv/one"), "1").unwrap();
        std::fs::hard_link(r.join("srv/f"), r.join("srv/g")).unwrap();
        let scope = Scope::tree(r);
        let visit = Classify {
            baseline: None,
            btime: 0,
            keep_unchanged: false,
        };
        let fast = |paths: &[&str], ignore: &[&str]| {
            let list = List {
                paths: paths.iter().map(|p| p.as_bytes().to_vec()).collect(),
                ignore: ignore.iter().map(|p| p.as_bytes().to_vec()).collect(),
                ..List::default()
            };
            classify(&scope, &visit, &list, &[], &AtomicU64::new(0))
                .unwrap()
                .err()
        };
        assert_eq!(fast(&["/srv/one"], &[crate::root::RUN_DIR]), None);
        let rows: [(&[&str], &[&str], &str); 4] = [
            (
                &["/srv/g"],
                &[],
                "a changed file has other hard links: /srv/g",
            ),
            (
                &["/srv/one"],
                &["/tmp"],
                "does not watch /tmp (watch.ignore)",
            ),
            (&["/srv/one"], &["/var/tmp"], "does not watch /var/tmp"),
            (&[], &["/srv/f"], "does not watch /srv/f"),
        ];
        for (paths, ignore, want) in rows {
            let why = fast(paths, ignore).unwrap_or_default();
            assert!(why.contains(want), "{paths:?} {ignore:?}: {why}");
        }
        // The watcher hears names made in /tmp (and stops vouching at a
        // link): the ignored path no longer makes diff walk.
        let heard = List {
            paths: vec![b"/srv/one".to_vec()],
            ignore: vec![b"/tmp".to_vec()],
            ignored_links_heard: true,
            ..List::default()
        };
        let r2 = classify(&scope, &visit, &heard, &[], &AtomicU64::new(0)).unwrap();
        assert!(r2.is_ok(), "{:?}", r2.err());
        let dev = crate::sys::meta::stat_path(r).unwrap().dev;
        let root = crate::sys::fs::open_dir(r).unwrap();
        assert_eq!(
            linkable_ignored(root.as_fd(), dev + 1, &[b"/tmp".to_vec()]),
            None,
            "on another filesystem: no link reaches a compared file"
        );
    }

    #[test]
    fn ancestors_stop_below_the_root() {
        let a: Vec<&[u8]> = ancestors(b"/a/b/c").collect();
        assert_eq!(a, vec![&b"/a/b"[..], b"/a"]);
        assert_eq!(ancestors(b"/a").count(), 0);
    }
}
