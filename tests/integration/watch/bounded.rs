//! The watcher's memory stays bounded under a long steady load (B5, issue
//! 17): names churned through a muted group are counted by the refresh
//! walks without piling up in the list of changes `diff` asks for.

use super::{group, watch_config, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// A reported, muted directory whose files are replaced by new names
/// round after round (as `bench/soak.sh` does): every refresh walk finds
/// them, but `diff` walks a muted directory whole, so its names are not
/// listed one by one. The list stays a few entries long and keeps
/// standing for a walk (before: each refresh listed every name found, and
/// with the cap at 3,000 the watcher stopped vouching after 3 rounds).
fn churned_names_in_a_muted_group_are_not_listed(backend: &str) {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
mkdir -p "$R/srv/big/d"
echo first > "$R/srv/big/f0"
wait_json 'files("/srv/big") == 1'
for round in 1 2 3 4; do
  python3 - "$R/srv/big/d" "$round" <<'PY'
import os, sys
d, k = sys.argv[1], int(sys.argv[2])
for n in os.listdir(d):
    os.unlink(os.path.join(d, n))
for i in range(1000 + k):
    open(f"{d}/r{k}-{i}", "w").write("x")
PY
  # Muted after a few dozen events: only a refresh walk counts the rest.
  wait_json "files('/srv/big') == 1001 + $round"
done
old=$(stat -c %i "$R/run/impermctl/changes" 2>/dev/null || true)
kill -USR1 $WP
for i in $(seq 300); do
  new=$(stat -c %i "$R/run/impermctl/changes" 2>/dev/null || true)
  [ -n "$new" ] && [ "$new" != "$old" ] && break; sleep 0.1
done
cp "$R/run/impermctl/changes" "$OUT/changes"
"#;
    let err = with_watcher(
        tmp.path(),
        &Layout::default(),
        &format!("--backend {backend}"),
        &format!("export IMPERMCTL_CHANGES_CAP=3000\n{}", watch_config("")),
        body,
    );
    let w = watch_json(tmp.path());
    assert_eq!(group(&w, "/srv/big").unwrap()["files"], 1005, "{w}");
    let b = std::fs::read(tmp.path().join("changes")).expect("the list was written");
    let list = impermctl::watch::changes::decode(&b).unwrap();
    assert_eq!(list.gap, None, "the list still stands for a walk\n{err}");
    assert_eq!(list.trees, [b"/srv/big/d".to_vec()], "{err}");
    let held = list.paths.len() + list.trees.len();
    assert!(
        held <= 40,
        "{held} entries listed: {:?}",
        list.paths
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect::<Vec<_>>()
    );
}

#[test]
fn fanotify_names_churned_in_a_muted_group_do_not_pile_up_in_the_list() {
    churned_names_in_a_muted_group_are_not_listed("fanotify");
}

#[test]
fn inotify_names_churned_in_a_muted_group_do_not_pile_up_in_the_list() {
    churned_names_in_a_muted_group_are_not_listed("inotify");
}

/// 5,000 files counted in a group the budget keeps unreported (never
/// muted, so never counted again by a refresh walk) are deleted while the
/// watcher is stopped and 20,000 other files fill its kernel queue: the
/// deletions' events are lost. The rescan after the overflow counts what is
/// there (before: the deleted files stayed counted, and their paths held
/// in the tally).
fn files_deleted_during_an_overflow_are_not_counted(backend: &str) {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
mkdir -p "$R/srv/a" "$R/srv/x"
echo first > "$R/srv/a/f0"
wait_json 'files("/srv/a") == 1'
echo first > "$R/srv/x/f0"
mkdir $(seq -f "$R/srv/x/d%g" 0 19)
python3 - "$R/srv/x" <<'PY'
import sys
for d in range(5):
    for f in range(1000):
        open(f"{sys.argv[1]}/d{d}/f{f}", "w").write("x")
PY
echo first > "$R/srv/x/d19/first"
wait_json 'files("/srv/x") == 5002'
kill -STOP $WP
python3 - "$R/srv/x" <<'PY'
import os, sys
x = sys.argv[1]
for d in range(5, 20):
    for f in range(1334):
        open(f"{x}/d{d}/n{f}", "w").write("x")
for d in range(5):
    for f in range(1000):
        os.unlink(f"{x}/d{d}/f{f}")
PY
kill -CONT $WP
wait_json 'files("/srv/x") == 20012 and d["overflows"] > 0'
"#;
    let err = with_watcher(
        tmp.path(),
        &Layout::default(),
        &format!("--backend {backend}"),
        &watch_config("max_warnings_per_minute = 1"),
        body,
    );
    let w = watch_json(tmp.path());
    assert_eq!(group(&w, "/srv/x").unwrap()["files"], 20012, "{w}\n{err}");
    assert!(w["overflows"].as_u64().unwrap() > 0, "{w}");
}

#[test]
fn fanotify_files_deleted_while_the_queue_overflowed_are_not_counted() {
    files_deleted_during_an_overflow_are_not_counted("fanotify");
}

#[test]
fn inotify_files_deleted_while_the_queue_overflowed_are_not_counted() {
    files_deleted_during_an_overflow_are_not_counted("inotify");
}
