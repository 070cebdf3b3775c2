//! The copy's edges: an existing destination, an empty one replaced only
//! while empty, stale temporaries, a single file, the comparison after a
//! copy, a tree into itself, temporary names.

use super::*;

#[test]
fn refuses_an_existing_destination_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, d) = (tmp.path().join("s"), tmp.path().join("d"));
    std::fs::create_dir(&s).unwrap();
    std::fs::write(s.join("a"), "new").unwrap();
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("a"), "old").unwrap();
    let e = copy_tree_atomic(&s, &d, &mut |_| {}).unwrap_err();
    assert!(format!("{e:#}").contains("already exists"), "{e:#}");
    assert_eq!(std::fs::read(d.join("a")).unwrap(), b"old");
    assert!(!stale_tmp_exists(&d));
}

/// Seeding an empty persistent directory (trial s5 finding 2): it is
/// replaced by the copy; one that holds an entry by the time of the rename
/// (a file created after boot saw it empty: the copy never looks before)
/// stays exactly as it is, and the copy is removed.
#[test]
fn replaces_an_empty_directory_only_while_it_is_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, d) = (tmp.path().join("s"), tmp.path().join("d"));
    std::fs::create_dir_all(s.join("x")).unwrap();
    std::fs::write(s.join("x/a"), "data").unwrap();
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o750)).unwrap();
    let over = |s: &Path, d: &Path| {
        let (sd, dd) = (
            fs::open_dir(s.parent().unwrap()).unwrap(),
            fs::open_dir(d.parent().unwrap()).unwrap(),
        );
        let (sn, dn) = (s.file_name().unwrap(), d.file_name().unwrap());
        let (from, to) = (End::new(sd.as_fd(), sn, s), End::new(dd.as_fd(), dn, d));
        copy_tree_over_empty_at(from, to, &mut |_| {})
    };
    // Gained an entry: left as it is, nothing half-made beside it.
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join(".late"), "late").unwrap();
    let e = over(&s, &d).unwrap_err();
    assert!(format!("{e:#}").contains("gained entries"), "{e:#}");
    assert_eq!(std::fs::read(d.join(".late")).unwrap(), b"late");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
    assert!(!stale_tmp_exists(&d));
    // Empty: replaced by the copy (the live directory's mode, too).
    std::fs::remove_file(d.join(".late")).unwrap();
    over(&s, &d).unwrap();
    assert_eq!(std::fs::read(d.join("x/a")).unwrap(), b"data");
    assert_eq!(lmeta(&d).permissions().mode() & 0o7777, 0o750);
    assert!(!stale_tmp_exists(&d));
    // A file in the way, or a file to copy onto a directory: refused.
    let f = tmp.path().join("f");
    std::fs::write(&f, "keep").unwrap();
    assert!(over(&s, &f).is_err());
    assert_eq!(std::fs::read(&f).unwrap(), b"keep");
    std::fs::create_dir(tmp.path().join("e")).unwrap();
    assert!(over(&f, &tmp.path().join("e")).is_err());
    assert!(tmp.path().join("e").is_dir());
}

#[test]
fn removes_a_stale_temporary_without_following_its_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, d) = (tmp.path().join("s"), tmp.path().join("d"));
    std::fs::create_dir_all(s.join("x")).unwrap();
    std::fs::write(s.join("x/a"), "data").unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "keep").unwrap();
    let stale = tmp.path().join(".d.impermctl-tmp");
    std::fs::create_dir_all(stale.join("sub/deeper")).unwrap();
    std::fs::write(stale.join("sub/half"), "half").unwrap();
    std::os::unix::fs::symlink(&outside, stale.join("sub/link")).unwrap();
    std::fs::set_permissions(stale.join("sub"), std::fs::Permissions::from_mode(0o500)).unwrap();
    assert!(stale_tmp_exists(&d));
    copy_tree_atomic(&s, &d, &mut |_| {}).unwrap();
    assert!(!stale_tmp_exists(&d));
    assert_eq!(std::fs::read(outside.join("keep")).unwrap(), b"keep");
    assert_eq!(std::fs::read(d.join("x/a")).unwrap(), b"data");
}

#[test]
fn copies_a_single_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, d) = (tmp.path().join("machine-id"), tmp.path().join("copy"));
    std::fs::write(&s, "0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o444)).unwrap();
    set_times(&s, (5, 6), (7, 8));
    let st = copy_tree_atomic(&s, &d, &mut |_| {}).unwrap();
    assert_eq!((st.entries, st.files, st.bytes), (1, 1, 17));
    assert_eq!(std::fs::read(&d).unwrap(), b"0123456789abcdef\n");
    let m = lmeta(&d);
    assert_eq!(
        (m.mode() & 0o7777, m.mtime(), m.mtime_nsec()),
        (0o444, 7, 8)
    );
    assert_eq!(
        compare_trees(&s, &d, Differ { content: true }).unwrap(),
        None
    );
}

