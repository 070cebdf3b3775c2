//! The notes under `diff`'s groups say the same whatever found the
//! changes, and agree with what `--all` lists (session 5's trial,
//! findings 6 and 7).

use super::fast::{CONFIG, WATCHER};
use super::{read, run_with};
use crate::require_root;

/// Bash: a baseline (then [`WATCHER`]'s `start_watch BACKEND` / `stop_watch`).
const WATCH: &str = r#"
mkdir -p "$R/var/lib/keep" "$R/persistent/var/lib/keep" "$R/run/impermctl" "$R/tmp" "$R/var/tmp" "$R/srv"
mount --bind "$R/persistent/var/lib/keep" "$R/var/lib/keep"
echo old > "$R/srv/old"
imp diff --capture-baseline 2>/dev/null
"#;

/// The output without its `found by:` line (the one that may differ).
fn notes(t: &str) -> Vec<&str> {
    t.lines().filter(|l| !l.starts_with("found by:")).collect()
}

/// Finding 6: a file in `/tmp` (on the root's filesystem, as on vpsFree)
/// with the watcher running: the walk said "not counting watch.ignore"
/// and "(not shown: 1 changed entry under watch.ignore …)", the list
/// neither. Both bases print the same lines now.
fn both_bases_print_the_same_notes(backend: &str) {
    require_root!();
    let out = run_with(
        CONFIG,
        &format!(
            r#"{WATCH}{WATCHER}
start_watch {backend}
echo scratch > "$R/tmp/scratch"; mkdir "$R/var/tmp/build"; echo o > "$R/var/tmp/build/o"
echo new > "$R/srv/new"
imp diff > "$OUT/fast" 2>>"$OUT/diff.err" || true
imp diff --no-watcher > "$OUT/walk" 2>>"$OUT/diff.err" || true
rm "$R/srv/new"
imp diff > "$OUT/fast-none" 2>>"$OUT/diff.err" || true
imp diff --no-watcher > "$OUT/walk-none" 2>>"$OUT/diff.err" || true
stop_watch
"#
        ),
    );
    let p = out.path();
    for (fast, walk) in [("fast", "walk"), ("fast-none", "walk-none")] {
        let (f, w) = (read(p, fast), read(p, walk));
        assert!(
            f.contains("found by: the watcher's list"),
            "{f}\n{}",
            read(p, "diff.err")
        );
        assert!(w.contains("found by: walking the root"), "{w}");
        assert_eq!(notes(&f), notes(&w), "list:\n{f}\nwalk:\n{w}");
        assert!(
            f.contains("(not shown: 3 changed entries under watch.ignore /tmp, /var/tmp"),
            "{f}"
        );
    }
    assert!(read(p, "fast").contains("not counting watch.ignore"));
    let none = read(p, "fast-none");
    assert!(
        none.contains("nothing would be lost at the next reboot, not counting watch.ignore"),
        "{none}"
    );
}

#[test]
fn both_bases_print_the_same_watch_ignore_notes_with_inotify() {
    both_bases_print_the_same_notes("inotify");
}

#[test]
fn both_bases_print_the_same_watch_ignore_notes_with_fanotify() {
    both_bases_print_the_same_notes("fanotify");
}

/// Finding 7: `diff --all` still ended with "(not shown: 5 entries the
/// system regenerates at every boot; --all lists them)", and the demo's
/// "6 entries" came with 4 listed files. Plain diff counts the files
/// `--all` then lists; `--all` hides nothing and says nothing is hidden.
#[test]
fn diff_all_lists_what_plain_diff_said_it_left_out() {
    require_root!();
    let out = run_with(
        CONFIG,
        r#"mkdir -p "$R/var/lib/keep" "$R/persistent/var/lib/keep" "$R/etc" "$R/var/lib"
imp diff --capture-baseline 2>/dev/null
ln -s ../proc/self/mounts "$R/etc/mtab"; ln -s ../run "$R/var/run"
mkdir -p "$R/var/lib/systemd"; head -c 512 /dev/urandom > "$R/var/lib/systemd/random-seed"
touch "$R/etc/.updated" "$R/var/.updated"
echo lost > "$R/var/lib/keep.txt"
imp diff > "$OUT/plain" || true
imp diff --all > "$OUT/all" || true
"#,
    );
    let p = out.path();
    let (plain, all) = (read(p, "plain"), read(p, "all"));
    let hint = plain
        .lines()
        .find(|l| l.starts_with("(not shown: "))
        .unwrap_or_else(|| panic!("{plain}"));
    let said: u64 = hint["(not shown: ".len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{hint}"));
    assert!(hint.contains(" files the system regenerates"), "{hint}");
    assert!(!all.contains("not shown"), "{all}");
    // The files in the regenerated groups --all lists ("N B  K file(s)  regenerated …").
    let listed: u64 = all
        .lines()
        .filter(|l| l.contains(" regenerated /"))
        .map(|l| l.split_whitespace().nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(said, listed, "plain:\n{plain}\nall:\n{all}");
    assert!(said >= 4, "{all}");
}

/// Finding 8: as non-root, `diff` printed "only what this user can read
/// is compared" and then refused (the baseline is root-only). It says
/// only what is true: the refusal.
#[test]
fn a_non_root_diff_that_cannot_compare_says_only_why() {
    require_root!();
    let out = run_with(
        CONFIG,
        r#"imp diff --capture-baseline 2>/dev/null
chmod 755 "$R" "$OUT"; chmod 644 "$CFG"
setpriv --reuid 65534 --regid 65534 --clear-groups "$IMPERMCTL" --root "$R" --config "$CFG" diff > "$OUT/out" 2> "$OUT/err" || echo $? > "$OUT/rc"
"#,
    );
    let p = out.path();
    let err = read(p, "err");
    assert_eq!(read(p, "rc").trim(), "2", "{err}");
    assert!(err.contains("readable by root only"), "{err}");
    assert!(!err.contains("only what this user can read"), "{err}");
}
