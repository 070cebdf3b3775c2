//! A filesystem mounted below a declared directory (on vpsFree a
//! subdataset can be mounted anywhere, e.g. at `/var/lib/svc2/sub`; trial
//! s10 F12): `boot` binds the directory and mounts that filesystem again
//! on top of the bind, so its writes still go to it; the seed never copies
//! its files; a bind that hides one (a killed run, an older version) is
//! reported by `status` and `diff --shadowed` and repaired by `boot`.

use super::{dump, kill_trials, val, vps};
use crate::util::{Layout, assert_code};
use crate::{require_root, require_tool};

/// `$V`: the "subdataset" (a tmpfs kept outside the root, holding `db`),
/// bound at `$L/sub` by `sub_mount`; `declare_svc2` declares `/var/lib/svc2`.
const SUB: &str = r#"
# Scratch files in $T (a user namespace cannot write beside $R).
T="$R/.t"; mkdir -p "$T"
L="$R/var/lib/svc2"; P="$R/persistent/var/lib/svc2"; V="$T/subview"
mkdir -p "$V"; mount -t tmpfs tank/ct/101/svc2sub "$V"; echo precious2 > "$V/db"
sub_mount() { mkdir -p "$L/sub"; mount --bind "$V" "$L/sub"; }
declare_svc2() { printf '[[persistence.directories]]\npath = "/var/lib/svc2"\n' >> "$CFG"; }
# writes: a write to $L/sub/db reaches the subdataset (prints ok or where it went)
writes() { echo "$1" > "$L/sub/db"; if [ "$(cat "$V/db")" = "$1" ]; then echo ok; else echo "lost:$(cat "$V/db")"; fi; }
"#;

/// The trial's input (s26.sh): the bind is made, the subdataset shows on
/// top of it and receives the writes, its file is not copied into
/// persistence; status and diff --shadowed see nothing hidden; a rerun
/// changes nothing.
#[test]
fn a_filesystem_mounted_below_a_declared_dir_stays_on_top_of_its_bind() {
    require_root!();
    stays_on_top(&Layout::default());
}

/// The same in an unprivileged container (vpsFree's: a user namespace).
#[test]
fn a_filesystem_mounted_below_a_declared_dir_stays_on_top_in_a_user_namespace() {
    require_root!();
    stays_on_top(&Layout {
        userns: true,
        ..Layout::default()
    });
}

fn stays_on_top(layout: &Layout) {
    let body = format!(
        r#"{SUB}
mkdir -p "$L"; echo a > "$L/a"; sub_mount; declare_svc2
rc=0; imp boot 2>"$T/err" || rc=$?; echo "rc=$rc"
echo "bound=$(mountpoint -q "$L" && echo yes)"
echo "sub=$(cat "$L/sub/db")"
echo "w1=$(writes changed)"
echo "copied=$(ls -A "$P/sub" | tr '\n' ' ')"
echo "a=$(cat "$P/a")"
imp status > "$T/st" 2>&1 || true
echo "status_hidden=$(grep -c 'is hidden' "$T/st" || true)"
imp diff --shadowed > "$T/df" 2>&1 || true
echo "diff_hidden=$(grep -c 'is hidden' "$T/df" || true)"
rc=0; imp boot 2>>"$T/err" || rc=$?; echo "rc2=$rc"
echo "w2=$(writes again)"
echo "onsub=$(mounts | awk '$1 == "/var/lib/svc2/sub"' | wc -l)"
cat "$T/err" >&2
"#
    );
    let o = vps(layout, &body);
    assert_code(&o, 0);
    for (k, want) in [
        ("rc", "0"),
        ("bound", "yes"),
        ("sub", "precious2"),
        ("w1", "ok"),
        ("copied", ""),
        ("a", "a"),
        ("status_hidden", "0"),
        ("diff_hidden", "0"),
        ("rc2", "0"),
        ("w2", "ok"),
    ] {
        assert_eq!(val(&o, k), want, "{k}\n{}", dump(&o));
    }
    // The original detached: one mount there, the one on top of the bind.
    assert_eq!(val(&o, "onsub"), "1", "{}", dump(&o));
    assert!(
        crate::util::stderr(&o).contains("mounted again on top of its bind"),
        "{}",
        dump(&o)
    );
}

