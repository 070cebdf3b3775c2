//! Trial s8 #14: a `chmod 700`/`chown` of a baseline directory was reported
//! by nothing (a file's was), though the reboot reverts it. `diff` reports
//! a directory whose mode, owner or attributes changed (`Rec::matches`),
//! walking or from the watcher's list (both backends hear its `ATTRIB`),
//! and not one that only gained an entry; `--suggest` never proposes it
//! (trial s10 F4).

use serde_json::Value;

use super::{read, run_with};
use crate::require_root;

const CONFIG: &str = r#"version = 1
[[persistence]]
path = "/persistent"
"#;

/// The items of the `diff --json` document `name`, as (path, type, change).
fn items(dir: &std::path::Path, name: &str) -> Vec<(String, String, String)> {
    let text = read(dir, name);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
    let s = |i: &Value, k: &str| i[k].as_str().unwrap_or_default().to_owned();
    let mut out: Vec<_> = (v["items"].as_array().unwrap().iter())
        .map(|i| (s(i, "path"), s(i, "type"), s(i, "change")))
        .collect();
    out.sort();
    out
}

#[test]
fn a_chmod_or_chown_of_a_baseline_directory_is_a_loss_walking_and_watched() {
    require_root!();
    for backend in ["", "inotify", "fanotify"] {
        let start = match backend {
            "" => String::new(),
            b => format!("{}\nstart_watch {b}", super::fast::WATCHER),
        };
        let out = run_with(
            CONFIG,
            &format!(
                r#"mkdir -p "$R/srv/data/sub" "$R/srv/own" "$R/srv/grow" "$R/etc/app" "$R/run/impermctl"
echo x > "$R/srv/data/f"; echo y > "$R/srv/own/f"; echo z > "$R/srv/f"
imp diff --capture-baseline 2>/dev/null
{start}
chmod 700 "$R/srv/data"; chown 1000:1000 "$R/srv/own"; chmod 750 "$R/etc/app"
chmod 600 "$R/srv/f"; echo new > "$R/srv/grow/n"
imp diff --json > "$OUT/fast" 2>>"$OUT/diff.err" || true
imp diff --json --no-watcher > "$OUT/walk" 2>>"$OUT/diff.err" || true
imp diff > "$OUT/groups" 2>>"$OUT/diff.err" || true
imp diff --suggest > "$OUT/nix" 2>>"$OUT/diff.err" || true
imp diff --suggest=toml > "$OUT/toml" 2>>"$OUT/diff.err" || true
"#
            ),
        );
        let p = out.path();
        let t = |path: &str, kind: &str, change: &str| (path.into(), kind.into(), change.into());
        let want: Vec<(String, String, String)> = vec![
            t("/etc/app", "directory", "modified"),
            t("/srv/data", "directory", "modified"),
            t("/srv/f", "file", "modified"),
            t("/srv/grow/n", "file", "new"),
            t("/srv/own", "directory", "modified"),
        ];
        let err = || format!("{}\n{}", read(p, "diff.err"), read(p, "watch.err"));
        assert_eq!(items(p, "walk"), want, "{backend} walk: {}", err());
        assert_eq!(items(p, "fast"), want, "{backend} list: {}", err());
        let fast: Value = serde_json::from_str(&read(p, "fast")).unwrap();
        let method = if backend.is_empty() {
            "walk"
        } else {
            "watcher"
        };
        assert_eq!(fast["source"]["method"], method, "{backend}: {fast}");
        let groups = read(p, "groups");
        assert!(
            groups.contains("/srv/data  (mode, owner or attributes changed")
                && !groups.contains("changed, 1 dir"),
            "{backend}: {groups}"
        );
        // Trial s10 F4: such a directory is no data to persist: never
        // suggested (`chmod 0700 /etc/ssh` proposed all of /etc/ssh), and
        // `diff` says why under its line; what was written is suggested.
        let (nix, toml) = (read(p, "nix"), read(p, "toml"));
        let why = "only the mode, owner or attributes changed, nothing inside: no data to persist";
        assert_eq!(
            groups.matches(&format!("not suggested: {why}")).count(),
            3,
            "{backend}: {groups}"
        );
        for dir in ["/etc/app", "/srv/data", "/srv/own"] {
            let skipped = format!("# skipped: {dir}: {why}");
            assert!(nix.contains(&skipped), "{backend}: {nix}");
            assert!(toml.contains(&skipped), "{backend}: {toml}");
            assert!(!nix.contains(&format!("  \"{dir}\"")), "{backend}: {nix}");
            assert!(!toml.contains(&format!("\"{dir}\"\n")), "{backend}: {toml}");
        }
        for kept in ["  \"/srv/grow\"\n", "  \"/srv/f\"\n"] {
            assert!(nix.contains(kept), "{backend}: {nix}");
        }
    }
}
