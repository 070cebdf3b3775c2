//! Trial s8 #14: `status` reading `watch.json` (no D-Bus) did not say how
//! old the file is (the watcher rewrites it at most every 3 s), so `0
//! unpersisted groups` 2 s after a warning read as current. It says the
//! file's age once it is 2 s old or more.

use super::with_watcher;
use crate::require_root;
use crate::util::Layout;

#[test]
fn status_says_how_old_watch_json_is() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
touch "$R/run/impermctl/watch.json"; imp status > "$OUT/fresh" 2>&1 || true
touch -d '-30 seconds' "$R/run/impermctl/watch.json"
imp status > "$OUT/old" 2>&1 || true
"#;
    with_watcher(tmp.path(), &Layout::default(), "", "", body);
    let read = |n: &str| std::fs::read_to_string(tmp.path().join(n)).unwrap_or_default();
    let (fresh, old) = (read("fresh"), read("old"));
    let said = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("watcher: "))
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        said(&fresh).contains("watch.json") && !fresh.contains("ago"),
        "{fresh}"
    );
    let want = "watch.json, written 30 s ago (the watcher rewrites it at most every 3 s";
    assert!(said(&old).contains(want), "{old}");
}
