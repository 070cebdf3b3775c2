//! Trial s6 finding 1 (second half): a file that programs replace by
//! rename (`sed -i`, `passwd`, editors and libraries writing a temporary
//! then `rename(2)` over it) cannot be persisted by a bind — a rename onto
//! a mount point fails with `EBUSY` — so the watcher, which sees the
//! rename, suggests `method = "copy"` for it (in the journal warning,
//! `watch.json`, D-Bus), and never names the temporary (`sedXXXXXX`).
//! A file written in place, and a directory group, keep the plain line.
//! Trial s6 also saw sed's temporary warned about after a `sed -i` on a
//! bound file failed with `EBUSY`: tried here too.

use super::{group, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

const NIX: &str = r#"environment.persistence."/persistent"."#;

fn copy_line(p: &str) -> String {
    format!(r#"{{ file = "{p}"; method = "copy"; }}  # into {NIX}files = [ … ]"#)
}

fn replaced_files_are_suggested_as_copies(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"mkdir -p "$R/etc/app" "$R/srv/data"
for f in edited passwdlike inplace loop; do echo a > "$R/etc/app/$f"; done
echo a > "$R/srv/data/db"
mkdir -p "$R/persistent/etc/app"; echo a > "$R/persistent/etc/app/bound"; touch "$R/etc/app/bound"
mount --bind "$R/persistent/etc/app/bound" "$R/etc/app/bound"
imp baseline --since all > /dev/null"#;
    let body = r#"
sed -i s/a/b/ "$R/etc/app/edited"
echo b > "$R/etc/app/passwdlike+"; mv "$R/etc/app/passwdlike+" "$R/etc/app/passwdlike"
echo more >> "$R/etc/app/inplace"
python3 - "$R/etc/app" <<'PY'
import os, sys, tempfile
fd, t = tempfile.mkstemp(dir=sys.argv[1], prefix=".fresh.")
os.write(fd, b"new\n"); os.close(fd); os.replace(t, os.path.join(sys.argv[1], "fresh"))
PY
for i in $(seq 20); do sed -i "s/.*/$i/" "$R/etc/app/loop"; done
# On a bound file sed's rename fails (EBUSY); its temporary is removed.
for i in $(seq 20); do sed -i "s/.*/$i/" "$R/etc/app/bound" 2>/dev/null && exit 1; done
echo b > "$R/srv/data/db.tmp"; mv "$R/srv/data/db.tmp" "$R/srv/data/db"
wait_json 'all(p in g for p in ["/etc/app/edited", "/etc/app/passwdlike", "/etc/app/inplace", "/etc/app/fresh", "/etc/app/loop", "/srv/data"])'
for p in edited passwdlike inplace fresh loop; do
  for i in $(seq 100); do grep -q "write to /etc/app/$p[ :]" $OUT/stderr && break; sleep 0.1; done
done
imp status > "$OUT/status" 2>&1 || true
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, body);
    let w = watch_json(tmp.path());
    let suggest = |p: &str| {
        group(&w, p).unwrap_or_else(|| panic!("{p} not counted:\n{err}"))["suggest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for p in [
        "/etc/app/edited",
        "/etc/app/passwdlike",
        "/etc/app/fresh",
        "/etc/app/loop",
    ] {
        assert_eq!(suggest(p), copy_line(p), "{p}");
        let warn = err
            .lines()
            .find(|l| l.contains(&format!("write to {p}")))
            .unwrap_or_else(|| panic!("{p} not warned about:\n{err}"));
        assert!(warn.ends_with(&copy_line(p)), "{warn}");
    }
    assert_eq!(
        suggest("/etc/app/inplace"),
        format!(r#""/etc/app/inplace"  # into {NIX}files = [ … ]"#),
        "written in place: a bind keeps it"
    );
    assert_eq!(
        suggest("/srv/data"),
        format!(r#""/srv/data"  # into {NIX}directories = [ … ]"#),
        "a rename inside a bound directory works"
    );
    // Never a temporary's name: not warned about, counted or suggested.
    for l in err.lines().filter(|l| l.contains("write to")) {
        assert!(
            !l.contains("/etc/app/sed") && !l.contains("/.fresh.") && !l.contains('+'),
            "a temporary: {l}"
        );
    }
    let names = w["groups"].to_string();
    assert!(
        !names.contains("/etc/app/sed") && !names.contains(".fresh."),
        "{names}"
    );
}

#[test]
fn inotify_suggests_copy_for_files_replaced_by_rename() {
    require_root!();
    replaced_files_are_suggested_as_copies("inotify");
}

#[test]
fn fanotify_suggests_copy_for_files_replaced_by_rename() {
    require_root!();
    replaced_files_are_suggested_as_copies("fanotify");
}
