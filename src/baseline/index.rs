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
//! [`Lazy`] reads the header, the trailer and the index, then each record
//! looked up (positioned reads of the open file: a baseline replaced by
//! rename meanwhile is still the one opened). A damaged file gives wrong
//! answers or errors, never a panic.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

/// Bytes of one index entry.
pub const ENTRY: usize = 8 + 8 + 4;
/// Bytes of the trailer.
pub const TRAILER: usize = 4 * 8 + 8;
const MAGIC: &[u8; 8] = b"BLINDEX3";

/// FNV-1a (64 bit) of a logical directory path ([`fnv1a`](crate::sys::fs::fnv1a)).
pub use crate::sys::fs::fnv1a as hash;

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
fn entry(e: &[u8; ENTRY]) -> (u64, u64, u32) {
    let u = |r: std::ops::Range<usize>| u64::from_le_bytes(e[r].try_into().unwrap_or_default());
    (
        u(0..8),
        u(8..16),
        u32::from_le_bytes([e[16], e[17], e[18], e[19]]),
    )
}

/// The directory's path in a record (`u16` length, then the path).
pub fn record_path(rec: &[u8]) -> Option<&[u8]> {
    let len = u16::from_le_bytes(rec.get(..2)?.try_into().ok()?) as usize;
    rec.get(2..2 + len)
}

/// A version 3 baseline read on demand: the header and the index are read
/// at open, each directory's record by one positioned read when first
/// looked up (then kept).
#[derive(Debug)]
pub struct Lazy {
    file: File,
    /// Where things are in the file.
    pub trailer: Trailer,
    index: Vec<u8>,
    records: Vec<OnceLock<Option<Box<[u8]>>>>,
}

/// `len` bytes of `file` at `at`.
fn read_at(file: &File, at: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut b = vec![0; len];
    file.read_exact_at(&mut b, at)?;
    Ok(b)
}

impl Lazy {
    /// Read the trailer of `file` (`size` bytes), then its index; with the
    /// header (the bytes before the first directory record); its
    /// [`Lazy::trailer`]. `Ok(None)`: not a version 3 file (read it whole).
    pub fn open(file: &File, size: u64) -> anyhow::Result<Option<(Lazy, Vec<u8>)>> {
        if size < TRAILER as u64 {
            return Ok(None);
        }
        let tail = read_at(file, size - TRAILER as u64, TRAILER)?;
        let Some(t) = trailer(&tail, size) else {
            return Ok(None);
        };
        let lazy = Lazy {
            file: file.try_clone()?,
            trailer: t,
            index: read_at(file, t.index, usize::try_from(t.ndirs)? * ENTRY)?,
            records: (0..t.ndirs).map(|_| OnceLock::new()).collect(),
        };
        let head = read_at(file, 0, usize::try_from(t.dirs_start)?)?;
        Ok(Some((lazy, head)))
    }

    /// The whole file (its size as the trailer says), in one read.
    pub fn whole(&self) -> std::io::Result<Vec<u8>> {
        let size = self.trailer.index as usize + self.index.len() + TRAILER;
        read_at(&self.file, 0, size)
    }

    /// Number of directories.
    pub fn dirs(&self) -> usize {
        self.records.len()
    }

    /// The record of directory `i` (`None` when the index points outside
    /// the records or it cannot be read).
    pub fn record(&self, i: usize) -> Option<&[u8]> {
        let (_, off, len) = entry(self.index.as_chunks::<ENTRY>().0.get(i)?);
        let end = off.checked_add(u64::from(len))?;
        if off < self.trailer.dirs_start || end > self.trailer.index {
            return None;
        }
        let read = || match read_at(&self.file, off, len as usize) {
            Ok(b) => Some(b.into_boxed_slice()),
            Err(e) => {
                tracing::warn!("baseline: cannot read directory record {i}: {e}");
                None
            }
        };
        self.records.get(i)?.get_or_init(read).as_deref()
    }

    /// The record of the directory at logical path `dir`, if the index
    /// has it.
    pub fn find(&self, dir: &[u8]) -> Option<&[u8]> {
        let h = hash(dir);
        let index = self.index.as_chunks::<ENTRY>().0;
        let first = index.partition_point(|e| entry(e).0 < h);
        (first..index.len())
            .take_while(|&i| entry(&index[i]).0 == h)
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
