//! The baseline: a manifest of the ephemeral root right after activation
//! (path, type, inode, size, mtime, ctime), written once per boot by `boot`
//! and read by `diff`.
//!
//! Format (little-endian): the magic line `IMPERMCTL-BASELINE\n`, `u32`
//! version (1), `i64` creation time (Unix seconds), `u64` record count, then
//! records sorted by path: `u8` kind, `u16` bytes shared with the previous
//! path, `u16` suffix length, the suffix (raw bytes: newlines and invalid
//! UTF-8 survive), `u64` inode, `u64` size, `i64`+`u32` mtime, `i64`+`u32`
//! ctime. Prefix sharing keeps it small (it lives in RAM, on `/run`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicU64;

use anyhow::{Context, bail};

use crate::config::Settings;
use crate::diff::walk::{self, Entry, Scope, Visit};
use crate::root::Root;
use crate::sys::walk::{Kind, stat_at};

const MAGIC: &[u8] = b"IMPERMCTL-BASELINE\n";
const VERSION: u32 = 1;

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

/// A loaded baseline, indexed by logical path.
#[derive(Debug, Default)]
pub struct Baseline {
    /// When it was taken (Unix seconds).
    pub created: i64,
    paths: Vec<u8>,
    recs: Vec<(u32, u32, Rec)>,
    index: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    collisions: HashMap<Vec<u8>, u32>,
}

#[derive(Debug, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A fast 64-bit hash of a path (FxHash-style over 8-byte words).
fn hash(b: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().unwrap_or_default());
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    for &x in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(x)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

impl Baseline {
    /// The record of a logical path.
    pub fn get(&self, path: &[u8]) -> Option<&Rec> {
        let i = match self.index.get(&hash(path)) {
            Some(&i) if self.path(i) == path => i,
            _ => *self.collisions.get(path)?,
        };
        Some(&self.recs[i as usize].2)
    }

    fn path(&self, i: u32) -> &[u8] {
        let (off, len, _) = self.recs[i as usize];
        &self.paths[off as usize..(off + len) as usize]
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    /// No entries at all.
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Every entry, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Rec)> {
        (0..self.recs.len() as u32).map(|i| (self.path(i), &self.recs[i as usize].2))
    }

    fn push(&mut self, path: &[u8], rec: Rec) {
        let i = self.recs.len() as u32;
        let off = self.paths.len() as u32;
        self.paths.extend_from_slice(path);
        self.recs.push((off, path.len() as u32, rec));
        let h = hash(path);
        match self.index.entry(h) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.insert(path.to_vec(), i);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }

    /// Decode a baseline file's bytes.
    pub fn decode(b: &[u8]) -> anyhow::Result<Baseline> {
        let mut r = Reader { b, pos: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            bail!("not an impermctl baseline (bad magic)");
        }
        let version = u32::from_le_bytes(r.array()?);
        if version != VERSION {
            bail!("baseline version {version}, this impermctl reads version {VERSION}");
        }
        let created = i64::from_le_bytes(r.array()?);
        let count = u64::from_le_bytes(r.array()?);
        let mut out = Baseline {
            created,
            ..Baseline::default()
        };
        out.recs.reserve(count.min(1 << 24) as usize);
        let mut prev: Vec<u8> = Vec::new();
        for n in 0..count {
            let rec = (|| -> anyhow::Result<(Vec<u8>, Rec)> {
                let kind = kind_from(r.take(1)?[0])?;
                let shared = u16::from_le_bytes(r.array()?) as usize;
                let len = u16::from_le_bytes(r.array()?) as usize;
                if shared > prev.len() {
                    bail!("shared prefix {shared} longer than the previous path");
                }
                let mut path = prev[..shared].to_vec();
                path.extend_from_slice(r.take(len)?);
                let rec = Rec {
                    kind,
                    ino: u64::from_le_bytes(r.array()?),
                    size: u64::from_le_bytes(r.array()?),
                    mtime: (
                        i64::from_le_bytes(r.array()?),
                        u32::from_le_bytes(r.array()?),
                    ),
                    ctime: (
                        i64::from_le_bytes(r.array()?),
                        u32::from_le_bytes(r.array()?),
                    ),
                };
                Ok((path, rec))
            })()
            .with_context(|| format!("record {n} of {count}"))?;
            out.push(&rec.0, rec.1);
            prev = rec.0;
        }
        if r.pos != b.len() {
            bail!("{} trailing bytes after {count} records", b.len() - r.pos);
        }
        Ok(out)
    }

    /// Read the baseline of `root`, if there is one.
    pub fn load(root: &Root) -> anyhow::Result<Option<Baseline>> {
        let file = root.baseline_file();
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the baseline {}", file.display()));
            }
        };
        let b = Baseline::decode(&bytes).with_context(|| {
            format!(
                "the baseline {} is corrupt (delete it; `impermctl boot` writes a new one, or diff falls back to the boot time)",
                file.display()
            )
        })?;
        Ok(Some(b))
    }
}

