//! Trial-s8 finding 9: a hard link in `/tmp` (a `watch.ignore` directory,
//! on the root's filesystem) to a baseline file elsewhere, there before
//! the baseline: a write through it was never warned about, `status` and
//! the shutdown summary said nothing was lost, and `diff`'s note counted
//! the same inode again under watch.ignore. The watcher follows such an
//! inode (found by its start-up walk of the ignored directories) through
//! the file's baseline name.

use super::{says, with_watcher};
use crate::require_root;
use crate::util::Layout;

fn a_write_through_an_ignored_alias_counts(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"
mkdir -p "$R/var/lib/db" "$R/tmp/cache" "$R/var/tmp/deep/er"
echo base > "$R/var/lib/db/data"; ln "$R/var/lib/db/data" "$R/tmp/cache/alias"
echo base > "$R/var/lib/db/two"; ln "$R/var/lib/db/two" "$R/var/tmp/deep/er/alias2"
imp diff --capture-baseline >/dev/null"#;
    let body = r#"
export WAIT_TRIES=100
echo more >> "$R/tmp/cache/alias"
wait_json 'files("/var/lib/db") == 1'
imp status > "$OUT/status" 2>&1 || true
imp diff > "$OUT/diff" 2>&1 || true
truncate -s 1 "$R/var/tmp/deep/er/alias2"
wait_json 'files("/var/lib/db") == 2'
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, body);
    let warned = err.lines().filter(|l| l.contains(says::UNPERSISTED));
    let warned: Vec<&str> = warned.collect();
    assert!(
        warned
            .iter()
            .any(|l| l.contains("write to /var/lib/db/data")),
        "{err}"
    );
    let status = std::fs::read_to_string(tmp.path().join("status")).unwrap();
    assert!(status.contains("/var/lib/db  1 file"), "{status}");
    let diff = std::fs::read_to_string(tmp.path().join("diff")).unwrap();
    assert!(diff.contains("/var/lib/db"), "{diff}");
    assert!(!diff.contains("under watch.ignore"), "counted once: {diff}");
    let summary = err.lines().find(|l| l.contains(says::DISCARD)).unwrap();
    assert!(
        summary.contains("2 files") && summary.contains("/var/lib/db"),
        "{summary}"
    );
}

#[test]
fn a_write_through_a_link_in_tmp_counts_for_its_baseline_name_with_fanotify() {
    require_root!();
    a_write_through_an_ignored_alias_counts("fanotify");
}

#[test]
fn a_write_through_a_link_in_tmp_counts_for_its_baseline_name_with_inotify() {
    require_root!();
    a_write_through_an_ignored_alias_counts("inotify");
}
