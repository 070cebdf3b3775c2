//! Version 3's directory index (issue 17): a baseline opened on demand
//! (positioned reads) answers as the whole file does, also after a rename
//! over it; versions 1 and 2 still read
//! whole; damage never panics.

use std::io::Write;

use crate::baseline::format::{Baseline, Rec, encode, encode_with};
use crate::baseline::index;
use crate::sys::meta::Kind;

fn rec(ino: u64, kind: Kind) -> Rec {
    Rec {
        kind,
        ino,
        size: ino * 7,
        mtime: (1_700_000_000 + ino as i64, 3),
        ctime: (-1, 999_999_999),
    }
}

/// A version 3 file's bytes as version 2 wrote them (no index).
pub fn as_version_2(v3: &[u8]) -> Vec<u8> {
    let t = index::trailer(&v3[v3.len() - index::TRAILER..], v3.len() as u64).unwrap();
    let mut v2 = v3[..t.index as usize].to_vec();
    let at = b"IMPERMCTL-BASELINE\n".len();
    v2[at..at + 4].copy_from_slice(&2u32.to_le_bytes());
    v2
}

/// 400 directories (raw names, a newline, the root) of 1–20 entries.
fn tree() -> Vec<(Vec<u8>, Rec)> {
    let mut v = vec![(b"/top".to_vec(), rec(1, Kind::File))];
    for d in 0..400u64 {
        let dir = format!("/d{}/s{}", d % 37, d).into_bytes();
        v.push((dir.clone(), rec(d + 10, Kind::Dir)));
        for f in 0..(d % 20 + 1) {
            let mut p = dir.clone();
            p.extend_from_slice(format!("/f{f}").as_bytes());
            if f == 3 {
                p.extend_from_slice(b"\n\xff");
            }
            v.push((p, rec(d * 100 + f + 1000, Kind::File)));
        }
    }
    v
}

fn file_of(bytes: &[u8]) -> std::fs::File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f
}

#[test]
fn opened_on_demand_it_answers_as_the_whole_file() {
    let mut entries = tree();
    let mounts = vec![b"/p0".to_vec()];
    let bytes = encode_with(5, Some((4, 2)), &mounts, &mut entries);
    let whole = Baseline::decode(bytes.clone()).unwrap();
    let lazy = Baseline::open_file(file_of(&bytes)).unwrap();
    assert!(!whole.on_demand() && lazy.on_demand());
    assert_eq!(
        (lazy.created, lazy.origin, &lazy.mounts, lazy.len()),
        (5, Some((4, 2)), &mounts, entries.len())
    );
    assert_eq!(
        lazy.get(b"/d6/s43/f3\n\xff"),
        whole.get(b"/d6/s43/f3\n\xff")
    );
    assert!(lazy.get(b"/d6/s43/f3\n\xff").is_some());
    assert_eq!(lazy.get(b"/d6/s43/nope"), None);
    assert_eq!(lazy.get(b"/nowhere/x"), None);
    for (p, r) in &entries {
        assert_eq!(lazy.get(p), Some(*r), "{}", String::from_utf8_lossy(p));
    }
    let sorted = |b: &Baseline| {
        let mut v: Vec<_> = b.iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(sorted(&lazy), sorted(&whole));
    let resident = lazy.into_resident().unwrap();
    assert!(!resident.on_demand());
    assert_eq!(sorted(&resident), sorted(&whole));
}

#[test]
fn opened_on_demand_it_still_reads_the_file_opened_after_a_rename_over_it() {
    let mut entries = tree();
    let bytes = encode(5, &mut entries);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("baseline");
    std::fs::write(&p, &bytes).unwrap();
    let lazy = Baseline::open_file(std::fs::File::open(&p).unwrap()).unwrap();
    assert!(lazy.on_demand());
    let mut other = vec![(b"/top".to_vec(), rec(2, Kind::Dir))];
    crate::sys::fs::write_file_atomic(&p, &encode(6, &mut other), 0o600).unwrap();
    for (p, r) in &entries {
        assert_eq!(lazy.get(p), Some(*r), "{}", String::from_utf8_lossy(p));
    }
    assert_eq!(lazy.into_resident().unwrap().len(), entries.len());
}

#[test]
fn version_1_and_2_files_still_open_read_whole() {
    let mut entries = tree();
    let v3 = encode_with(5, Some((4, 2)), &[b"/m".to_vec()], &mut entries);
    let v2 = as_version_2(&v3);
    let b = Baseline::open_file(file_of(&v2)).unwrap();
    assert_eq!(
        (b.origin, b.len(), b.on_demand()),
        (Some((4, 2)), entries.len(), false)
    );
    for (p, r) in &entries {
        assert_eq!(b.get(p), Some(*r));
    }
    // Version 1: no origin, no mount points.
    let v2 = as_version_2(&encode(9, &mut entries));
    let at = b"IMPERMCTL-BASELINE\n".len();
    let mut v1 = v2[..at].to_vec();
    v1.extend_from_slice(&1u32.to_le_bytes());
    v1.extend_from_slice(&9i64.to_le_bytes());
    v1.extend_from_slice(&v2[at + 4 + 8 + 8 + 4 + 4..]);
    let b = Baseline::open_file(file_of(&v1)).unwrap();
    assert_eq!((b.created, b.origin, b.len()), (9, None, entries.len()));
    assert_eq!(b.get(b"/top"), Some(rec(1, Kind::File)));
}

#[test]
fn a_damaged_index_or_trailer_is_an_error_or_a_wrong_answer_never_a_panic() {
    let mut entries = tree();
    let good = encode(1, &mut entries);
    let n = good.len();
    // Every byte of the trailer, bytes of the index and of the records.
    let spots = (n - index::TRAILER..n)
        .chain((n - 400 * index::ENTRY - index::TRAILER..n).step_by(7))
        .chain((40..n).step_by(997));
    for at in spots {
        for v in [0u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[at] ^= v | 1;
            for b in [
                Baseline::decode(bad.clone()).ok(),
                Baseline::open_file(file_of(&bad)).ok(),
            ]
            .into_iter()
            .flatten()
            {
                let _ = b.get(b"/d6/s43/f3\n\xff");
                let _ = b.get(b"/top");
                let _ = b.iter().take(50).count();
            }
        }
    }
    for cut in [0, 10, n / 2, n - index::TRAILER, n - 1] {
        assert!(
            Baseline::open_file(file_of(&good[..cut])).is_err() || cut == 0 || {
                // A cut that happens to leave a readable older-looking file is
                // still read whole and checked.
                Baseline::decode(good[..cut].to_vec()).is_ok()
            }
        );
    }
}
