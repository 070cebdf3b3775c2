//! Tests of the atomic tree copy on real files in tempdirs (as root: owners,
//! device nodes; the `acl` package's setfacl/getfacl for ACLs).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps};

use super::*;

fn sh(script: &str) {
    let o = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn set_times(p: &Path, atime: (i64, i64), mtime: (i64, i64)) {
    let ts = |(s, n)| Timespec {
        tv_sec: s,
        tv_nsec: n,
    };
    let t = Timestamps {
        last_access: ts(atime),
        last_modification: ts(mtime),
    };
    rustix::fs::utimensat(CWD, p, &t, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

fn getfacl(p: &Path) -> String {
    let o = Command::new("getfacl")
        .args(["--omit-header", "--absolute-names"])
        .arg(p)
        .output()
        .expect("getfacl (package acl) must be installed");
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

fn lmeta(p: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Build a tree with one of everything; returns its root.
fn build(base: &Path) -> PathBuf {
    let s = base.join("src");
    std::fs::create_dir(&s).unwrap();
    let q = |p: &Path| crate::suggest::nix_string(p); // a quoted path (no $ or " in tempdirs)
    sh(&format!(
        r#"cd {s}
mkdir d t empty
chown 1234:5678 d; chmod 2775 d; chmod 1777 t
printf 'hello\n' > d/f; chown 1234:5678 d/f; chmod 4755 d/f
printf 'linked' > h1; ln h1 d/h2
ln -s /nonexistent/x dangling; ln -s /etc/passwd abs; ln -s d/f rel; ln -s d sd
chown -h 1234:5678 rel
mkfifo fifo; chmod 640 fifo
python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'
mknod null c 1 3
printf x > $'new\nline'; printf y > $'bad\xff\xfename'
head -c 20000000 /dev/urandom > big
truncate -s 100M sparse; printf data | dd of=sparse bs=1 seek=50000000 conv=notrunc status=none
setfattr -n user.foo -v bar d/f; setfattr -n user.dir -v 1 d
setfacl -m u:1234:rwx d/f; setfacl -d -m u:1234:rx d; setfacl -m g:5678:rx d
"#,
        s = q(&s)
    ));
    set_times(
        &s.join("d/f"),
        (1_000_000_000, 123_456_789),
        (1_100_000_000, 987_654_321),
    );
    set_times(&s.join("rel"), (1_000_000_001, 1), (1_200_000_000, 42));
    set_times(&s.join("fifo"), (1_000_000_002, 2), (1_300_000_000, 7));
    set_times(
        &s.join("d"),
        (1_000_000_003, 3),
        (1_400_000_000, 999_999_999),
    );
    s
}

#[test]
fn copies_every_kind_of_entry_with_all_metadata() {
    if !crate::testing::privileged("chown, mknod") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = build(tmp.path());
    let dst = tmp.path().join("out").join("dst");
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    let mut calls = Vec::new();
    let stats = copy_tree_atomic_with(&s, &dst, &mut |st| calls.push(st)).unwrap();
    assert_eq!(
        calls.last(),
        Some(&stats),
        "the last progress call is the result"
    );
    assert_eq!(
        compare_trees(&s, &dst, Differ { content: true }).unwrap(),
        None
    );
    // Owner, setgid/sticky/setuid modes (setfacl widened the group bits to the mask).
    let d = lmeta(&dst.join("d"));
    assert_eq!((d.uid(), d.gid(), d.mode() & 0o7777), (1234, 5678, 0o2775));
    assert_eq!(d.mode(), lmeta(&s.join("d")).mode());
    assert_eq!(lmeta(&dst.join("t")).mode() & 0o7777, 0o1777);
    let f = lmeta(&dst.join("d/f"));
    assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (1234, 5678, 0o4775));
    assert_eq!(f.mode(), lmeta(&s.join("d/f")).mode());
    // Times, to the nanosecond; directories too (set after their children).
    assert_eq!((f.atime(), f.atime_nsec()), (1_000_000_000, 123_456_789));
    assert_eq!((f.mtime(), f.mtime_nsec()), (1_100_000_000, 987_654_321));
    assert_eq!((d.mtime(), d.mtime_nsec()), (1_400_000_000, 999_999_999));
    let fifo = lmeta(&dst.join("fifo"));
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo.file_type()));
    assert_eq!(
        (fifo.mtime(), fifo.mtime_nsec(), fifo.mode() & 0o777),
        (1_300_000_000, 7, 0o640)
    );
    // Symlinks: copied as links, never followed, with owner and times.
    for (name, target) in [
        ("dangling", "/nonexistent/x"),
        ("abs", "/etc/passwd"),
        ("rel", "d/f"),
        ("sd", "d"),
    ] {
        let m = lmeta(&dst.join(name));
        assert!(m.file_type().is_symlink(), "{name}");
        assert_eq!(
            std::fs::read_link(dst.join(name)).unwrap(),
            Path::new(target)
        );
    }
    let rel = lmeta(&dst.join("rel"));
    assert_eq!(
        (rel.uid(), rel.gid(), rel.mtime(), rel.mtime_nsec()),
        (1234, 5678, 1_200_000_000, 42)
    );
    // Xattrs and ACLs (access and default).
    assert_eq!(
        {
            let f = std::fs::File::open(dst.join("d/f")).unwrap();
            crate::sys::fs::xattr_get(
                crate::sys::fs::At::Fd(std::os::fd::AsFd::as_fd(&f)),
                c"user.foo",
            )
            .unwrap()
        },
        b"bar"
    );
    assert!(getfacl(&dst.join("d/f")).contains("user:1234:rwx"));
    assert_eq!(getfacl(&s.join("d/f")), getfacl(&dst.join("d/f")));
    assert_eq!(getfacl(&s.join("d")), getfacl(&dst.join("d")));
    assert!(getfacl(&dst.join("d")).contains("default:user:1234:r-x"));
    // Hard links: one inode, two links.
    let (h1, h2) = (lmeta(&dst.join("h1")), lmeta(&dst.join("d/h2")));
    assert_eq!((h1.ino(), h1.nlink()), (h2.ino(), 2));
    // Special files.
    use std::os::unix::fs::FileTypeExt;
    assert!(lmeta(&dst.join("sock")).file_type().is_socket());
    let null = lmeta(&dst.join("null"));
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), lmeta(&s.join("null")).rdev());
    // Odd names, empty dirs, big and sparse files.
    assert_eq!(std::fs::read(dst.join("new\nline")).unwrap(), b"x");
    assert_eq!(
        std::fs::read(dst.join(OsStr::from_bytes(b"bad\xff\xfename"))).unwrap(),
        b"y"
    );
    assert_eq!(std::fs::read_dir(dst.join("empty")).unwrap().count(), 0);
    assert_eq!(
        std::fs::read(dst.join("big")).unwrap(),
        std::fs::read(s.join("big")).unwrap()
    );
    let sparse = lmeta(&dst.join("sparse"));
    assert_eq!(sparse.len(), 100 << 20);
    assert!(
        sparse.blocks() * 512 < 1 << 20,
        "holes preserved: {} blocks",
        sparse.blocks()
    );
    assert!(stats.bytes >= 20_000_000 && stats.files >= 6, "{stats:?}");
    assert_eq!(stats.skipped, 0, "{stats:?}");
    // Nothing left behind.
    let names: Vec<_> = std::fs::read_dir(tmp.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![OsStr::new("dst")]);
}

#[test]
fn refuses_an_existing_destination_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, d) = (tmp.path().join("s"), tmp.path().join("d"));
    std::fs::create_dir(&s).unwrap();
    std::fs::write(s.join("a"), "new").unwrap();
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("a"), "old").unwrap();
    let e = copy_tree_atomic(&s, &d).unwrap_err();
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
    copy_tree_atomic(&s, &d).unwrap();
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
    let st = copy_tree_atomic(&s, &d).unwrap();
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
    copy_tree_atomic(&s, &d).unwrap();
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
    assert_eq!(measure(&s).unwrap(), (3, 3));
}

#[test]
fn refuses_to_copy_a_tree_into_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path().join("s");
    std::fs::create_dir_all(s.join("a/b")).unwrap();
    std::fs::write(s.join("a/f"), "x").unwrap();
    let e = copy_tree_atomic(&s, &s.join("a/b/copy")).unwrap_err();
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
