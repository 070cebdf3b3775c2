//! A group's writers (`watch.json`, D-Bus, `status`, `diff`'s "written
//! by") are every process seen writing to it, up to 8 (DESIGN: the groups
//! "with counts, sizes, first/last seen and writers"). fanotify names each
//! event's pid; inotify's events carry none, and it looked at the open
//! files only for a group's warning: a second process writing into the
//! same group (another file, or the same one) was never named.

use super::{group, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// `writer NAME FILE`: a process named NAME (its comm) that opens FILE
/// for appending and writes a line every 2 s until `$OUT/stop-NAME`
/// exists (the test has seen it named), then holds FILE open without
/// writing until `$OUT/stop`, 90 s at most. So at most one writer writes
/// at a time, slowly: a reported group's directory is muted after 32
/// events (`mute::HOT`) and then hears no new writer until its reminder;
/// at one write every 2 s that is over a minute away.
const WRITER: &str = r#"
writer() {
  python3 - "$1" "$2" "$OUT/stop" "$OUT/stop-$1" <<'PY' >/dev/null 2>&1 & PIDS="${PIDS:-} $!"
import os, sys, time
open("/proc/self/comm", "w").write(sys.argv[1])
f, end = open(sys.argv[2], "a"), time.time() + 90
while not os.path.exists(sys.argv[3]) and time.time() < end:
    if not os.path.exists(sys.argv[4]):
        f.write("x\n"); f.flush()
    time.sleep(2)
PY
}
"#;

fn every_writer_of_a_group_is_named(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"{WRITER}
export WAIT_TRIES=150
trap 'touch "$OUT/stop"; ( kill -CONT $WP; kill $WP ) 2>/dev/null || true' EXIT
mkdir -p "$R/var/lib/multi"
writer alpha "$R/var/lib/multi/a"
wait_json '"alpha" in [w["comm"] for w in g["/var/lib/multi"]["writers"]]'
touch "$OUT/stop-alpha"
writer beta "$R/var/lib/multi/b"
wait_json '"beta" in [w["comm"] for w in g["/var/lib/multi"]["writers"]]'
# Named writers stop writing but keep their files open: gamma's writes
# are to `a`, which alpha also holds (the writer of a file several hold
# is the youngest that wrote).
touch "$OUT/stop-beta"
writer gamma "$R/var/lib/multi/a"
wait_json '"gamma" in [w["comm"] for w in g["/var/lib/multi"]["writers"]]'
touch "$OUT/stop"; wait $PIDS
"#
    );
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, "", &body);
    let w = watch_json(tmp.path());
    let g = group(&w, "/var/lib/multi").unwrap_or_else(|| panic!("{err}"));
    let mut comms: Vec<&str> = g["writers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["comm"].as_str())
        .collect();
    comms.sort();
    // Nobody else wrote there: no holder named by mistake.
    assert_eq!(comms, ["alpha", "beta", "gamma"], "{g}");
}

#[test]
fn inotify_names_every_writer_of_a_group() {
    require_root!();
    every_writer_of_a_group_is_named("inotify");
}

#[test]
fn fanotify_names_every_writer_of_a_group() {
    require_root!();
    every_writer_of_a_group_is_named("fanotify");
}