/// A bind that hides a filesystem mounted below it (as an older version
/// or a run killed midway left it): `status` and `diff --shadowed` say
/// where its writes go instead; `boot` mounts it back on top.
#[test]
fn a_hidden_mount_is_reported_and_boot_mounts_it_back_on_top() {
    require_root!();
    reported_and_repaired(&Layout::default());
}

/// The same in an unprivileged container (the repair's private namespace
/// is made inside the user namespace).
#[test]
fn a_hidden_mount_is_reported_and_mounted_back_in_a_user_namespace() {
    require_root!();
    reported_and_repaired(&Layout {
        userns: true,
        ..Layout::default()
    });
}

fn reported_and_repaired(layout: &Layout) {
    let body = format!(
        r#"{SUB}
imp boot 2>/dev/null
declare_svc2; mkdir -p "$L" "$P/sub"; echo a > "$P/a"; sub_mount
mount --bind "$P" "$L"
echo "w0=$(writes diverted)"
rc=0; imp status > "$T/st" 2>&1 || rc=$?; echo "status_rc=$rc"
echo "status=$(grep '/var/lib/svc2 ' "$T/st")"
rc=0; imp diff --shadowed > "$T/df" 2>&1 || rc=$?; echo "diff_rc=$rc"
echo "diff=$(grep 'is hidden' "$T/df")"
echo "status_json=$(imp status --json 2>/dev/null | python3 -c 'import json,sys; print([h["instead"] for e in json.load(sys.stdin)["entries"] for h in e.get("hidden_mounts", [])])')"
echo "diff_json=$(imp diff --shadowed --json 2>/dev/null | python3 -c 'import json,sys; print([h["path"] for h in json.load(sys.stdin).get("hidden_mounts", [])])')"
rc=0; imp boot 2>"$T/err" || rc=$?; echo "rc=$rc"
echo "w1=$(writes back)"
echo "status_after=$(imp status 2>&1 | grep -c 'is hidden' || true)"
echo "diff_after=$(imp diff --shadowed 2>&1 | grep -c 'is hidden' || true)"
cat "$T/err" >&2
"#
    );
    let o = vps(layout, &body);
    assert_code(&o, 0);
    assert!(val(&o, "w0").starts_with("lost:"), "{}", dump(&o));
    assert_eq!(val(&o, "status_rc"), "1", "{}", dump(&o));
    let st = val(&o, "status");
    assert!(
        st.contains("/var/lib/svc2/sub (tmpfs")
            && st.contains("is hidden under the bind of /var/lib/svc2")
            && st.contains("goes to /persistent/var/lib/svc2/sub"),
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "diff_rc"), "1", "{}", dump(&o));
    assert!(
        val(&o, "diff").starts_with("shadowed: the filesystem mounted at /var/lib/svc2/sub"),
        "{}",
        dump(&o)
    );
    assert_eq!(
        val(&o, "status_json"),
        "['/persistent/var/lib/svc2/sub']",
        "{}",
        dump(&o)
    );
    assert_eq!(
        val(&o, "diff_json"),
        "['/var/lib/svc2/sub']",
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "w1"), "ok", "{}", dump(&o));
    assert_eq!(val(&o, "status_after"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "diff_after"), "0", "{}", dump(&o));
}

