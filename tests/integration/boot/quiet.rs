//! Every boot of an ephemeral root is quiet when nothing is wrong, and
//! `impermctl-kept` does not grow when nothing would be lost (trial s11
//! N6, N8, N27): a fresh root's empty `/var` skeleton, files the
//! persistent copy holds the same, a machine ID generated before boot ran.
//! Live data that holds anything more is still kept aside with a warning.

use super::{REBOOT, dump, kill_trials, val, vps};
use crate::util::{Layout, assert_code};
use crate::{require_root, require_tool};

/// Bash: the config (`/var` and `/etc/machine-id` declared), `skeleton`
/// makes what a fresh root holds before boot runs (empty `/var/log`,
/// `/var/lib/nixos`, `/var/tmp`, the `/var/run` link, a new machine ID),
/// `first` is the first boot (seeds both, then a service writes through
/// the bind); `mid` is the persistent machine ID.
const FRESH: &str = r#"
cfg 'version = 1
[[persistence]]
path = "/persistent"
directories = [ "/var" ]
files = [ "/etc/machine-id" ]
'
skeleton() {
  mkdir -p "$R/var/log" "$R/var/lib/nixos" "$R/var/tmp" "$R/etc"
  chmod 1777 "$R/var/tmp"; ln -sfn /run "$R/var/run"
  tr -d - < /proc/sys/kernel/random/uuid > "$R/etc/machine-id"
}
first() {
  skeleton; imp boot >/dev/null 2>&1
  mkdir -p "$R/var/lib/svc"; echo state > "$R/var/lib/svc/db"; echo 1000 > "$R/var/lib/nixos/uid-map"
  mid=$(cat "$R/persistent/etc/machine-id")
}
"#;

#[test]
fn a_fresh_root_skeleton_and_a_generated_machine_id_keep_nothing_aside() {
    require_root!();
    let body = format!(
        r#"{REBOOT}{FRESH}
first
reboot_vps; skeleton
echo BEGIN plan; imp boot --dry-run; echo END plan
rc=0; imp boot 2>"$R/../err" || rc=$?
echo "rc=$rc"
echo "warned=$(grep WARN "$R/../err" | grep -vc recommended-paths || true)"
echo "kept=$(ls -A "$R/persistent" | grep -c impermctl-kept || true)"
echo "mid=$([ "$(cat "$R/etc/machine-id")" = "$mid" ] && echo persistent)"
echo "svc=$(cat "$R/var/lib/svc/db") $(cat "$R/var/lib/nixos/uid-map")"
echo "bound=$(devof /var)"
# The same machine ID on the fresh root (trial N27): nothing to keep either.
reboot_vps; skeleton; cp "$R/persistent/etc/machine-id" "$R/etc/machine-id"
echo "same=$(imp boot --dry-run | grep machine-id)"
# A file the persistent copy lacks: kept aside with a warning, as before.
set +e
reboot_vps; echo "r3=$?"; skeleton; echo note > "$R/var/lib/nixos/new"
echo "plan2=$(imp boot --dry-run | grep '^/var ')"
imp boot 2>"$R/../err2" || echo "boot failed"
echo "warned2=$(grep -c 'WARN /var already held data' "$R/../err2" || true)"
echo "kept2=$(cat "$R"/persistent/impermctl-kept/*/var/lib/nixos/new)"
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    let plan = super::block(&o, "plan");
    assert!(!plan.contains("keep the live data"), "{plan}");
    assert!(!plan.contains("hides data"), "{plan}");
    let line = |p: &str| {
        let l = plan
            .lines()
            .find(|l| l.split_whitespace().next() == Some(p));
        l.unwrap_or_default().to_string()
    };
    assert!(
        line("/var").contains(
            "nothing to keep at target (every file of it is in the source, the same), bind"
        ),
        "{plan}"
    );
    assert!(
        line("/etc/machine-id").contains(
            "nothing to keep at target (a generated machine ID; the source's is the machine's), bind"
        ),
        "{plan}"
    );
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "warned"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "kept"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "mid"), "persistent", "{}", dump(&o));
    assert_eq!(val(&o, "svc"), "state 1000", "{}", dump(&o));
    assert!(!val(&o, "bound").is_empty(), "{}", dump(&o));
    assert!(
        val(&o, "same")
            .contains("nothing to keep at target (every file of it is in the source, the same)"),
        "{}",
        dump(&o)
    );
    assert!(
        val(&o, "plan2").contains("keep the live data in impermctl-kept/"),
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "warned2"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "kept2"), "note", "{}", dump(&o));
}

