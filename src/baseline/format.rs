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

/// The entries of one directory in a baseline.
#[derive(Debug, Clone, Copy)]
pub struct DirView<'a> {
    data: &'a [u8],
    loc: Loc,
}

fn le<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

impl<'a> DirView<'a> {
    /// The entry at byte `off` (from the first entry): its name, its
    /// record, and the offset of the entry after it.
    fn entry(&self, off: usize) -> Option<(&'a [u8], Rec, usize)> {
        let d = &self.data[..self.loc.end];
        let o = self.loc.entries.checked_add(off)?;
        let kind = kind_from(*d.get(o)?).unwrap_or(Kind::Unknown);
        let len = u16::from_le_bytes(le(d, o + 1)?) as usize;
        let name = d.get(o + 3..o + 3 + len)?;
        let f = o + 3 + len;
        let rec = Rec {
            kind,
            ino: u64::from_le_bytes(le(d, f)?),
            size: u64::from_le_bytes(le(d, f + 8)?),
            mtime: (
                i64::from_le_bytes(le(d, f + 16)?),
                u32::from_le_bytes(le(d, f + 24)?),
            ),
            ctime: (
                i64::from_le_bytes(le(d, f + 28)?),
                u32::from_le_bytes(le(d, f + 36)?),
            ),
        };
        Some((name, rec, off + 3 + len + FIXED))
    }

    fn name_at(&self, off: usize) -> Option<&'a [u8]> {
        let d = &self.data[..self.loc.end];
        let o = self.loc.entries.checked_add(off)?;
        let len = u16::from_le_bytes(le(d, o + 1)?) as usize;
        d.get(o + 3..o + 3 + len)
    }

    fn sorted(&self, i: usize) -> usize {
        le(self.data, self.loc.sorted + 4 * i)
            .map_or(usize::MAX / 2, |b| u32::from_le_bytes(b) as usize)
    }

    /// The record of `name` in this directory. `next` is the byte offset
    /// of the entry expected to hold it (updated to the one after a hit).
    pub fn get(&self, name: &[u8], next: &mut u32) -> Option<Rec> {
        if let Some((n, rec, after)) = self.entry(*next as usize)
            && n == name
        {
            *next = after as u32;
            return Some(rec);
        }
        let (mut lo, mut hi) = (0, self.loc.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let off = self.sorted(mid);
            match self.name_at(off)?.cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let (_, rec, after) = self.entry(off)?;
                    *next = after as u32;
                    return Some(rec);
                }
            }
        }
        None
    }
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
                let mut p = if d.as_slice() == b"/" {
                    Vec::new()
                } else {
                    d.clone()
                };
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
        let data_all = data.len();
        let mut r = Reader {
            b: &data[..end],
            pos: r.pos,
        };
        if data_all > u32::MAX as usize {
            bail!("baseline larger than 4 GiB");
        }
        let mut dirs = HashMap::with_capacity(ndirs.min(1 << 20) as usize);
        let mut entries = 0;
        for n in 0..ndirs {
            (|| -> anyhow::Result<()> {
                let len = u16::from_le_bytes(r.array()?) as usize;
                let dir = r.take(len)?.to_vec();
                let count = u32::from_le_bytes(r.array()?) as usize;
                let bytes = u32::from_le_bytes(r.array()?) as usize;
                let start = r.pos;
                r.take(bytes)?;
                let sorted = r.pos;
                r.take(count.checked_mul(4).context("entry count overflows")?)?;
                let loc = Loc {
                    entries: start,
                    end: start + bytes,
                    sorted,
                    count,
                };
                entries += count;
                if dirs.insert(dir, loc).is_some() {
                    bail!("directory listed twice");
                }
                Ok(())
            })()
            .with_context(|| format!("directory {n} of {ndirs}"))?;
        }
        if r.pos != end {
            bail!("{} trailing bytes after {ndirs} directories", end - r.pos);
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
        let Some((lazy, t)) = Lazy::open(&file, size)? else {
            let mut data = vec![0u8; usize::try_from(size)?];
            file.read_exact_at(&mut data, 0)?;
            return Baseline::decode(data);
        };
        let mut r = Reader {
            b: lazy.head(),
            pos: 0,
        };
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
            Some(l) => Baseline::decode(l.bytes().to_vec()),
        }
    }
}

