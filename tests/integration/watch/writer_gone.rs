//! Trial s8 finding 12: fanotify named a short-lived writer (`sed -i`) by a
//! bare pid (`write to /etc/app/fresh2 by pid 10627:`), which may name
//! another process by then; and a process that only deleted files (`rm`)
//! was listed among a group's writers. The name is taken when the event is
//! read; a writer gone by then is said to be gone, and one that only
//! deleted is no writer of what is lost.

use super::{group, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// `wait_warned PATH`: poll stderr (deadline 30 s) for the warning about PATH.
const WAIT_WARNED: &str = r#"
wait_warned() {
  for i in $(seq 300); do grep -q "write to $1 " $OUT/stderr && return 0; sleep 0.1; done
  echo "no warning for $1" >&2; return 1
}
"#;

#[test]
fn fanotify_says_a_writer_gone_before_its_event_was_read_exited_never_a_bare_pid() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"mkdir -p "$R/etc/app"; for k in 1 2 3 4; do echo f > "$R/etc/app/fresh$k"; done
imp baseline --since all > /dev/null"#;
    // fresh1: the watcher is stopped while sed runs and is reaped, so the
    // event is read after sed is gone; the others as in the trial.
    let body = format!(
        r#"{WAIT_WARNED}
kill -STOP $WP; sed -i s/f/g/ "$R/etc/app/fresh1"; kill -CONT $WP
wait_warned /etc/app/fresh1
for k in 2 3 4; do sed -i s/f/g/ "$R/etc/app/fresh$k"; wait_warned /etc/app/fresh$k; done
"#
    );
    let err = with_watcher(
        tmp.path(),
        &Layout::default(),
        "--backend fanotify",
        before,
        &body,
    );
    let warns: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("write to /etc/app/"))
        .collect();
    assert_eq!(warns.len(), 4, "{err}");
    assert!(
        warns[0].contains("write to /etc/app/fresh1 by a process that had exited (was pid "),
        "{err}"
    );
    for w in warns {
        assert!(!w.contains(" by pid "), "a bare pid names no one: {w}");
        assert!(
            w.contains(" by sed[") || w.contains(" by a process that had exited (was pid "),
            "{w}"
        );
    }
}

/// A deleter holds on until the watcher has counted its deletion, so it is
/// there to be named when its event is read.
#[test]
fn fanotify_does_not_list_a_process_that_only_deleted_as_a_writer() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
mkdir -p "$R/var/lib/hot"
trap 'touch "$OUT/go"; ( kill -CONT $WP; kill $WP ) 2>/dev/null || true' EXIT
sh -c 'echo a > "$1/f1"; echo b > "$1/f2"; echo c > "$1/f3"; while [ ! -e "$2" ]; do sleep 0.05; done' sh "$R/var/lib/hot" "$OUT/go" & WRITER=$!
wait_json 'files("/var/lib/hot") == 3 and [w["comm"] for w in g["/var/lib/hot"]["writers"]] == ["sh"]'
python3 - "$R/var/lib/hot" "$OUT/go" "$R/tmp" <<'PY' &
import os, sys, time
open("/proc/self/comm", "w").write("deleter")
os.unlink(sys.argv[1] + "/f1"); os.rename(sys.argv[1] + "/f2", sys.argv[3] + "/f2")
while not os.path.exists(sys.argv[2]): time.sleep(0.05)
PY
DELETER=$!
wait_json 'files("/var/lib/hot") == 1'
touch "$OUT/go"; wait $WRITER $DELETER
"#;
    let err = with_watcher(
        tmp.path(),
        &Layout::default(),
        "--backend fanotify",
        "",
        body,
    );
    let w = watch_json(tmp.path());
    let hot = group(&w, "/var/lib/hot").unwrap_or_else(|| panic!("{w}\n{err}"));
    let comms: Vec<&str> = (hot["writers"].as_array().into_iter().flatten())
        .filter_map(|w| w["comm"].as_str())
        .collect();
    assert_eq!(comms, ["sh"], "{w}\n{err}");
}
