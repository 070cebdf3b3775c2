//! `status` tells the truth for each entry, and its exit code follows the
//! README's rule (findings → 1). Session 4's trial: a read-only
//! `/persistent` and an `/etc/shadow` copy entry.

use crate::require_root;
use crate::util::{self, Layout, assert_code, in_vps};

const CONFIG: &str = r#"printf 'version = 1\n[[persistence]]\npath = "/persistent"\ndirectories = [ "/var/lib/x" ]\nfiles = [ { path = "/etc/shadow", method = "copy" } ]\n' > "$CFG""#;

/// The line of `status` for `path`.
fn line<'a>(text: &'a str, path: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(path))
        .unwrap_or_else(|| panic!("no line for {path}:\n{text}"))
}

#[test]
fn a_read_only_persistent_root_is_named_with_the_fix_by_status_and_sync() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"OUT={out}
{CONFIG}
rm -f "$R/etc/shadow"
imp boot > "$OUT/boot" 2>&1 || true
imp status > "$OUT/status1" 2>&1 && echo "status1=0" || echo "status1=$?"
echo x > "$R/etc/shadow"
imp status > "$OUT/status2" 2>&1 && echo "status2=0" || echo "status2=$?"
imp sync > "$OUT/sync" 2>&1 && echo "sync=0" || echo "sync=$?"
"#,
        out = util::shell_quote(tmp.path())
    );
    let o = in_vps(
        &Layout {
            persistent_ro: true,
            ..Layout::default()
        },
        &body,
    );
    assert_code(&o, 0);
    let out = util::stdout(&o);
    let read = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap();
    for want in ["status1=1", "status2=1", "sync=1"] {
        assert!(out.contains(want), "{out}");
    }
    // boot's error names the cause and the fix, not only EROFS.
    let boot = read("boot");
    let err = boot
        .lines()
        .find(|l| l.contains("/persistent/var/lib/x"))
        .unwrap_or_else(|| panic!("{boot}"));
    assert!(err.contains("mount -o remount,rw /persistent"), "{boot}");
    // Neither file exists: not "copy of /persistent/etc/shadow".
    let s1 = read("status1");
    let shadow = line(&s1, "/etc/shadow");
    assert!(!shadow.contains("copy of"), "{shadow}");
    assert!(shadow.contains("/persistent is read-only"), "{shadow}");
    // A bind that failed with EROFS: `boot` cannot help until remounted.
    let x = line(&s1, "/var/lib/x");
    assert!(!x.contains("run `impermctl boot`)"), "{x}");
    assert!(
        x.contains("/persistent is read-only") && x.contains("mount -o remount,rw /persistent"),
        "{x}"
    );
    // The live file exists now, its copy cannot be saved.
    let s2 = read("status2");
    let shadow = line(&s2, "/etc/shadow");
    assert!(shadow.contains("NOT SAVED"), "{shadow}");
    assert!(
        shadow.contains("mount -o remount,rw /persistent"),
        "{shadow}"
    );
    // sync names the real cause and the fix, once.
    let sync = read("sync");
    assert!(
        sync.contains("/persistent is read-only")
            && sync.contains("mount -o remount,rw /persistent"),
        "{sync}"
    );
    assert!(
        !sync.contains("Read-only file system (os error 30)"),
        "{sync}"
    );
    assert_eq!(sync.matches("cannot save /etc/shadow").count(), 1, "{sync}");
}

/// The README's exit rule: entries that would be lost are findings.
#[test]
fn status_exits_1_while_an_entry_is_not_persisted_or_only_moved() {
    require_root!();
    let body = format!(
        r#"{CONFIG}
echo s > "$R/etc/shadow"
imp boot > /dev/null 2>&1 || true
mkdir -p "$R/var/lib/y"
printf 'version = 1\n[layout]\nskip_checks = ["recommended-paths"]\n[[persistence]]\npath = "/persistent"\ndirectories = [ "/var/lib/x", "/var/lib/y" ]\nfiles = [ {{ path = "/etc/shadow", method = "copy" }} ]\n' > "$CFG"
imp status > /dev/null 2>&1 && echo "not-persisted=0" || echo "not-persisted=$?"
printf 'version = 1\n[layout]\nskip_checks = ["recommended-paths"]\n[[persistence]]\npath = "/persistent"\ndirectories = [ "/var/lib/x" ]\nfiles = [ {{ path = "/etc/shadow", method = "copy" }} ]\n' > "$CFG"
imp sync > /dev/null 2>&1 || true
imp status > /dev/null 2>&1 && echo "healthy=0" || echo "healthy=$?"
mkdir -p "$R/srv/m"; imp persist /srv/m > /dev/null 2>&1
imp status > /dev/null 2>&1 && echo "moved-only=0" || echo "moved-only=$?"
"#
    );
    let o = in_vps(&Layout::default(), &body);
    assert_code(&o, 0);
    let out = util::stdout(&o);
    for want in ["not-persisted=1", "healthy=0", "moved-only=1"] {
        assert!(out.contains(want), "{want}: {out}");
    }
}

