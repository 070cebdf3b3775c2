//! Tests of the baseline file format.
use super::*;

fn r(ino: u64) -> Rec {
    Rec {
        kind: Kind::File,
        ino,
        size: ino * 3,
        mtime: (-5, 7),
        ctime: (1_700_000_000, 999_999_999),
    }
}

#[test]
fn encode_decode_round_trips_raw_paths() {
    let dir = Rec {
        kind: Kind::Dir,
        ..r(1)
    };
    let mut entries = vec![
        (b"/var".to_vec(), r(5)),
        (b"/etc/a\nb".to_vec(), r(2)),
        (b"/etc".to_vec(), dir),
        (b"/etc/\xff\xfe".to_vec(), r(3)),
        (b"/etc/abc".to_vec(), r(4)),
        (b"/etc/abc/d".to_vec(), r(6)),
    ];
    let b = Baseline::decode(encode(42, &mut entries)).unwrap();
    assert_eq!(b.created, 42);
    assert_eq!(b.len(), 6);
    for (p, rec) in &entries {
        assert_eq!(b.get(p), Some(*rec), "{p:?}");
    }
    assert_eq!(b.get(b"/etc/ab"), None);
    assert_eq!(b.get(b"/nope/x"), None);
    assert_eq!((b.origin, b.mounts.len()), (None, 0));
    let (etc, mut next) = (b.dir(b"/etc").unwrap(), 0);
    assert_eq!(etc.get(b"a\nb", &mut next), Some(r(2)));
    let second = next;
    assert_eq!(
        etc.get(b"\xff\xfe", &mut next),
        Some(r(3)),
        "listing order kept"
    );
    next = second;
    assert_eq!(etc.get(b"abc", &mut next), Some(r(4)));
    assert_eq!(etc.get(b"\xff\xfe", &mut next), Some(r(3)));
    assert_eq!(etc.get(b"zz", &mut next), None);
    let mut round: Vec<_> = b.iter().collect();
    round.sort_by(|a, b| a.0.cmp(&b.0));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(round, entries);
}

#[test]
fn origin_and_mount_points_round_trip_and_version_1_still_reads() {
    let mounts = vec![b"/p0".to_vec(), b"/home/\xff".to_vec()];
    let mut entries = vec![(b"/a".to_vec(), r(1))];
    let b = Baseline::decode(encode_with(7, Some((5, 123)), &mounts, &mut entries)).unwrap();
    assert_eq!((b.created, b.origin), (7, Some((5, 123))));
    assert_eq!(b.mounts, mounts);
    assert_eq!(b.get(b"/a"), Some(r(1)));
    // The same file as version 1 wrote it: no origin, no mount points.
    let v2 = super::super::tests::index::as_version_2(&encode(9, &mut entries.clone()));
    let mut v1 = v2[..MAGIC.len()].to_vec();
    v1.extend_from_slice(&1u32.to_le_bytes());
    v1.extend_from_slice(&9i64.to_le_bytes());
    v1.extend_from_slice(&v2[MAGIC.len() + 4 + 8 + 8 + 4 + 4..]);
    assert_eq!(origin_in(&v1), None);
    let with = encode_with(7, Some((5, 123)), &mounts, &mut entries);
    assert_eq!(origin_in(&with[..60]), Some((5, 123)));
    assert_eq!(origin_in(&encode(7, &mut entries)), None);
    let old = Baseline::decode(v1).unwrap();
    assert_eq!((old.created, old.origin, old.mounts.len()), (9, None, 0));
    assert_eq!(old.get(b"/a"), Some(r(1)));
}

#[test]
fn corrupt_baselines_are_errors_not_panics() {
    let good = encode(1, &mut vec![(b"/a".to_vec(), r(1))]);
    for cut in 0..good.len() {
        assert!(Baseline::decode(good[..cut].to_vec()).is_err(), "cut {cut}");
    }
    // Damage inside an entry: decoding succeeds, lookups stay in bounds.
    for at in MAGIC.len() + 4 + 8 + 8 + 2 + 2 + 4 + 4..good.len() {
        for v in [0u8, 0x7f, 0xff] {
            let mut bad = good.clone();
            bad[at] = v;
            if let Ok(b) = Baseline::decode(bad) {
                let _ = b.get(b"/a");
                let _ = b.iter().count();
            }
        }
    }
    assert!(Baseline::decode(b"hello".to_vec()).is_err());
}
