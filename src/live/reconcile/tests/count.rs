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
