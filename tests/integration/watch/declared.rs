//! Declared entries that are not persisted (trial s6 finding 12): a
//! config entry refused for its error is declared, but `boot` does not
//! bind it. `diff` counts all it holds as lost, with the error and its fix;
//! the watcher counts the same (its summary and `status` agree with
//! `diff`), and its warning says the entry is refused instead of telling
//! the user to add what the config already declares.

use super::{says, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// B.toml of the trial: four blocks refused for their own fields (an
/// unknown key, a relative path, a root declared again twice).
const REFUSED: &str = r#"cat > "$CFG" <<'TOML'
version = 1
[[persistence]]
path = "/persistent"
[[persistence]]
path = "/persist2"
hideMounts = true
directories = ["/srv/b2"]
[[persistence]]
path = "persist3"
directories = ["/srv/c"]
[[persistence]]
path = "/persist2"
enable = true
directories = ["/srv/d"]
[[persistence]]
path = "/persistent"
directories = ["/srv/dup"]
TOML
for d in b2 c d dup; do mkdir -p "$R/srv/$d"; echo "$d" > "$R/srv/$d/f"; done
imp baseline --since all > /dev/null 2>&1 || true
"#;

fn refused_entries_are_counted_as_diff_counts_them(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
echo more >> "$R/srv/c/f"
wait_json 'files("/srv/c") == 1 and g["/srv/c"]["bytes"] == 7 and files("/srv/dup") == 1'
imp status > "$OUT/status" 2>&1 || true
imp diff > "$OUT/diff" 2>&1 || true
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, REFUSED, body);
    let read = |n: &str| std::fs::read_to_string(tmp.path().join(n)).unwrap_or_default();
    // b2 3 B, c 7 B, d 2 B, dup 4 B: what diff counts, the watcher too.
    let diff = read("diff");
    assert!(
        diff.contains("total: 16 B in 4 files and 4 groups"),
        "{diff}"
    );
    let summary = (err.lines())
        .find(|l| l.contains(says::DISCARD))
        .unwrap_or_else(|| panic!("no summary:\n{err}"));
    assert!(
        summary.contains("the reboot will discard 4 files, 16 B, in 4 directories"),
        "{summary}"
    );
    let w = watch_json(tmp.path());
    assert_eq!(w["groups"].as_array().map(Vec::len), Some(4), "{w}");
    let status = read("status");
    assert!(status.contains("4 unpersisted groups"), "{status}");
    // The warning: refused, where, and the fix; never "add it".
    let warn = (err.lines())
        .find(|l| l.contains("write to /srv/c/f"))
        .unwrap_or_else(|| panic!("no warning for /srv/c/f:\n{err}"));
    assert!(
        warn.contains("/srv/c is already declared, but not persisted: its entry is refused (")
            && warn.contains("config.toml:10:")
            && warn.contains("fix: "),
        "{warn}"
    );
    assert!(!warn.contains("directories = ["), "{warn}");
}

#[test]
fn inotify_counts_refused_entries_as_diff_does_and_says_why() {
    require_root!();
    refused_entries_are_counted_as_diff_counts_them("inotify");
}

#[test]
fn fanotify_counts_refused_entries_as_diff_does_and_says_why() {
    require_root!();
    refused_entries_are_counted_as_diff_counts_them("fanotify");
}
