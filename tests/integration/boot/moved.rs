//! An entry that moves (issue 11, class 8): its source changed since the
//! previous run of this boot (`state.json`): moved to another root, or its
//! root (`persistentStoragePath`) changed. The data of the previous source
//! is migrated atomically before the new one is bound (the previous copy
//! is kept), also when the run is killed at random points; when both hold
//! different data the entry is refused with the commands, still bound from
//! the previous source.

use super::{dump, kill_trials, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code};

/// `/srv/data` (with a known tree) in `/persistent`, booted; then a second
/// dataset at `/data`, and `move_cfg` moves the entry there.
const SETUP: &str = r#"
data_entries
mkdir -p "$R/persistent/srv/data/a/b" "$R/persistent/etc/ssh"
for i in $(seq 1 120); do head -c $((i * 331)) /dev/urandom > "$R/persistent/srv/data/a/f$i"; done
echo deep > "$R/persistent/srv/data/a/b/deep"; ln -s a/b/deep "$R/persistent/srv/data/link"
chown 12:34 "$R/persistent/srv/data/a/b"; chmod 0701 "$R/persistent/srv/data/a/b"
echo key > "$R/persistent/etc/ssh/host_key"; chmod 600 "$R/persistent/etc/ssh/host_key"
mkdir -p "$R/data"; mount -t tmpfs tank/ct/101/data "$R/data"; mkdir -p "$R/data/keys"
imp boot 2>/dev/null
echo "written live" > "$R/srv/data/live"
want=$(sum "$R/persistent/srv/data")
move_cfg() {
python3 - "$CFG" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace('[[persistence.directories]]\npath = "/srv/data"\n', '')
s = s.replace('[[persistence.files]]\npath = "/etc/ssh/host_key"\n', '')
s += '[[persistence]]\npath = "/data"\n[[persistence.directories]]\npath = "/srv/data"\n'
s += '[[persistence]]\npath = "/data/keys"\n[[persistence.files]]\npath = "/etc/ssh/host_key"\n'
open(p, "w").write(s)
PY
}
"#;

