//! Gathering the planner's facts from a live tree: what is at each target
//! and source (looked up fd-relative, never through a symlink) and what is
//! mounted on each target (from the mount table, indexed once).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::FileType;
use rustix::io::Errno;

use crate::config::{Entry, Kind, Settings};
use crate::mountinfo::MountTable;
use crate::plan::{Facts, Mounted, Node, Observed};
use crate::root::{Root, rel};
use crate::state::Recorded;
use crate::sys::fs;

/// What is mounted on `target`, judged against its expected `source`:
/// a bind of it ([`MountTable::is_bind_of`]), something else, or nothing.
pub fn mounted(t: &MountTable, target: &Path, source: &Path) -> Mounted {
    match t.at(target) {
        None => Mounted::No,
        Some(m) if t.is_bind_of(m, source) => Mounted::FromSource,
        Some(m) => Mounted::Foreign {
            source: m.source.clone(),
            root: m.root.clone(),
        },
    }
}

/// Is the recorded `r` of an earlier run of this boot still in place: its
/// path bound from its recorded source (a mount of its own, not the one
/// holding the source: a record is not trusted), or a symlink to it? (An
/// entry that left the config stays so until the next boot: `cli::boot`.)
pub fn in_place(h: &Handles, t: &MountTable, r: &Recorded) -> bool {
    match r.how {
        crate::state::How::Bound => {
            let own = |at: &crate::mountinfo::Mount| {
                t.containing(&r.source).is_none_or(|h| h.id != at.id)
            };
            mounted(t, &r.path, &r.source) == Mounted::FromSource && t.at(&r.path).is_some_and(own)
        }
        crate::state::How::Linked => {
            node(h.root.as_fd(), rel(&r.path), &r.path, false)
                == (Node::Symlink {
                    to: r.source.clone(),
                })
        }
        _ => false,
    }
}

/// Explain an error from a lookup of `rel` beneath `dir` (shown as `shown`):
/// for `ELOOP`, name the symlink that stopped it.
pub fn explain(dir: BorrowedFd<'_>, rel: &Path, shown: &Path, e: &io::Error) -> String {
    let eloop = e.raw_os_error() == Some(Errno::LOOP.raw_os_error());
    if !eloop && e.raw_os_error() != Some(Errno::NOTDIR.raw_os_error()) {
        return format!("{}: {e}", shown.display());
    }
    // O_NOFOLLOW on a final symlink says ENOTDIR or ELOOP: find the link.
    let n = rel.components().count();
    for k in 1..=n {
        let prefix: PathBuf = rel.components().take(k).collect();
        if let Ok(Some(m)) = fs::lstat_beneath(dir, &prefix)
            && m.file_type == FileType::Symlink
        {
            let to = fs::readlink_beneath(dir, &prefix).unwrap_or_default();
            let (at, to) = (shown.ancestors().nth(n - k).unwrap_or(shown), to.display());
            return format!(
                "{} is a symlink (to {to}); impermctl never follows symlinks in persisted paths: replace it with a directory",
                at.display()
            );
        }
    }
    match eloop {
        true => format!("a symlink on the path of {} was refused", shown.display()),
        false => format!("a parent of {} is not a directory", shown.display()),
    }
}

/// What is at `rel` beneath `dir` (`shown` is the path for messages).
/// `deep`: look inside directories to tell empty from not (else they count as empty).
pub fn node(dir: BorrowedFd<'_>, rel: &Path, shown: &Path, deep: bool) -> Node {
    let m = match fs::lstat_beneath(dir, rel) {
        Ok(None) => return Node::Missing,
        Ok(Some(m)) => m,
        Err(e) => {
            return Node::Blocked {
                why: explain(dir, rel, shown, &e),
            };
        }
    };
    match m.file_type {
        FileType::Directory => {
            let empty = !deep || crate::sys::dir::is_empty(dir, rel).unwrap_or(false);
            Node::Dir { empty }
        }
        FileType::RegularFile => Node::File { len: m.size },
        FileType::Symlink => Node::Symlink {
            to: fs::readlink_beneath(dir, rel).unwrap_or_default(),
        },
        _ => Node::Other,
    }
}

