//! Item 6: records are not trusted. A forged `state.json` never makes
//! `boot` detach anything (nothing is undone: trial-s10 F10); a rerun after a kill
//! between bind and utab repairs utab; a `boot` that waited for the lock
//! sees the binds made meanwhile; an over-long path never corrupts the
//! baseline; a damaged `persisted.json` stops `persist` before it acts.

use crate::boot::{dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code, in_vps, stderr};

/// Replace state.json's entries by the JSON list `$1` (python, exact).
const FORGE: &str = r#"
forge() {
python3 - "$R/run/impermctl/state.json" "$1" <<'PY'
import json, sys
p, entries = sys.argv[1], json.loads(sys.argv[2])
s = json.load(open(p))
s["entries"] = entries
json.dump(s, open(p, "w"))
PY
}
"#;

#[test]
fn a_forged_state_entry_never_detaches_persistent_or_proc() {
    require_root!();
    let body = format!(
        r#"{FORGE}
mount -t proc proc "$R/proc"
imp boot
before=$(nmounts)
forge '[{{"path":"/persistent","kind":"directory","source":"/persistent","how":"bound"}},
        {{"path":"/proc","kind":"directory","source":"/proc","how":"bound"}},
        {{"path":"/etc","kind":"directory","source":"/persistent/etc","how":"bound"}}]'
rc=0; imp boot 2>"$R/err1" || rc=$?; echo "rc1=$rc"
forge '[{{"path":"/proc","kind":"directory","source":"/persistent/proc","how":"bound"}}]'
rc=0; imp boot 2>"$R/err2" || rc=$?; echo "rc2=$rc"
echo "persistent=$(devof /persistent)"
echo "proc=$(mounts | awk '$1 == "/proc" {{ print "mounted" }}')"
echo "count=$before/$(nmounts)"
cat "$R/err1" "$R/err2" >&2
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc1"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "rc2"), "0", "{}", dump(&o));
    assert!(
        !val(&o, "persistent").is_empty(),
        "/persistent detached\n{}",
        dump(&o)
    );
    assert_eq!(val(&o, "proc"), "mounted", "/proc detached\n{}", dump(&o));
    let c = val(&o, "count");
    let (a, b) = c.split_once('/').unwrap();
    assert_eq!(a, b, "mounts changed\n{}", dump(&o));
    // Nothing is undone any more (trial-s10 F10), and a record that is not
    // a bind of its own is not said to be one.
    let err = stderr(&o);
    for p in ["/persistent", "/proc"] {
        assert!(
            !err.contains(&format!("{p} is no longer declared")),
            "{err}"
        );
    }
}

#[test]
fn a_bind_covered_by_another_mount_is_not_undone() {
    require_root!();
    // /srv/a was bound by boot, then the admin mounted something of their
    // own over it (here: another bind of the same source, so device and
    // root match too). Removing the entry from the config detaches nothing
    // (trial-s10 F10: left in place until the next boot), and says so.
    let body = r#"
printf '[[persistence.directories]]\npath = "/srv/a"\n' >> "$CFG"
imp boot
mount --bind "$R/persistent/srv/a" "$R/srv/a"
echo "before=$(mounts | grep -c '^/srv/a ')"
sed -i '/^path = "\/srv\/a"$/d' "$CFG"; sed -i '$d' "$CFG"
rc=0; imp boot || rc=$?; echo "rc=$rc"
echo "after=$(mounts | grep -c '^/srv/a ')"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "before"), "2", "{}", dump(&o));
    assert_eq!(val(&o, "after"), "2", "a mount was detached\n{}", dump(&o));
    let left =
        "/srv/a is no longer declared: left bound from /persistent/srv/a until the next boot";
    assert!(stderr(&o).contains(left), "{}", dump(&o));
}

#[test]
fn kill_9_between_bind_and_utab_then_a_rerun_repairs_utab() {
    require_root!();
    // 1,000 directory entries: boot binds them one by one and writes utab at
    // the end. Each trial kills it as soon as a bind is in place.
    let body = r#"
for i in $(seq 1000); do printf '[[persistence.directories]]\npath = "/srv/d%04d"\n' $i >> "$CFG"; done
trials=0; hit=0; bad=0
for t in $(seq 5); do
  m=$(mounts | awk -v r="$R" '$1 ~ /^\/srv\// { print r $1 }')
  [ -z "$m" ] || umount $m
  rm -rf "$R/run/mount" "$R/run/impermctl" "$R/srv"
  "$IMPERMCTL" --root "$R" --config "$CFG" boot >/dev/null 2>&1 & B=$!
  for i in $(seq 5000); do grep -q "$R/srv/d" /proc/self/mountinfo && break; done
  kill -9 $B 2>/dev/null || true; wait $B 2>/dev/null || true
  trials=$((trials + 1))
  bound=$(mounts | grep -c '^/srv/d' || true)
  lines=$(grep -c 'TARGET=/srv/d' "$R/run/mount/utab" 2>/dev/null || true)
  [ "${lines:-0}" -lt "$bound" ] && hit=$((hit + 1))
  imp boot >/dev/null 2>&1
  lines=$(grep -c 'TARGET=/srv/d.* OPTS=x-gvfs-hide' "$R/run/mount/utab" || true)
  [ "$lines" = 1000 ] || { bad=$((bad + 1)); echo "trial $t: $lines utab lines after the rerun" >&2; }
done
echo "trials=$trials"; echo "hit=$hit"; echo "bad=$bad"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    let r = val(&o, "trials");
    eprintln!("kill -9 between bind and utab: trials={r}");
    let hit: usize = val(&o, "hit").parse().unwrap();
    assert!(
        hit > 0,
        "no trial was killed between a bind and utab\n{}",
        dump(&o)
    );
    assert_eq!(val(&o, "bad").as_str(), "0", "{}", dump(&o));
}

