//! The changes file's format: round trips, older versions, damage.

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
    let v2 = encode(&heard, &c, None);
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

/// Version 3: each name carries the baseline's record of it, or says
/// it has none; the baseline file's id comes along.
#[test]
fn baseline_records_round_trip_with_their_paths() {
    use crate::sys::meta::Kind;
    let rec = |ino| Rec {
        kind: Kind::File,
        ino,
        size: 3,
        mtime: (-5, 7),
        ctime: (1_700_000_000, 999_999_999),
    };
    let mut entries = vec![(b"/z/b".to_vec(), rec(2)), (b"/a".to_vec(), rec(1))];
    let b = Baseline::decode(crate::baseline::encode(1, &mut entries)).unwrap();
    let mut c = Changes::default();
    for p in ["/z/b", "/z/new", "/a"] {
        c.note(Path::new(p));
    }
    let bytes = encode(&List::default(), &c, Some((&b, (9, 8, 7))));
    let l = decode(&bytes).unwrap();
    assert_eq!(l.baseline, Some((9, 8, 7)));
    assert_eq!(
        l.paths,
        vec![b"/a".to_vec(), b"/z/b".to_vec(), b"/z/new".to_vec()]
    );
    assert_eq!(l.recs, vec![Some(rec(1)), Some(rec(2)), None]);
    for cut in 0..bytes.len() {
        assert!(decode(&bytes[..cut]).is_err(), "cut {cut}");
    }
    let without = decode(&encode(&List::default(), &c, None)).unwrap();
    assert_eq!((without.baseline, without.recs.len()), (None, 0));
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let mut c = Changes::default();
    c.note(Path::new("/a/b"));
    let good = encode(&List::default(), &c, None);
    for cut in 0..good.len() {
        assert!(decode(&good[..cut]).is_err(), "cut {cut}");
    }
    assert!(decode(b"IMPERMCTL-CHANGES\n\x02\0\0\0").is_err());
    let mut long = good.clone();
    long.push(0);
    assert!(decode(&long).is_err());
}

/// Version 4: the names below the ignored directories, when the watcher
/// vouches for them (it hears there, and kept fewer than the cap); a
/// version 3 file has none (diff counts by a walk); unknown flags are
/// refused.
#[test]
fn ignored_names_round_trip_only_when_vouched_for() {
    let mut c = Changes::default();
    c.note(Path::new("/srv/a"));
    c.ignored.names.insert(b"/tmp/x"[..].into());
    c.ignored.names.insert(b"/tmp/d/y"[..].into());
    assert_eq!(
        decode(&encode(&List::default(), &c, None))
            .unwrap()
            .ignored_names,
        None
    );
    c.ignored_links_heard = true;
    let bytes = encode(&List::default(), &c, None);
    let l = decode(&bytes).unwrap();
    assert_eq!(
        l.ignored_names,
        Some(vec![b"/tmp/d/y".to_vec(), b"/tmp/x".to_vec()])
    );
    assert_eq!(l.paths, vec![b"/srv/a".to_vec()]);
    for cut in 0..bytes.len() {
        assert!(decode(&bytes[..cut]).is_err(), "cut {cut}");
    }
    let flags = HEADER + 12;
    let mut v3 = bytes.clone();
    v3[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&3u32.to_le_bytes());
    assert!(decode(&v3).is_err(), "bit 2 is unknown to version 3");
    let mut odd = bytes.clone();
    odd[flags] |= 8;
    assert!(
        decode(&odd)
            .unwrap_err()
            .to_string()
            .contains("unknown flags")
    );
    c.ignored.give_up();
    assert_eq!(
        decode(&encode(&List::default(), &c, None))
            .unwrap()
            .ignored_names,
        None
    );
}

/// Paths come back sorted with each record still beside its path, in
/// every order they may be read in (in order, reversed, shuffled, cycles
/// of every length), with and without records.
#[test]
fn sorting_keeps_each_record_with_its_path() {
    use crate::sys::meta::Kind;
    let rec = |ino| Rec {
        kind: Kind::File,
        ino,
        size: 0,
        mtime: (0, 0),
        ctime: (0, 0),
    };
    let n = 257u64;
    let name = |i: u64| format!("/d{}/f{i:03}", i % 7).into_bytes();
    let orders: Vec<Vec<u64>> = vec![
        (0..n).collect(),
        (0..n).rev().collect(),
        (0..n).map(|i| (i * 101 + 13) % n).collect(),
        (0..n).map(|i| (i + 1) % n).collect(),
        (0..n)
            .map(|i| i ^ 1)
            .filter(|&i| i < n)
            .chain([n - 1])
            .collect(),
    ];
    for order in orders {
        let mut paths: Vec<Vec<u8>> = order.iter().map(|&i| name(i)).collect();
        let mut recs: Vec<Option<Rec>> = order.iter().map(|&i| Some(rec(i))).collect();
        let mut bare = paths.clone();
        sort_with(&mut paths, &mut recs);
        sort_with(&mut bare, &mut []);
        let mut want: Vec<Vec<u8>> = (0..n).map(name).collect();
        want.sort();
        assert_eq!(paths, want);
        assert_eq!(bare, want);
        for (p, r) in paths.iter().zip(&recs) {
            assert_eq!(&name(r.unwrap().ino), p);
        }
    }
}

/// The names are written in the order of their whole paths (a directory
/// split in runs where names of a subdirectory sort between its own), so
/// `diff` reads them sorted: `/a/b` < `/a/b/x` < `/a/b0` < `/a/c` < `/a-b`.
#[test]
fn names_are_written_in_the_order_of_whole_paths() {
    let mut c = Changes::default();
    for p in ["/a-b", "/a/c", "/a/b/x", "/a/b0", "/a/b", "/z", "/a/b/y/1"] {
        c.note(Path::new(p));
    }
    let runs = runs(&c);
    let whole: Vec<String> = runs
        .iter()
        .flat_map(|(d, names)| {
            names.iter().map(move |n| match *d {
                b"/" => format!("/{}", String::from_utf8_lossy(n)),
                d => format!(
                    "{}/{}",
                    String::from_utf8_lossy(d),
                    String::from_utf8_lossy(n)
                ),
            })
        })
        .collect();
    let mut want = whole.clone();
    want.sort();
    assert_eq!(whole, want);
    assert_eq!(whole.len(), list(&c).paths.len());
    assert_eq!(runs.iter().filter(|(d, _)| *d == b"/a").count(), 2);
}
