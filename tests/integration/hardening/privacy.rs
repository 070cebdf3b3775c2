//! Item 3: other users' file names stay private. `watch.json` and the
//! baseline are root-only; a non-root `status`/`diff` says so instead of
//! showing them; the `UnpersistedGroup` signal reaches root's connections
//! only (the shipped bus policy, on a real dbus-daemon).

use super::{AS_ALICE, AS_NOBODY};
use crate::require_root;
use crate::util::{self, Layout, in_vps};
use crate::watch::prelude;

#[test]
fn watch_state_baseline_and_signal_are_root_only() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let body = format!(
        r#"{prelude}
chmod 755 "$(dirname "$R")" {out_q}
mkdir -p "$R/home/alice" "$R/var/lib/demo"
chown 1000:1000 "$R/home/alice"; chmod 700 "$R/home/alice"
imp diff --capture-baseline >/dev/null
start_watch --backend inotify
gdbus monitor --system --dest io.github.Impermctl1 > $OUT/root-signals.txt 2>&1 & M1=$!
{nobody} gdbus monitor --system --dest io.github.Impermctl1 > $OUT/nobody-signals.txt 2>&1 & M2=$!
for i in $(seq 200); do
  grep -q "is owned by" $OUT/root-signals.txt && grep -q "is owned by" $OUT/nobody-signals.txt && break
  sleep 0.05
done
{alice} sh -c 'echo s > "$1/home/alice/alices-secret-diary"' sh "$R"
for i in $(seq 200); do grep -q alices-secret $OUT/root-signals.txt && break; sleep 0.05; done
echo control > "$R/var/lib/demo/f"
for i in $(seq 200); do grep -q /var/lib/demo $OUT/root-signals.txt && break; sleep 0.05; done
# The same bus delivered both signals to root: a third round trip through
# the daemon orders everything before it for the other connection too.
gdbus call --system --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus --method org.freedesktop.DBus.GetId >/dev/null
for i in $(seq 200); do [ "$(stat -c %a "$R/run/impermctl/watch.json")" = 600 ] && grep -q alices "$R/run/impermctl/watch.json" && break; sleep 0.05; done
echo "modes=$(stat -c %a "$R/run/impermctl/watch.json") $(stat -c %a "$R/run/impermctl/baseline")"
rc=0; {nobody} cat "$R/run/impermctl/watch.json" > $OUT/nobody-cat.txt 2>&1 || rc=$?; echo "catrc=$rc"
rc=0; {nobody} "$IMPERMCTL" --root "$R" --config "$CFG" status > $OUT/nobody-status.txt 2>&1 || rc=$?; echo "statusrc=$rc"
rc=0; {nobody} "$IMPERMCTL" --root "$R" --config "$CFG" diff > $OUT/nobody-diff.txt 2>&1 || rc=$?; echo "diffrc=$rc"
imp status > $OUT/root-status.txt 2>&1 || true
kill $M1 $M2
stop_watch
"#,
        prelude = prelude(out),
        out_q = util::shell_quote(out),
        alice = AS_ALICE,
        nobody = AS_NOBODY,
    );
    let o = in_vps(&Layout::default(), &body);
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap_or_default();
    util::assert_code(&o, 0);
    let stdout = util::stdout(&o);
    assert!(stdout.contains("modes=600 600"), "{stdout}");
    assert!(
        stdout.contains("catrc=1"),
        "{stdout}\n{}",
        read("nobody-cat.txt")
    );
    let root_signals = read("root-signals.txt");
    assert!(
        root_signals.contains("UnpersistedGroup") && root_signals.contains("alices-secret-diary"),
        "root receives the signal: {root_signals}"
    );
    let nobody_signals = read("nobody-signals.txt");
    assert!(
        nobody_signals.contains("is owned by") && !nobody_signals.contains("UnpersistedGroup"),
        "a non-root subscriber receives nothing: {nobody_signals}"
    );
    let status = read("nobody-status.txt");
    assert!(!status.contains("alices"), "{status}");
    assert!(
        status.contains("only root can see them"),
        "non-root status says why it shows no groups: {status}"
    );
    let diff = read("nobody-diff.txt");
    assert!(stdout.contains("diffrc=2"), "{stdout}\n{diff}");
    assert!(
        diff.contains("readable by root only") && !diff.contains("alices"),
        "{diff}"
    );
    assert!(
        read("root-status.txt").contains("/home/alice"),
        "{}",
        read("root-status.txt")
    );
}
