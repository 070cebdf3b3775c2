//! Trial s8 #14: `status` reading `watch.json` (no D-Bus) did not say how
//! old the file is (the watcher rewrites it at most every 3 s), so `0
//! unpersisted groups` 2 s after a warning read as current. It says the
//! file's age once it is 2 s old or more (a running watcher is asked to
//! rewrite it first, `watch::refresh`; this is for one that does not answer).

use super::with_watcher;
use crate::require_root;
use crate::util::Layout;

#[test]
fn status_says_how_old_watch_json_is() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
touch "$R/run/impermctl/watch.json"; imp status > "$OUT/fresh" 2>&1 || true
# A watcher that does not answer `status`' ask for a fresh write (stopped
# here) leaves the file as it was.
kill -STOP $WP; touch -d '-30 seconds' "$R/run/impermctl/watch.json"
imp status > "$OUT/old" 2>&1 || true
kill -CONT $WP
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
    // Stopped: said so, its last record below (`watch::stopped_on_dbus`).
    assert!(said(&old).contains(" STOPPED (pid "), "{old}");
    let (_, age) = old
        .split_once("watch.json, written ")
        .unwrap_or_else(|| panic!("{old}"));
    let secs: u64 = age
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!((30..120).contains(&secs), "{old}");
    assert!(
        age.contains(" s ago (the watcher rewrites it at most every 3 s"),
        "{old}"
    );
}