/// What a baseline file's header says.
struct Header {
    version: u32,
    created: i64,
    origin: Option<(i64, u32)>,
    mounts: Vec<Vec<u8>>,
    ndirs: u64,
}

/// Read the header (magic to directory count).
fn header(r: &mut Reader<'_>) -> anyhow::Result<Header> {
    if r.take(MAGIC.len())? != MAGIC {
        bail!("not an impermctl baseline (bad magic)");
    }
    let version = u32::from_le_bytes(r.array()?);
    if !(1..=VERSION).contains(&version) {
        bail!("baseline version {version}, this impermctl reads versions 1 to {VERSION}");
    }
    let created = i64::from_le_bytes(r.array()?);
    let (mut origin, mut mounts) = (None, Vec::new());
    if version >= 2 {
        let s = i64::from_le_bytes(r.array()?);
        let ns = u32::from_le_bytes(r.array()?);
        if s != i64::MIN {
            origin = Some((s, ns.min(999_999_999)));
        }
        let n = u32::from_le_bytes(r.array()?);
        for _ in 0..n {
            let len = u16::from_le_bytes(r.array()?) as usize;
            mounts.push(r.take(len)?.to_vec());
        }
    }
    let ndirs = u64::from_le_bytes(r.array()?);
    Ok(Header {
        version,
        created,
        origin,
        mounts,
        ndirs,
    })
}

/// A directory record at byte `at` of `b`: its path and where its
/// entries are (offsets into `b`).
fn record_loc(b: &[u8], at: usize) -> Option<(&[u8], Loc)> {
    let len = u16::from_le_bytes(le(b, at)?) as usize;
    let dir = b.get(at + 2..at + 2 + len)?;
    let o = at + 2 + len;
    let count = u32::from_le_bytes(le(b, o)?) as usize;
    let bytes = u32::from_le_bytes(le(b, o + 4)?) as usize;
    let start = o + 8;
    let sorted = start.checked_add(bytes)?;
    let end = sorted.checked_add(count.checked_mul(4)?)?;
    (end <= b.len()).then_some((
        dir,
        Loc {
            entries: start,
            end: sorted,
            sorted,
            count,
        },
    ))
}

/// The origin in the first bytes of a baseline file (version 2 and
/// later; `None` for version 1, an unknown origin or other bytes).
pub fn origin_in(head: &[u8]) -> Option<(i64, u32)> {
    let mut r = Reader { b: head, pos: 0 };
    if r.take(MAGIC.len()).ok()? != MAGIC {
        return None;
    }
    if u32::from_le_bytes(r.array().ok()?) < 2 {
        return None;
    }
    r.take(8).ok()?;
    let s = i64::from_le_bytes(r.array().ok()?);
    let ns = u32::from_le_bytes(r.array().ok()?);
    (s != i64::MIN).then_some((s, ns.min(999_999_999)))
}

/// Entries the format cannot hold: a directory path or a name longer
/// than the 16-bit length field allows (65,535 bytes). `encode` leaves them
/// out; the caller says so.
pub fn unencodable(entries: &[(Vec<u8>, Rec)]) -> Vec<&[u8]> {
    entries
        .iter()
        .filter(|(p, _)| !fits(p))
        .map(|(p, _)| p.as_slice())
        .collect()
}

fn fits(p: &[u8]) -> bool {
    let d = parent(p).len();
    d <= u16::MAX as usize && p.len() - d <= u16::MAX as usize
}

/// Encode `(logical path, rec)` pairs (any order), origin unknown. Entries
/// whose directory path or name does not fit a 16-bit length
/// ([`unencodable`]) are left out.
pub fn encode(created: i64, entries: &mut Vec<(Vec<u8>, Rec)>) -> Vec<u8> {
    encode_with(created, None, &[], entries)
}

