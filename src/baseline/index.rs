//! Version 3's directory index: `diff` from the watcher's list reads only
//! the directories its listed paths are in, not the whole baseline (8 MB
//! for 160,000 entries, 50 MB for a million; issue 17).
//!
//! At the end of a version 3 file, after the directory records
//! (`format`): one index entry per directory, sorted by (hash, offset) —
//! `u64` FNV-1a hash of the directory's logical path, `u64` offset of its
//! record in the file, `u32` the record's length (20 bytes each) — then
//! the trailer (40 bytes): `u64` offset of the first record, `u64` offset
//! of the index, `u64` directory count, `u64` entry count, the magic
//! `BLINDEX3`.
//!
//! [`Lazy`] reads the header, the index and the trailer (three `pread`s)
//! and each directory's record when it is first looked up (one `pread`,
//! kept). A damaged file gives wrong answers or errors, never a panic.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

use anyhow::Context;

/// Bytes of one index entry.
pub const ENTRY: usize = 8 + 8 + 4;
/// Bytes of the trailer.
pub const TRAILER: usize = 4 * 8 + 8;
const MAGIC: &[u8; 8] = b"BLINDEX3";

/// FNV-1a (64 bit) of a logical directory path: stable across builds and
/// machines, unlike the standard library's hasher.
pub fn hash(p: &[u8]) -> u64 {
    p.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where things are in a version 3 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Offset of the first directory record (the header ends there).
    pub dirs_start: u64,
    /// Offset of the index.
    pub index: u64,
    /// Directories (index entries).
    pub ndirs: u64,
    /// Entries in all directories.
    pub entries: u64,
}

/// Append the index of `records` (hash, record offset, record length)
/// and the trailer to `out`.
pub fn append(out: &mut Vec<u8>, dirs_start: usize, records: &mut [(u64, u64, u32)], entries: u64) {
    records.sort_unstable();
    let index = out.len() as u64;
    for &(h, off, len) in records.iter() {
        out.extend_from_slice(&h.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
    }
    for v in [dirs_start as u64, index, records.len() as u64, entries] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(MAGIC);
}

/// The trailer of a file of `size` bytes whose last [`TRAILER`] bytes are
/// `tail`, checked against the size. `None`: not a version 3 file's end.
pub fn trailer(tail: &[u8], size: u64) -> Option<Trailer> {
    if tail.len() != TRAILER || &tail[32..] != MAGIC {
        return None;
    }
    let u = |i: usize| u64::from_le_bytes(tail[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let t = Trailer {
        dirs_start: u(0),
        index: u(1),
        ndirs: u(2),
        entries: u(3),
    };
    let end = t
        .ndirs
        .checked_mul(ENTRY as u64)?
        .checked_add(t.index)?
        .checked_add(TRAILER as u64)?;
    (end == size && t.dirs_start <= t.index).then_some(t)
}

/// One index entry: (hash, record offset, record length).
fn entry(index: &[u8], i: usize) -> Option<(u64, u64, u32)> {
    let e = index.get(i * ENTRY..(i + 1) * ENTRY)?;
    Some((
        u64::from_le_bytes(e[..8].try_into().ok()?),
        u64::from_le_bytes(e[8..16].try_into().ok()?),
        u32::from_le_bytes(e[16..].try_into().ok()?),
    ))
}

/// The directory's path in a record (`u16` length, then the path).
pub fn record_path(rec: &[u8]) -> Option<&[u8]> {
    let len = u16::from_le_bytes(rec.get(..2)?.try_into().ok()?) as usize;
    rec.get(2..2 + len)
}

/// A version 3 baseline read on demand.
#[derive(Debug)]
pub struct Lazy {
    file: File,
    index: Vec<u8>,
    records: Vec<OnceLock<Option<Box<[u8]>>>>,
}

impl Lazy {
    /// Read the header bytes, the index and the trailer of `file` (`size`
    /// bytes). `Ok(None)`: not a version 3 file (read it whole).
    pub fn open(file: File, size: u64) -> anyhow::Result<Option<(Lazy, Vec<u8>, Trailer)>> {
        if size < TRAILER as u64 {
            return Ok(None);
        }
        let mut tail = [0u8; TRAILER];
        file.read_exact_at(&mut tail, size - TRAILER as u64)
            .context("cannot read the trailer")?;
        let Some(t) = trailer(&tail, size) else {
            return Ok(None);
        };
        let read = |at: u64, len: u64| -> anyhow::Result<Vec<u8>> {
            let mut b = vec![0u8; usize::try_from(len)?];
            file.read_exact_at(&mut b, at)?;
            Ok(b)
        };
        let head = read(0, t.dirs_start).context("cannot read the header")?;
        let index = read(t.index, t.ndirs * ENTRY as u64).context("cannot read the index")?;
        let records = (0..t.ndirs).map(|_| OnceLock::new()).collect();
        Ok(Some((
            Lazy {
                file,
                index,
                records,
            },
            head,
            t,
        )))
    }

    /// The whole file.
    pub fn read_all(&self) -> anyhow::Result<Vec<u8>> {
        let size = self.file.metadata()?.len();
        let mut b = vec![0u8; usize::try_from(size)?];
        self.file.read_exact_at(&mut b, 0)?;
        Ok(b)
    }

    /// Directory records read so far.
    pub fn read_so_far(&self) -> usize {
        self.records.iter().filter(|r| r.get().is_some()).count()
    }

    /// Number of directories.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// The record of directory `i` (read on first use; `None` when it
    /// cannot be read).
    pub fn record(&self, i: usize) -> Option<&[u8]> {
        let slot = self.records.get(i)?;
        slot.get_or_init(|| {
            let (_, off, len) = entry(&self.index, i)?;
            let mut b = vec![0u8; len as usize];
            match self.file.read_exact_at(&mut b, off) {
                Ok(()) => Some(b.into_boxed_slice()),
                Err(e) => {
                    tracing::warn!("cannot read the baseline at byte {off}: {e}");
                    None
                }
            }
        })
        .as_deref()
    }

    /// The record of the directory at logical path `dir`, if the index
    /// has it.
    pub fn find(&self, dir: &[u8]) -> Option<&[u8]> {
        let h = hash(dir);
        let n = self.records.len();
        // First entry with a hash ≥ h.
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if entry(&self.index, mid)?.0 < h {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo..n)
            .take_while(|&i| entry(&self.index, i).is_some_and(|e| e.0 == h))
            .filter_map(|i| self.record(i))
            .find(|r| record_path(r) == Some(dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_published_function() {
        // Test vectors of FNV-1a 64.
        assert_eq!(hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_trailer_must_match_the_file_size() {
        let mut out = vec![0u8; 10];
        append(&mut out, 4, &mut [(1, 4, 6)], 3);
        let size = out.len() as u64;
        let tail = &out[out.len() - TRAILER..];
        let t = trailer(tail, size).unwrap();
        assert_eq!(
            t,
            Trailer {
                dirs_start: 4,
                index: 10,
                ndirs: 1,
                entries: 3
            }
        );
        assert_eq!(trailer(tail, size + 1), None, "a size that does not add up");
        assert_eq!(trailer(&out[..TRAILER], size), None, "no magic");
    }
}
