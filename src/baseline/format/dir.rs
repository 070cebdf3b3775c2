//! One directory's records in a baseline, decoded on demand.

use super::*;

/// The entries of one directory in a baseline.
#[derive(Debug, Clone, Copy)]
pub struct DirView<'a> {
    pub(super) data: &'a [u8],
    pub(super) loc: Loc,
}

impl<'a> DirView<'a> {
    /// The entry at byte `off` (from the first entry): its name, its
    /// record, and the offset of the entry after it.
    pub(super) fn entry(&self, off: usize) -> Option<(&'a [u8], Rec, usize)> {
        let name = self.name_at(off)?;
        let (d, o) = (&self.data[..self.loc.end], self.loc.entries + off);
        let kind = kind_from(d[o]).unwrap_or(Kind::Unknown);
        let f = o + 3 + name.len();
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
        Some((name, rec, off + 3 + name.len() + FIXED))
    }

    fn name_at(&self, off: usize) -> Option<&'a [u8]> {
        let d = &self.data[..self.loc.end];
        let o = self.loc.entries.checked_add(off)?;
        let len = u16::from_le_bytes(le(d, o + 1)?) as usize;
        d.get(o + 3..o + 3 + len)
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
        // The name-sorted offsets (checked in bounds when loaded).
        let sorted = self.data.get(self.loc.sorted..)?.as_chunks::<4>().0;
        let off = |o: &[u8; 4]| u32::from_le_bytes(*o) as usize;
        let found = sorted.get(..self.loc.count)?.binary_search_by(|o| {
            let n = self.name_at(off(o));
            n.unwrap_or_default().cmp(name)
        });
        let (_, rec, after) = self.entry(off(&sorted[found.ok()?]))?;
        *next = after as u32;
        Some(rec)
    }
}
