//! Trial s9 F10: `status` after the watcher was killed (`kill -9`) printed
//! the stale `watch.json` counts as current ("0 unpersisted groups … the
//! daemon is not running") while `diff` listed a group: it says the
//! counts are unknown, what was last recorded, and to run `impermctl diff`.

use super::with_watcher;
use crate::require_root;
use crate::util::Layout;

#[test]
fn status_with_a_killed_watcher_says_the_counts_are_unknown() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"imp baseline > /dev/null 2>&1 || true"#;
    let body = r#"
kill -9 $WP; wait $WP 2>/dev/null || true
mkdir -p "$R/srv/a"; echo x > "$R/srv/a/f1"
imp status > "$OUT/status" 2>&1 || true
imp status --json > "$OUT/json" 2>/dev/null || true
rm "$R/run/impermctl/watch.json"; start_watch --no-dbus --backend inotify
"#;
    with_watcher(
        tmp.path(),
        &Layout::default(),
        "--backend inotify",
        before,
        body,
    );
    let status = std::fs::read_to_string(tmp.path().join("status")).unwrap();
    assert!(
        status.contains("NOT RUNNING")
            && status.contains("is unknown; run `impermctl diff`")
            && status.contains("last recorded in"),
        "{status}"
    );
    assert!(
        !status.contains("watcher: inotify, 0 unpersisted"),
        "{status}"
    );
}
