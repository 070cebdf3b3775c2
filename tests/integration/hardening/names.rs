//! Item 4: file names are data. Directories named with `\n`, `\r`, ESC and
//! OSC sequences, invalid UTF-8 and a 255-byte component are written on
//! the ephemeral root; every output shows them escaped (one rendering),
//! the journal and JSON keep the exact bytes, and `watch.json` keeps being
//! written.

use serde_json::Value;

use crate::require_root;
use crate::util::{self, Layout, in_vps};
use crate::watch::{DISCARD, UNPERSISTED, field, journal, prelude, with_id};

/// The hostile names (bash `$'…'` words) and how people see them.
pub(super) fn hostile() -> Vec<(String, String)> {
    let long = "L".repeat(255);
    vec![
        (r"$'nl\nforged line'".into(), r"nl\nforged line".into()),
        (
            r"$'cr\r0 unpersisted groups'".into(),
            r"cr\r0 unpersisted groups".into(),
        ),
        (
            r"$'esc\e[2K\e[1Aerase'".into(),
            r"esc\x1b[2K\x1b[1Aerase".into(),
        ),
        (r"$'osc\e]0;owned\a'".into(), r"osc\x1b]0;owned\x07".into()),
        (r"$'bad\xff\xfeutf8'".into(), r"bad\xff\xfeutf8".into()),
        (long.clone(), long),
    ]
}

/// No control character, no invalid UTF-8: the text is safe on a terminal.
#[track_caller]
pub(super) fn assert_clean(what: &str, bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| {
        panic!(
            "{what}: invalid UTF-8 ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    });
    for (i, line) in text.lines().enumerate() {
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "{what}: line {i} has a control character: {line:?}"
        );
    }
}

#[test]
fn hostile_names_are_escaped_in_every_output_and_exact_for_machines() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let mkdirs: String = hostile()
        .iter()
        .map(|(word, _)| {
            format!("mkdir \"$R/var/lib/\"{word}; echo data > \"$R/var/lib/\"{word}/f\n")
        })
        .collect();
    let body = format!(
        r#"{prelude}
mkdir -p "$R/var/lib"
imp diff --capture-baseline >/dev/null
start_watch --backend inotify
{mkdirs}
n=$(ls "$R/var/lib" | wc -l); echo "made=$n"
for i in $(seq 200); do
  c=$(grep -c '"path":' "$R/run/impermctl/watch.json" || true)
  [ "$c" -ge 6 ] && break; sleep 0.05
done
imp status > $OUT/status.txt 2>&1 || true
imp diff > $OUT/diff.txt 2>&1 || true
imp diff -l > $OUT/diff-l.txt 2>&1 || true
imp diff --json > $OUT/diff.json 2>/dev/null || true
imp verify > $OUT/verify.txt 2>&1 || true
stop_watch
"#,
        prelude = prelude(out),
    );
    let o = in_vps(&Layout::default(), &body);
    let read = |f: &str| std::fs::read(out.join(f)).unwrap_or_default();
    util::assert_code(&o, 0);
    let want: Vec<String> = hostile().into_iter().map(|(_, shown)| shown).collect();
    for f in ["status.txt", "diff.txt", "diff-l.txt", "verify.txt"] {
        let b = read(f);
        assert_clean(f, &b);
        if f != "verify.txt" {
            let text = String::from_utf8_lossy(&b);
            for w in &want {
                assert!(
                    text.contains(&format!("/var/lib/{w}")),
                    "{f} lacks {w:?}:\n{text}"
                );
            }
        }
    }
    // watch.json: still written (the non-UTF-8 group is in it), exact bytes in path_hex.
    let w: Value = serde_json::from_slice(&read("watch.json")).expect("watch.json is JSON");
    let groups = w["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 6, "{w}");
    let bad = groups
        .iter()
        .find(|g| g["path_hex"].is_string())
        .unwrap_or_else(|| panic!("no path_hex: {w}"));
    assert_eq!(bad["path_hex"], hex(b"/var/lib/bad\xff\xfeutf8"), "{bad}");
    assert!(
        groups
            .iter()
            .any(|g| g["path"] == "/var/lib/nl\nforged line"),
        "{w}"
    );
    // diff --json: text plus hex, same convention.
    let d: Value = serde_json::from_slice(&read("diff.json")).expect("diff --json");
    let dg = d["groups"].as_array().unwrap();
    assert!(
        dg.iter()
            .any(|g| g["path_hex"] == hex(b"/var/lib/bad\xff\xfeutf8")),
        "{d}"
    );
    // Journal: MESSAGE is clean text; the raw field and its hex are exact.
    let j = journal(out);
    let warns = with_id(&j, UNPERSISTED);
    assert_eq!(warns.len(), 6, "{warns:#?}");
    for e in &warns {
        let msg = field(e, "MESSAGE").unwrap_or_else(|| panic!("MESSAGE is not text: {e:?}"));
        assert_clean("MESSAGE", msg.as_bytes());
    }
    let hexes: Vec<&str> = warns
        .iter()
        .filter_map(|e| field(e, "IMPERMCTL_GROUP_HEX"))
        .collect();
    assert_eq!(hexes, [hex(b"/var/lib/bad\xff\xfeutf8")], "{warns:#?}");
    let nl = warns
        .iter()
        .find(|e| field(e, "IMPERMCTL_GROUP") == Some("/var/lib/nl\nforged line"));
    assert!(nl.is_some(), "the raw field keeps the newline: {warns:#?}");
    let summary = with_id(&j, DISCARD);
    assert_eq!(summary.len(), 1, "{j:#?}");
    let msg = field(summary[0], "MESSAGE").expect("summary MESSAGE is text");
    assert_clean("summary", msg.as_bytes());
    for w in &want {
        assert!(
            msg.contains(&format!("/var/lib/{w}")),
            "summary lacks {w:?}: {msg}"
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
