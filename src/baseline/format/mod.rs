//! The on-disk format of the baseline (`/run/impermctl/baseline`) and
//! lookups in it.
//!
//! Format (little-endian): the magic line `IMPERMCTL-BASELINE\n`, `u32`
//! version (3), `i64` creation time (Unix seconds), the origin (`i64`
//! seconds, `i64::MIN` when unknown, `u32` nanoseconds: no record was taken
//! before it), the mount points pruned by the walks that took the records
//! (`u32` count, each `u16` length and the logical path), `u64` directory
//! count,
//! then per directory: `u16` path length, its logical path, `u32` entry
//! count, `u32` byte length of its entries, the entries in the order the
//! directory listed them (`u8` type, `u16` name length, the name, `u64`
//! inode, `u64` size, `i64`+`u32` mtime, `i64`+`u32` ctime), then `u32`
//! offsets (from the first entry) of the entries sorted by name. Names and
//! paths are raw bytes (newlines and invalid UTF-8 survive). Version 3
//! ends with a directory index and a trailer (`index`): [`Baseline::open`]
//! reads only the directories looked up.
//!
//! Loading reads only the directory headers; entries are decoded when
//! looked up, with checked bounds (a damaged file gives wrong answers or
//! errors, never a panic). A lookup is one hash of the directory, then
//! usually a single compare (directories list in a stable order, so the
//! next entry is the expected one), else a binary search by name.
//! Versions 1 (no origin, no mount points) and 2 (no index) are still read.

use std::collections::HashMap;

use anyhow::{Context, bail};

use super::index::{self, Lazy};
use crate::sys::meta::Kind;
use crate::walk::parent;

mod decode;
mod dir;
mod encode;
use decode::{Header, Reader, header, record_loc};
pub use decode::{kind_byte, kind_from, origin_in};
pub use dir::DirView;
pub use encode::{encode, encode_with, unencodable};

const MAGIC: &[u8] = b"IMPERMCTL-BASELINE\n";
const VERSION: u32 = 3;
/// Bytes of an entry after its name.
const FIXED: usize = 8 + 8 + 12 + 12;

/// What the baseline knows about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    /// What it was.
    pub kind: Kind,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: (i64, u32),
    /// Status change time.
    pub ctime: (i64, u32),
}

impl From<&crate::sys::meta::Meta> for Rec {
    /// The record of a path as `statx` sees it now.
    fn from(m: &crate::sys::meta::Meta) -> Rec {
        Rec {
            kind: m.kind(),
            ino: m.ino,
            size: m.size,
            mtime: m.mtime,
            ctime: m.ctime,
        }
    }
}

impl Rec {
    /// Is `m` (a `statx` now) what this record says was there: same type
    /// and inode, same size, mtime and ctime? A write, a new or removed
    /// name, or a `chmod` since moves the ctime. A directory's times move
    /// with every entry added or removed inside (mtime and ctime alike;
    /// those entries are what is reported): it differs only when its ctime
    /// moved past its mtime (a `chmod`, `chown`, ACL, xattr or `chattr`
    /// since; or it was renamed away and back). Not seen: such a change
    /// followed by an entry added or removed inside. The one rule for
    /// "unchanged since the baseline" (`diff`'s comparison, the watcher's
    /// judge and its rescans).
    pub fn matches(&self, m: &crate::sys::meta::Meta) -> bool {
        let same = |dir: bool| match dir {
            true => m.ctime == self.ctime || m.ctime == m.mtime,
            false => m.size == self.size && m.mtime == self.mtime && m.ctime == self.ctime,
        };
        m.kind() == self.kind && m.ino == self.ino && same(self.kind == Kind::Dir)
    }
}

/// Where a directory's entries are in the file.
#[derive(Debug, Clone, Copy)]
struct Loc {
    /// First entry.
    entries: usize,
    /// End of the entries.
    end: usize,
    /// The name-sorted offsets.
    sorted: usize,
    count: usize,
}

/// A loaded baseline.
#[derive(Debug, Default)]
pub struct Baseline {
    /// When it was taken (Unix seconds).
    pub created: i64,
    /// No record was taken before this time (Unix seconds, nanoseconds):
    /// what differs from the baseline changed at or after it. `None` in a
    /// version 1 file. The watcher's list of changes stands in for a walk
    /// only when it covers this time (`diff::fast`).
    pub origin: Option<(i64, u32)>,
    /// Logical mount points the walks that took the records left out
    /// (their union across retakes): unmounting one reveals entries no
    /// event announces.
    pub mounts: Vec<Vec<u8>>,
    data: Vec<u8>,
    dirs: HashMap<Vec<u8>, Loc>,
    entries: usize,
    /// Read on demand (version 3, [`Baseline::open`]); `data` and `dirs`
    /// are empty then.
    lazy: Option<Lazy>,
}

fn le<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