#[test]
fn a_moved_entry_is_migrated_then_bound() {
    require_root!();
    let body = format!(
        r#"{SETUP}
move_cfg
echo "plan=$(imp boot --dry-run | grep '^/srv/data')"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
echo "want=$want"
echo "new=$(sum "$R/data/srv/data")"
echo "visible=$(sum "$R/srv/data")"
echo "kept=$(sum "$R/persistent/srv/data")"
echo "dev=$(devof /srv/data) ddev=$(devof /data)"
echo "key=$(cat "$R/data/keys/etc/ssh/host_key") $(stat -c %a "$R/data/keys/etc/ssh/host_key") $(cat "$R/etc/ssh/host_key")"
echo "recorded=$(python3 -c 'import json,sys; print(sorted(e["source"] for e in json.load(open(sys.argv[1]))["entries"] if e["path"] in ("/srv/data", "/etc/ssh/host_key")))' "$R/run/impermctl/state.json")"
echo "again=$(imp boot --dry-run | tail -1)"
echo "utab=$(grep -c 'TARGET=/srv/data ' "$R/run/mount/utab" || true)"
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert!(
        val(&o, "plan").contains("migrate the data from /persistent/srv/data"),
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    let want = val(&o, "want");
    assert_eq!(val(&o, "new"), want, "{}", dump(&o));
    assert_eq!(val(&o, "visible"), want, "{}", dump(&o));
    assert_eq!(val(&o, "kept"), want, "the previous copy is kept");
    let d = val(&o, "dev");
    let (a, b) = d.split_once(" ddev=").unwrap();
    assert_eq!(a, b, "bound from /data\n{}", dump(&o));
    assert_eq!(val(&o, "key"), "key 600 key");
    assert_eq!(
        val(&o, "recorded"),
        "['/data/keys/etc/ssh/host_key', '/data/srv/data']"
    );
    assert!(val(&o, "again").starts_with("0 of"), "{}", dump(&o));
}

#[test]
fn a_migration_survives_sigkill_at_random_points() {
    require_root!();
    let body = format!(
        r#"{SETUP}
move_cfg
cp "$R/run/impermctl/state.json" "$R/../state.before"
for i in $(seq 1 30); do
  # Back to the state before the move: bound from /persistent, /data empty.
  for t in /srv/data /etc/ssh/host_key; do while [ -n "$(devof $t)" ]; do umount "$R$t"; done; done
  rm -rf "$R/data/srv" "$R/data/keys/etc" "$R/data/.srv"* "$R/data/srv".*
  mount --bind "$R/persistent/srv/data" "$R/srv/data"; mount --bind "$R/persistent/etc/ssh/host_key" "$R/etc/ssh/host_key"
  cp "$R/../state.before" "$R/run/impermctl/state.json"
  kill_within 30 boot
  ddev=$(devof /data)
  if [ "$(devof /srv/data)" = "$ddev" ]; then phase=bound
  elif [ -z "$(devof /srv/data)" ]; then phase=detached
  elif [ -d "$R/data/srv/data" ]; then phase=copied
  else phase=before; fi
  phases="${{phases:+$phases }}$phase"
  # Whatever the kill left: the previous copy is intact, and what is visible is complete.
  [ "$(sum "$R/persistent/srv/data")" = "$want" ] || {{ echo "old copy changed at $i"; bad=$((bad + 1)); }}
  if [ -n "$(devof /srv/data)" ] && [ "$(sum "$R/srv/data")" != "$want" ]; then echo "visible at $i"; bad=$((bad + 1)); fi
  # ...and a rerun completes the migration.
  imp boot 2>"$R/../err" || {{ echo "rerun $i failed ($phase): $(grep -v -e INFO -e WARN "$R/../err" | head -3)"; bad=$((bad + 1)); }}
  if [ "$(sum "$R/srv/data")" != "$want" ] || [ "$(devof /srv/data)" != "$ddev" ]; then echo "after rerun $i"; bad=$((bad + 1)); fi
done
"#
    );
    kill_trials(&body);
}

#[test]
fn a_moved_entry_whose_new_source_holds_other_data_is_refused() {
    require_root!();
    let body = format!(
        r#"{SETUP}
move_cfg
mkdir -p "$R/data/srv/data"; echo other > "$R/data/srv/data/other"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
echo "still=$(devof /srv/data) pdev=$(devof /persistent)"
echo "visible=$(sum "$R/srv/data")"
echo "want=$want"
echo "other=$(cat "$R/data/srv/data/other")"
grep -o 'both hold different data.*' "$R/err" | head -1 | sed 's/^/err=/'
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "1", "{}", dump(&o));
    let s = val(&o, "still");
    let (a, b) = s.split_once(" pdev=").unwrap();
    assert_eq!(a, b, "still bound from the previous source\n{}", dump(&o));
    assert_eq!(val(&o, "visible"), val(&o, "want"));
    assert_eq!(val(&o, "other"), "other");
    let err = val(&o, "err");
    assert!(
        err.contains("mv /data/srv/data /data/srv/data.bak"),
        "{err}"
    );
}

/// Moved to another root and rebooted before `boot` ran (no record of this
/// boot): the only other root holding data at the path is migrated from.
#[test]
fn a_moved_entry_is_migrated_after_a_reboot_too() {
    require_root!();
    let body = format!(
        r#"{SETUP}
{REBOOT}
move_cfg
reboot_vps
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
echo "want=$want"
echo "visible=$(sum "$R/srv/data")"
echo "kept=$(sum "$R/persistent/srv/data")"
echo "dev=$(devof /srv/data) ddev=$(devof /data)"
echo "key=$(cat "$R/etc/ssh/host_key")"
grep -c 'migrated' "$R/err" | sed 's/^/migrated=/'
"#,
        REBOOT = super::REBOOT
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    let want = val(&o, "want");
    assert_eq!(val(&o, "visible"), want, "{}", dump(&o));
    assert_eq!(val(&o, "kept"), want);
    let d = val(&o, "dev");
    let (a, b) = d.split_once(" ddev=").unwrap();
    assert_eq!(a, b, "bound from /data\n{}", dump(&o));
    assert_eq!(val(&o, "key"), "key");
    assert_eq!(val(&o, "migrated"), "2", "{}", dump(&o));
}
