//! The watch.ignore note ("not counting watch.ignore … (not shown: N
//! changed entries under watch.ignore …)") from the watcher's list: the
//! watcher keeps the names below the ignored directories (there at its
//! start, made or moved there since) and `diff` looks at those only, not
//! by reading the directories (issue 17; session 5's finding 6 made both
//! bases print the same note by walking them on the list basis too). Both
//! bases print the same note for every change of the class.

use super::fast::{CONFIG, WATCHER};
use super::{read, run_with};
use crate::require_root;

/// Bash: `/tmp` and `/var/tmp` on the root's filesystem (as on vpsFree),
/// entries there before the baseline, the baseline in a later second than
/// any of them (so none counts as changed unless changed), `$TRACE` set
/// when strace exists.
const SETUP: &str = r#"
mkdir -p "$R/var/lib/keep" "$R/persistent/var/lib/keep" "$R/run/impermctl" "$R/tmp/base/sub" "$R/var/tmp" "$R/srv"
mount --bind "$R/persistent/var/lib/keep" "$R/var/lib/keep"
echo o > "$R/tmp/base/old"; echo d > "$R/tmp/base/sub/deep"; echo k > "$R/tmp/keep"
echo d > "$R/tmp/del"; echo i > "$R/tmp/inplace"; echo old > "$R/srv/old"
t=$(date +%s); while [ "$(date +%s)" = "$t" ]; do sleep 0.05; done
imp diff --capture-baseline 2>/dev/null
# both NAME: the diff from the list and from a walk.
both() {
  imp diff > "$OUT/$1.fast" 2>>"$OUT/diff.err" || true
  imp diff --no-watcher > "$OUT/$1.walk" 2>>"$OUT/diff.err" || true
}
"#;

/// Bash: every kind of change below the ignored directories (55 entries
/// changed after the baseline), and one in a watched place.
const CHANGES: &str = r#"
echo more >> "$R/tmp/inplace"                      # 1 in-place write to a baseline file
rm "$R/tmp/del" "$R/tmp/base/sub/deep"            # 2 base/sub (tmp itself is not counted)
mkdir -p "$R/tmp/n1/n2/n3"; echo f > "$R/tmp/n1/n2/n3/f"   # 6 nested new directories
mv "$R/tmp/keep" "$R/srv/fromtmp"                 # out of /tmp into a watched place
echo s > "$R/srv/src"; mv "$R/srv/src" "$R/tmp/intotmp"    # 7 a file moved in
mkdir "$R/srv/dirin"; echo x > "$R/srv/dirin/x"
mv "$R/srv/dirin" "$R/var/tmp/dirin"              # 9 a directory moved in, with its file
mv "$R/tmp/n1" "$R/tmp/m1"                        # renamed inside: same entries, new paths
mv "$R/tmp/base" "$R/tmp/base2"                   # 10 (base2/old unchanged)
mkdir "$R/tmp/hot"; for i in $(seq 40); do echo h > "$R/tmp/hot/f$i"; done   # 51 hot: walked
mkdir "$R/tmp/hot/inner"; echo i > "$R/tmp/hot/inner/g"   # 53
mv "$R/tmp/hot" "$R/tmp/hot2"; echo a > "$R/tmp/hot2/after"  # 54 a hot directory renamed
ln -s /nowhere "$R/tmp/sl"                         # 55
mv "$R/srv/old" "$R/tmp/oldmoved"                 # 56 a baseline file moved in
echo g > "$R/tmp/tmpgone"; rm "$R/tmp/tmpgone"    # made and removed: not there
"#;

/// The lines but the `found by:` one.
fn notes(t: &str) -> Vec<&str> {
    t.lines().filter(|l| !l.starts_with("found by:")).collect()
}

/// In `out`: `NAME.fast` came from the list, `NAME.walk` from a walk, and
/// they say the same, `n` changed entries under watch.ignore.
#[track_caller]
fn same_note(out: &std::path::Path, name: &str, n: u64) {
    let (f, w) = (
        read(out, &format!("{name}.fast")),
        read(out, &format!("{name}.walk")),
    );
    let err = read(out, "diff.err");
    assert!(
        f.contains("found by: the watcher's list"),
        "{f}\n{err}\n{}",
        read(out, "watch.err")
    );
    assert!(w.contains("found by: walking the root"), "{w}");
    assert_eq!(notes(&f), notes(&w), "list:\n{f}\nwalk:\n{w}");
    let want = format!("(not shown: {n} changed entries under watch.ignore /tmp, /var/tmp, lost");
    assert!(f.contains(&want), "want {want}\n{f}");
}

