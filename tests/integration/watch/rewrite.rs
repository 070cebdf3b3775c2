//! Trial s6 finding 1: a `sed -i` on a file the baseline has was warned
//! about 30–60 s late (held for a retaken baseline, released by a tick),
//! without its writer. Only a NixOS activation's rewrites wait for the
//! baseline it retakes; any other is warned about within the settle time.

use crate::require_root;
use crate::util::Layout;

use super::with_watcher;

/// Poll the watcher's stderr (deadline 10 s, a third of `judge::HOLD`)
/// for the warning about `$1`; fail the script if it does not come.
const WAIT_WARNED: &str = r#"
wait_warned() {
  for i in $(seq 100); do grep -q "write to $1" $OUT/stderr && return 0; sleep 0.1; done
  echo "no prompt warning for $1" >&2; cat $OUT/stderr >&2; return 1
}
"#;

fn rewrites_outside_activation_are_warned_at_once(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"mkdir -p "$R/etc/app"; echo f > "$R/etc/app/fresh"; echo a > "$R/etc/app/act"
imp baseline --since all > /dev/null"#;
    // A process named `activate` (as NixOS's activation script is) rewrites
    // a baseline file and retakes the baseline at its end: never warned.
    let body = format!(
        r#"{WAIT_WARNED}
sed -i s/f/g/ "$R/etc/app/fresh"
wait_warned /etc/app/fresh
printf '#!/bin/sh\necho b > "$R/etc/app/act.new"; mv "$R/etc/app/act.new" "$R/etc/app/act"\n"$IMPERMCTL" --root "$R" --config "$CFG" baseline --since all >/dev/null 2>&1\n' > "$OUT/activate"
chmod +x "$OUT/activate"; R="$R" CFG="$CFG" IMPERMCTL="$IMPERMCTL" "$OUT/activate"
"#
    );
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, &body);
    let warn = (err.lines())
        .find(|l| l.contains("write to /etc/app/fresh"))
        .unwrap_or_else(|| panic!("{err}"));
    // fanotify gives the writer's pid; its name only if it was still
    // there when the event was read (sed exits at once: `writer_gone`).
    if backend == "fanotify" {
        assert!(
            warn.contains("write to /etc/app/fresh by sed[")
                || warn.contains("write to /etc/app/fresh by a process that had exited (was pid "),
            "{warn}"
        );
    }
    assert!(
        !err.contains("write to /etc/app/sed"),
        "a temporary:\n{err}"
    );
    assert!(
        !err.contains("write to /etc/app/act"),
        "activation's:\n{err}"
    );
}

/// Both backends in one test, one after the other: a process named
/// `activate` is seen host-wide (`/proc`), so a test running one in
/// parallel with another's `sed -i` would hold that one's warning.
#[test]
fn sed_rewrites_of_baseline_files_are_warned_at_once_and_activations_wait() {
    require_root!();
    for backend in ["inotify", "fanotify"] {
        rewrites_outside_activation_are_warned_at_once(backend);
    }
}
