//! A `method = "copy"` file deleted on purpose (a compromised host key,
//! an app removing its state; trial s10 F15): the sync moves its
//! persistent copy aside into `impermctl-kept/<time>/` (never deletes it)
//! so that the next boot does not bring it back — `sync --follow` within
//! a second, so also after a crash (trial s11 N23), and the shutdown sync;
//! `status` and `diff` say the deletion is kept. A file this boot did not
//! put in place never counts as deleted.

use super::live::LIVE;
use super::{dump, kill_trials, val, vps};
use crate::util::{Layout, assert_code};
use crate::{require_root, require_tool};

/// The host key as a copy file; `K` the live key, `PK` its persistent copy.
const KEY: &str = r#"
declare_key() { printf '[[persistence.files]]\npath = "/etc/ssh/ssh_host_ed25519_key"\nmethod = "copy"\n' >> "$CFG"; }
K="$R/etc/ssh/ssh_host_ed25519_key"; PK="$R/persistent/etc/ssh/ssh_host_ed25519_key"
kept() { find "$R/persistent/impermctl-kept" -type f -name ssh_host_ed25519_key 2>/dev/null; }
"#;

/// The trial's input (s34.sh), across two boots.
#[test]
fn a_deleted_copy_file_stays_deleted_after_the_reboot() {
    require_root!();
    let body = format!(
        r#"{LIVE}{KEY}
declare_key
mkdir -p "$R/etc/ssh"; echo compromised-key > "$K"
imp boot 2>/dev/null; imp sync >/dev/null
rm "$K"
rc=0; imp status > "$R/../st" 2>&1 || rc=$?; echo "status_rc=$rc"
echo "status=$(grep ssh_host_ed25519_key "$R/../st")"
imp diff > "$R/../df" 2>&1 || true
echo "diff=$(grep 'deleted since boot' "$R/../df")"
echo "diff_json=$(imp diff --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("deleted_copies"))')"
echo "sync=$(imp sync 2>/dev/null | grep ssh_host)"
echo "persistent=$([ -e "$PK" ] && echo still || echo gone)"
echo "kept=$(cat $(kept))"
echo "sync2=$(imp sync 2>/dev/null | grep ssh_host)"
reboot
rc=0; imp boot 2>"$R/../err" || rc=$?; echo "boot_rc=$rc"
echo "after_reboot=$([ -e "$K" ] && cat "$K" || echo absent)"
echo "kept_after=$(kept | wc -l)"
echo "sync3=$(imp sync 2>/dev/null | grep ssh_host)"
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "status_rc"), "0", "{}", dump(&o));
    let st = val(&o, "status");
    assert!(
        st.contains("deleted since boot: the deletion is kept"),
        "{}",
        dump(&o)
    );
    assert!(
        val(&o, "diff").contains("deleted since boot: /etc/ssh/ssh_host_ed25519_key"),
        "{}",
        dump(&o)
    );
    assert_eq!(
        val(&o, "diff_json"),
        "['/etc/ssh/ssh_host_ed25519_key']",
        "{}",
        dump(&o)
    );
    assert!(
        val(&o, "sync").contains("moved aside to /persistent/impermctl-kept/"),
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "persistent"), "gone", "{}", dump(&o));
    assert_eq!(val(&o, "kept"), "compromised-key", "{}", dump(&o));
    assert!(val(&o, "sync2").contains("no live file"), "{}", dump(&o));
    assert_eq!(val(&o, "boot_rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "after_reboot"), "absent", "{}", dump(&o));
    assert_eq!(val(&o, "kept_after"), "1", "{}", dump(&o));
    assert!(val(&o, "sync3").contains("no live file"), "{}", dump(&o));
}

/// Not deleted after this boot put it in place, so the persistent copy
/// stays where it is (the next boot copies it in): no `state.json`
/// (boot never ran), or the entry declared after boot ran (never put in
/// place by this boot).
#[test]
fn a_copy_file_this_boot_did_not_put_in_place_never_counts_as_deleted() {
    require_root!();
    let body = format!(
        r#"{KEY}
mkdir -p "$R/etc/ssh" "$R/persistent/etc/ssh"; echo old-key > "$PK"
cp "$CFG" "$R/../base.toml"
declare_key
echo "no_record=$(imp sync 2>/dev/null | grep ssh_host)"
cp "$R/../base.toml" "$CFG"
imp boot 2>/dev/null
declare_key
echo "not_restored=$(imp sync 2>/dev/null | grep ssh_host)"
echo "status=$(imp status 2>/dev/null | grep ssh_host)"
echo "left=$(cat "$PK") $(kept | wc -l)"
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert!(
        val(&o, "no_record").contains("no live file"),
        "{}",
        dump(&o)
    );
    assert!(
        val(&o, "not_restored").contains("no live file"),
        "{}",
        dump(&o)
    );
    assert!(
        val(&o, "status").contains("`impermctl boot` copies"),
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "left"), "old-key 0", "{}", dump(&o));
}

/// `sync` killed before each change it makes while moving the copy of a
/// deleted key aside: the key is whole at one of the two places, and a
/// rerun completes the move (one kept copy, none left in place).
#[test]
fn sync_killed_while_moving_a_deleted_copy_aside_loses_nothing() {
    require_root!();
    require_tool!("strace");
    let body = format!(
        r#"{kp}{KEY}
declare_key
mkdir -p "$R/etc/ssh"; head -c 5000 /dev/urandom > "$K"; chmod 600 "$K"
imp boot 2>/dev/null; imp sync >/dev/null
cp -a "$PK" "$R/../orig"; want=$(sha256sum < "$R/../orig")
fresh() {{ rm -rf "$R/persistent/impermctl-kept" "$K"; cp -a "$R/../orig" "$PK"; }}
fresh
points=$(kill_points "$IMPERMCTL" --root "$R" --config "$CFG" sync)
n=0
for pt in $points; do
  n=$((n + 1)); fresh
  kill_at "$pt" "$IMPERMCTL" --root "$R" --config "$CFG" sync || {{ echo "$pt: not killed there"; bad=$((bad + 1)); }}
  phases="$phases $pt"
  whole=0
  for f in "$PK" $(kept); do [ -f "$f" ] && [ "$(sha256sum < "$f")" = "$want" ] && whole=$((whole + 1)); done
  [ $whole -ge 1 ] || {{ echo "$pt: the key is nowhere whole"; bad=$((bad + 1)); }}
  imp sync >/dev/null 2>"$R/../err" || {{ echo "$pt: the rerun failed: $(head -2 "$R/../err")"; bad=$((bad + 1)); }}
  [ ! -e "$PK" ] || {{ echo "$pt: the copy is still in place"; bad=$((bad + 1)); }}
  [ "$(kept | wc -l)" = 1 ] && [ "$(sha256sum < "$(kept)")" = "$want" ] || {{ echo "$pt: kept: $(kept | tr '\n' ' ')"; bad=$((bad + 1)); }}
done
echo "points=$n"
[ $n -ge 2 ] || {{ echo "too few kill points: $points"; bad=$((bad + 1)); }}
"#,
        kp = crate::util::KILL_POINTS
    );
    kill_trials(&body);
}

/// Bash: `bash $R/../follow.sh` runs `sync --follow` (the unit's command)
/// until it has moved the key's persistent copy aside (deadline 10 s),
/// then stops it as systemd does (SIGTERM) and exits with its status: 137
/// when it was SIGKILLed, 3 when it had not moved the copy while running
/// (only its shutdown sync would).
const FOLLOW: &str = r#"
cat > "$R/../follow.sh" <<'SH'
"$IMPERMCTL" --root "$R" --config "$CFG" sync --follow >/dev/null 2>>"$R/../follow.err" & f=$!
for _ in $(seq 400); do
  kill -0 $f 2>/dev/null || break
  [ ! -e "$PK" ] && [ -n "$(find "$R/persistent/impermctl-kept" -type f 2>/dev/null)" ] && break
  sleep 0.025
done
rc=0
if kill -0 $f 2>/dev/null && [ -e "$PK" ]; then echo "not moved aside while running" >> "$R/../follow.err"; rc=3; fi
kill -TERM $f 2>/dev/null || true
wait $f || rc=$?
exit $rc
SH
export R IMPERMCTL CFG PK
"#;

/// Trial s11 N23 (n23.sh): the key deleted while `sync --follow` runs,
/// then a hard reset (everything SIGKILLed, no shutdown sync) and a
/// reboot: the key stays deleted, its persistent copy is in
/// `impermctl-kept`, as the README's crash-window bound promises.
#[test]
fn n23_a_deleted_copy_file_stays_deleted_after_a_crash() {
    require_root!();
    let body = format!(
        r#"{LIVE}{KEY}
declare_key
mkdir -p "$R/etc/ssh"; echo compromised-key > "$K"
imp boot 2>/dev/null; imp sync >/dev/null
"$IMPERMCTL" --root "$R" --config "$CFG" sync --follow >/dev/null 2>"$R/../follow.err" & f=$!
wait_for 'grep -q "saving 1 copy files" "$R/../follow.err"' || echo "follow did not start"
rm "$K"
wait_for '[ ! -e "$PK" ]' && echo "moved_live=yes"
# The hard reset: no SIGTERM, no shutdown sync.
kill -9 $f; wait $f 2>/dev/null || true
echo "follow_log=$(grep -c 'was deleted since boot' "$R/../follow.err")"
echo "status=$(imp status 2>/dev/null | grep ssh_host)"
reboot
rc=0; imp boot 2>"$R/../err" || rc=$?; echo "boot_rc=$rc"
echo "after_reboot=$([ -e "$K" ] && cat "$K" || echo absent)"
echo "kept=$(cat $(kept))"
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "moved_live"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "follow_log"), "1", "{}", dump(&o));
    assert!(!val(&o, "status").contains("NOT"), "{}", dump(&o));
    assert_eq!(val(&o, "boot_rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "after_reboot"), "absent", "{}", dump(&o));
    assert_eq!(val(&o, "kept"), "compromised-key", "{}", dump(&o));
}

/// `sync --follow` killed before each change it makes while moving the
/// copy of a deleted key aside: the key is whole at one of the two
/// places, and the next run completes the move (one kept copy, none left
/// in place).
#[test]
fn sync_follow_killed_while_moving_a_deleted_copy_aside_loses_nothing() {
    require_root!();
    require_tool!("strace");
    let body = format!(
        r#"{kp}{KEY}{FOLLOW}
declare_key
mkdir -p "$R/etc/ssh"; head -c 5000 /dev/urandom > "$K"; chmod 600 "$K"
imp boot 2>/dev/null; imp sync >/dev/null
cp -a "$PK" "$R/../orig"; want=$(sha256sum < "$R/../orig")
fresh() {{ rm -rf "$R/persistent/impermctl-kept" "$K"; cp -a "$R/../orig" "$PK"; }}
fresh
points=$(kill_points bash "$R/../follow.sh")
n=0
for pt in $points; do
  n=$((n + 1)); fresh
  kill_at "$pt" bash "$R/../follow.sh" || {{ echo "$pt: not killed there"; bad=$((bad + 1)); }}
  phases="$phases $pt"
  whole=0
  for f in "$PK" $(kept); do [ -f "$f" ] && [ "$(sha256sum < "$f")" = "$want" ] && whole=$((whole + 1)); done
  [ $whole -ge 1 ] || {{ echo "$pt: the key is nowhere whole"; bad=$((bad + 1)); }}
  bash "$R/../follow.sh" || {{ echo "$pt: the rerun failed: $(tail -2 "$R/../follow.err")"; bad=$((bad + 1)); }}
  [ ! -e "$PK" ] || {{ echo "$pt: the copy is still in place"; bad=$((bad + 1)); }}
  [ "$(kept | wc -l)" = 1 ] && [ "$(sha256sum < "$(kept)")" = "$want" ] || {{ echo "$pt: kept: $(kept | tr '\n' ' ')"; bad=$((bad + 1)); }}
done
echo "points=$n"
[ $n -ge 2 ] || {{ echo "too few kill points: $points"; bad=$((bad + 1)); }}
"#,
        kp = crate::util::KILL_POINTS
    );
    kill_trials(&body);
}
