//! Hostile names through every command that prints a declared or given
//! path (session 4's trial: `persist` and `boot --dry-run` printed a
//! newline in a name raw, so the rest of the name read as a line of its
//! own). Each output is clean text and shows the name escaped.

use super::names::{assert_clean, hostile};
use crate::require_root;
use crate::util::{self, Layout, in_vps};

#[test]
fn hostile_names_are_escaped_by_persist_status_sync_and_boot() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let out = util::shell_quote(tmp.path());
    let steps: String = hostile()
        .iter()
        .enumerate()
        .map(|(i, (word, _))| {
            format!(
                r#"mkdir -p "$R/srv/"{word}"/sub"; echo data > "$R/srv/"{word}/sub/f
imp persist --dry-run /srv/{word} > "$OUT/persist-dry-{i}.txt" 2>&1 || true
imp persist /srv/{word} > "$OUT/persist-{i}.txt" 2>&1 || true
"#
            )
        })
        .collect();
    let body = format!(
        r#"OUT={out}
printf 'version = 1\n[[persistence]]\npath = "/persistent"\ndirectories = [ "/var/lib/x" ]\nfiles = [ {{ path = "/etc/shadow", method = "copy" }} ]\n' > "$CFG"
mkdir -p "$R/srv" "$R/var/lib/x"; echo s > "$R/etc/shadow"
imp boot > "$OUT/boot.txt" 2>&1 || true
{steps}
imp status > "$OUT/status.txt" 2>&1 || true
imp sync > "$OUT/sync.txt" 2>&1 || true
imp boot --dry-run > "$OUT/boot-dry.txt" 2>&1 || true
# A declared name with a newline: refused, shown escaped.
printf 'version = 1\n[[persistence]]\npath = "/persistent"\ndirectories = [ "/srv/a\\nFORGED b", "/srv/\\u001b[2Jc" ]\n' > "$R/bad.toml"
"$IMPERMCTL" --root "$R" --config "$R/bad.toml" boot --dry-run > "$OUT/boot-bad.txt" 2>&1 || true
"$IMPERMCTL" --root "$R" --config "$R/bad.toml" verify > "$OUT/verify-bad.txt" 2>&1 || true
"#
    );
    let o = in_vps(&Layout::default(), &body);
    util::assert_code(&o, 0);
    let read = |f: &str| std::fs::read(tmp.path().join(f)).unwrap_or_default();
    let text = |f: &str| String::from_utf8_lossy(&read(f)).into_owned();
    for (i, (_, shown)) in hostile().iter().enumerate() {
        for f in [format!("persist-dry-{i}.txt"), format!("persist-{i}.txt")] {
            assert_clean(&f, &read(&f));
            assert!(
                text(&f).contains(&format!("/srv/{shown}")),
                "{f} lacks /srv/{shown}:\n{}",
                text(&f)
            );
        }
    }
    for f in [
        "status.txt",
        "sync.txt",
        "boot-dry.txt",
        "boot-bad.txt",
        "verify-bad.txt",
    ] {
        assert_clean(f, &read(f));
        assert!(
            !text(f).lines().any(|l| l.starts_with("FORGED")),
            "{f}:\n{}",
            text(f)
        );
    }
    // `persist` refuses them (the config could never declare them) but
    // the 255-byte name, whose copy is staged within NAME_MAX.
    for (i, (word, _)) in hostile().iter().enumerate() {
        let t = text(&format!("persist-{i}.txt"));
        let long = word.len() > 200;
        assert_eq!(t.contains("rename it first"), !long, "{t}");
        assert_eq!(t.contains("persisted /srv/L"), long, "{t}");
    }
    let bad = text("boot-bad.txt");
    assert!(bad.contains(r"/srv/a\nFORGED b"), "{bad}");
    assert!(bad.contains(r"/srv/\x1b[2Jc"), "{bad}");
}