impl Baseline {
    /// The entries of directory `dir` (logical path), if it had any.
    pub fn dir(&self, dir: &[u8]) -> Option<DirView<'_>> {
        if let Some(lazy) = &self.lazy {
            let rec = lazy.find(dir)?;
            let (_, loc) = record_loc(rec, 0)?;
            return Some(DirView { data: rec, loc });
        }
        let &loc = self.dirs.get(dir)?;
        Some(DirView {
            data: &self.data,
            loc,
        })
    }

    /// The record of a logical path.
    pub fn get(&self, path: &[u8]) -> Option<Rec> {
        let name = &path[parent(path).len()..];
        let name = name.strip_prefix(b"/").unwrap_or(name);
        self.dir(parent(path))?.get(name, &mut 0)
    }

    /// Read on demand ([`Baseline::open`]) rather than whole?
    pub fn on_demand(&self) -> bool {
        self.lazy.is_some()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// No entries at all.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Every entry as (logical path, record), directory by directory.
    pub fn iter(&self) -> impl Iterator<Item = (Vec<u8>, Rec)> + '_ {
        let dirs: Vec<Vec<u8>> = match &self.lazy {
            Some(l) => (0..l.dirs())
                .filter_map(|i| Some(index::record_path(l.record(i)?)?.to_vec()))
                .collect(),
            None => self.dirs.keys().cloned().collect(),
        };
        dirs.into_iter().flat_map(move |d| {
            let view = self.dir(&d);
            let mut off = 0;
            std::iter::from_fn(move || {
                let (name, rec, after) = view?.entry(off)?;
                off = after;
                let mut p = d.strip_suffix(b"/").unwrap_or(&d).to_vec();
                p.push(b'/');
                p.extend_from_slice(name);
                Some((p, rec))
            })
        })
    }

    /// Decode a baseline file's bytes: the header and the directory table;
    /// entries are decoded when looked up.
    pub fn decode(data: Vec<u8>) -> anyhow::Result<Baseline> {
        let mut r = Reader { b: &data, pos: 0 };
        let Header {
            version,
            created,
            origin,
            mounts,
            ndirs,
        } = header(&mut r)?;
        // Version 3: the records end where the index starts.
        let end = if version >= 3 {
            let tail = data.len().checked_sub(index::TRAILER);
            let t = tail.and_then(|t| index::trailer(&data[t..], data.len() as u64));
            let t = t.context("damaged index or trailer")?;
            if t.ndirs != ndirs || t.dirs_start != r.pos as u64 {
                bail!("the trailer does not match the header");
            }
            t.index as usize
        } else {
            data.len()
        };
        if data.len() > u32::MAX as usize {
            bail!("baseline larger than 4 GiB");
        }
        let (b, mut pos) = (&data[..end], r.pos);
        let mut dirs = HashMap::with_capacity(ndirs.min(1 << 20) as usize);
        let mut entries = 0;
        for n in 0..ndirs {
            let (dir, loc) = record_loc(b, pos)
                .with_context(|| format!("directory {n} of {ndirs}: truncated at byte {pos}"))?;
            pos = loc.sorted + loc.count * 4;
            entries += loc.count;
            if dirs.insert(dir.to_vec(), loc).is_some() {
                bail!("directory {n} of {ndirs}: directory listed twice");
            }
        }
        if pos != end {
            bail!("{} trailing bytes after {ndirs} directories", end - pos);
        }
        Ok(Baseline {
            created,
            origin,
            mounts,
            data,
            dirs,
            entries,
            lazy: None,
        })
    }

    /// Open a baseline file to read on demand: a version 3 file's header
    /// and index now, each directory when first looked up. Older versions
    /// are read whole ([`Baseline::decode`]).
    pub fn open_file(file: std::fs::File) -> anyhow::Result<Baseline> {
        use std::os::unix::fs::FileExt;
        let size = file.metadata()?.len();
        let Some((lazy, head)) = Lazy::open(&file, size)? else {
            let mut data = vec![0u8; usize::try_from(size)?];
            file.read_exact_at(&mut data, 0)?;
            return Baseline::decode(data);
        };
        let (t, mut r) = (lazy.trailer, Reader { b: &head, pos: 0 });
        let h = header(&mut r)?;
        if h.version < 3 || h.ndirs != t.ndirs || r.pos != r.b.len() {
            bail!("the trailer does not match the header");
        }
        Ok(Baseline {
            created: h.created,
            origin: h.origin,
            mounts: h.mounts,
            data: Vec::new(),
            dirs: HashMap::new(),
            entries: usize::try_from(t.entries)?,
            lazy: Some(lazy),
        })
    }

    /// The baseline read whole (a walk looks up every directory; one read
    /// is cheaper than one per directory). Already whole: itself.
    pub fn into_resident(self) -> anyhow::Result<Baseline> {
        match &self.lazy {
            None => Ok(self),
            Some(l) => Baseline::decode(l.whole()?),
        }
    }
}

#[cfg(test)]
mod tests;