/// The boot that hides a fresh root's skeleton and a generated machine ID,
/// killed before each change it makes, in turn, then run again: the
/// persistent data is untouched, bound, nothing kept aside, no warning.
#[test]
fn boot_killed_before_each_change_over_a_fresh_root_loses_nothing() {
    require_root!();
    require_tool!("strace");
    let body = format!(
        r#"{kp}{REBOOT}{FRESH}
first
fresh() {{ reboot_vps; skeleton; }}
# What a complete boot leaves (an older source's mode may be tightened once).
fresh; imp boot >/dev/null 2>&1
want=$(sum "$R/persistent")
lst() {{ (cd "$R/persistent" && find . -printf '%M %u %g %y %p %l\n' | sort; find . -type f -print0 | sort -z | xargs -0 sha256sum); }}
wantl=$(lst)
modes() {{ (cd "$R/persistent" && find . -type d -printf '%M %u %g %p\n' | sort); }}
wantm=$(modes)
fresh
points=$(kill_points "$IMPERMCTL" --root "$R" --config "$CFG" boot)
n=0
for pt in $points; do
  n=$((n + 1)); fresh
  kill_at "$pt" "$IMPERMCTL" --root "$R" --config "$CFG" boot || {{ echo "$pt: not killed there"; bad=$((bad + 1)); }}
  phases="$phases $pt"
  [ "$(sum "$R/persistent")" = "$want" ] || {{ echo "$pt: the persistent data changed"; bad=$((bad + 1)); }}
  imp boot 2>"$R/../err" || {{ echo "$pt: the rerun failed: $(grep -v INFO "$R/../err" | head -2)"; bad=$((bad + 1)); continue; }}
  ! grep WARN "$R/../err" | grep -qv recommended-paths || {{ echo "$pt: warned: $(grep WARN "$R/../err" | head -1)"; bad=$((bad + 1)); }}
  [ "$(sum "$R/persistent")" = "$want" ] || {{ echo "$pt: the persistent data changed after the rerun: $(diff <(lst) <(echo "$wantl") | head -4 | tr '\n' ' ')"; bad=$((bad + 1)); }}
  [ "$(modes)" = "$wantm" ] || {{ echo "$pt: a persistent directory's owner or mode changed: $(diff <(modes) <(echo "$wantm") | head -4 | tr '\n' ' ')"; bad=$((bad + 1)); }}
  [ -n "$(devof /var)" ] && [ "$(cat "$R/var/lib/svc/db")" = state ] || {{ echo "$pt: /var not bound"; bad=$((bad + 1)); }}
  [ "$(cat "$R/etc/machine-id")" = "$mid" ] || {{ echo "$pt: not the persistent machine ID"; bad=$((bad + 1)); }}
done
echo "points=$n"
[ "$n" -gt 2 ] || {{ echo "only $n kill points"; bad=$((bad + 1)); }}
"#,
        kp = crate::util::KILL_POINTS
    );
    kill_trials(&body);
}

/// Trial s11 N15: `status` exits 1 only with a line that says why. A
/// hand-made link (to a directory in persistence) that `boot` stored as
/// the entry's source is no finding: the next boot makes it again. Once
/// the live link points elsewhere, the reboot brings the stored one back:
/// exit 1, and that line says NOT PERSISTED.
#[test]
fn status_flags_the_line_that_makes_it_exit_1() {
    require_root!();
    let body = r#"
mkdir -p "$R/persistent/data/app" "$R/var/lib"; echo appdata > "$R/persistent/data/app/db"
ln -s /persistent/data/app "$R/var/lib/app"
printf '[[persistence.directories]]\npath = "/var/lib/app"\n' >> "$CFG"
imp boot 2>/dev/null || true
echo "stored=$(readlink "$R/persistent/var/lib/app")"
rc=0; imp status > "$R/../st" || rc=$?
echo "rc=$rc"; echo "line=$(grep /var/lib/app "$R/../st")"
ln -sfn /persistent/data/other "$R/var/lib/app"
rc=0; imp status > "$R/../st2" || rc=$?
echo "rc2=$rc"; echo "line2=$(grep /var/lib/app "$R/../st2")"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "stored"), "/persistent/data/app", "{}", dump(&o));
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert!(
        val(&o, "line").contains(
            "symlink to /persistent/data/app, stored as the symlink /persistent/var/lib/app (the next boot makes it again)"
        ),
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "rc2"), "1", "{}", dump(&o));
    assert!(
        val(&o, "line2").contains("NOT PERSISTED: symlink to /persistent/data/other"),
        "{}",
        dump(&o)
    );
}

