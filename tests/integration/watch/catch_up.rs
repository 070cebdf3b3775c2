//! fanotify's catch-up walk of a new directory: every name made in a
//! directory is heard by the filesystem mark, so a directory made (not
//! moved in) needs its subdirectories marked, not its files recorded; the
//! walk recorded them anyway, and again at each level below (a file five
//! directories down was recorded five times before its own event). Only a
//! tree moved in (whose names were made elsewhere) and muted directories
//! (whose creations are not heard) are recorded by the walk, each file once.
//! Counted exactly either way.

use super::{watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

#[test]
fn fanotify_catch_up_records_only_what_was_not_heard() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    // No baseline: the tree made before the start is not counted until it
    // is moved in. While the watcher is stopped, 5 nested directories with
    // 20 files each are made (their events queued behind the mkdirs).
    let before = r#"mkdir -p "$R/srv/pre/a/b/c"
for d in "" /a /a/b /a/b/c; do for i in $(seq 10); do echo p > "$R/srv/pre$d/f$i"; done; done"#;
    let body = r#"
kill -STOP $WP
mkdir -p "$R/srv/made/l1/l2/l3/l4"
for d in "" /l1 /l1/l2 /l1/l2/l3 /l1/l2/l3/l4; do
  for i in $(seq 20); do echo m > "$R/srv/made$d/f$i"; done
done
kill -CONT $WP
wait_json 'files("/srv/made") == 100 and g["/srv/made"]["bytes"] == 200'
mv "$R/srv/pre" "$R/srv/moved"
wait_json 'files("/srv/moved") == 40 and g["/srv/moved"]["bytes"] == 80'
"#;
    let err = with_watcher(
        tmp.path(),
        &Layout::default(),
        "--backend fanotify",
        before,
        body,
    );
    let w = watch_json(tmp.path());
    let files = |p: &str| super::group(&w, p).map(|g| g["files"].clone());
    assert_eq!(files("/srv/made"), Some(100.into()), "{err}");
    assert_eq!(files("/srv/moved"), Some(40.into()), "{err}");
    assert!(
        err.contains("the reboot will discard 140 files, 280 B, in 2 directories"),
        "{err}"
    );
    // The moved-in tree's 40 files; none of the 100 made ones (300 records
    // before: once per level). The moved tree is walked twice (its
    // FAN_RENAME and its FAN_MOVED_TO both arrive): 40 or 80.
    let line = (err.lines())
        .find(|l| l.contains("read from the kernel"))
        .unwrap_or_else(|| panic!("{err}"));
    let n: u64 = (line.rsplit("; ").next())
        .and_then(|t| t.strip_suffix(" files found by catch-up walks"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(n == 40 || n == 80, "{line}");
}
