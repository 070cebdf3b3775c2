//! Reconciling against real directories: what is counted.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::super::{Snapshot, reconcile};

fn append(p: &Path, s: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

/// Session 4's trial: `persist` said "carried 269 bytes in 34 files" for a
/// directory holding one file, appended to while passes ran (each pass
/// counted it again).
#[test]
fn a_file_carried_in_several_passes_counts_once() {
    let d = tempfile::tempdir().unwrap();
    let (h, c) = (d.path().join("hidden"), d.path().join("copy"));
    for dir in [&h, &c] {
        std::fs::create_dir(dir).unwrap();
        std::fs::write(dir.join("log"), "start\n").unwrap();
    }
    let mut snap = Snapshot::take(&c).unwrap();
    let fd = rustix::fs::open(&h, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
    append(&h.join("log"), "line 0\n");
    let log = h.join("log");
    let writer = std::thread::spawn(move || {
        // A writer that opens, appends and closes now and then (invisible
        // in /proc between writes), well within the settle time.
        for i in 1..8 {
            std::thread::sleep(std::time::Duration::from_millis(40));
            append(&log, &format!("line {i}\n"));
        }
    });
    let got = reconcile(fd.as_fd(), &c, &mut snap, Path::new("/srv/app"), &[]).unwrap();
    writer.join().unwrap();
    let (orig, copy) = (
        std::fs::read_to_string(h.join("log")).unwrap(),
        std::fs::read_to_string(c.join("log")).unwrap(),
    );
    assert_eq!(copy, orig, "everything was carried");
    assert!(got.passes > 2, "{got:?}");
    assert_eq!(got.files, 1, "one file, however many passes: {got:?}");
    assert_eq!(got.bytes, 8 * 7, "{got:?}");
}

/// Trial-s10 F8: "carried 159383552 bytes in 1 files" for a 1 MiB file
/// rewritten between passes (a database's mapped file): a file replaced
/// again and again counts the size of its last version, once.
#[test]
fn a_file_replaced_in_several_passes_counts_its_size_once() {
    use std::os::unix::fs::FileExt;
    let d = tempfile::tempdir().unwrap();
    let (h, c) = (d.path().join("hidden"), d.path().join("copy"));
    for dir in [&h, &c] {
        std::fs::create_dir(dir).unwrap();
        std::fs::write(dir.join("db"), [b'0'; 4096]).unwrap();
    }
    let mut snap = Snapshot::take(&c).unwrap();
    let fd = rustix::fs::open(&h, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
    let db = h.join("db");
    let rewrite = move |i: u8| {
        let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.write_all_at(&[b'0' + i; 4096], 0).unwrap();
    };
    rewrite(1);
    let writer = std::thread::spawn(move || {
        // The same size each time, new bytes and mtime: replaced, not appended.
        for i in 2..9 {
            std::thread::sleep(std::time::Duration::from_millis(40));
            rewrite(i);
        }
    });
    let got = reconcile(fd.as_fd(), &c, &mut snap, Path::new("/srv/db"), &[]).unwrap();
    writer.join().unwrap();
    let (orig, copy) = (
        std::fs::read(h.join("db")).unwrap(),
        std::fs::read(c.join("db")).unwrap(),
    );
    assert_eq!(copy, orig, "the last version was carried");
    assert!(got.passes > 2, "{got:?}");
    assert_eq!((got.files, got.bytes), (1, 4096), "{got:?}");
    assert_eq!(
        got.said(Path::new("/srv/db"), Path::new("/persistent/srv/db")),
        "carried 4.0 KiB in 1 file written to /srv/db during the copy over into /persistent/srv/db"
    );
}
