//! A `chmod`/`chown` of a baseline directory is a loss (`diff` counts it:
//! the reboot restores the old mode and owner, `diff::attrs`): the watcher
//! warns about it once per group, as about a write, and `status`,
//! `watch.json` and the shutdown summary count it as `diff` does; with
//! nothing else written there, nothing to persist is suggested (trial s10
//! F4).

use super::{says, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

fn read(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

fn a_chmod_of_a_baseline_directory_is_warned_and_counted(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"mkdir -p "$R/srv/data/sub" "$R/srv/data/w" "$R/srv/own" "$R/var/lib/new"; echo x > "$R/srv/data/f"
imp diff --capture-baseline >/dev/null"#;
    // /srv/data: two of its directories chmod'ed (one twice), a file
    // written in a third (not in one chmod'ed: an entry added there moves
    // its mtime to its ctime, and `diff` no longer tells the chmod);
    // /srv/own chown'ed; a new directory alone is no loss.
    let body = r#"
chmod 700 "$R/srv/data"; chown 1000:1000 "$R/srv/own"; mkdir "$R/var/lib/new/d"
wait_json 'g.get("/srv/data", {}).get("dirs") == 1 and g.get("/srv/own", {}).get("dirs") == 1'
chmod 711 "$R/srv/data/sub"; chmod 750 "$R/srv/data"; echo 12345 > "$R/srv/data/w/n"
wait_json 'g["/srv/data"]["dirs"] == 2 and files("/srv/data") == 1'
imp status > "$OUT/status" 2>&1 || true
imp diff > "$OUT/diff" 2>&1 || true
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, body);
    let warned = |group: &str| {
        (err.lines())
            .filter(|l| l.contains(&format!(": {group} {}", says::UNPERSISTED)))
            .collect::<Vec<_>>()
    };
    let data = warned("/srv/data");
    assert_eq!(data.len(), 1, "once per group:\n{err}");
    assert!(
        data[0].contains("mode, owner or attributes changed of directory /srv/data"),
        "{err}"
    );
    assert_eq!(warned("/srv/own").len(), 1, "{err}");
    // Trial s10 F4: nothing to persist for a chmod alone: the warning and
    // watch.json say why, as `diff` does, never a line persisting the
    // directory; once a file is written there, the line.
    let why = "to keep it: only the mode, owner or attributes changed, nothing inside: no data to persist";
    for w in [&data[0], &warned("/srv/own")[0]] {
        assert!(w.contains(why) && !w.contains("directories = ["), "{w}");
    }
    assert!(warned("/var/lib/new").is_empty(), "{err}");
    let diff = read(tmp.path(), "diff");
    let status = read(tmp.path(), "status");
    // `diff` says this (total and group lines); `status` and the summary
    // count the same.
    for line in [
        "total: 6 B in 1 file and 2 groups",
        "/srv/data  (1 new, 2 modified, 2 of them dirs",
        "/srv/own  (mode, owner or attributes changed",
    ] {
        assert!(diff.contains(line), "{line}:\n{diff}");
    }
    assert!(!diff.contains("/var/lib/new"), "{diff}");
    let rows: Vec<String> = (status.lines())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for row in ["/srv/data 1 file, 2 dirs 6 B", "/srv/own 1 dir 0 B"] {
        assert!(
            rows.iter().any(|r| r.starts_with(row)),
            "{row}:\n{status}\n{diff}"
        );
    }
    let s = (err.lines())
        .find(|l| l.contains(says::DISCARD))
        .unwrap_or_else(|| panic!("no summary:\n{err}"));
    assert!(
        s.contains("the reboot will discard 1 file, 6 B, the mode, owner or attributes of 3 dirs, in 2 directories: /srv/data (1 file, 6 B, the mode, owner or attributes of 2 dirs), /srv/own (0 files, 0 B, the mode, owner or attributes of 1 dir)"),
        "{s}"
    );
    let w = watch_json(tmp.path());
    let dirs: Vec<_> = (w["groups"].as_array().unwrap().iter())
        .map(|g| (g["path"].as_str().unwrap(), g["dirs"].as_u64().unwrap()))
        .collect();
    assert_eq!(dirs, [("/srv/data", 2), ("/srv/own", 1)], "{w}");
    let suggest: Vec<_> = (w["groups"].as_array().unwrap().iter())
        .map(|g| g["suggest"].as_str().unwrap())
        .collect();
    assert_eq!(
        suggest,
        [
            r#""/srv/data"  # into environment.persistence."/persistent".directories = [ … ]"#,
            impermctl::suggest::ATTRIBUTES_ONLY,
        ],
        "{w}"
    );
}

#[test]
fn inotify_warns_about_a_chmod_of_a_baseline_directory() {
    require_root!();
    a_chmod_of_a_baseline_directory_is_warned_and_counted("inotify");
}

#[test]
fn fanotify_warns_about_a_chmod_of_a_baseline_directory() {
    require_root!();
    a_chmod_of_a_baseline_directory_is_warned_and_counted("fanotify");
}
