//! The file `/run/impermctl/changes`: the watcher's list with its frame,
//! written by the daemon ([`super::answer`]) and read by `diff`
//! (`diff::fast`).
//!
//! File format (little-endian): magic `IMPERMCTL-CHANGES\n`, `u32` version
//! (4; versions 1 to 3 are still read), `u32` daemon pid, `u64` its start (clock ticks after boot,
//! `/proc/PID/stat`), `u64` answer sequence, `u32` pid the answer is for
//! (the signal's sender), `i64`+`u32` since (Unix s, ns), `u8` flags
//! (version 2; bit 0: [`List::ignored_links_heard`]; version 3, bit 1:
//! baseline records follow each name, and the baseline file's `i64`+`u32`
//! mtime and `u64` inode come next; version 4, bit 2: the names below the
//! ignored paths are listed; no other bit may be set), then byte strings
//! (`u32` length + bytes): the gap (empty: complete), then lists (`u32`
//! count + strings): mount points, ignored paths, (version 2) ignored
//! directories whose files `diff` checks for links (and walks to count),
//! (version 4, with bit 2) the names below the ignored paths, subtrees, then `u32` run count and
//! per run a directory's path and a list of its names (runs in the order of
//! the whole paths since the version 4 writer of 2026-11-30: a directory may
//! have several runs; older files are sorted on reading); with records, each name
//! is followed by `u8` 0 (not in the baseline) or 1 and the record (`u8`
//! type as the baseline writes it, `u64` inode, `u64` size, `i64`+`u32`
//! mtime, `i64`+`u32` ctime).

use anyhow::bail;

use super::Changes;
use crate::baseline::format::{kind_byte, kind_from};
use crate::baseline::{Baseline, Rec};

const MAGIC: &[u8] = b"IMPERMCTL-CHANGES\n";
const VERSION: u32 = 4;
/// Flag bits a version 4 file may set.
const FLAGS: u8 = 0b111;

/// A baseline file as the watcher loaded it: (mtime seconds, nanoseconds,
/// inode). A retake renames a new file into place: another inode.
pub type FileId = (i64, u32, u64);
/// Bytes before the variable part (magic, version, pid, start, seq, for).
pub const HEADER: usize = MAGIC.len() + 4 + 4 + 8 + 8 + 4;

/// The list as written, or as `diff` reads it back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List {
    /// The daemon's pid.
    pub pid: u32,
    /// Its start, clock ticks after boot (tells a reused pid apart).
    pub start: u64,
    /// Answer sequence number (0: written at start-up, answering no one).
    pub seq: u64,
    /// The pid whose request this answers.
    pub for_pid: u32,
    /// Complete since (Unix seconds, nanoseconds): changes at or after it
    /// are listed.
    pub since: (i64, u32),
    /// Why it cannot stand for a walk (None: it can).
    pub gap: Option<String>,
    /// Logical mount points the watcher leaves out.
    pub mounts: Vec<Vec<u8>>,
    /// Logical paths it does not watch (`watch.ignore`, its run directory).
    pub ignore: Vec<Vec<u8>>,
    /// It hears every name created in those paths on the root's
    /// filesystem and stops vouching when one is a hard link (`gap`), so a
    /// link made there to a compared file cannot go unseen.
    pub ignored_links_heard: bool,
    /// Ignored directories (logical) whose creations are no longer heard
    /// one by one: `diff` checks every file below them for other links.
    pub link_trees: Vec<Vec<u8>>,
    /// Every logical path below the ignored paths (on the root's
    /// filesystem) that was there when the watcher started or was created
    /// or moved there since, but those below `link_trees`; sorted. `None`:
    /// the watcher does not vouch for them (`changes::Ignored`).
    pub ignored_names: Option<Vec<Vec<u8>>>,
    /// Logical subtrees to walk whole.
    pub trees: Vec<Vec<u8>>,
    /// Logical paths that changed, sorted.
    pub paths: Vec<Vec<u8>>,
    /// The baseline file the watcher looked the paths up in (`recs`);
    /// `None`: it had none, and `recs` is empty.
    pub baseline: Option<FileId>,
    /// Per path (as `paths`), that baseline's record (`None`: not in it).
    /// `diff` uses them when it opened the same file: no lookup of its own.
    pub recs: Vec<Option<Rec>>,
}

/// Bytes of a record after its `u8` 1: type, inode, size, mtime, ctime.
const REC: usize = 1 + 8 + 8 + 12 + 12;

