//! The file `/run/impermctl/changes`: the watcher's list with its frame,
//! written by the daemon ([`super::answer`]) and read by `diff`
//! (`diff::fast`).
//!
//! File format (little-endian): magic `IMPERMCTL-CHANGES\n`, `u32` version
//! (2), `u32` daemon pid, `u64` its start (clock ticks after boot,
//! `/proc/PID/stat`), `u64` answer sequence, `u32` pid the answer is for
//! (the signal's sender), `i64`+`u32` since (Unix s, ns), `u8` flags
//! (version 2; bit 0: [`List::ignored_links_heard`]), then byte strings
//! (`u32` length + bytes): the gap (empty: complete), then lists (`u32`
//! count + strings): mount points, ignored paths, (version 2) ignored
//! directories whose files `diff` checks for links, subtrees, then `u32`
//! directory count and per directory its path and its list of names.

use anyhow::bail;

use super::Changes;

const MAGIC: &[u8] = b"IMPERMCTL-CHANGES\n";
const VERSION: u32 = 2;
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
    /// Logical subtrees to walk whole.
    pub trees: Vec<Vec<u8>>,
    /// Logical paths that changed, sorted.
    pub paths: Vec<Vec<u8>>,
}

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn put_list<'a>(out: &mut Vec<u8>, items: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    items.for_each(|b| put(out, b));
}

/// Encode the daemon's list with its frame (`list.paths` and `list.trees`
/// are ignored: they come from `c`).
pub fn encode(list: &List, c: &Changes) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + c.len * 24);
    out.extend_from_slice(MAGIC);
    for v in [VERSION, list.pid] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&list.start.to_le_bytes());
    out.extend_from_slice(&list.seq.to_le_bytes());
    out.extend_from_slice(&list.for_pid.to_le_bytes());
    out.extend_from_slice(&list.since.0.to_le_bytes());
    out.extend_from_slice(&list.since.1.to_le_bytes());
    out.push(u8::from(list.ignored_links_heard));
    put(&mut out, list.gap.as_deref().unwrap_or("").as_bytes());
    put_list(&mut out, list.mounts.iter().map(|m| m.as_slice()));
    put_list(&mut out, list.ignore.iter().map(|m| m.as_slice()));
    put_list(&mut out, c.link_trees.iter().map(|t| &t[..]));
    put_list(&mut out, c.trees.iter().map(|t| &t[..]));
    out.extend_from_slice(&(c.dirs.len() as u32).to_le_bytes());
    for (dir, names) in &c.dirs {
        put(&mut out, dir);
        put_list(&mut out, names.iter().map(|n| &n[..]));
    }
    out
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
    let since = (r.u64()? as i64, r.u32()?);
    let version = u32::from_le_bytes(b[MAGIC.len()..MAGIC.len() + 4].try_into()?);
    let flags = if version >= 2 { r.take(1)?[0] } else { 0 };
    let gap = String::from_utf8_lossy(r.bytes()?).into_owned();
    let (mounts, ignore) = (r.list()?, r.list()?);
    let link_trees = if version >= 2 { r.list()? } else { Vec::new() };
    let trees = r.list()?;
    let ndirs = r.u32()?;
    let mut paths = Vec::new();
    for _ in 0..ndirs {
        let dir = r.bytes()?.to_vec();
        for name in r.list()? {
            let mut p = if dir == b"/" { Vec::new() } else { dir.clone() };
            p.push(b'/');
            p.extend_from_slice(&name);
            paths.push(p);
        }
    }
    if !r.0.is_empty() {
        bail!("{} trailing bytes", r.0.len());
    }
    paths.sort_unstable();
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
        trees,
        paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use super::super::tests::list;

    #[test]
    fn names_and_trees_round_trip_as_raw_sorted_paths() {
        let mut c = Changes::default();
        for p in [
            "/var/lib/a",
            "/var/lib/a",
            "/etc/x\ny",
            "/top",
            "/var/lib/b",
        ] {
            c.note(Path::new(p));
        }
        c.note(Path::new(std::ffi::OsStr::from_bytes(b"/etc/\xff")));
        c.note(Path::new("/"));
        c.tree(Path::new("/var/lib/muted"));
        assert_eq!(c.len(), 6);
        let l = list(&c);
        let want: Vec<&[u8]> = vec![
            b"/etc/x\ny",
            b"/etc/\xff",
            b"/top",
            b"/var/lib/a",
            b"/var/lib/b",
        ];
        assert_eq!(l.paths, want);
        assert_eq!(l.trees, vec![b"/var/lib/muted".to_vec()]);
        assert_eq!((l.pid, l.start, l.seq, l.for_pid), (7, 9, 3, 11));
        assert_eq!(l.since, (1_700_000_000, 5));
        assert_eq!(l.mounts, vec![b"/p0".to_vec()]);
        assert_eq!(l.ignore.len(), 2);
        assert_eq!(l.gap, None);
    }

    /// Version 2's flag round-trips; a version 1 file (no flag byte)
    /// still reads, as not hearing ignored directories.
    #[test]
    fn the_ignored_links_flag_round_trips_and_version_1_reads_without_it() {
        let mut c = Changes::default();
        c.note(Path::new("/a/b"));
        let heard = List {
            ignored_links_heard: true,
            since: (3, 4),
            ..List::default()
        };
        let v2 = encode(&heard, &c);
        let back = decode(&v2).unwrap();
        assert!(back.ignored_links_heard);
        assert_eq!(back.paths, vec![b"/a/b".to_vec()]);
        // The same as version 1 wrote it.
        let mut v1 = v2.clone();
        v1[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&1u32.to_le_bytes());
        v1.remove(HEADER + 12);
        // gap, mounts, ignore (empty: 4 bytes each), then the link trees'
        // count, which version 1 did not have.
        v1.drain(HEADER + 12 + 12..HEADER + 12 + 16);
        let old = decode(&v1).unwrap();
        assert_eq!((old.ignored_links_heard, old.since), (false, (3, 4)));
        assert_eq!(old.paths, vec![b"/a/b".to_vec()]);
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let mut c = Changes::default();
        c.note(Path::new("/a/b"));
        let good = encode(&List::default(), &c);
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut {cut}");
        }
        assert!(decode(b"IMPERMCTL-CHANGES\n\x02\0\0\0").is_err());
        let mut long = good.clone();
        long.push(0);
        assert!(decode(&long).is_err());
    }
}
