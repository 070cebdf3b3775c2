//! The table tests of `persist`'s decisions (`decide`).
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::FileType;

use super::decide::{Existing, Probe, Seen, Verdict, decide, target, writers_reason};
use crate::config::Settings;
use crate::mountinfo::MountTable;
use crate::sys::meta::Meta;

fn settings(extra: &str) -> Settings {
    let text = format!("version = 1\n[[persistence]]\npath = \"/persistent\"\n{extra}");
    crate::config::parse(&text, Path::new("c.toml")).unwrap()
}

/// `-` missing, `L` a symlink on the way, `!` an error, else
/// `TYPE DEV:INO` with TYPE `d` (directory), `f` (file) or `l` (symlink).
fn probe(s: &str) -> Probe {
    let (t, id) = s.split_at(1);
    let file_type = match t {
        "-" => return Ok(Ok(None)),
        "L" => return Ok(Err("has a symlink in it".into())),
        "!" => return Err(anyhow::anyhow!("EIO")),
        "d" => FileType::Directory,
        "f" => FileType::RegularFile,
        _ => FileType::Symlink,
    };
    let (dev, ino) = id.split_once(':').unwrap();
    let (dev, ino) = (dev.parse().unwrap(), ino.parse().unwrap());
    Ok(Ok(Some(Meta {
        file_type,
        dev,
        ino,
        perm: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        blocks: 0,
        nlink: 1,
        rdev: 0,
        mnt_id: 0,
        atime: (0, 0),
        mtime: (0, 0),
        ctime: (0, 0),
        btime: None,
    })))
}

/// Mount points (space-separated) as a table, fstype `tmpfs`.
fn table(mounts: &str) -> MountTable {
    let lines: Vec<String> = (mounts.split_whitespace().enumerate())
        .map(|(i, m)| format!("{} 1 0:{i} / {m} rw - tmpfs src{i} rw", i + 2))
        .collect();
    MountTable::parse(&lines.join("\n")).unwrap()
}

/// The outcome for /var/lib/a (root /persistent, `/` on dev 1) of a
/// row `LIVE PROOT EXISTING [MOUNT...]` (see [`probe`]), shortened.
fn run(s: &Settings, row: &str) -> String {
    let w: Vec<&str> = row.split_whitespace().collect();
    let seen = Seen {
        live: probe(w[0]),
        proot: probe(w[1]),
        existing: probe(w[2]),
        root_dev: 1,
    };
    let (path, root) = (Path::new("/var/lib/a"), Path::new("/persistent"));
    match decide(path, root, s, &table(&w[3..].join(" ")), seen) {
        Err(e) => format!("error {e}"),
        Ok(Err(reason)) => reason,
        Ok(Ok(Verdict::Done(k))) => format!("done {k:?}"),
        Ok(Ok(Verdict::Move(k, Existing::Mismatch(r)))) => format!("move {k:?} {r}"),
        Ok(Ok(Verdict::Move(k, e))) => format!("move {k:?} {e:?}"),
    }
}

#[test]
fn decide_table() {
    let s = settings("");
    for (row, want) in [
        ("d1:5 d2:1 -", "move Directory None"),
        ("f1:5 d2:1 f2:9", "move File Same"),
        (
            "d1:5 d2:1 f2:9",
            "exists as a regular file, but /var/lib/a is a directory",
        ),
        ("d2:9 d2:1 d2:9 /var/lib/a", "done Directory"),
        (
            "d2:9 d2:1 d2:9 /var",
            "inside /var, which is bound from /persistent",
        ),
        ("- d2:1 -", "/var/lib/a does not exist"),
        ("L d2:1 -", "has a symlink in it"),
        (
            "l1:5 d2:1 -",
            "/var/lib/a is a symlink: only directories and regular files",
        ),
        (
            "d1:5 - -",
            "the persistence root /persistent does not exist",
        ),
        ("d1:5 f2:1 -", "/persistent is not a directory"),
        ("d1:5 d1:1 -", "on the same filesystem as /"),
        ("d1:5 d2:1 L", "has a symlink in it"),
        ("d2:5 d2:1 -", "already on the persistent filesystem"),
        (
            "d1:5 d2:1 - /var/lib/a",
            "is a mount point (tmpfs from src0)",
        ),
        (
            "d1:5 d2:1 - /var/lib/a/x /var/lib/a/y",
            "below it (/var/lib/a/x, /var/lib/a/y)",
        ),
        // Errors and refusals in order: a missing live path is refused
        // before the copy's place is looked at.
        ("! d2:1 -", "error EIO"),
        ("- d2:1 !", "/var/lib/a does not exist"),
        ("d1:5 ! -", "error EIO"),
    ] {
        let got = run(&s, row);
        assert!(got.contains(want), "{row}: {got}");
    }
    let declared = settings("[[persistence.directories]]\npath = \"/var/lib/a\"\n");
    let got = run(&declared, "d2:9 d2:1 d2:9 /var/lib/a");
    assert!(
        got.contains("declared in c.toml and bound from /persistent/var/lib/a"),
        "{got}"
    );
    // Session 5's trial: only inside a declared directory, it said
    // "declared in …" of the path itself.
    let parent = settings("[[persistence.directories]]\npath = \"/var/lib\"\n");
    let got = run(&parent, "d2:9 d2:1 d2:9 /var/lib");
    assert!(
        got.contains("/var/lib/a is already persisted: it is inside /var/lib, declared in c.toml"),
        "{got}"
    );
}

#[test]
fn target_refuses_paths_outside_the_ephemeral_root() {
    let s = settings("");
    let mut bare = settings("");
    bare.roots.clear();
    for (s, arg, to, want) in [
        (&s, "var/lib/a", None, "give an absolute path below /"),
        (&s, "/", None, "give an absolute path below /"),
        (&s, "/var/../etc", None, "without `..`"),
        (&s, "/nix/store/x", None, "is under /nix"),
        (
            &s,
            "/persistent/x",
            None,
            "overlaps the persistence root /persistent",
        ),
        (
            &s,
            "/srv",
            Some("/srv/p"),
            "overlaps the persistence root /srv/p",
        ),
        (
            &s,
            "/var/lib/a",
            Some("p/../q"),
            "--to p/../q: give an absolute path",
        ),
        (&bare, "/var/lib/a", None, "declares no persistence root"),
        // The config refuses such names: persisted now, lost at the next boot.
        (
            &s,
            "/srv/a\nFORGED b",
            None,
            "/srv/a\\nFORGED b has a control character",
        ),
        (&s, "/srv/\u{1b}[2J", None, "rename it first"),
    ] {
        let got = target(Path::new(arg), s, to.map(Path::new)).unwrap_err();
        assert!(got.contains(want), "{arg}: {got}");
    }
    let bad = std::ffi::OsStr::from_bytes(b"/srv/bad\xffname");
    let got = target(Path::new(bad), &s, None).unwrap_err();
    assert!(got.contains(r"/srv/bad\xffname is not UTF-8"), "{got}");
    let ok = target(Path::new("/var//lib/a/"), &s, Some(Path::new("/data")));
    assert_eq!(ok, Ok(("/var/lib/a".into(), "/data".into())));
}

#[test]
fn writers_reason_lists_them_and_names_force() {
    let r = writers_reason(Path::new("/var/lib/a"), &["a[1]", "b[2]"]);
    assert!(r.contains("below /var/lib/a: a[1]; b[2]. Stop them"), "{r}");
    assert!(r.contains("--force"), "{r}");
}
