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
