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
    let stats = copy_tree_atomic(&s, &dst, &mut |st| calls.push(st)).unwrap();
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

mod atomic;