/// Open handles on the root and the persistence roots.
#[derive(Debug)]
pub struct Handles {
    /// The root (open for reading).
    pub root: OwnedFd,
    /// Each persistence root, opened beneath the root without symlinks.
    pub persist: HashMap<PathBuf, Result<OwnedFd, String>>,
}

impl Handles {
    /// Open the root and every persistence root of `settings`.
    pub fn open(root: &Root, settings: &Settings) -> anyhow::Result<Handles> {
        let rfd = fs::open_dir(root.dir())
            .with_context(|| format!("cannot open the root {}", root.dir().display()))?;
        let mut persist = HashMap::new();
        for r in &settings.roots {
            let fd = fs::open_beneath(rfd.as_fd(), rel(&r.path), super::ops::DIR)
                .map_err(|e| explain(rfd.as_fd(), rel(&r.path), &r.path, &e));
            persist.insert(r.path.clone(), fd);
        }
        Ok(Handles { root: rfd, persist })
    }

    /// The fd of persistence root `p`.
    pub fn persist(&self, p: &Path) -> Result<BorrowedFd<'_>, String> {
        match self.persist.get(p) {
            Some(Ok(fd)) => Ok(fd.as_fd()),
            Some(Err(e)) => Err(e.clone()),
            None => Err(format!("{} is not a persistence root", p.display())),
        }
    }
}

/// What is at an entry's target and source (looked at through the fds).
pub fn probe_entry(h: &Handles, e: &Entry) -> (Node, Node) {
    let target = node(h.root.as_fd(), rel(&e.path), &e.path, true);
    let source = match h.persist(&e.root) {
        Ok(pfd) => {
            let srel = super::ops::srel(e);
            match node(pfd, srel, &e.source, true) {
                Node::Missing if e.kind == crate::config::Kind::File => {
                    match fs::lstat_beneath(pfd, super::ops::parent_of(srel)) {
                        Ok(None) => Node::MissingParent,
                        _ => Node::Missing,
                    }
                }
                Node::Dir { empty: false } if crate::copy::fill::only_partial(pfd, srel) => {
                    Node::Dir { empty: true }
                }
                n => n,
            }
        }
        Err(why) => Node::Blocked { why },
    };
    (target, source)
}

/// Where the data of the directory entry `e` really is, when that is not
/// what binding `e` would keep (refused, see `plan::links`): behind its
/// link ([`crate::plan::dir_link_data`]), or, with nothing at the target
/// nor at its source, in the persistent `private/NAME` of a `DynamicUser=`
/// service declared as `/var/lib/NAME` (the service has not started since
/// the reboot, so systemd has not made its link yet): a directory bound at
/// `/var/lib/NAME` would make systemd fail to start the service.
pub fn link_data(
    h: &Handles,
    settings: &Settings,
    mounts: &MountTable,
    e: &Entry,
    target: &Node,
    source: &Node,
) -> Option<PathBuf> {
    if let Some(data) = crate::plan::dir_link_data(settings, mounts, e, target, source) {
        return Some(data);
    }
    let missing = matches!(source, Node::Missing | Node::MissingParent);
    let name = e.path.file_name()?;
    let private = Path::new("private").join(name);
    if e.kind != crate::config::Kind::Directory
        || *target != Node::Missing
        || !missing
        || !crate::walk::systemd_private_link(&e.path, &private)
    {
        return None;
    }
    let data = e.path.parent()?.join(private);
    let pfd = h.persist(&e.root).ok()?;
    let held = matches!(node(pfd, rel(&data), &data, false), Node::Dir { .. });
    (held && !settings.is_persisted(&data)).then_some(data)
}

/// What to do about the declared entry `e` of `settings`, which is not in
/// place ([`crate::plan::advice::not_in_place`]), from what is at its path
/// and source now (probed through `h`, as `boot` would with nothing
/// mounted there). `written`: as if its path held data (the watcher says
/// it after a write there, and keeps saying it).
pub fn advice(
    h: &Handles,
    settings: &Settings,
    mounts: &MountTable,
    e: &Entry,
    written: bool,
) -> String {
    let (mut target, source) = probe_entry(h, e);
    if written {
        target = match (e.kind, target) {
            (Kind::Directory, Node::Missing | Node::Dir { .. }) => Node::Dir { empty: false },
            (Kind::File, Node::Missing | Node::File { len: 0 }) => Node::File { len: 1 },
            (_, t) => t,
        };
    }
    let link_data = link_data(h, settings, mounts, e, &target, &source);
    let f = Facts {
        spare: (!written).then(|| spare(h, e, &target, &source)).flatten(),
        target,
        source,
        mounted: Mounted::No,
        link_data,
    };
    crate::plan::advice::not_in_place(settings, e, &f)
}

