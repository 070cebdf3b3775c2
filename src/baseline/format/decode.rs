//! Reading a baseline file's bytes: the header, a directory's record
//! location, the entry type byte, and a bounds-checked reader.

use super::*;

/// What a baseline file's header says.
pub(super) struct Header {
    pub(super) version: u32,
    pub(super) created: i64,
    pub(super) origin: Option<(i64, u32)>,
    pub(super) mounts: Vec<Vec<u8>>,
    pub(super) ndirs: u64,
}

/// The header's start: version, creation time and (version 2 and later)
/// the origin; no mount points, no directories yet.
fn start(r: &mut Reader<'_>) -> anyhow::Result<Header> {
    if r.take(MAGIC.len())? != MAGIC {
        bail!("not an impermctl baseline (bad magic)");
    }
    let version = u32::from_le_bytes(r.array()?);
    if !(1..=VERSION).contains(&version) {
        bail!("baseline version {version}, this impermctl reads versions 1 to {VERSION}");
    }
    let created = i64::from_le_bytes(r.array()?);
    let mut origin = None;
    if version >= 2 {
        let s = i64::from_le_bytes(r.array()?);
        let ns = u32::from_le_bytes(r.array()?);
        origin = (s != i64::MIN).then_some((s, ns.min(999_999_999)));
    }
    let (mounts, ndirs) = (Vec::new(), 0);
    Ok(Header {
        version,
        created,
        origin,
        mounts,
        ndirs,
    })
}

/// Read the header (magic to directory count).
pub(super) fn header(r: &mut Reader<'_>) -> anyhow::Result<Header> {
    let mut h = start(r)?;
    if h.version >= 2 {
        let n = u32::from_le_bytes(r.array()?);
        for _ in 0..n {
            let len = u16::from_le_bytes(r.array()?) as usize;
            h.mounts.push(r.take(len)?.to_vec());
        }
    }
    h.ndirs = u64::from_le_bytes(r.array()?);
    Ok(h)
}

/// A directory record at byte `at` of `b`: its path and where its
/// entries are (offsets into `b`).
pub(super) fn record_loc(b: &[u8], at: usize) -> Option<(&[u8], Loc)> {
    let len = u16::from_le_bytes(le(b, at)?) as usize;
    let dir = b.get(at + 2..at + 2 + len)?;
    let o = at + 2 + len;
    let count = u32::from_le_bytes(le(b, o)?) as usize;
    let bytes = u32::from_le_bytes(le(b, o + 4)?) as usize;
    let start = o + 8;
    let sorted = start.checked_add(bytes)?;
    let end = sorted.checked_add(count.checked_mul(4)?)?;
    let loc = Loc {
        entries: start,
        end: sorted,
        sorted,
        count,
    };
    (end <= b.len()).then_some((dir, loc))
}

/// The origin in the first bytes of a baseline file (version 2 and
/// later; `None` for version 1, an unknown origin or other bytes).
pub fn origin_in(head: &[u8]) -> Option<(i64, u32)> {
    start(&mut Reader { b: head, pos: 0 }).ok()?.origin
}

pub(super) struct Reader<'a> {
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            bail!("truncated at byte {}", self.pos)
        };
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub(super) fn array<const N: usize>(&mut self) -> anyhow::Result<[u8; N]> {
        Ok(self.take(N)?.try_into()?)
    }
}

/// Each kind and the byte that stands for it in the file.
const KIND_BYTES: [(Kind, u8); 7] = [
    (Kind::File, b'f'),
    (Kind::Dir, b'd'),
    (Kind::Symlink, b'l'),
    (Kind::Fifo, b'p'),
    (Kind::Socket, b's'),
    (Kind::Device, b'c'),
    (Kind::Unknown, b'?'),
];

/// The byte that stands for `k` in the file.
pub fn kind_byte(k: Kind) -> u8 {
    KIND_BYTES
        .iter()
        .find(|(x, _)| *x == k)
        .map_or(b'?', |e| e.1)
}

/// The kind a byte of the file stands for.
pub fn kind_from(b: u8) -> anyhow::Result<Kind> {
    match KIND_BYTES.iter().find(|(_, x)| *x == b) {
        Some(&(k, _)) => Ok(k),
        None => bail!("unknown entry type byte {b:#04x}"),
    }
}
