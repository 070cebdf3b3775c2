//! Without a boot baseline a rescan (after an overflow, a mount, the watch
//! limit) records what changed since the watcher started. Its start had a
//! second of slack, so a rescan also reported the files written in the
//! second before: `inotify_warns_once_per_group_with_journal_fields_and_dbus`
//! once got a third warning, for the config it wrote just before
//! `start_watch`, when its 10,000 files overflowed the queue at load 15.

use super::{group, group_paths, says, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

fn written_just_before_the_start_is_not_a_missed_write(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    // Written right before the watcher starts (well within that second).
    let before = r#"mkdir -p "$R/var/lib/early"; echo early > "$R/var/lib/early/f"
printf 'version = 1\n[[persistence]]\npath = "/persistent"\n' > "$CFG""#;
    // Heard, then an overflow (the watcher stopped while 20,000 files are
    // made): the rescan after it finds the flood, and only what is new.
    let body = r#"
mkdir -p "$R/var/lib/during" "$R/var/lib/flood"; echo during > "$R/var/lib/during/f"
wait_json 'files("/var/lib/during") == 1'
kill -STOP $WP
for i in $(seq 20000); do : > "$R/var/lib/flood/f$i"; done
kill -CONT $WP
wait_json 'files("/var/lib/flood") == 20000'
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, body);
    assert!(err.contains(says::OVERFLOW), "no overflow: {err}");
    let w = watch_json(tmp.path());
    let names = group_paths(&w);
    assert_eq!(names, ["/var/lib/during", "/var/lib/flood"], "{err}");
    assert!(group(&w, "/var/lib/early").is_none(), "{w}");
    let summary = err.lines().find(|l| l.contains(says::DISCARD)).unwrap();
    assert!(
        summary.contains("20,001 files, 7 B, in 2 directories"),
        "{summary}"
    );
}

#[test]
fn inotify_a_rescan_does_not_report_what_was_written_before_the_start() {
    require_root!();
    written_just_before_the_start_is_not_a_missed_write("inotify");
}

#[test]
fn fanotify_a_rescan_does_not_report_what_was_written_before_the_start() {
    require_root!();
    written_just_before_the_start_is_not_a_missed_write("fanotify");
}
