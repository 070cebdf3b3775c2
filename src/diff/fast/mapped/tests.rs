use super::*;

/// Added paths go in sorted, once; with records when the list has them.
#[test]
fn merged_in_order_with_records() {
    use crate::baseline::Rec;
    use crate::sys::meta::Kind;
    let rec = |ino| Rec {
        kind: Kind::File,
        ino,
        size: 1,
        mtime: (1, 0),
        ctime: (1, 0),
    };
    let paths = |v: &[&str]| v.iter().map(|p| p.as_bytes().to_vec()).collect::<Vec<_>>();
    let mut list = List {
        paths: paths(&["/a", "/c", "/c/d"]),
        recs: vec![Some(rec(1)), None, Some(rec(3))],
        ..List::default()
    };
    let lookup = |p: &[u8]| (p == b"/b").then(|| rec(2));
    merge(&mut list, paths(&["/c-x", "/b", "/a", "/z"]), &lookup);
    assert_eq!(list.paths, paths(&["/a", "/b", "/c", "/c-x", "/c/d", "/z"]));
    assert_eq!(
        list.recs,
        [Some(rec(1)), Some(rec(2)), None, None, Some(rec(3)), None]
    );
    // No records (the watcher had no baseline): none are made up.
    let mut bare = List {
        paths: paths(&["/a"]),
        ..List::default()
    };
    merge(&mut bare, paths(&["/b"]), &lookup);
    assert_eq!((bare.paths.len(), bare.recs.len()), (2, 0));
}