/// `boot` killed before each change it makes while seeding and binding
/// `/var/lib/svc2` over the mounted subdataset: the directory's data is
/// whole somewhere, the subdataset's file is never copied into
/// persistence, and after a rerun the subdataset shows on top of the bind
/// and receives the writes.
#[test]
fn boot_killed_around_mounting_a_filesystem_back_on_top_hides_nothing() {
    require_root!();
    require_tool!("strace");
    let body = format!(
        r#"{kp}
CHANGES=$CHANGES,umount2
{SUB}
cfg 'version = 1
[[persistence]]
path = "/persistent"
'
declare_svc2
fresh() {{
  while mountpoint -q "$L"; do umount -R -l "$L"; done
  while mountpoint -q "$L/sub"; do umount -l "$L/sub"; done
  rm -rf --one-file-system "$R/persistent/var" "$R/persistent/impermctl-kept" "$R/run/impermctl" "$R/run/mount" "$L"
  mkdir -p "$L"; echo a > "$L/a"; sub_mount
}}
fresh
points=$(kill_points "$IMPERMCTL" --root "$R" --config "$CFG" boot)
n=0
for pt in $points; do
  n=$((n + 1)); fresh
  kill_at "$pt" "$IMPERMCTL" --root "$R" --config "$CFG" boot || {{ echo "$pt: not killed there"; bad=$((bad + 1)); }}
  phases="$phases $pt"
  [ "$(cat "$L/a" 2>/dev/null)" = a ] || [ "$(cat "$P/a" 2>/dev/null)" = a ] || {{ echo "$pt: the data is nowhere whole"; bad=$((bad + 1)); }}
  imp boot 2>"$T/err" || {{ echo "$pt: the rerun failed: $(grep -v INFO "$T/err" | head -2)"; bad=$((bad + 1)); continue; }}
  mountpoint -q "$L" || {{ echo "$pt: not bound"; bad=$((bad + 1)); }}
  [ "$(cat "$L/a")" = a ] || {{ echo "$pt: the live view lost a"; bad=$((bad + 1)); }}
  w=$(writes "w$n"); [ "$w" = ok ] || {{ echo "$pt: the write to the subdataset went elsewhere ($w)"; bad=$((bad + 1)); }}
  [ -z "$(ls -A "$P/sub" 2>/dev/null)" ] || {{ echo "$pt: the subdataset's files were copied into persistence"; bad=$((bad + 1)); }}
  ! {{ imp status 2>&1 || true; }} | grep -q 'is hidden' || {{ echo "$pt: status reports a hidden mount after the rerun"; bad=$((bad + 1)); }}
done
echo "points=$n"
"#,
        kp = crate::util::KILL_POINTS
    );
    kill_trials(&body);
}

/// A declared directory of another persistence root, bound already, then
/// its parent declared (a `nixos-rebuild switch`): the parent's bind is
/// made and the child's bind is mounted again on top of it, still from
/// its own root; a rerun keeps it so.
#[test]
fn a_child_bound_from_another_root_stays_on_top_when_its_parent_is_declared() {
    require_root!();
    let body = r#"
T="$R/.t"; mkdir -p "$T"
mkdir -p "$R/data"; mount -t tmpfs tank/ct/101/data "$R/data"
two() { cat > "$CFG" <<T
version = 1
[[persistence]]
path = "/persistent"
$1
[[persistence]]
path = "/data"
[[persistence.directories]]
path = "/var/lib/svc2/big"
T
}
two ''
# /var/lib/svc2 persisted before (its data in /persistent), not declared yet.
mkdir -p "$R/var/lib/svc2" "$R/persistent/var/lib/svc2"; echo a > "$R/persistent/var/lib/svc2/a"
imp boot 2>/dev/null; echo big > "$R/var/lib/svc2/big/f"
two '[[persistence.directories]]
path = "/var/lib/svc2"'
rc=0; imp boot 2>"$T/err" || rc=$?; echo "rc=$rc"
echo "same=$([ "$(devof /var/lib/svc2/big)" = "$(devof /data)" ] && echo yes)"
echo "f=$(cat "$R/var/lib/svc2/big/f")"
echo two > "$R/var/lib/svc2/big/g"; echo "g=$(cat "$R/data/var/lib/svc2/big/g" 2>&1)"
echo "a=$(cat "$R/var/lib/svc2/a")"
rc=0; imp boot 2>>"$T/err" || rc=$?; echo "rc2=$rc"
echo "same2=$([ "$(devof /var/lib/svc2/big)" = "$(devof /data)" ] && echo yes)"
echo "hidden=$(imp status 2>&1 | grep -c 'is hidden' || true)"
cat "$T/err" >&2
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    for (k, want) in [
        ("rc", "0"),
        ("same", "yes"),
        ("f", "big"),
        ("g", "two"),
        ("a", "a"),
        ("rc2", "0"),
        ("same2", "yes"),
        ("hidden", "0"),
    ] {
        assert_eq!(val(&o, k), want, "{k}\n{}", dump(&o));
    }
}