/// [`encode`] with the origin (no record taken before it) and the mount
/// points the walks left out (paths over 65,535 bytes are dropped).
pub fn encode_with(
    created: i64,
    origin: Option<(i64, u32)>,
    mounts: &[Vec<u8>],
    entries: &mut Vec<(Vec<u8>, Rec)>,
) -> Vec<u8> {
    entries.retain(|(p, _)| fits(p));
    let split = |p: &[u8]| -> (usize, usize) {
        let d = parent(p).len();
        (d, if d == 1 { 1 } else { d + 1 })
    };
    // Stable: a directory's entries keep the order it listed them in.
    entries.sort_by(|a, b| parent(&a.0).cmp(parent(&b.0)));
    entries.dedup_by(|a, b| a.0 == b.0);
    let mut out = Vec::with_capacity(64 + entries.len() * 56);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&created.to_le_bytes());
    let (os, ons) = origin.unwrap_or((i64::MIN, 0));
    out.extend_from_slice(&os.to_le_bytes());
    out.extend_from_slice(&ons.to_le_bytes());
    let mounts: Vec<&Vec<u8>> = mounts
        .iter()
        .filter(|m| m.len() <= u16::MAX as usize)
        .collect();
    out.extend_from_slice(&(mounts.len() as u32).to_le_bytes());
    for m in mounts {
        out.extend_from_slice(&(m.len() as u16).to_le_bytes());
        out.extend_from_slice(m);
    }
    let ndirs_at = out.len();
    out.extend_from_slice(&0u64.to_le_bytes());
    let mut ndirs = 0u64;
    let mut records = Vec::new();
    for group in entries.chunk_by(|a, b| parent(&a.0) == parent(&b.0)) {
        let dir = parent(&group[0].0);
        ndirs += 1;
        let record = out.len();
        out.extend_from_slice(&(dir.len() as u16).to_le_bytes());
        out.extend_from_slice(dir);
        out.extend_from_slice(&(group.len() as u32).to_le_bytes());
        let bytes_at = out.len();
        out.extend_from_slice(&0u32.to_le_bytes());
        let start = out.len();
        let mut offsets = Vec::with_capacity(group.len());
        for (path, r) in group {
            offsets.push((out.len() - start) as u32);
            let name = &path[split(path).1..];
            out.push(kind_byte(r.kind));
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name);
            out.extend_from_slice(&r.ino.to_le_bytes());
            out.extend_from_slice(&r.size.to_le_bytes());
            out.extend_from_slice(&r.mtime.0.to_le_bytes());
            out.extend_from_slice(&r.mtime.1.to_le_bytes());
            out.extend_from_slice(&r.ctime.0.to_le_bytes());
            out.extend_from_slice(&r.ctime.1.to_le_bytes());
        }
        let mut by_name: Vec<u32> = (0..group.len() as u32).collect();
        by_name.sort_by(|&x, &y| {
            let (px, py) = (&group[x as usize].0, &group[y as usize].0);
            px[split(px).1..].cmp(&py[split(py).1..])
        });
        let bytes = (out.len() - start) as u32;
        out[bytes_at..bytes_at + 4].copy_from_slice(&bytes.to_le_bytes());
        for i in by_name {
            out.extend_from_slice(&offsets[i as usize].to_le_bytes());
        }
        records.push((index::hash(dir), record as u64, (out.len() - record) as u32));
    }
    out[ndirs_at..ndirs_at + 8].copy_from_slice(&ndirs.to_le_bytes());
    let total = entries.len() as u64;
    index::append(&mut out, ndirs_at + 8, &mut records, total);
    out
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            bail!("truncated at byte {}", self.pos)
        };
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> anyhow::Result<[u8; N]> {
        Ok(self.take(N)?.try_into()?)
    }
}

fn kind_byte(k: Kind) -> u8 {
    match k {
        Kind::File => b'f',
        Kind::Dir => b'd',
        Kind::Symlink => b'l',
        Kind::Fifo => b'p',
        Kind::Socket => b's',
        Kind::Device => b'c',
        Kind::Unknown => b'?',
    }
}

