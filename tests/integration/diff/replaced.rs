//! Issue 17 (session 9): a file replaced by rename (`sed -i`, `passwd`'s
//! `/etc/nshadow`, an editor's temporary) is suggested with `method =
//! "copy"` by `diff`, as the watcher's warning suggests it: bound, the next
//! rename fails with `EBUSY` (impermanence #175, #120). A walk sees it from
//! the inode (other than the baseline's); the watcher, for a file made
//! after the baseline too.

use super::{read, run_with};
use crate::require_root;

const CONFIG: &str = r#"version = 1
[[persistence]]
path = "/persistent"
"#;

#[test]
fn a_file_replaced_by_rename_is_suggested_with_method_copy() {
    require_root!();
    let out = run_with(
        CONFIG,
        r#"mkdir -p "$R/etc/app"
echo ctrl_interface=a > "$R/etc/wpa_supplicant.conf"; echo a > "$R/etc/app/conf"
echo 'root:x:' > "$R/etc/shadow"; echo keep > "$R/etc/appended"; echo w > "$R/etc/written"
imp diff --capture-baseline 2>/dev/null
sed -i s/a/b/ "$R/etc/wpa_supplicant.conf" "$R/etc/app/conf"
echo 'root:new:' > "$R/etc/nshadow"; mv "$R/etc/nshadow" "$R/etc/shadow"
echo more >> "$R/etc/appended"; echo rewritten > "$R/etc/written"
echo n > "$R/etc/newconf"; sed -i s/n/m/ "$R/etc/newconf"
imp diff > "$OUT/groups" || true
imp diff --suggest > "$OUT/nix" || true
imp diff --suggest=toml > "$OUT/toml" || true
imp diff --json > "$OUT/json" || true
"#,
    );
    let p = out.path();
    let (nix, toml, groups) = (read(p, "nix"), read(p, "toml"), read(p, "groups"));
    let doc: serde_json::Value = serde_json::from_str(&read(p, "json")).unwrap();
    let replaced = |path: &str| {
        let g = doc["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["path"] == path);
        g.unwrap_or_else(|| panic!("no group {path}: {doc}"))["replaced"] == true
    };
    for f in ["/etc/wpa_supplicant.conf", "/etc/app/conf", "/etc/shadow"] {
        let item = format!("{{ file = \"{f}\"; method = \"copy\"; }}");
        assert!(nix.contains(&item), "{f}: {nix}");
        let entry = format!("path = \"{f}\"\nmethod = \"copy\"\n");
        assert!(toml.contains(&entry), "{f}: {toml}");
        assert!(replaced(f), "{f}: {doc}");
    }
    assert!(groups.contains("replaced by rename"), "{groups}");
    // Written in place: a bind keeps it. Made after the baseline: a walk
    // cannot tell a rename from a create (the watcher can, below).
    for f in ["/etc/appended", "/etc/written", "/etc/newconf"] {
        assert!(nix.contains(&format!("\n  \"{f}\"\n")), "{f}: {nix}");
        assert!(
            toml.contains(&format!("path = \"{f}\"\n[["))
                || toml.ends_with(&format!("path = \"{f}\"\n")),
            "{f}: {toml}"
        );
        assert!(!replaced(f), "{f}: {doc}");
    }
}

/// The watcher heard the rename onto a file made after the baseline:
/// `diff` says `method = "copy"` from its list, and walking (`--no-watcher`)
/// too, from the watcher's state.
#[test]
fn a_file_made_after_the_baseline_and_renamed_over_is_suggested_with_copy_when_watched() {
    require_root!();
    for backend in ["inotify", "fanotify"] {
        let out = run_with(
            CONFIG,
            &format!(
                r#"{}
mkdir -p "$R/etc/app" "$R/run/impermctl"
imp diff --capture-baseline 2>/dev/null
start_watch {backend}
echo n > "$R/etc/newconf"; echo m > "$R/etc/app/plain"
sed -i s/n/m/ "$R/etc/newconf"
for i in $(seq 100); do grep -qF 'method = \"copy\"' "$R/run/impermctl/watch.json" 2>/dev/null && break; sleep 0.1; done
imp diff --suggest > "$OUT/fast" 2>>"$OUT/diff.err" || true
imp diff --suggest --no-watcher > "$OUT/walk" 2>>"$OUT/diff.err" || true
stop_watch
"#,
                super::fast::WATCHER
            ),
        );
        let p = out.path();
        for name in ["fast", "walk"] {
            let s = read(p, name);
            assert!(
                s.contains("{ file = \"/etc/newconf\"; method = \"copy\"; }"),
                "{backend} {name}: {s}\n{}\n{}",
                read(p, "diff.err"),
                read(p, "watch.err")
            );
            assert!(s.contains("\"/etc/app/plain\""), "{backend} {name}: {s}");
        }
    }
}
