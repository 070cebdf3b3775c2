//! Item 5: the watcher degrades, it does not die or go blind.

use serde_json::Value;

use crate::require_root;
use crate::util::{self, Layout, in_vps, shell_quote};
use crate::watch::with_watcher;

/// At the inotify watch limit of its user namespace (the one a container
/// hits, set low here), the watcher keeps running with partial coverage,
/// says what it does not watch and which limit it hit, and its periodic
/// rescans still find every file written in unwatched directories.
#[test]
fn at_the_inotify_watch_limit_the_watcher_keeps_running_and_rescans() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"OUT={out}
# 60 groups of 2 directories; a budget of one warning a minute keeps 59 of
# them unreported, so muting (a reported group's watches are removed) does
# not bring the 120 directories under the limit of 40.
printf 'version = 1\n[watch]\nmax_warnings_per_minute = 1\n' > "$CFG"
for i in $(seq 60); do mkdir -p "$R/srv/g$i/d"; done
unshare -U --map-root-user sh -c 'echo 40 > /proc/sys/user/max_inotify_watches && exec "$0" "$@"' \
  "$IMPERMCTL" --root "$R" --config "$CFG" watch --no-dbus --backend inotify --json-every 0.2 --rescan-every 0.5 2>$OUT/stderr & WP=$!
trap 'kill $WP 2>/dev/null || true' EXIT
for i in $(seq 200); do [ -s "$R/run/impermctl/watch.json" ] && break; sleep 0.05; done
for i in $(seq 60); do echo data > "$R/srv/g$i/d/f"; done
for i in $(seq 400); do
  [ "$(grep -c '"files": 1,' "$R/run/impermctl/watch.json")" = 60 ] && break; sleep 0.05
done
kill -0 $WP && echo "alive=yes"
imp status > $OUT/status.txt 2>&1 || true
cp "$R/run/impermctl/watch.json" $OUT/watch.json
kill -TERM $WP; rc=0; wait $WP || rc=$?; echo "rc=$rc"
"#,
        out = shell_quote(tmp.path()),
    );
    let o = in_vps(&Layout::default(), &body);
    let err = std::fs::read_to_string(tmp.path().join("stderr")).unwrap_or_default();
    util::assert_code(&o, 0);
    let out = util::stdout(&o);
    assert!(
        out.contains("alive=yes") && out.contains("rc=0"),
        "{out}\n{err}"
    );
    let w: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("watch.json")).unwrap())
            .unwrap();
    assert!(w["unwatched_directories"].as_u64().unwrap() > 0, "{w}");
    let cov = w["coverage"].as_str().unwrap_or_else(|| panic!("{w}"));
    assert!(
        cov.contains("NOT watched") && cov.contains("40 watches, this user namespace's limit"),
        "{cov}"
    );
    for i in 1..=60 {
        let g = w["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["path"] == format!("/srv/g{i}"))
            .unwrap_or_else(|| panic!("/srv/g{i}: {w}"));
        assert_eq!(g["files"], 1, "every file found, watched or not: {g}");
    }
    let status = std::fs::read_to_string(tmp.path().join("status.txt")).unwrap();
    assert!(status.contains("PARTIAL COVERAGE"), "{status}");
    assert!(err.contains("inotify watch limit reached"), "{err}");
}

/// In a user namespace that owns the root filesystem (kernel 6.8+), the
/// fanotify mark succeeds but `open_by_handle_at` fails with `EPERM`: the
/// start-up check sees it, the watcher falls back to inotify and says why,
/// and writes are reported (before, every event was dropped silently).
#[test]
fn fanotify_whose_events_cannot_resolve_falls_back_to_inotify() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"OUT={out}
X="$R/userns-root"; mkdir -p "$X"
cp "$CFG" "$OUT/config.toml" 2>/dev/null || printf 'version = 1\n[[persistence]]\npath = "/persistent"\n' > "$OUT/config.toml"
unshare -U --map-root-user -m --propagation private bash -c '
set -e
X="$1"; OUT="$2"; IMPERMCTL="$3"
mount -t tmpfs tank/ct/102.impermanence-aa "$X"
mkdir -p "$X/var/lib" "$X/run"
"$IMPERMCTL" --root "$X" --config "$OUT/config.toml" watch --no-dbus --backend auto --json-every 0.2 2>"$OUT/stderr" & WP=$!
for i in $(seq 200); do [ -s "$X/run/impermctl/watch.json" ] && break; sleep 0.05; done
mkdir -p "$X/var/lib/app"; echo data > "$X/var/lib/app/file"
for i in $(seq 200); do grep -q "/var/lib/app" "$X/run/impermctl/watch.json" && break; sleep 0.05; done
kill -TERM $WP; wait $WP || true
cp "$X/run/impermctl/watch.json" "$OUT/watch.json"
' bash "$X" "$OUT" "$IMPERMCTL"
"#,
        out = shell_quote(tmp.path()),
    );
    let o = in_vps(&Layout::default(), &body);
    let err = std::fs::read_to_string(tmp.path().join("stderr")).unwrap_or_default();
    util::assert_code(&o, 0);
    let w: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("watch.json")).unwrap())
            .unwrap();
    assert_eq!(w["backend"], "inotify", "{w}\n{err}");
    let why = w["fallback"].as_str().unwrap_or_else(|| panic!("{w}"));
    // Kernels before 6.8 refuse the mark itself in a user namespace.
    assert!(
        why.contains("cannot be resolved") || why.contains("filesystem mark on"),
        "{why}"
    );
    let found = w["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["path"] == "/var/lib/app" && g["files"] == 1);
    assert!(found, "the write was reported: {w}\n{err}");
}

/// A 1 MiB file under a 10 KB path (longer than `PATH_MAX`) is reported by
/// both backends: inotify counts the directories it cannot watch and its
/// periodic rescan looks fd-relatively; fanotify cannot resolve the
/// directory to a path, says so and rescans.
fn a_file_under_a_path_longer_than_path_max(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
mkdeep "$R/var/lib" 40 big 1048576
for i in $(seq 400); do grep -q '"bytes": 1048576' "$R/run/impermctl/watch.json" && break; sleep 0.05; done
kill -0 $WP && echo yes > $OUT/alive
"#;
    let args = format!("--backend {backend} --rescan-every 0.5");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, "", body);
    assert!(tmp.path().join("alive").exists(), "{err}");
    let w: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("watch.json")).unwrap())
            .unwrap();
    assert_eq!(w["backend"], backend, "{w}");
    let g = w["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["path"] == "/var/lib/deep")
        .unwrap_or_else(|| panic!("the deep file was not reported: {w}\n{err}"));
    assert_eq!(g["bytes"], 1 << 20, "{g}");
}

#[test]
fn inotify_reports_a_file_under_a_path_longer_than_path_max() {
    require_root!();
    a_file_under_a_path_longer_than_path_max("inotify");
}

#[test]
fn fanotify_reports_a_file_under_a_path_longer_than_path_max() {
    require_root!();
    a_file_under_a_path_longer_than_path_max("fanotify");
}