/// Encode sorted `(path, rec)` pairs.
pub fn encode(created: i64, entries: &[(Vec<u8>, Rec)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + entries.len() * 48);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&created.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    let mut prev: &[u8] = &[];
    for (path, r) in entries {
        let shared = prev
            .iter()
            .zip(path.iter())
            .take_while(|(a, b)| a == b)
            .count()
            .min(u16::MAX as usize);
        let suffix = &path[shared..];
        out.push(kind_byte(r.kind));
        out.extend_from_slice(&(shared as u16).to_le_bytes());
        out.extend_from_slice(&(suffix.len() as u16).to_le_bytes());
        out.extend_from_slice(suffix);
        out.extend_from_slice(&r.ino.to_le_bytes());
        out.extend_from_slice(&r.size.to_le_bytes());
        out.extend_from_slice(&r.mtime.0.to_le_bytes());
        out.extend_from_slice(&r.mtime.1.to_le_bytes());
        out.extend_from_slice(&r.ctime.0.to_le_bytes());
        out.extend_from_slice(&r.ctime.1.to_le_bytes());
        prev = path;
    }
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

struct Capture;

impl Visit for Capture {
    type Acc = Vec<(Vec<u8>, Rec)>;
    fn visit(&self, e: &Entry<'_>, acc: &mut Self::Acc) -> std::io::Result<()> {
        let m = stat_at(e.dir, e.name)?;
        acc.push((
            e.path.to_vec(),
            Rec {
                kind: m.kind,
                ino: m.ino,
                size: m.size,
                mtime: m.mtime,
                ctime: m.ctime,
            },
        ));
        Ok(())
    }
}

/// Walk the ephemeral root and return its manifest, sorted by path.
pub fn capture(root: &Root, settings: &Settings) -> anyhow::Result<Vec<(Vec<u8>, Rec)>> {
    let mounts = crate::diff::mount_table(root)?;
    let scope = Scope::new(root.dir(), settings, &mounts, false, &[]);
    let count = AtomicU64::new(0);
    let out = walk::walk(&scope, &Capture, walk::default_threads(), &count)?;
    let mut all: Vec<(Vec<u8>, Rec)> = out.accs.into_iter().flatten().collect();
    all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (p, e) in out.unreadable.iter().take(5) {
        tracing::warn!("baseline: cannot read {}: {e}", String::from_utf8_lossy(p));
    }
    Ok(all)
}

/// Walk the ephemeral root and write `/run/impermctl/baseline` atomically,
/// unless it already exists (the first `boot` of a boot wins).
/// Returns whether a new baseline was written.
pub fn capture_if_missing(root: &Root, settings: &Settings) -> anyhow::Result<bool> {
    let file = root.baseline_file();
    if file.exists() {
        return Ok(false);
    }
    let entries = capture(root, settings)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    write_atomic(&file, &encode(now, &entries))?;
    Ok(true)
}

/// Write `bytes` to `file` through a temporary file in the same directory,
/// fsync, then rename; a reader sees the old file or the whole new one.
fn write_atomic(file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = file.parent().context("baseline path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".baseline.tmp.{}", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write the baseline {}", file.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trips_raw_paths() {
        let r = |ino| Rec {
            kind: Kind::File,
            ino,
            size: ino * 3,
            mtime: (-5, 7),
            ctime: (1_700_000_000, 999_999_999),
        };
        let mut entries = vec![
            (
                b"/etc".to_vec(),
                Rec {
                    kind: Kind::Dir,
                    ..r(1)
                },
            ),
            (b"/etc/a\nb".to_vec(), r(2)),
            (b"/etc/\xff\xfe".to_vec(), r(3)),
            (b"/etc/abc".to_vec(), r(4)),
            (b"/var".to_vec(), r(5)),
        ];
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let b = Baseline::decode(&encode(42, &entries)).unwrap();
        assert_eq!(b.created, 42);
        assert_eq!(b.len(), 5);
        for (p, rec) in &entries {
            assert_eq!(b.get(p), Some(rec), "{p:?}");
        }
        assert_eq!(b.get(b"/etc/ab"), None);
        let round: Vec<_> = b.iter().map(|(p, r)| (p.to_vec(), *r)).collect();
        assert_eq!(round, entries);
    }

    #[test]
    fn corrupt_baselines_are_errors_not_panics() {
        let good = encode(
            1,
            &[(
                b"/a".to_vec(),
                Rec {
                    kind: Kind::File,
                    ino: 1,
                    size: 1,
                    mtime: (0, 0),
                    ctime: (0, 0),
                },
            )],
        );
        for cut in 0..good.len() {
            assert!(Baseline::decode(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut bad = good.clone();
        bad[MAGIC.len() + 4 + 8 + 8] = b'Z';
        assert!(format!("{:#}", Baseline::decode(&bad).unwrap_err()).contains("type byte"));
        assert!(Baseline::decode(b"hello").is_err());
    }
}
