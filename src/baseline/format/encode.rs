//! Writing a baseline file (version 3): header, directories with their
//! records, the directory index and the trailer.

use super::*;

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
