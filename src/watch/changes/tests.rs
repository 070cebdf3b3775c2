//! The list's cap and the hard-link check.

use super::*;

pub(super) fn list(c: &Changes) -> List {
    let frame = List {
        pid: 7,
        start: 9,
        seq: 3,
        for_pid: 11,
        since: (1_700_000_000, 5),
        gap: None,
        mounts: vec![b"/p0".to_vec()],
        ignore: vec![b"/tmp".to_vec(), b"/run/impermctl".to_vec()],
        ..List::default()
    };
    decode(&encode(&frame, c, None)).unwrap()
}

#[test]
fn past_the_cap_the_list_is_dropped_and_says_so() {
    let mut c = Changes {
        cap: CAP,
        ..Changes::default()
    };
    for i in 0..CAP {
        c.note(Path::new(&format!("/d{}/f{i}", i % 100)));
    }
    assert!(!c.full);
    assert_eq!(gap(None, 0), None);
    c.note(Path::new("/d0/f0"));
    assert!(!c.full, "a path already listed does not count twice");
    c.tree(Path::new("/one/more"));
    assert!(c.full);
    assert!(c.dirs.is_empty() && c.trees.is_empty(), "memory is freed");
    c.note(Path::new("/after"));
    assert!(list(&c).paths.is_empty());
    assert!(gap(Some(CAP), 0).unwrap().contains("65,536"));
    assert!(gap(None, 3).unwrap().contains("3 directories unwatched"));
}

/// `diff` walks a listed subtree whole: names at any depth below it are
/// not listed (before or after it), names beside it are.
#[test]
fn names_below_a_listed_subtree_are_not_listed() {
    let mut c = Changes::default();
    for p in ["/g/d/a", "/g/d/e/b", "/g/d/e", "/g/dx/c", "/g/f", "/g/d"] {
        c.note(Path::new(p));
    }
    c.tree(Path::new("/g/d/e"));
    c.tree(Path::new("/g/d"));
    c.tree(Path::new("/g/d/e/deeper"));
    for i in 0..1000 {
        c.note(Path::new(&format!("/g/d/n{i}")));
        c.note(Path::new(&format!("/g/d/e/n{i}")));
    }
    c.note(Path::new("/g/d2"));
    let l = list(&c);
    assert_eq!(l.trees, [b"/g/d".to_vec()]);
    let paths: Vec<&[u8]> = l.paths.iter().map(Vec::as_slice).collect();
    assert_eq!(paths, [&b"/g/d"[..], b"/g/d2", b"/g/dx/c", b"/g/f"]);
    assert_eq!(c.len(), 5);
}