fn kind_from(b: u8) -> anyhow::Result<Kind> {
    Ok(match b {
        b'f' => Kind::File,
        b'd' => Kind::Dir,
        b'l' => Kind::Symlink,
        b'p' => Kind::Fifo,
        b's' => Kind::Socket,
        b'c' => Kind::Device,
        b'?' => Kind::Unknown,
        x => bail!("unknown entry type byte {x:#04x}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(ino: u64) -> Rec {
        Rec {
            kind: Kind::File,
            ino,
            size: ino * 3,
            mtime: (-5, 7),
            ctime: (1_700_000_000, 999_999_999),
        }
    }

    #[test]
    fn encode_decode_round_trips_raw_paths() {
        let dir = Rec {
            kind: Kind::Dir,
            ..r(1)
        };
        let mut entries = vec![
            (b"/var".to_vec(), r(5)),
            (b"/etc/a\nb".to_vec(), r(2)),
            (b"/etc".to_vec(), dir),
            (b"/etc/\xff\xfe".to_vec(), r(3)),
            (b"/etc/abc".to_vec(), r(4)),
            (b"/etc/abc/d".to_vec(), r(6)),
        ];
        let b = Baseline::decode(encode(42, &mut entries)).unwrap();
        assert_eq!(b.created, 42);
        assert_eq!(b.len(), 6);
        for (p, rec) in &entries {
            assert_eq!(b.get(p), Some(*rec), "{p:?}");
        }
        assert_eq!(b.get(b"/etc/ab"), None);
        assert_eq!(b.get(b"/nope/x"), None);
        assert_eq!((b.origin, b.mounts.len()), (None, 0));
        let (etc, mut next) = (b.dir(b"/etc").unwrap(), 0);
        assert_eq!(etc.get(b"a\nb", &mut next), Some(r(2)));
        let second = next;
        assert_eq!(
            etc.get(b"\xff\xfe", &mut next),
            Some(r(3)),
            "listing order kept"
        );
        next = second;
        assert_eq!(etc.get(b"abc", &mut next), Some(r(4)));
        assert_eq!(etc.get(b"\xff\xfe", &mut next), Some(r(3)));
        assert_eq!(etc.get(b"zz", &mut next), None);
        let mut round: Vec<_> = b.iter().collect();
        round.sort_by(|a, b| a.0.cmp(&b.0));
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(round, entries);
    }

    #[test]
    fn origin_and_mount_points_round_trip_and_version_1_still_reads() {
        let mounts = vec![b"/p0".to_vec(), b"/home/\xff".to_vec()];
        let mut entries = vec![(b"/a".to_vec(), r(1))];
        let b = Baseline::decode(encode_with(7, Some((5, 123)), &mounts, &mut entries)).unwrap();
        assert_eq!((b.created, b.origin), (7, Some((5, 123))));
        assert_eq!(b.mounts, mounts);
        assert_eq!(b.get(b"/a"), Some(r(1)));
        // The same file as version 1 wrote it: no origin, no mount points.
        let v2 = super::super::tests_index::as_version_2(&encode(9, &mut entries.clone()));
        let mut v1 = v2[..MAGIC.len()].to_vec();
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&9i64.to_le_bytes());
        v1.extend_from_slice(&v2[MAGIC.len() + 4 + 8 + 8 + 4 + 4..]);
        assert_eq!(origin_in(&v1), None);
        let with = encode_with(7, Some((5, 123)), &mounts, &mut entries);
        assert_eq!(origin_in(&with[..60]), Some((5, 123)));
        assert_eq!(origin_in(&encode(7, &mut entries)), None);
        let old = Baseline::decode(v1).unwrap();
        assert_eq!((old.created, old.origin, old.mounts.len()), (9, None, 0));
        assert_eq!(old.get(b"/a"), Some(r(1)));
    }

    #[test]
    fn corrupt_baselines_are_errors_not_panics() {
        let good = encode(1, &mut vec![(b"/a".to_vec(), r(1))]);
        for cut in 0..good.len() {
            assert!(Baseline::decode(good[..cut].to_vec()).is_err(), "cut {cut}");
        }
        // Damage inside an entry: decoding succeeds, lookups stay in bounds.
        for at in MAGIC.len() + 4 + 8 + 8 + 2 + 2 + 4 + 4..good.len() {
            for v in [0u8, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[at] = v;
                if let Ok(b) = Baseline::decode(bad) {
                    let _ = b.get(b"/a");
                    let _ = b.iter().count();
                }
            }
        }
        assert!(Baseline::decode(b"hello".to_vec()).is_err());
    }
}