/// Session 4's trial: `status` said only `live: copy` for a copy file. It
/// says whether the live file and its persistent copy are the same now or
/// the live file changed (the sync saves it), and when the persistent copy
/// was last written — in the text and in `--json` (`copy_state`, `saved`).
#[test]
fn status_says_whether_a_copy_file_is_the_same_as_its_persistent_copy() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"OUT={out}
{CONFIG}
echo s > "$R/etc/shadow"
imp boot > /dev/null 2>&1 || true
imp sync > /dev/null 2>&1
imp status > "$OUT/same" 2>&1 || true
imp status --json > "$OUT/same.json" 2>/dev/null || true
echo changed >> "$R/etc/shadow"
imp status > "$OUT/changed" 2>&1 || true
imp status --json > "$OUT/changed.json" 2>/dev/null || true
rm "$R/persistent/etc/shadow"
imp status --json > "$OUT/unsaved.json" 2>/dev/null || true
"#,
        out = util::shell_quote(tmp.path())
    );
    let o = in_vps(&Layout::default(), &body);
    assert_code(&o, 0);
    let read = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap();
    let row = |f: &str| {
        let doc: serde_json::Value = serde_json::from_str(&read(f)).unwrap();
        crate::schemas::validate(&doc);
        let rows = doc["entries"].as_array().unwrap().clone();
        rows.into_iter()
            .find(|r| r["path"] == "/etc/shadow")
            .unwrap_or_else(|| panic!("{doc:#}"))
    };
    let same = row("same.json");
    assert_eq!(same["live"], "copy", "{same:#}");
    assert_eq!(same["copy_state"], "same", "{same:#}");
    assert!(same["saved"].as_i64().is_some_and(|t| t > 0), "{same:#}");
    let text = read("same");
    let l = line(&text, "/etc/shadow");
    assert!(l.contains("the same now (last saved "), "{l}");
    let changed = row("changed.json");
    assert_eq!(changed["copy_state"], "changed", "{changed:#}");
    let text = read("changed");
    let l = line(&text, "/etc/shadow");
    assert!(
        l.contains("CHANGED since the last save") && l.contains("impermctl-sync.service saves it"),
        "{l}"
    );
    let unsaved = row("unsaved.json");
    assert_eq!(unsaved["copy_state"], "not_saved", "{unsaved:#}");
    assert!(unsaved.get("saved").is_none(), "{unsaved:#}");
}

/// Trial s5 finding 8: an entry whose declared owner does not exist fails
/// at boot; `status` names that reason and its fix, not "run `impermctl
/// boot`" (which cannot help).
#[test]
fn an_unknown_owner_is_named_by_status() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"OUT={out}
printf 'version = 1\n[[persistence]]\npath = "/persistent"\ndirectories = [ {{ path = "/var/lib/modes", user = "nosuchuser" }} ]\n' > "$CFG"
imp boot > "$OUT/boot" 2>&1 || true
imp status > "$OUT/status" 2>&1 || true
"#,
        out = util::shell_quote(tmp.path())
    );
    let o = in_vps(&Layout::default(), &body);
    assert_code(&o, 0);
    let read = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap();
    assert!(read("boot").contains("nosuchuser"), "{}", read("boot"));
    let s = read("status");
    let l = line(&s, "/var/lib/modes");
    assert!(!l.contains("run `impermctl boot`)"), "{l}");
    assert!(
        l.contains("user \"nosuchuser\" does not exist") && l.contains("create it first"),
        "{l}"
    );
}

/// Session 5's trial (finding 4): `persist /var/lib/busy; umount …;
/// status` said "bound from" from `persisted.json`. `status` (human and
/// `--json`) says what the live mount table says, and the fix it names
/// (declare it, `boot`) binds it again without losing what is there now.
#[test]
fn status_says_what_the_mount_table_says_of_a_moved_path() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"OUT={out}
imp boot > /dev/null 2>&1 || true
mkdir -p "$R/var/lib/busy"; echo data > "$R/var/lib/busy/f"
imp persist /var/lib/busy > /dev/null 2>&1
imp status > "$OUT/bound" 2>&1 || true
umount "$R/var/lib/busy"
echo later > "$R/var/lib/busy/later"
imp status > "$OUT/unmounted" 2>&1 && echo "unmounted=0" || echo "unmounted=$?"
imp status --json > "$OUT/unmounted.json" 2>/dev/null || true
printf 'version = 1\n[layout]\nskip_checks = ["recommended-paths"]\n[[persistence]]\npath = "/persistent"\ndirectories = [ "/var/lib/busy" ]\n' > "$CFG"
imp boot > /dev/null 2>&1 || true
imp status --json > "$OUT/fixed.json" 2>/dev/null || true
cat "$R"/persistent/impermctl-kept/*/var/lib/busy/later
"#,
        out = util::shell_quote(tmp.path())
    );
    let o = in_vps(&Layout::default(), &body);
    assert_code(&o, 0);
    let out = util::stdout(&o);
    let read = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap();
    let json = |f: &str| -> serde_json::Value { serde_json::from_str(&read(f)).unwrap() };
    assert!(line(&read("bound"), "/var/lib/busy").contains("bound from /persistent/var/lib/busy"));
    let text = read("unmounted");
    let busy = line(&text, "/var/lib/busy");
    assert!(!busy.contains("bound from"), "{text}");
    assert!(
        busy.contains("/persistent/var/lib/busy is not bound here"),
        "{text}"
    );
    assert!(
        busy.contains("NOT MOUNTED") && busy.contains("run `impermctl boot`"),
        "{text}"
    );
    assert!(out.contains("unmounted=1"), "{out}");
    let j = json("unmounted.json");
    assert_eq!(j["persisted"][0]["state"], "not_persisted", "{j}");
    // The fix status names works, and what was written meanwhile is kept.
    let j = json("fixed.json");
    assert_eq!(j["persisted"][0]["state"], "bound", "{j}");
    assert_eq!(j["entries"][0]["state"], "bound", "{j}");
    assert!(out.contains("later"), "{out}");
}