fn every_change_counted_alike(backend: &str) {
    require_root!();
    let out = run_with(
        CONFIG,
        &format!(
            r#"{SETUP}{WATCHER}
start_watch {backend}
{CHANGES}
both all
# The list basis reads no ignored directory but the hot one it walks.
if command -v strace >/dev/null; then
  strace -f -qq -e trace=openat,open -o "$OUT/trace" "$IMPERMCTL" --root "$R" --config "$CFG" diff > "$OUT/traced" 2>/dev/null || true
  grep -E "\"$R/(tmp|var/tmp|tmp/m1|tmp/m1/n2|tmp/base2|var/tmp/dirin)\"" "$OUT/trace" > "$OUT/read-ignored" || true
  echo yes > "$OUT/traced-ok"
fi
stop_watch
"#
        ),
    );
    let p = out.path();
    same_note(p, "all", 56);
    assert!(
        read(p, "all.fast").contains("/srv"),
        "{}",
        read(p, "all.fast")
    );
    if read(p, "traced-ok").trim() == "yes" {
        assert!(read(p, "traced").contains("found by: the watcher's list"));
        let opened = read(p, "read-ignored");
        assert!(
            opened.is_empty(),
            "the list basis read ignored directories:\n{opened}"
        );
    }
}

#[test]
fn every_change_under_watch_ignore_is_counted_alike_from_the_list_with_fanotify() {
    every_change_counted_alike("fanotify");
}

#[test]
fn every_change_under_watch_ignore_is_counted_alike_from_the_list_with_inotify() {
    every_change_counted_alike("inotify");
}

/// What changed there while no watcher ran is kept by the next one's
/// start (every entry there then), and what changes after.
fn counted_across_a_restart(backend: &str) {
    require_root!();
    let out = run_with(
        CONFIG,
        &format!(
            r#"{SETUP}{WATCHER}
start_watch {backend}
echo a > "$R/tmp/before-stop"
stop_watch
echo d > "$R/tmp/down"; echo more >> "$R/tmp/inplace"; mkdir "$R/tmp/dd"
start_watch {backend}
both restarted
echo more >> "$R/tmp/base/old"; rm "$R/tmp/down"
both later
stop_watch
"#
        ),
    );
    let p = out.path();
    same_note(p, "restarted", 4);
    same_note(p, "later", 4);
}

#[test]
fn changes_under_watch_ignore_while_the_watcher_was_down_are_counted_alike_with_fanotify() {
    counted_across_a_restart("fanotify");
}

#[test]
fn changes_under_watch_ignore_while_the_watcher_was_down_are_counted_alike_with_inotify() {
    counted_across_a_restart("inotify");
}

/// Names made in the ignored directories while the queue overflowed are
/// lost with the events: the rescan after the overflow keeps every entry
/// there again.
#[test]
fn changes_under_watch_ignore_lost_in_a_queue_overflow_are_counted_alike() {
    require_root!();
    let out = run_with(
        CONFIG,
        &format!(
            r#"{SETUP}{WATCHER}
start_watch inotify
trap 'kill -CONT $WP 2>/dev/null || true; kill $WP 2>/dev/null || true' EXIT
kill -STOP $WP
python3 - "$R" <<'PY'
import os, sys
r = sys.argv[1]
for f in range(9000):
    open(f"{{r}}/srv/f{{f}}", "w").close()
os.makedirs(f"{{r}}/tmp/lost/in")
open(f"{{r}}/tmp/lost/in/f", "w").close()
open(f"{{r}}/tmp/lostfile", "w").close()
PY
kill -CONT $WP
# Asked until the drain and the rescan are done (deadline: 60 tries).
for i in $(seq 60); do
  both overflow
  grep -q "found by: the watcher's list" "$OUT/overflow.fast" && break
done
kill -TERM $WP 2>/dev/null || echo "the watcher had exited" >> "$OUT/watch.err"; wait $WP || true
grep -c "overflow" "$OUT/watch.err" > "$OUT/overflows" || true
"#
        ),
    );
    let p = out.path();
    assert_ne!(read(p, "overflows").trim(), "0", "{}", read(p, "watch.err"));
    same_note(p, "overflow", 4);
}
