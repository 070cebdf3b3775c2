//! Issue 14.6: baseline lengths are checked on the way in and out. An
//! over-long directory path is left out (never a corrupt file), and the
//! decoder survives arbitrary bytes (the same property the `baseline`
//! fuzz target checks with cargo-fuzz).

use proptest::prelude::*;

use crate::baseline::format::{Baseline, Rec, encode, unencodable};
use crate::sys::meta::Kind;

fn rec(ino: u64) -> Rec {
    Rec {
        kind: Kind::File,
        ino,
        size: 1,
        mtime: (1, 2),
        ctime: (3, 4),
    }
}

/// Decode and look at everything: never a panic, whatever the bytes.
fn exercise(bytes: Vec<u8>) {
    if let Ok(b) = Baseline::decode(bytes) {
        let all: Vec<_> = b.iter().collect();
        for (p, _) in all.iter().take(64) {
            let _ = b.get(p);
        }
        let _ = b.get(b"/a/b");
    }
}

#[test]
fn a_directory_path_over_64_kib_is_left_out_not_corrupting() {
    let deep: Vec<u8> = std::iter::once(b'/')
        .chain((0..300).flat_map(|_| std::iter::repeat_n(b'd', 250).chain([b'/'])))
        .chain(*b"f")
        .collect();
    assert!(deep.len() > 65_535);
    let mut entries = vec![(b"/etc/ok".to_vec(), rec(1)), (deep.clone(), rec(2))];
    assert_eq!(unencodable(&entries), [deep.as_slice()]);
    let b = Baseline::decode(encode(7, &mut entries)).expect("decodes");
    assert_eq!(b.len(), 1);
    assert_eq!(b.get(b"/etc/ok"), Some(rec(1)));
    assert_eq!(b.get(&deep), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(bytes);
    }

    #[test]
    fn a_damaged_real_baseline_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut entries = vec![
            (b"/a".to_vec(), Rec { kind: Kind::Dir, ..rec(1) }),
            (b"/a/b".to_vec(), rec(2)),
            (b"/a/\xff\n".to_vec(), rec(3)),
            (b"/c".to_vec(), rec(4)),
        ];
        let mut good = encode(1, &mut entries);
        for (at, v) in flips {
            let i = at.index(good.len());
            good[i] = v;
        }
        let keep = cut.index(good.len() + 1);
        good.truncate(keep.max(good.len() / 2));
        exercise(good);
    }
}