/// Whether the live data at `e`'s target holds nothing to keep
/// ([`crate::live::keep::nothing_to_keep`]), looked at only where the
/// plan would keep it aside: both the target and the source hold data.
fn spare(h: &Handles, e: &Entry, target: &Node, source: &Node) -> Option<crate::plan::Spare> {
    let data = matches!(target, Node::Dir { empty: false } | Node::File { len: 1.. })
        && matches!(source, Node::Dir { empty: false } | Node::File { .. });
    let pfd = h.persist(&e.root).ok().filter(|_| data)?;
    crate::live::keep::nothing_to_keep(h.root.as_fd(), pfd, e)
}

/// Gather the planner's facts for every entry (`previous`: the record of
/// the last run of this boot, for the entries it names).
pub fn gather(
    h: &Handles,
    settings: &Settings,
    mounts: &MountTable,
    previous: Vec<Recorded>,
) -> Observed {
    // Collected, not inserted one by one: the entries come sorted, and a
    // bulk build skips thousands of `Path` comparisons.
    let entries = settings.entries.iter().map(|e| {
        let previous = &previous;
        let mounted = mounted(mounts, &e.path, &e.source);
        let (target, source) = match mounted {
            Mounted::No => probe_entry(h, e),
            _ => (Node::Unprobed, Node::Unprobed),
        };
        // Widened over bound nested entries: their sources are the live
        // data, so it is seeded around them (trial s11 N9).
        let full = Node::Dir { empty: false };
        let source = match source {
            Node::Dir { empty: false }
                if target == full && only_nested(h, settings, mounts, previous, e) =>
            {
                Node::Dir { empty: true }
            }
            s => s,
        };
        let link_data = link_data(h, settings, mounts, e, &target, &source);
        let f = Facts {
            spare: spare(h, e, &target, &source),
            target,
            source,
            mounted,
            link_data,
        };
        (e.path.clone(), f)
    });
    let mut obs = Observed {
        entries: entries.collect(),
        ..Observed::default()
    };
    gather_moved(h, settings, mounts, &previous, &mut obs);
    obs.previous = previous;
    obs
}

/// Entries whose recorded source (previous run of this boot) differs from
/// the configured one: what is at both sources, and whether the target is
/// still bound from the previous one.
fn gather_moved(
    h: &Handles,
    settings: &Settings,
    mounts: &MountTable,
    previous: &[Recorded],
    obs: &mut Observed,
) {
    let prev: HashMap<&Path, &Recorded> = previous.iter().map(|r| (r.path.as_path(), r)).collect();
    for e in &settings.entries {
        let Some(r) = prev.get(&*e.path).filter(|r| r.source != e.source) else {
            continue;
        };
        let old = node(h.root.as_fd(), rel(&r.source), &r.source, true);
        let (_, new) = probe_entry(h, e);
        let m = crate::plan::MovedFrom {
            from: r.source.clone(),
            how: r.how,
            old,
            new,
            bound_old: mounted(mounts, &e.path, &r.source) == Mounted::FromSource,
        };
        obs.moved.insert(e.path.clone(), m);
    }
    // After a reboot there is no record: an entry whose source is missing
    // while exactly one other configured root holds data at its path (moved
    // to another root, then rebooted) is migrated from there.
    for e in &settings.entries {
        if prev.contains_key(e.path.as_path()) || mounts.is_mount_point(&e.path) {
            continue;
        }
        let missing = |f: &&Facts| matches!(f.source, Node::Missing | Node::MissingParent);
        let Some(Facts { source, .. }) = obs.entries.get(&e.path).filter(missing) else {
            continue;
        };
        let mut found = settings
            .roots
            .iter()
            .filter(|r| r.path != e.root)
            .filter_map(|r| {
                let from = r.path.join(rel(&e.path));
                let pfd = h.persist(&r.path).ok()?;
                let old = node(pfd, rel(&e.path), &from, true);
                let data = matches!(old, Node::Dir { empty: false } | Node::File { .. });
                // Only what impermctl made there for entries declared inside
                // (a second root's file in this directory, N18): not moved.
                let at = (r.path.as_path(), e.path.as_path(), from.as_path());
                let theirs = || only_nested_at(pfd, settings, mounts, &[], at);
                (data && from != e.source && !theirs()).then_some((from, old))
            });
        if let (Some((from, old)), None) = (found.next(), found.next()) {
            let m = crate::plan::MovedFrom {
                from,
                how: crate::state::How::Bound,
                old,
                new: source.clone(),
                bound_old: false,
            };
            obs.moved.insert(e.path.clone(), m);
        }
    }
}