#[test]
fn a_boot_that_waited_for_the_lock_sees_the_binds_made_meanwhile() {
    require_root!();
    let body = r#"
printf '[[persistence.directories]]\npath = "/srv/a"\n' >> "$CFG"
mkdir -p "$R/run/impermctl" "$R/persistent/srv/a" "$R/srv/a"
exec 9>"$R/run/impermctl/boot.lock"; flock 9
( exec 9>&-; timeout 60 "$IMPERMCTL" --root "$R" --config "$CFG" boot >"$R/out" 2>"$R/err" || echo $? > "$R/rc" ) & B=$!
for i in $(seq 1000); do grep -q -- '->' /proc/locks && break; sleep 0.01; done
grep -q -- '->' /proc/locks && echo "waiting=yes"
# Meanwhile "another boot" binds every entry (as the winner would).
for p in /etc/nixos /var/log /var/lib/nixos /srv/a; do
  mkdir -p "$R/persistent$p" "$R$p"; mount --bind "$R/persistent$p" "$R$p"
done
mkdir -p "$R/persistent/etc"; echo uninitialized > "$R/persistent/etc/machine-id"; touch "$R/etc/machine-id"
mount --bind "$R/persistent/etc/machine-id" "$R/etc/machine-id"
n0=$(nmounts)
flock -u 9
exec 9>&-
wait $B
echo "rc=$(cat "$R/rc" 2>/dev/null || echo 0)"
echo "count=$n0/$(nmounts)"
cat "$R/err" >&2
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "waiting"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    let c = val(&o, "count");
    let (a, b) = c.split_once('/').unwrap();
    assert_eq!(a, b, "stacked\n{}", dump(&o));
}

#[test]
fn a_directory_path_over_64_kib_never_corrupts_the_baseline() {
    require_root!();
    // 280 levels of 250-byte names: a directory path of ~70 KiB.
    let body = r#"
mkdeep "$R" 280 f 0
rc=0; imp boot 2>"$R/err" || rc=$?; echo "boot=$rc"
cat "$R/err" >&2
rc=0; imp diff > "$R/diff" 2>&1 || rc=$?; echo "diff=$rc"
rc=0; imp diff > "$R/diff" 2>&1 || rc=$?; echo "again=$rc"
head -c 600 "$R/diff" >&2
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "boot"), "0", "{}", dump(&o));
    assert!(stderr(&o).contains("65,535 bytes"), "{}", dump(&o));
    // diff works (0: nothing lost, 1: something would be): never 2.
    assert!(
        ["0", "1"].contains(&val(&o, "diff").as_str()),
        "{}",
        dump(&o)
    );
    assert!(
        ["0", "1"].contains(&val(&o, "again").as_str()),
        "{}",
        dump(&o)
    );
}

#[test]
fn a_damaged_persisted_json_stops_persist_before_it_copies_or_binds() {
    require_root!();
    let body = r#"
cat > "$CFG" <<'EOF'
version = 1
[[persistence]]
path = "/persistent"
EOF
mkdir -p "$R/var/lib/foo" "$R/run/impermctl"; echo data > "$R/var/lib/foo/f"
printf '{"paths": [ {"path": 3' > "$R/run/impermctl/persisted.json"
rc=0; imp persist /var/lib/foo 2>"$R/err" || rc=$?; echo "rc=$rc"
echo "mounted=$(findmnt -rn -o TARGET --mountpoint "$R/var/lib/foo" || true)"
echo "copied=$([ -e "$R/persistent/var/lib/foo" ] && echo yes || echo no)"
cat "$R/err" >&2
"#;
    let o = in_vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "2", "{}", dump(&o));
    assert_eq!(
        val(&o, "mounted"),
        "",
        "bound despite the damaged record\n{}",
        dump(&o)
    );
    assert_eq!(val(&o, "copied"), "no", "{}", dump(&o));
    let err = stderr(&o);
    assert!(
        err.contains("persisted.json") && err.contains("nothing was copied or mounted"),
        "{err}"
    );
}
