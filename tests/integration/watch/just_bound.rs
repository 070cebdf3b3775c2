//! A path `boot` bound a moment ago (trial-s10 F5: `nixos-rebuild switch`
//! then `status`, or `&& reboot`): `status` and the shutdown summary no
//! longer count it as lost. Every answer of the watcher first looks at the
//! mount table (`machine`), not only its once-a-second tick. The watcher
//! is stopped (SIGSTOP) across `boot` and the signal, so its next tick is
//! always later than the answer: no deadline decides the outcome.

use super::{says, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// `pending N`: is signal N pending for the (stopped) watcher (`ShdPnd`)?
/// `cont_when N`: in the background, let the watcher go on once signal N
/// is pending (deadline 60 s). `declare_dir P`: add P to the config.
const HELPERS: &str = r#"
pending() { v=$(awk '/^ShdPnd:/ { print $2 }' /proc/$WP/status); (( 0x$v & (1 << ($1 - 1)) )); }
cont_when() { ( for i in $(seq 1200); do pending $1 && break; sleep 0.05; done; kill -CONT $WP ) & }
declare_dir() { printf '[[persistence.directories]]\npath = "%s"\n' "$1" >> "$CFG"; }
"#;

fn just_bound(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let before = format!(
        "{HELPERS}\nimp diff --capture-baseline >/dev/null\nmkdir -p \"$R/srv/app\" \"$R/srv/two\" \"$R/srv/other\""
    );
    // /srv/app: declared, counted, then bound by `boot` while the watcher
    // is stopped; the watcher goes on, `status` asks at once. /srv/two: the
    // same before the stop (`stop_watch`'s SIGTERM). /srv/other stays
    // unpersisted.
    let body = r#"
echo hello > "$R/srv/app/f"; echo hi > "$R/srv/two/f"; echo other > "$R/srv/other/f"
wait_json 'files("/srv/app") == 1 and files("/srv/two") == 1 and files("/srv/other") == 1'
declare_dir /srv/app
kill -STOP $WP
imp boot > "$OUT/boot1" 2>&1
mountpoint -q "$R/srv/app"
# Going on right before `status` asks (a stopped one is not asked: 68eb3ab).
kill -CONT $WP
imp status > "$OUT/status" 2>&1 || true
declare_dir /srv/two
kill -STOP $WP
imp boot > "$OUT/boot2" 2>&1
mountpoint -q "$R/srv/two"
cont_when 15
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, &before, body);
    let read = |n: &str| std::fs::read_to_string(tmp.path().join(n)).unwrap_or_default();
    let status = read("status");
    let watcher = status
        .split_once("\nwatcher: ")
        .map(|(_, w)| w)
        .unwrap_or_else(|| panic!("no watcher section:\n{status}\n{err}"));
    assert!(!watcher.contains("did not recount"), "{status}");
    assert!(watcher.contains("\n  /srv/other "), "{status}\n{err}");
    assert!(
        !watcher.contains("/srv/app"),
        "bound by boot right before status, still counted:\n{status}\n{}\n{err}",
        read("boot1")
    );
    let summary = (err.lines())
        .find(|l| l.contains(says::DISCARD))
        .unwrap_or_else(|| panic!("no summary:\n{err}"));
    assert!(summary.contains("/srv/other (1 file"), "{summary}");
    assert!(
        !summary.contains("/srv/two") && !summary.contains("/srv/app"),
        "bound by boot right before the stop, still counted: {summary}\n{}",
        read("boot2")
    );
}

#[test]
fn inotify_does_not_count_a_path_boot_just_bound() {
    require_root!();
    just_bound("inotify");
}

#[test]
fn fanotify_does_not_count_a_path_boot_just_bound() {
    require_root!();
    just_bound("fanotify");
}