/// Does the persistent source of the directory entry `e` hold nothing but
/// what impermctl made for entries declared inside it (same root): their
/// sources, each bound on its target now (so it is the very data live
/// there), the parent directories of those sources, and what an
/// interrupted seed left ([`crate::copy::fill`] markers)? Such a source
/// is no other version of `e`'s data: the live data is seeded around it
/// ([`crate::copy::fill::merge_at`]) instead of being kept aside.
pub fn only_nested(
    h: &Handles,
    settings: &Settings,
    mounts: &MountTable,
    previous: &[Recorded],
    e: &Entry,
) -> bool {
    let at = (e.root.as_path(), e.path.as_path(), e.source.as_path());
    e.kind == Kind::Directory
        && h.persist(&e.root)
            .is_ok_and(|pfd| only_nested_at(pfd, settings, mounts, previous, at))
}

/// [`only_nested`] for the directory `path` in the persistence `root`
/// (open at `pfd`), its copy there `source`: `(root, path, source)`, all
/// logical. False when `source` cannot be opened.
pub fn only_nested_at(
    pfd: BorrowedFd<'_>,
    settings: &Settings,
    mounts: &MountTable,
    previous: &[Recorded],
    (root, path, source): (&Path, &Path, &Path),
) -> bool {
    let inside = |p: &Path, s: &Path| p != path && p.starts_with(path) && s.starts_with(source);
    let copy = |n: &&Entry| n.kind == Kind::File && n.method == crate::config::FileMethod::Copy;
    let bound = |n: &&Entry| mounted(mounts, &n.path, &n.source) == Mounted::FromSource;
    let declared = (settings.entries.iter())
        .filter(|n| n.root == root && inside(&n.path, &n.source))
        .filter(|n| copy(n) || bound(n))
        .map(|n| n.source.as_path());
    // An entry declared until now (the widened config dropped it): a copy
    // file (its source is its saved copy, the live file the newer
    // version), or one still bound from its source (trial s11 N29).
    let left = |r: &&Recorded| match r.how {
        crate::state::How::Copied => true,
        crate::state::How::Bound => mounted(mounts, &r.path, &r.source) == Mounted::FromSource,
        _ => false,
    };
    let copied = (previous.iter())
        .filter(|r| inside(&r.path, &r.source))
        .filter(left)
        .map(|r| r.source.as_path());
    let nested: Vec<&Path> = declared.chain(copied).collect();
    let srel = source.strip_prefix(root).unwrap_or(source);
    let Ok(top) = crate::sys::dir::open(pfd, srel) else {
        return false;
    };
    !nested.is_empty() && holds_only(top.as_fd(), source, &nested)
}

/// [`only_nested`] below the open directory `d` (at `at`).
fn holds_only(d: BorrowedFd<'_>, at: &Path, nested: &[&Path]) -> bool {
    use crate::copy::fill::{BUILDING, FILLING};
    let Ok(names) = crate::sys::dir::names(d) else {
        return false;
    };
    names.iter().all(|n| {
        let p = at.join(n);
        if nested.contains(&p.as_path()) || n == BUILDING || n == FILLING {
            return true;
        }
        let parent = nested.iter().any(|s| s.starts_with(&p));
        let is_dir = crate::sys::meta::stat_at(d, n.as_os_str())
            .is_ok_and(|m| m.file_type == FileType::Directory);
        parent
            && is_dir
            && crate::sys::dir::open(d, n).is_ok_and(|c| holds_only(c.as_fd(), &p, nested))
    })
}