#[test]
fn compare_finds_what_changed_after_the_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, d) = (tmp.path().join("s"), tmp.path().join("d"));
    std::fs::create_dir_all(s.join("sub")).unwrap();
    std::fs::write(s.join("sub/a"), "one").unwrap();
    copy_tree_atomic(&s, &d, &mut |_| {}).unwrap();
    assert_eq!(compare_trees(&s, &d, Differ::default()).unwrap(), None);
    std::fs::write(s.join("sub/new"), "x").unwrap();
    let diff = compare_trees(&s, &d, Differ::default()).unwrap().unwrap();
    assert!(diff.contains("sub"), "{diff}");
    std::fs::remove_file(s.join("sub/new")).unwrap();
    // Same size and mtime, other bytes: only a content comparison sees it.
    let m = lmeta(&s.join("sub/a"));
    std::fs::write(s.join("sub/a"), "two").unwrap();
    set_times(
        &s.join("sub/a"),
        (m.atime(), m.atime_nsec()),
        (m.mtime(), m.mtime_nsec()),
    );
    let dm = lmeta(&d.join("sub"));
    set_times(
        &s.join("sub"),
        (dm.atime(), dm.atime_nsec()),
        (dm.mtime(), dm.mtime_nsec()),
    );
    assert_eq!(compare_trees(&s, &d, Differ::default()).unwrap(), None);
    let diff = compare_trees(&s, &d, Differ { content: true })
        .unwrap()
        .unwrap();
    assert!(diff.contains("contents differ"), "{diff}");
    let u = measure(&s).unwrap();
    assert_eq!((u.entries, u.file_bytes), (3, 3));
}

#[test]
fn refuses_to_copy_a_tree_into_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path().join("s");
    std::fs::create_dir_all(s.join("a/b")).unwrap();
    std::fs::write(s.join("a/f"), "x").unwrap();
    let e = copy_tree_atomic(&s, &s.join("a/b/copy"), &mut |_| {}).unwrap_err();
    assert!(format!("{e:#}").contains("inside the source"), "{e:#}");
    assert!(!s.join("a/b/copy").exists());
    assert!(
        !stale_tmp_exists(&s.join("a/b/copy")),
        "the partial copy is removed"
    );
    assert_eq!(std::fs::read(s.join("a/f")).unwrap(), b"x");
}

#[test]
fn sibling_names_stay_within_name_max_and_are_stable() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let short = super::sibling_name(OsStr::new("db"), ".impermctl-tmp");
    assert_eq!(short, ".db.impermctl-tmp");
    let long = "L".repeat(255);
    let a = super::sibling_name(OsStr::new(&long), ".impermctl-tmp");
    assert_eq!(a.as_bytes().len(), 255, "{a:?}");
    assert!(a.as_bytes().ends_with(b".impermctl-tmp"));
    assert_eq!(a, super::sibling_name(OsStr::new(&long), ".impermctl-tmp"));
    let other = format!("{}M", "L".repeat(254));
    assert_ne!(a, super::sibling_name(OsStr::new(&other), ".impermctl-tmp"));
    // Exactly at the limit: kept whole.
    let edge = "E".repeat(255 - 1 - ".impermctl-tmp".len());
    let e = super::sibling_name(OsStr::new(&edge), ".impermctl-tmp");
    assert_eq!(e.as_bytes().len(), 255);
    assert!(!e.as_bytes().contains(&b'~'));
}

/// Trial-s10 F8: `sync` said "saved (966656 bytes)" for a 1 MiB sparse
/// file. The copy counts a file's size, holes included (it keeps them as
/// holes); the measure says what a copy writes (`data_bytes`).
#[test]
fn a_sparse_file_counts_its_size_and_keeps_its_holes() {
    use std::os::unix::fs::FileExt;
    let tmp = tempfile::tempdir().unwrap();
    let (s, d) = (tmp.path().join("s"), tmp.path().join("d"));
    let f = std::fs::File::create(&s).unwrap();
    f.set_len(1 << 20).unwrap();
    f.write_all_at(&[1; 8192], 512 << 10).unwrap();
    drop(f);
    let u = measure(&s).unwrap();
    if u.data_bytes >= 1 << 20 {
        return; // no holes on this filesystem
    }
    assert_eq!(u.file_bytes, 1 << 20);
    let stats = copy_tree_atomic(&s, &d, &mut |_| {}).unwrap();
    assert_eq!((stats.files, stats.bytes), (1, 1 << 20));
    assert_eq!(std::fs::read(&d).unwrap(), std::fs::read(&s).unwrap());
    assert!(lmeta(&d).blocks() * 512 < 1 << 20, "holes kept");
}
