//! Trial s8 finding 14: `status` did not show that fanotify fell back
//! (content events from the filesystem mark past the mark budget), only the
//! log did. `status` and `status --json` say which backend runs and why it
//! fell back, from the start (to inotify) or while running.

use super::marks::WAIT_LOG;
use super::{watch_config, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// `status` and `status --json` into `$OUT` once `watch.json` has a fallback.
const STATUS: &str = r#"
WAIT_TRIES=100 wait_json 'd["fallback"] is not None'
imp status > "$OUT/status.txt" 2>&1 || true
imp status --json > "$OUT/status.json" 2>/dev/null || true
"#;

fn status(out: &std::path::Path) -> (String, serde_json::Value) {
    let text = std::fs::read_to_string(out.join("status.txt")).unwrap();
    let json = std::fs::read_to_string(out.join("status.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|_| panic!("{json}"));
    (text, json["watcher"].clone())
}

#[test]
fn status_says_fanotify_fell_back_to_the_filesystem_mark_and_why() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let before = format!(
        "export IMPERMCTL_FANOTIFY_MARKS=3\nmkdir -p \"$R/srv/deep/a/b/c\"\n{}",
        watch_config("")
    );
    let body = format!("{WAIT_LOG}\nwait_log 'directories are not marked one by one'\n{STATUS}");
    let err = with_watcher(
        tmp.path(),
        &Layout::default(),
        "--backend fanotify",
        &before,
        &body,
    );
    let (text, json) = status(tmp.path());
    let why = "more than 3 directories";
    assert!(text.contains("\nwatcher: fanotify, "), "{text}\n{err}");
    assert!(
        text.contains("  FELL BACK: content events come from the filesystem mark, every write costs an event: ")
            && text.contains(why),
        "{text}"
    );
    assert_eq!(json["backend"], "fanotify", "{json}");
    assert!(
        json["fallback"].as_str().is_some_and(|f| f.contains(why)),
        "{json}"
    );
}

#[test]
fn status_says_the_watcher_runs_inotify_because_fanotify_was_refused() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let layout = Layout {
        userns: true,
        ..Layout::default()
    };
    let err = with_watcher(tmp.path(), &layout, "", "", STATUS);
    let (text, json) = status(tmp.path());
    assert!(text.contains("\nwatcher: inotify, "), "{text}\n{err}");
    assert!(
        text.contains("  fanotify not used: ") && text.contains("EPERM"),
        "{text}"
    );
    assert_eq!(json["backend"], "inotify", "{json}");
    assert!(
        json["fallback"]
            .as_str()
            .is_some_and(|f| f.contains("EPERM")),
        "{json}"
    );
}
