//! Files deleted while the kernel's queue overflowed (their deletions
//! lost with the other events): the rescan after the overflow reconciles
//! the tally with what is there. What is gone is dropped — by name for
//! the paths a group remembers, by a recount for those it holds by hash
//! (past 1,000 per group: `/var/lib/many`) — and what is there is counted, in `watch.json`,
//! `status`, the shutdown summary and `diff` alike.

use super::{says, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

fn files(w: &serde_json::Value, path: &str) -> Option<u64> {
    super::group(w, path).map(|g| g["files"].as_u64().unwrap())
}

fn deleted_during_an_overflow_are_dropped(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"imp diff --capture-baseline >/dev/null"#;
    // Heard before the stop: /var/lib/heard (5 files), /var/lib/heard2,
    // and the other directories (watched: inotify hears their files).
    // While stopped: files in /var/lib/early and /var/lib/bigdel are made
    // first (at the queue's head: their creations are heard), then 20,000 files
    // overflow the queue, then files are deleted (lost events) and one
    // more is made (found by the rescan only).
    let body = r#"
mkdir -p "$R/var/lib/early" "$R/var/lib/bigdel" "$R/var/lib/flood" "$R/var/lib/late"
mkdir -p "$R/var/lib/heard" "$R/var/lib/heard2"
for i in 1 2 3 4 5; do echo x > "$R/var/lib/heard/x$i"; done
echo y > "$R/var/lib/heard2/y"
mkdir "$R/var/lib/many"; for i in $(seq 1500); do : > "$R/var/lib/many/m$i"; done
wait_json 'files("/var/lib/heard") == 5 and files("/var/lib/heard2") == 1 and files("/var/lib/many") == 1500'
kill -STOP $WP
for i in $(seq 20); do echo e > "$R/var/lib/early/e$i"; done
for i in $(seq 3000); do : > "$R/var/lib/bigdel/f$i"; done
for i in $(seq 20000); do : > "$R/var/lib/flood/f$i"; done
rm "$R/var/lib/heard/x1" "$R/var/lib/heard/x2"
rm -r "$R/var/lib/heard2"
for i in $(seq 10); do rm "$R/var/lib/early/e$i"; done
for i in $(seq 1500); do rm "$R/var/lib/bigdel/f$i"; done
for i in $(seq 1200); do rm "$R/var/lib/many/m$i"; done
echo late > "$R/var/lib/late/z"
kill -CONT $WP
# The rescan's find (`late`) is published with the rescan done.
wait_json 'files("/var/lib/late") == 1 and files("/var/lib/flood") == 20000'
cp "$R/run/impermctl/watch.json" "$OUT/after-rescan.json"
imp status > "$OUT/status" 2>&1 || true
imp diff > "$OUT/diff" 2>&1 || true
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, body);
    assert!(err.contains(says::OVERFLOW), "no overflow: {err}");
    let after: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("after-rescan.json")).unwrap(),
    )
    .unwrap();
    let last = watch_json(tmp.path());
    for w in [&after, &last] {
        let counts: Vec<(&str, Option<u64>)> =
            ["heard", "heard2", "early", "bigdel", "late", "many"]
                .iter()
                .map(|g| (*g, files(w, &format!("/var/lib/{g}"))))
                .collect();
        let want = [Some(3), None, Some(10), Some(1500), Some(1), Some(300)];
        let got: Vec<Option<u64>> = counts.iter().map(|c| c.1).collect();
        assert_eq!(got, want, "{counts:?}\n{err}");
        assert_eq!(files(w, "/var/lib/flood"), Some(20000));
        let paths = super::group(w, "/var/lib/heard").unwrap()["paths"].to_string();
        assert!(
            !paths.contains("/x1\"") && !paths.contains("/x2\""),
            "{paths}"
        );
    }
    // 3 + 10 + 1,500 + 1 + 20,000 + 300 files; 6 + 20 + 5 bytes.
    let summary = err.lines().find(|l| l.contains(says::DISCARD)).unwrap();
    assert!(
        summary.contains("the reboot will discard 21,814 files, 31 B, in 6 directories"),
        "{summary}"
    );
    let status = std::fs::read_to_string(tmp.path().join("status")).unwrap();
    assert!(!status.contains("/var/lib/heard2"), "{status}");
    assert!(status.contains("6 unpersisted groups"), "{status}");
    let diff = std::fs::read_to_string(tmp.path().join("diff")).unwrap();
    assert!(
        diff.contains("total: 31 B in 21,814 files and 6 groups"),
        "{diff}"
    );
}

#[test]
fn inotify_drops_files_deleted_during_an_overflow() {
    require_root!();
    deleted_during_an_overflow_are_dropped("inotify");
}

#[test]
fn fanotify_drops_files_deleted_during_an_overflow() {
    require_root!();
    deleted_during_an_overflow_are_dropped("fanotify");
}
