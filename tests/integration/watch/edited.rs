//! Trial s8 (s6 #12 on main): a `[[persistence]]` block refused for its
//! relative path (`path = "persist3"`) added to the config while the
//! watcher runs, with no SIGHUP: the warning for a write into its
//! directory told the user to add what the config already declares
//! (`to keep it: … directories = [ "/srv/c" ]`), while `diff` said the
//! entry is refused, where, and the fix. The watcher reads an edited
//! config again at its next tick and says what `diff` says.

use super::with_watcher;
use crate::require_root;
use crate::util::Layout;

fn an_edited_config_is_read_again(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"mkdir -p "$R/srv/c"; echo x > "$R/srv/c/f"
imp baseline --since all > /dev/null 2>&1 || true"#;
    let body = r#"
cat >> "$CFG" <<'TOML'
[[persistence]]
path = "persist3"
directories = ["/srv/c"]
TOML
# Declared but not persisted: counted whole once the edit is read.
wait_json 'files("/srv/c") == 1'
echo more >> "$R/srv/c/f"
for i in $(seq 1200); do grep -q 'write to /srv/c/f' $OUT/stderr && break; sleep 0.05; done
imp diff > "$OUT/diff" 2>&1 || true
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, body);
    let diff = std::fs::read_to_string(tmp.path().join("diff")).unwrap_or_default();
    let why = "declared, but not persisted: its entry is refused (";
    assert!(diff.contains(why), "{diff}");
    let warn = (err.lines())
        .find(|l| l.contains("write to /srv/c/f"))
        .unwrap_or_else(|| panic!("no warning for /srv/c/f:\n{err}"));
    assert!(
        warn.contains(&format!("/srv/c is already {why}"))
            && warn.contains("config.toml:6:")
            && warn.contains("fix: write it as an absolute path"),
        "{warn}"
    );
    assert!(!warn.contains("directories = ["), "{warn}");
}

#[test]
fn inotify_reads_an_edited_config_again() {
    require_root!();
    an_edited_config_is_read_again("inotify");
}

#[test]
fn fanotify_reads_an_edited_config_again() {
    require_root!();
    an_edited_config_is_read_again("fanotify");
}

/// Trial s9 F4: a duplicate key appended while watching: one journal
/// error naming file:line:col and the fix, saying the last good config is
/// kept; once fixed, a line saying the new config is taken.
fn an_unreadable_edit_is_said_once_and_its_fix_too(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
cp "$CFG" "$OUT/good"
printf 'directories = ["/srv/x"]\ndirectories = ["/srv/y"]\n' >> "$CFG"
for i in $(seq 1200); do grep -q 'cannot read the edited config' $OUT/stderr && break; sleep 0.05; done
touch "$CFG"; mkdir -p "$R/srv/m" && mount -t tmpfs m "$R/srv/m" && umount "$R/srv/m"
cp "$OUT/good" "$CFG"
for i in $(seq 1200); do grep -q 'took the new config' $OUT/stderr && break; sleep 0.05; done
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, "", body);
    let errors: Vec<&str> = (err.lines())
        .filter(|l| l.contains("cannot read the edited config"))
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    let e = errors[0];
    assert!(
        e.contains("ERROR") && e.contains("config.toml:") && e.contains("duplicate key"),
        "{e}"
    );
    assert!(
        e.contains("fix") && e.contains("keeps the last good config"),
        "{e}"
    );
    assert!(err.contains("took the new config"), "{err}");
}

#[test]
fn inotify_says_an_unreadable_edit_and_its_fix() {
    require_root!();
    an_unreadable_edit_is_said_once_and_its_fix_too("inotify");
}

#[test]
fn fanotify_says_an_unreadable_edit_and_its_fix() {
    require_root!();
    an_unreadable_edit_is_said_once_and_its_fix_too("fanotify");
}
