//! Trial-s10 F13: a declared entry that is not in place while its live
//! path holds newer data than its persistent copy — a file whose link the
//! app's atomic save (tmp + rename) replaced, a bind an admin unmounted
//! before the service wrote more. `status`, `diff` and the watcher said
//! "run `impermctl boot`", which binds the older persistent version over
//! the live one (the newest only in impermctl-kept). They now say what
//! `boot` would do and the way that keeps the live data; following it
//! keeps the live data at its path and in persistence, the old version
//! aside.

use super::{block, dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code};

/// `boot`'s rollback, as `status` and `diff` name it (`PATH`, `WHAT`).
fn rollback(path: &str, what: &str) -> String {
    format!(
        "/persistent{path} holds another version: `impermctl boot` would bind it over {path} and keep {what} only in /persistent/impermctl-kept/<time>/"
    )
}

/// `status` and `diff` (blocks of `o`, exit 1) say each of `said`, and
/// not the bare "run `impermctl boot`".
fn advised(o: &std::process::Output, said: &[&str]) {
    for f in ["status", "diff"] {
        let text = block(o, f);
        for want in said {
            assert!(text.contains(want), "{f}: {want}\n{}", dump(o));
        }
        assert!(!text.contains("(run `impermctl boot`"), "{f}\n{}", dump(o));
        assert_eq!(val(o, &format!("rc_{f}")), "1", "{}", dump(o));
    }
}

