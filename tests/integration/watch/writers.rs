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
/// for appending and writes a line every second (a directory muted after
/// 32 events, `mute::HOT`, would hear no more) until `$OUT/stop` exists,
/// 60 s at most.
const WRITER: &str = r#"
writer() {
  python3 - "$1" "$2" "$OUT/stop" <<'PY' >/dev/null 2>&1 & PIDS="${PIDS:-} $!"
import os, sys, time
open("/proc/self/comm", "w").write(sys.argv[1])
f, end = open(sys.argv[2], "a"), time.time() + 60
while not os.path.exists(sys.argv[3]) and time.time() < end:
    f.write("x\n"); f.flush(); time.sleep(1)
PY
}
"#;

fn every_writer_of_a_group_is_named(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"{WRITER}
export WAIT_TRIES=100
trap 'touch "$OUT/stop"; ( kill -CONT $WP; kill $WP ) 2>/dev/null || true' EXIT
mkdir -p "$R/var/lib/multi"
writer alpha "$R/var/lib/multi/a"
wait_json '"alpha" in [w["comm"] for w in g["/var/lib/multi"]["writers"]]'
writer beta "$R/var/lib/multi/b"
wait_json '"beta" in [w["comm"] for w in g["/var/lib/multi"]["writers"]]'
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
