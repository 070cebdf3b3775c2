//! Trial s8 #14: after `mv $R/var $R/var.old` (the declared binds of
//! /var/log and /var/lib/nixos move with it), `diff` said "/var/lib/nixos is
//! no longer a mount point: what it covered is visible now" (it is a mount
//! point still, at /var.old/lib/nixos) and nothing said the declared paths
//! are not persisted. It says where each bind is now and how to put it
//! back, walking and from the watcher's list, in every format.

use super::{read, run_with};
use crate::require_root;

const CONFIG: &str = r#"version = 1
[[persistence]]
path = "/persistent"
directories = ["/var/log", "/var/lib/nixos"]
"#;

#[test]
fn a_declared_bind_moved_with_its_parent_is_said_to_be_elsewhere() {
    require_root!();
    for backend in ["", "inotify", "fanotify"] {
        let start = match backend {
            "" => String::new(),
            b => format!("{}\nstart_watch {b}", super::fast::WATCHER),
        };
        let out = run_with(
            CONFIG,
            &format!(
                r#"mkdir -p "$R/var/log" "$R/var/lib/nixos" "$R/run/impermctl"
imp boot > "$OUT/boot.out" 2>&1 || true
{start}
mv "$R/var" "$R/var.old"
set +e
imp diff > "$OUT/groups" 2>>"$OUT/diff.err"; echo $? > "$OUT/rc"
imp diff --json > "$OUT/json" 2>>"$OUT/diff.err"
imp diff --suggest > "$OUT/nix" 2>>"$OUT/diff.err"
true
"#
            ),
        );
        let p = out.path();
        let groups = read(p, "groups");
        let ctx = || {
            format!(
                "{backend}: {groups}\n{}\n{}",
                read(p, "diff.err"),
                read(p, "boot.out")
            )
        };
        assert_eq!(read(p, "rc").trim(), "1", "{}", ctx());
        for (path, now) in [
            ("/var/lib/nixos", "/var.old/lib/nixos"),
            ("/var/log", "/var.old/log"),
        ] {
            let said = format!(
                "{path} is declared, but not persisted now: its bind from /persistent{path} is at {now}"
            );
            assert!(groups.contains(&said), "{}", ctx());
            assert!(
                read(p, "nix").contains(&format!("# {said}")),
                "{}",
                read(p, "nix")
            );
        }
        assert!(
            groups.contains("(fix: rename /var.old back to /var (`mv /var.old /var`"),
            "{}",
            ctx()
        );
        assert!(
            !groups.contains("what it covered is visible now"),
            "{}",
            ctx()
        );
        let doc: serde_json::Value = serde_json::from_str(&read(p, "json")).unwrap();
        let moved = doc["moved_binds"]
            .as_array()
            .unwrap_or_else(|| panic!("{doc}"));
        assert_eq!(moved.len(), 2, "{doc}");
        assert_eq!(moved[0]["now_at"], "/var.old/lib/nixos", "{doc}");
    }
}
