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