fn put_rec(out: &mut Vec<u8>, r: Option<Rec>) {
    let Some(r) = r else {
        out.push(0);
        return;
    };
    out.extend_from_slice(&[1, kind_byte(r.kind)]);
    for v in [r.ino, r.size] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (s, ns) in [r.mtime, r.ctime] {
        out.extend_from_slice(&s.to_le_bytes());
        out.extend_from_slice(&ns.to_le_bytes());
    }
}

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn put_list<'a>(out: &mut Vec<u8>, items: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    items.for_each(|b| put(out, b));
}

/// Encode the daemon's list with its frame (`list.paths`, `list.trees`
/// and `list.recs` are ignored: they come from `c`), with each path's
/// record in `baseline` (the baseline and its file's id) if given.
pub fn encode(list: &List, c: &Changes, baseline: Option<(&Baseline, FileId)>) -> Vec<u8> {
    let per_name = if baseline.is_some() { 64 } else { 24 };
    let mut out = Vec::with_capacity(256 + c.len * per_name);
    out.extend_from_slice(MAGIC);
    for v in [VERSION, list.pid] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&list.start.to_le_bytes());
    out.extend_from_slice(&list.seq.to_le_bytes());
    out.extend_from_slice(&list.for_pid.to_le_bytes());
    out.extend_from_slice(&list.since.0.to_le_bytes());
    out.extend_from_slice(&list.since.1.to_le_bytes());
    let ignored = c.ignored_names();
    out.push(
        u8::from(list.ignored_links_heard)
            | (u8::from(baseline.is_some()) << 1)
            | (u8::from(ignored.is_some()) << 2),
    );
    if let Some((_, (s, ns, ino))) = baseline {
        out.extend_from_slice(&s.to_le_bytes());
        out.extend_from_slice(&ns.to_le_bytes());
        out.extend_from_slice(&ino.to_le_bytes());
    }
    put(&mut out, list.gap.as_deref().unwrap_or("").as_bytes());
    put_list(&mut out, list.mounts.iter().map(|m| m.as_slice()));
    put_list(&mut out, list.ignore.iter().map(|m| m.as_slice()));
    put_list(&mut out, c.link_trees.iter().map(|t| &t[..]));
    if let Some(names) = ignored {
        put_list(&mut out, names.iter().map(|n| &n[..]));
    }
    put_list(&mut out, c.trees.iter().map(|t| &t[..]));
    let runs = runs(c);
    out.extend_from_slice(&(runs.len() as u32).to_le_bytes());
    for (dir, names) in runs {
        put(&mut out, dir);
        let Some((b, _)) = baseline else {
            put_list(&mut out, names.into_iter());
            continue;
        };
        out.extend_from_slice(&(names.len() as u32).to_le_bytes());
        let view = b.dir(dir);
        let mut next = 0;
        for n in names {
            put(&mut out, n);
            put_rec(&mut out, view.and_then(|v| v.get(n, &mut next)));
        }
    }
    out
}

/// The listed names in the order of their whole paths, in runs of one
/// directory's names (a directory may have several runs): `diff` reads
/// the paths sorted and does not sort them again.
fn runs(c: &Changes) -> Vec<(&[u8], Vec<&[u8]>)> {
    let mut all: Vec<(Vec<u8>, &[u8], &[u8])> = Vec::with_capacity(c.len);
    for (d, names) in &c.dirs {
        for n in names {
            let mut p = Vec::with_capacity(d.len() + 1 + n.len());
            if &d[..] != b"/" {
                p.extend_from_slice(d);
            }
            p.push(b'/');
            p.extend_from_slice(n);
            all.push((p, d, n));
        }
    }
    all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut runs: Vec<(&[u8], Vec<&[u8]>)> = Vec::new();
    for (_, d, n) in all {
        match runs.last_mut() {
            Some((last, names)) if *last == d => names.push(n),
            _ => runs.push((d, vec![n])),
        }
    }
    runs
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        if self.0.len() < n {
            bail!("truncated");
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }
    fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }
    fn bytes(&mut self) -> anyhow::Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn list(&mut self) -> anyhow::Result<Vec<Vec<u8>>> {
        let n = self.u32()? as usize;
        (0..n).map(|_| Ok(self.bytes()?.to_vec())).collect()
    }
    fn time(&mut self) -> anyhow::Result<(i64, u32)> {
        Ok((self.u64()? as i64, self.u32()?))
    }
    fn rec(&mut self) -> anyhow::Result<Option<Rec>> {
        if self.take(1)?[0] == 0 {
            return Ok(None);
        }
        Ok(Some(Rec {
            kind: kind_from(self.take(1)?[0])?,
            ino: self.u64()?,
            size: self.u64()?,
            mtime: self.time()?,
            ctime: self.time()?,
        }))
    }
}

