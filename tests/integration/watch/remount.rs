//! The declared entries that are not persisted were taken at the watcher's
//! start: a path bound later (`boot` after a config change, `persist`)
//! stayed counted as lost, one unbound later was not counted (and, with
//! inotify, not even watched), and a config edited then signalled (SIGHUP)
//! changed nothing. The watcher now takes the mount table again when the
//! kernel says it changed, and the config too on SIGHUP.

use super::{group_paths, says, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// `/var/lib/late` declared, not bound at start (its 2 files lost);
/// `/var/lib/was` declared and bound at start, a file hidden under it;
/// `/srv/cfg` in the baseline, declared only later (the config is outside
/// the root: its edit is no write to report).
const BEFORE: &str = r#"CFG="$OUT/config.toml"
cat > "$CFG" <<'TOML'
version = 1
[[persistence]]
path = "/persistent"
directories = ["/var/lib/late", "/var/lib/was"]
TOML
mkdir -p "$R/persistent/var/lib/late" "$R/persistent/var/lib/was" "$R/var/lib/late" "$R/var/lib/was" "$R/srv/cfg"
echo hidden > "$R/var/lib/was/under"
mount --bind "$R/persistent/var/lib/was" "$R/var/lib/was"
echo one > "$R/var/lib/late/a"; echo two > "$R/var/lib/late/b"; echo c > "$R/srv/cfg/f"
imp baseline --since all > /dev/null
"#;

fn bound_and_unbound_later(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
export WAIT_TRIES=100
wait_json 'files("/var/lib/late") == 2 and "/var/lib/was" not in g and "/srv/cfg" not in g'
mount --bind "$R/persistent/var/lib/late" "$R/var/lib/late"
wait_json '"/var/lib/late" not in g'
echo through-the-bind > "$R/var/lib/late/c"
umount "$R/var/lib/was"
wait_json 'files("/var/lib/was") == 1'
echo new > "$R/var/lib/was/new"
wait_json 'files("/var/lib/was") == 2'
sed -i 's|"/var/lib/was"\]|"/var/lib/was", "/srv/cfg"]|' "$CFG"
kill -HUP $WP
wait_json 'files("/srv/cfg") == 1 and "already declared" in g["/srv/cfg"]["suggest"]'
imp status > "$OUT/status" 2>&1 || true
imp diff > "$OUT/diff" 2>&1 || true
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, BEFORE, body);
    let w = watch_json(tmp.path());
    let names = group_paths(&w);
    assert_eq!(names, ["/var/lib/was", "/srv/cfg"], "{err}");
    let was = &w["groups"][0];
    assert!(
        was["suggest"]
            .as_str()
            .unwrap()
            .starts_with("/var/lib/was is already declared, but not persisted: "),
        "{was}"
    );
    // under 7 B + new 4 B, cfg 2 B; `diff` says the same.
    let summary = err.lines().find(|l| l.contains(says::DISCARD)).unwrap();
    assert!(
        summary.contains("the reboot will discard 3 files, 13 B, in 2 directories"),
        "{summary}"
    );
    let diff = std::fs::read_to_string(tmp.path().join("diff")).unwrap();
    assert!(
        diff.contains("total: 13 B in 3 files and 2 groups"),
        "{diff}"
    );
    let status = std::fs::read_to_string(tmp.path().join("status")).unwrap();
    let watcher = status.split("watcher: ").nth(1).unwrap_or_default();
    let first = watcher.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(backend) && first.contains(", 2 unpersisted groups"),
        "{status}"
    );
    assert!(!watcher.contains("/var/lib/late"), "{status}");
    // The unbound directory was warned about (its hidden file, found by
    // the rescan, or the new one), with the reason instead of "add it".
    let warn = (err.lines())
        .find(|l| l.contains("write to /var/lib/was/"))
        .unwrap_or_else(|| panic!("not warned about:\n{err}"));
    assert!(
        warn.contains("already declared, but not persisted"),
        "{warn}"
    );
}

#[test]
fn inotify_follows_paths_bound_and_unbound_after_start_and_sighup() {
    require_root!();
    bound_and_unbound_later("inotify");
}

#[test]
fn fanotify_follows_paths_bound_and_unbound_after_start_and_sighup() {
    require_root!();
    bound_and_unbound_later("fanotify");
}

/// Trial-s10 F13 (s32.sh): a declared directory whose bind an admin
/// unmounted, then written to, while its persistent copy holds other data.
/// The watcher said "run `impermctl boot`", which binds the persistent
/// version over the live data; it now says so and how to keep the live
/// data (as `status` and `diff` do: `boot::advice`).
#[test]
fn an_unmounted_directory_written_to_is_not_advised_a_rollback() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"CFG="$OUT/config.toml"
printf 'version = 1\n[[persistence]]\npath = "/persistent"\ndirectories = ["/var/lib/app"]\n' > "$CFG"
mkdir -p "$R/persistent/var/lib/app" "$R/var/lib/app"
echo hidden > "$R/var/lib/app/under"
echo v1 > "$R/persistent/var/lib/app/state"
mount --bind "$R/persistent/var/lib/app" "$R/var/lib/app"
imp baseline --since all > /dev/null
"#;
    let body = r#"
umount "$R/var/lib/app"
wait_json 'files("/var/lib/app") == 1'
echo v2 > "$R/var/lib/app/state"
wait_json 'files("/var/lib/app") == 2'
"#;
    let err = with_watcher(
        tmp.path(),
        &Layout::default(),
        "--backend inotify",
        before,
        body,
    );
    let w = watch_json(tmp.path());
    let app = &w["groups"][0];
    let suggest = app["suggest"].as_str().unwrap_or_default();
    let warn = (err.lines())
        .find(|l| l.contains("write to /var/lib/app/"))
        .unwrap_or_else(|| panic!("not warned about:\n{err}"));
    for text in [suggest, warn] {
        for want in [
            "/persistent/var/lib/app holds another version: `impermctl boot` would bind it over /var/lib/app and keep what is here now only in /persistent/impermctl-kept/<time>/",
            "run `impermctl persist /var/lib/app`",
        ] {
            assert!(text.contains(want), "{want}\n{text}\n{err}");
        }
        assert!(!text.contains("(run `impermctl boot`"), "{text}");
    }
}
