//! Entries and bytes of a tree (`persist`'s measure, `--orphans`, `boot`'s
//! seeds), on the one walker; and its files hard-linked from outside it.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use crate::sys::meta::{Kind, stat_at, stat_path};

use super::{Entry, Scope, Visit, default_threads, walk};

/// What [`usage`] counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Entries, the top included.
    pub entries: u64,
    /// Bytes of regular files, each inode once (as `du`: a file with two
    /// names in the tree is counted once).
    pub file_bytes: u64,
    /// What of `file_bytes` a copy writes: a sparse file's allocated bytes
    /// (`st_blocks` × 512; the copy leaves its holes out), each inode once.
    pub data_bytes: u64,
    /// Bytes of symlinks (their targets' lengths).
    pub link_bytes: u64,
    /// Regular files with more hard links than names in the tree: the
    /// others are outside it (or were added meanwhile). Sorted by path.
    pub linked_out: Vec<LinkedOut>,
}

/// A regular file of a tree that has hard links outside the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedOut {
    /// The first of its names in the tree (sorted), relative to the top
    /// (empty for a tree that is this one file).
    pub path: PathBuf,
    /// `st_dev`, `st_ino`.
    pub id: (u64, u64),
    /// Its link count (`st_nlink`).
    pub nlink: u32,
    /// How many of them are in the tree.
    pub inside: u32,
}

/// A multiply-linked file seen: (`st_dev`, `st_ino`), `st_nlink`, its
/// [`Bytes`], logical path.
type Linked = ((u64, u64), u32, Bytes, Vec<u8>);

/// An entry's size and the data bytes a copy of it writes ([`data`]).
#[derive(Debug, Clone, Copy, Default)]
struct Bytes {
    size: u64,
    data: u64,
}

/// The bytes of `m` as [`Usage`] counts them.
fn bytes(m: &crate::sys::meta::Meta) -> Bytes {
    Bytes {
        size: m.size,
        data: m.size.min(m.blocks.saturating_mul(512)),
    }
}

/// Per thread: the counts, and every multiply-linked file seen.
#[derive(Default)]
struct Acc {
    usage: Usage,
    linked: Vec<Linked>,
}

impl Usage {
    fn add(&mut self, kind: Kind, b: Bytes) {
        self.entries += 1;
        match kind {
            Kind::File => {
                self.file_bytes += b.size;
                self.data_bytes += b.data;
            }
            Kind::Symlink => self.link_bytes += b.size,
            _ => {}
        }
    }
}

struct CountUsage;

impl Visit for CountUsage {
    type Acc = Acc;
    fn visit(&self, e: &Entry<'_>, acc: &mut Acc) -> io::Result<bool> {
        let m = match e.kind {
            Kind::File | Kind::Symlink => stat_at(e.dir, e.name)?,
            _ => {
                acc.usage.add(e.kind, Bytes::default());
                return Ok(true);
            }
        };
        if e.kind == Kind::File && m.nlink > 1 {
            // Counted (entry and bytes) once all threads are done.
            let id = (m.dev, m.ino);
            acc.linked.push((id, m.nlink, bytes(&m), e.path.to_vec()));
            return Ok(true);
        }
        acc.usage.add(e.kind, bytes(&m));
        Ok(true)
    }
}

/// Entries and bytes of the tree at the host path `p`, on its filesystem,
/// without following symlinks, and its files linked from outside it.
/// Fails on the first entry it cannot read.
pub fn usage(p: &Path) -> anyhow::Result<Usage> {
    use anyhow::Context;
    let m = stat_path(p).with_context(|| format!("cannot stat {}", p.display()))?;
    let mut total = Usage::default();
    let mut linked = Vec::new();
    if m.kind() == Kind::File && m.nlink > 1 {
        linked.push(((m.dev, m.ino), m.nlink, bytes(&m), b"/".to_vec()));
    } else {
        total.add(m.kind(), bytes(&m));
    }
    if m.kind() == Kind::Dir {
        let (scope, count) = (Scope::tree(p), AtomicU64::new(0));
        let out = walk(&scope, &CountUsage, default_threads(), &count)?;
        if let Some((path, e)) = out.unreadable.first() {
            let shown = p.join(OsStr::from_bytes(&path[1..]));
            anyhow::bail!("cannot read {}: {e}", shown.display());
        }
        for a in out.accs {
            total.entries += a.usage.entries;
            total.file_bytes += a.usage.file_bytes;
            total.data_bytes += a.usage.data_bytes;
            total.link_bytes += a.usage.link_bytes;
            linked.extend(a.linked);
        }
    }
    // Each name is an entry; each inode's bytes count once.
    linked.sort_by(|a, b| (a.0, &a.3).cmp(&(b.0, &b.3)));
    let mut seen: HashMap<(u64, u64), usize> = HashMap::new();
    for (id, nlink, b, path) in linked {
        total.entries += 1;
        if let Some(&i) = seen.get(&id) {
            total.linked_out[i].inside += 1;
            continue;
        }
        total.file_bytes += b.size;
        total.data_bytes += b.data;
        let rel = PathBuf::from(OsStr::from_bytes(&path[1..]));
        seen.insert(id, total.linked_out.len());
        total.linked_out.push(LinkedOut {
            path: rel,
            id,
            nlink,
            inside: 1,
        });
    }
    total.linked_out.retain(|l| l.inside < l.nlink);
    total.linked_out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(total)
}

/// The names of the files `ids` (`st_dev`, `st_ino`) on the filesystem of
/// the root at `host_root`, other than below the logical path `tree`
/// (logical paths, by id; mount points pruned, so names hidden under a
/// mount are not found). One walk of the root's filesystem, a `statx` only
/// where `d_ino` matches.
pub fn other_names(
    host_root: &Path,
    tree: &Path,
    ids: &[(u64, u64)],
) -> anyhow::Result<HashMap<(u64, u64), Vec<PathBuf>>> {
    let inos: std::collections::HashSet<u64> = ids.iter().map(|i| i.1).collect();
    let mut found: HashMap<(u64, u64), Vec<PathBuf>> = HashMap::new();
    let mut scope = Scope::tree(host_root);
    scope.prune(tree);
    super::serial(&scope, b"/", |e| {
        if e.kind == Kind::File && inos.contains(&e.ino) {
            let m = stat_at(e.dir, e.name)?;
            if ids.contains(&(m.dev, m.ino)) {
                let p = PathBuf::from(OsStr::from_bytes(e.path));
                found.entry((m.dev, m.ino)).or_default().push(p);
            }
        }
        Ok(true)
    })?;
    found.values_mut().for_each(|v| v.sort());
    Ok(found)
}