/// s27.sh: `files = [ "/var/lib/app/state.json" ]` with no persistent copy
/// yet: boot links it; the app writes v1 through the link, then saves v2
/// by rename (the link is now a plain file). The advice: move the old
/// copy away, declare it with method = "copy", run boot; then v2 is live
/// and saved, v1 kept aside, the file not bound (the next rename works).
#[test]
fn a_file_whose_link_a_rename_replaced_is_advised_method_copy() {
    require_root!();
    let o = vps(
        &Layout::default(),
        r#"printf '[[persistence.files]]\npath = "/var/lib/app/state.json"\n' >> "$CFG"
imp boot 2>/dev/null; echo "rc1=$?"
echo "link=$(readlink "$R/var/lib/app/state.json")"
# v1 through the link (its target, seen from outside the root), then v2 by rename.
echo '{"v":1}' > "$R/persistent/var/lib/app/state.json"
echo '{"v":2}' > "$R/var/lib/app/.state.tmp"; mv "$R/var/lib/app/.state.tmp" "$R/var/lib/app/state.json"
rc=0; imp status > "$R/status" 2>/dev/null || rc=$?; echo "rc_status=$rc"
rc=0; imp diff > "$R/diff" 2>/dev/null || rc=$?; echo "rc_diff=$rc"
# The advice, followed.
mv "$R/persistent/var/lib/app/state.json" "$R/persistent/var/lib/app/state.json.old"
sed -i 's|^path = "/var/lib/app/state.json"$|&\nmethod = "copy"|' "$CFG"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc2=$rc"
echo "live=$(cat "$R/var/lib/app/state.json")"
echo "saved=$(cat "$R/persistent/var/lib/app/state.json")"
echo "old=$(cat "$R/persistent/var/lib/app/state.json.old")"
echo "dev=$(devof /var/lib/app/state.json)"
echo "kept=$(find "$R/persistent/impermctl-kept" -type f 2>/dev/null | wc -l)"
echo '{"v":3}' > "$R/var/lib/app/.state.tmp"; rc=0; mv "$R/var/lib/app/.state.tmp" "$R/var/lib/app/state.json" || rc=$?; echo "mv=$rc"
imp sync >/dev/null 2>&1; echo "saved3=$(cat "$R/persistent/var/lib/app/state.json")"
for f in status diff err; do echo "BEGIN $f"; cat "$R/$f"; echo "END $f"; done
"#,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc1"), "0", "{}", dump(&o));
    assert_eq!(
        val(&o, "link"),
        "/persistent/var/lib/app/state.json",
        "{}",
        dump(&o)
    );
    advised(
        &o,
        &[
            &rollback("/var/lib/app/state.json", "this file"),
            "to keep this file instead, move /persistent/var/lib/app/state.json away (`mv /persistent/var/lib/app/state.json /persistent/var/lib/app/state.json.old`), change its entry to `{ file = \"/var/lib/app/state.json\"; method = \"copy\"; }`",
            "fails with EBUSY over a bind",
        ],
    );
    // Following it keeps the newest version, live and persisted.
    assert_eq!(val(&o, "rc2"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "live"), r#"{"v":2}"#, "rolled back\n{}", dump(&o));
    assert_eq!(val(&o, "saved"), r#"{"v":2}"#, "{}", dump(&o));
    assert_eq!(val(&o, "old"), r#"{"v":1}"#, "{}", dump(&o));
    assert_eq!(val(&o, "dev"), "", "bound\n{}", dump(&o));
    assert_eq!(val(&o, "kept"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "mv"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "saved3"), r#"{"v":3}"#, "{}", dump(&o));
}

/// s32.sh: /var/lib/app declared and bound, v1 written through the bind;
/// the admin unmounts it and the service writes v2. The advice: move the
/// old copy away and `impermctl persist /var/lib/app`; then v2 is live,
/// persisted and bound, v1 kept aside.
#[test]
fn a_directory_unmounted_then_written_is_advised_persist() {
    require_root!();
    let o = vps(
        &Layout::default(),
        r#"printf '[[persistence.directories]]\npath = "/var/lib/app"\n' >> "$CFG"
imp boot 2>/dev/null; echo "rc1=$?"
echo v1 > "$R/var/lib/app/state"
umount "$R/var/lib/app"
echo v2 > "$R/var/lib/app/state"
rc=0; imp status > "$R/status" 2>/dev/null || rc=$?; echo "rc_status=$rc"
rc=0; imp diff > "$R/diff" 2>/dev/null || rc=$?; echo "rc_diff=$rc"
# The advice, followed.
mv "$R/persistent/var/lib/app" "$R/persistent/var/lib/app.old"
rc=0; imp persist /var/lib/app > "$R/persist" 2>&1 || rc=$?; echo "rc_persist=$rc"
echo "live=$(cat "$R/var/lib/app/state")"
echo "saved=$(cat "$R/persistent/var/lib/app/state")"
echo "old=$(cat "$R/persistent/var/lib/app.old/state")"
echo "dev=$(devof /var/lib/app)"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc2=$rc"
echo "live2=$(cat "$R/var/lib/app/state")"
for f in status diff persist err; do echo "BEGIN $f"; cat "$R/$f"; echo "END $f"; done
"#,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc1"), "0", "{}", dump(&o));
    advised(
        &o,
        &[
            &rollback("/var/lib/app", "what is here now"),
            "to keep what is here now instead, move /persistent/var/lib/app away (`mv /persistent/var/lib/app /persistent/var/lib/app.old`) and run `impermctl persist /var/lib/app`",
        ],
    );
    assert_eq!(val(&o, "rc_persist"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "live"), "v2", "{}", dump(&o));
    assert_eq!(val(&o, "saved"), "v2", "{}", dump(&o));
    assert_eq!(val(&o, "old"), "v1", "{}", dump(&o));
    assert!(!val(&o, "dev").is_empty(), "not bound\n{}", dump(&o));
    assert_eq!(val(&o, "rc2"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "live2"), "v2", "{}", dump(&o));
}

/// Trial-s11 F13r (f13c.sh, first order): both at once, and an entry
/// declared since. Each advice that ends in `impermctl boot` (the file's,
/// the new entry's plain "run `impermctl boot`") says that boot would
/// also roll back the others, named; the directory's (`persist`) does not.
#[test]
fn an_advice_to_run_boot_names_the_other_entries_boot_would_roll_back() {
    require_root!();
    let o = vps(
        &Layout::default(),
        r#"printf '[[persistence.directories]]\npath = "/var/lib/app"\n[[persistence.files]]\npath = "/var/lib/app2/state.json"\n' >> "$CFG"
imp boot 2>/dev/null; echo "rc1=$?"
echo '{"v":1}' > "$R/persistent/var/lib/app2/state.json"
echo '{"v":2}' > "$R/var/lib/app2/.t"; mv "$R/var/lib/app2/.t" "$R/var/lib/app2/state.json"
echo v1 > "$R/var/lib/app/state"; umount "$R/var/lib/app"; echo v2 > "$R/var/lib/app/state"
printf '[[persistence.directories]]\npath = "/srv/new"\n' >> "$CFG"
imp status > "$R/status" 2>/dev/null || true
imp diff > "$R/diff" 2>/dev/null || true
echo "file=$(grep '^  file /var/lib/app2/state.json ' "$R/status")"
echo "dir=$(grep '^  dir  /var/lib/app ' "$R/status")"
echo "new=$(grep '^  dir  /srv/new ' "$R/status")"
echo "diff=$(grep -c 'it would also put the persistent version over /var/lib/app and keep' "$R/diff")"
for f in status diff; do echo "BEGIN $f"; cat "$R/$f"; echo "END $f"; done
"#,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc1"), "0", "{}", dump(&o));
    let also = "`impermctl boot` acts on every declared entry: it would also put the persistent version over";
    let file = val(&o, "file");
    assert!(
        file.contains(&format!("{also} /var/lib/app and keep")),
        "{}",
        dump(&o)
    );
    let new = val(&o, "new");
    assert!(
        new.contains(&format!(
            "{also} /var/lib/app, /var/lib/app2/state.json and keep"
        )),
        "{}",
        dump(&o)
    );
    assert!(!val(&o, "dir").contains(also), "{}", dump(&o));
    assert_eq!(val(&o, "diff"), "1", "{}", dump(&o));
}
