//! `status` and the shutdown summary count what no event covers (trial-s8
//! findings 5 and 6): `status` asks the watcher to recount its muted
//! groups and walk what inotify cannot watch (SIGUSR2) and waits for the
//! rewritten `watch.json`; the summary walks the unwatched directories
//! too. Before, `status` lagged by thousands of files while a group was
//! muted (both ways), and under inotify the summary left out writes below
//! `PATH_MAX` depth until the minute's rescan.

use super::{says, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// `status`'s row for `group`, e.g. `/var/lib/hot  51 files  204 B`.
fn row<'a>(status: &'a str, group: &str) -> &'a str {
    let at = format!("  {group}  ");
    status
        .lines()
        .find(|l| l.starts_with(&at))
        .unwrap_or_else(|| panic!("no {group} in {status}"))
}

fn a_muted_groups_count_is_exact_in_status(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"imp diff --capture-baseline >/dev/null"#;
    // 500 writes make /var/lib/hot/d hot (muted); then, unheard, 99 of its
    // 100 files go and 50 more come (51 left, 4 B each), and 40 files are
    // appended to in a second muted directory.
    let body = r#"
mkdir -p "$R/var/lib/hot/d" "$R/var/lib/big/d"
for i in $(seq 500); do printf '%03d\n' $((i%100)) > "$R/var/lib/hot/d/f$((i%100))"; echo $i > "$R/var/lib/big/d/g$((i%100))"; done
wait_json 'files("/var/lib/hot") == 100 and files("/var/lib/big") == 100'
imp status > "$OUT/status.before" 2>&1 || true
rm "$R/var/lib/hot/d/f"[1-9]*
for i in $(seq 50); do echo new > "$R/var/lib/hot/d/n$i"; done
for i in $(seq 40); do : > "$R/var/lib/big/d/h$i"; done
imp status > "$OUT/status" 2>&1 || true
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, body);
    let status = std::fs::read_to_string(tmp.path().join("status")).unwrap();
    assert!(!status.contains("did not recount"), "{status}");
    let hot = row(&status, "/var/lib/hot");
    assert!(hot.contains(" 51 files  204 B"), "{hot}\n{status}\n{err}");
    let big = row(&status, "/var/lib/big");
    assert!(big.contains(" 140 files"), "{big}\n{status}\n{err}");
    let summary = err.lines().find(|l| l.contains(says::DISCARD)).unwrap();
    assert!(summary.contains("191 files"), "{summary}");
}

#[test]
fn a_muted_groups_count_is_exact_in_status_with_fanotify() {
    require_root!();
    a_muted_groups_count_is_exact_in_status("fanotify");
}

#[test]
fn a_muted_groups_count_is_exact_in_status_with_inotify() {
    require_root!();
    a_muted_groups_count_is_exact_in_status("inotify");
}

/// Python: a chain of 25 directories of 200-byte names (5 KB, past
/// `PATH_MAX`) under argv[1], a file `f` in each: made (argv[2] = "make")
/// or appended to ("append"), fd-relatively.
const DEEP: &str = r#"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(25):
    n = "L%03d" % i + "x" * 196
    if sys.argv[2] == "make":
        os.mkdir(n, dir_fd=fd)
    nfd = os.open(n, os.O_RDONLY, dir_fd=fd)
    f = os.open("f", os.O_WRONLY | os.O_CREAT | os.O_APPEND, dir_fd=nfd)
    os.write(f, b"1")
    os.close(f); os.close(fd); fd = nfd
"#;

/// inotify cannot watch the deep directories: `status` and the summary
/// still count every file appended to there, as `diff` does.
#[test]
fn deep_writes_inotify_cannot_watch_are_in_status_and_the_summary() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("deep.py"), DEEP).unwrap();
    let before = r#"mkdir -p "$R/srv/deep"; python3 "$OUT/deep.py" "$R/srv/deep" make
imp diff --capture-baseline >/dev/null"#;
    // The periodic rescan (every minute) does not come before the end.
    let body = r#"
python3 "$OUT/deep.py" "$R/srv/deep" append
imp status > "$OUT/status" 2>&1 || true
imp diff > "$OUT/diff" 2>&1 || true
"#;
    let err = with_watcher(
        tmp.path(),
        &Layout::default(),
        "--backend inotify",
        before,
        body,
    );
    let status = std::fs::read_to_string(tmp.path().join("status")).unwrap();
    let diff = std::fs::read_to_string(tmp.path().join("diff")).unwrap();
    assert!(diff.contains("25 files  /srv/deep"), "{diff}");
    let deep = row(&status, "/srv/deep");
    assert!(deep.contains(" 25 files  50 B"), "{deep}\n{status}\n{err}");
    let not_watched = err.lines().filter(|l| l.contains("NOT watched: "));
    for l in not_watched {
        assert!(l.contains("NOT watched: 1 directory and"), "{l}");
    }
    let summary = err.lines().find(|l| l.contains(says::DISCARD)).unwrap();
    assert!(
        summary.contains("25 files, 50 B") && summary.contains("/srv/deep"),
        "{summary}"
    );
}