/// The fixed header: (pid, start, seq, for_pid). Needs [`HEADER`] bytes.
pub fn header(b: &[u8]) -> anyhow::Result<(u32, u64, u64, u32)> {
    let mut r = Reader(b);
    if r.take(MAGIC.len())? != MAGIC {
        bail!("not an impermctl changes file (bad magic)");
    }
    let v = r.u32()?;
    if !(1..=VERSION).contains(&v) {
        bail!("changes file version {v}, this impermctl reads versions 1 to {VERSION}");
    }
    Ok((r.u32()?, r.u64()?, r.u64()?, r.u32()?))
}

/// Decode a whole file (paths sorted).
pub fn decode(b: &[u8]) -> anyhow::Result<List> {
    let (pid, start, seq, for_pid) = header(b)?;
    let mut r = Reader(&b[HEADER..]);
    let since = r.time()?;
    let version = u32::from_le_bytes(b[MAGIC.len()..MAGIC.len() + 4].try_into()?);
    let flags = if version >= 2 { r.take(1)?[0] } else { 0 };
    let known = match version {
        4.. => FLAGS,
        3 => 0b11,
        _ => 0b1,
    };
    if flags & !known != 0 {
        bail!("unknown flags {flags:#04x} in a version {version} changes file");
    }
    // (Bits a version does not know were refused above.)
    let baseline = (flags & 2 != 0).then(|| anyhow::Ok((r.u64()? as i64, r.u32()?, r.u64()?)));
    let baseline = baseline.transpose()?;
    let gap = String::from_utf8_lossy(r.bytes()?).into_owned();
    let (mounts, ignore) = (r.list()?, r.list()?);
    let link_trees = if version >= 2 { r.list()? } else { Vec::new() };
    let ignored_names = (flags & 4 != 0).then(|| r.list()).transpose()?;
    let trees = r.list()?;
    let ndirs = r.u32()?;
    // Counted first: each vector is allocated once, at its size.
    let n = names(Reader(r.0), ndirs, baseline.is_some())?;
    let mut paths = Vec::with_capacity(n);
    let mut recs = Vec::with_capacity(if baseline.is_some() { n } else { 0 });
    for _ in 0..ndirs {
        let dir = r.bytes()?;
        for _ in 0..r.u32()? {
            let name = r.bytes()?;
            let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
            if dir != b"/" {
                p.extend_from_slice(dir);
            }
            p.push(b'/');
            p.extend_from_slice(name);
            paths.push(p);
            if baseline.is_some() {
                recs.push(r.rec()?);
            }
        }
    }
    if !r.0.is_empty() {
        bail!("{} trailing bytes", r.0.len());
    }
    sort_with(&mut paths, &mut recs);
    Ok(List {
        pid,
        start,
        seq,
        for_pid,
        since,
        gap: (!gap.is_empty()).then_some(gap),
        mounts,
        ignore,
        ignored_links_heard: flags & 1 != 0,
        link_trees,
        ignored_names,
        trees,
        paths,
        recs,
        baseline,
    })
}

/// How many names `ndirs` directories hold (each with a record when
/// `recs`), read from `r` without keeping them.
fn names(mut r: Reader<'_>, ndirs: u32, recs: bool) -> anyhow::Result<usize> {
    let mut n = 0;
    for _ in 0..ndirs {
        r.bytes()?;
        let k = r.u32()?;
        for _ in 0..k {
            r.bytes()?;
            if recs && r.take(1)?[0] != 0 {
                r.take(REC)?;
            }
        }
        n += k as usize;
    }
    Ok(n)
}

/// Sort `paths`, and `recs` (empty, or one per path) alike: the indices
/// are sorted, then both moved into place in one pass (no copy of either).
fn sort_with(paths: &mut [Vec<u8>], recs: &mut [Option<Rec>]) {
    if paths.is_sorted() {
        return;
    }
    let mut order: Vec<u32> = (0..paths.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| paths[a as usize].cmp(&paths[b as usize]));
    // Each cycle of the permutation: the place `k` takes what belongs there
    // (`order[k]`), carrying what it held on to the next place.
    for start in 0..order.len() {
        let mut k = start;
        while order[k] as usize != start {
            let from = order[k] as usize;
            order[k] = k as u32;
            paths.swap(k, from);
            if !recs.is_empty() {
                recs.swap(k, from);
            }
            k = from;
        }
        order[k] = k as u32;
    }
}

#[cfg(test)]
mod tests;