/// Trial s11 N14: `boot` killed while (or right after) it keeps live data
/// aside, before its bind, then run again: one kept copy, never two, and
/// no partial copy or empty directory left in `impermctl-kept`. Killed
/// before each change it makes, in turn: the live data is whole where it
/// is visible or in the kept copy at every point, and after the rerun the
/// one kept copy equals it in every bit, the persistent version is bound.
#[test]
fn boot_killed_before_each_change_of_a_keep_aside_keeps_one_copy() {
    require_root!();
    require_tool!("strace");
    let body = format!(
        r#"{kp}
cfg 'version = 1
[[persistence]]
path = "/persistent"
[[persistence.directories]]
path = "/srv/data"
'
P="$R/persistent/srv/data"; L="$R/srv/data"; K="$R/persistent/impermctl-kept"
man() {{ (cd "$1" && {{ find . ! -type d -printf '%p %y %m %U %G %s %T@ %n %l\n'; find . -type d -printf '%p %m %U %G %T@\n'
  find . -type f -print0 | xargs -0 sha256sum; }} | LC_ALL=C sort); }}
mkdir -p "$R/../orig/sub"; head -c 300000 /dev/urandom > "$R/../orig/sub/f1"
echo live > "$R/../orig/d"; ln -s d "$R/../orig/l"; chmod 0750 "$R/../orig"
want=$(man "$R/../orig")
fresh() {{
  while mountpoint -q "$L"; do umount "$L"; done
  rm -rf "$R/persistent/srv" "$K" "$R/run/impermctl" "$R/run/mount" "$L"
  mkdir -p "$P" "$R/srv"; echo old > "$P/d"; cp -a "$R/../orig" "$L"
}}
kept() {{ find "$K" -mindepth 3 -maxdepth 3 -path '*/srv/data*' 2>/dev/null; }}
fresh
points=$(kill_points "$IMPERMCTL" --root "$R" --config "$CFG" boot)
n=0
for pt in $points; do
  n=$((n + 1)); fresh
  kill_at "$pt" "$IMPERMCTL" --root "$R" --config "$CFG" boot || {{ echo "$pt: not killed there"; bad=$((bad + 1)); }}
  phases="$phases $pt"
  whole=no; [ "$(man "$L")" = "$want" ] && whole=yes
  for k in $(kept); do [ "$(man "$k")" = "$want" ] && whole=yes; done
  [ $whole = yes ] || {{ echo "$pt: the live data is nowhere whole"; bad=$((bad + 1)); }}
  imp boot 2>"$R/../err" || {{ echo "$pt: the rerun failed: $(grep -v INFO "$R/../err" | head -2)"; bad=$((bad + 1)); continue; }}
  [ -n "$(devof /srv/data)" ] && [ "$(cat "$L/d")" = old ] || {{ echo "$pt: the persistent version is not bound"; bad=$((bad + 1)); }}
  [ "$(kept | wc -l)" = 1 ] || {{ echo "$pt: $(kept | wc -l) kept copies: $(kept | tr '\n' ' ')"; bad=$((bad + 1)); continue; }}
  [ "$(man "$(kept)")" = "$want" ] || {{ echo "$pt: the kept copy differs"; bad=$((bad + 1)); }}
  ! grep -q 'already held data' "$R/../err" || grep -q "kept at ${{K#$R}}" "$R/../err" || {{ echo "$pt: the warning names no kept copy"; bad=$((bad + 1)); }}
  left=$(find "$K" -name '*impermctl-tmp*' -o -type d -empty | head -3)
  [ -z "$left" ] || {{ echo "$pt: left $left"; bad=$((bad + 1)); }}
done
echo "points=$n"
[ "$n" -gt 10 ] || {{ echo "only $n kill points"; bad=$((bad + 1)); }}
"#,
        kp = crate::util::KILL_POINTS
    );
    kill_trials(&body);
}

/// A declared directory whose persistent copy exists (root 0755, as
/// `/etc/nixos`) while the fresh root lacks it: boot makes the mount
/// point. Killed before each change, then run again: the persistent
/// directory keeps its owner and mode. Before, the mount point was made
/// 0700 and given its mode after: killed between the two, the rerun took
/// the half-made 0700 for a live mode and narrowed `/persistent/etc/nixos`
/// to it (seen by the boot-noise kill trials).
#[test]
fn boot_killed_while_making_a_mount_point_leaves_the_persistent_mode_alone() {
    require_root!();
    require_tool!("strace");
    let body = format!(
        r#"{kp}
cfg 'version = 1
[[persistence]]
path = "/persistent"
directories = [ "/etc/nixos" ]
'
P="$R/persistent/etc/nixos"; L="$R/etc/nixos"
fresh() {{
  while mountpoint -q "$L"; do umount "$L"; done
  rm -rf "$R/run/impermctl" "$R/run/mount" "$L"; mkdir -p "$R/etc" "$P"
  chown 0:0 "$P"; chmod 0755 "$P"; echo '{{ }}' > "$P/configuration.nix"
}}
fresh
points=$(kill_points "$IMPERMCTL" --root "$R" --config "$CFG" boot)
n=0
for pt in $points; do
  n=$((n + 1)); fresh
  kill_at "$pt" "$IMPERMCTL" --root "$R" --config "$CFG" boot || {{ echo "$pt: not killed there"; bad=$((bad + 1)); }}
  phases="$phases $pt"
  imp boot 2>"$R/../err" || {{ echo "$pt: the rerun failed: $(grep -v INFO "$R/../err" | head -2)"; bad=$((bad + 1)); continue; }}
  m=$(stat -c '%u:%g %a' "$P")
  [ "$m" = "0:0 755" ] || {{ echo "$pt: /persistent/etc/nixos is now $m"; bad=$((bad + 1)); }}
  [ -n "$(devof /etc/nixos)" ] && [ -f "$L/configuration.nix" ] || {{ echo "$pt: not bound"; bad=$((bad + 1)); }}
done
echo "points=$n"
[ "$n" -gt 2 ] || {{ echo "only $n kill points"; bad=$((bad + 1)); }}
"#,
        kp = crate::util::KILL_POINTS
    );
    kill_trials(&body);
}
