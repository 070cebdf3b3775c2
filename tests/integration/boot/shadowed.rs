//! Trial-s11 N2b: writes that go into an original a bind hides — an
//! interactive shell whose working directory `boot` then bound over (it
//! is only warned about), a writer `persist --force` bound over — are
//! lost at the next reboot. Plain `diff` and `status` say so (size,
//! count, first paths, exit 1) and point to `diff --shadowed`; before,
//! only `diff --shadowed` did.

use super::live::live;
use super::{dump, val};
use crate::require_root;
use crate::util::assert_code;

#[test]
fn n2b_writes_into_hidden_originals_are_said_by_plain_diff_and_status() {
    require_root!();
    let body = r#"
STOP="$R/../stop"; trap 'touch "$STOP"' EXIT
mkdir -p "$R/srv/proj" "$R/srv/app"
imp boot 2>/dev/null
# n2b.sh: an interactive shell (a terminal: `script`) appending by a relative name.
cat > "$R/../sh.rc" <<'SH'
cd "$PROJ"; i=0; while [ ! -e "$STOP" ]; do i=$((i+1)); echo "line $i" >> notes.txt; echo $i > "$LAST.t"; mv "$LAST.t" "$LAST"; sleep 0.05; done; exit
SH
export STOP PROJ="$R/srv/proj" LAST="$R/../sh.last"
script -qfc "bash --rcfile $R/../sh.rc -i" /dev/null >/dev/null 2>&1 </dev/zero & sp=$!
wait_for '[ -s "$R/../sh.last" ]' || echo "the shell did not start"
printf '[[persistence.directories]]\npath = "/srv/proj"\n' >> "$CFG"
rc=0; imp boot 2>"$R/../boot.err" || rc=$?; echo "boot_rc=$rc"
n=$(cat "$R/../sh.last"); wait_for "[ \$(cat '$R/../sh.last') -gt $((n + 3)) ]" || echo "the shell stopped"
# f2.sh/n2c.sh: persist --force over a writer working there.
( cd "$R/srv/app"; i=0; while [ ! -e "$STOP" ]; do i=$((i+1)); echo "x $i" >> log; echo $i > "$R/../w.last"; sleep 0.05; done ) & wp=$!
wait_for '[ -s "$R/../w.last" ]'
# (It may say after its 10 s that the writer still writes: the bind stays.)
imp persist --force /srv/app >/dev/null 2>&1 || true
echo "app_bound=$(devof /srv/app)"
n=$(cat "$R/../w.last"); wait_for "[ \$(cat '$R/../w.last') -gt $((n + 3)) ]" || echo "the writer stopped"
echo "proj_bound=$(devof /srv/proj)"
rc=0; imp diff > "$R/../diff" 2>/dev/null || rc=$?; echo "diff_rc=$rc"
rc=0; imp status > "$R/../status" 2>/dev/null || rc=$?; echo "status_rc=$rc"
rc=0; imp status --json > "$R/../status.json" 2>/dev/null || rc=$?
for f in diff status; do
  echo "${f}_proj=$(grep -c '^shadowed: .* in 1 entry under the mount point /srv/proj, lost at the next reboot: /srv/proj/notes.txt (.*`impermctl diff --shadowed` lists them)$' "$R/../$f")"
  echo "${f}_app=$(grep -c '^shadowed: .* under the mount point /srv/app, lost at the next reboot: /srv/app/log (' "$R/../$f")"
done
echo "json=$(python3 -c 'import json,sys; print(sorted(m["mount_point"] for m in json.load(open(sys.argv[1]))["shadowed"]))' "$R/../status.json")"
touch "$STOP"; kill $sp $wp 2>/dev/null || true
echo BEGIN out; cat "$R/../diff" "$R/../status"; echo END out
"#;
    let o = live(body);
    assert_code(&o, 0);
    let out = super::block(&o, "out");
    // (How boot treats the shell — warned, or pending while it writes —
    // is not this test's: boot/live.rs. Either way it ends bound.)
    assert_ne!(val(&o, "app_bound"), "", "{}", dump(&o));
    assert_ne!(val(&o, "proj_bound"), "", "{}", dump(&o));
    for f in ["diff", "status"] {
        assert_eq!(val(&o, &format!("{f}_rc")), "1", "{f}\n{out}");
        assert_eq!(val(&o, &format!("{f}_proj")), "1", "{f}\n{out}");
        assert_eq!(val(&o, &format!("{f}_app")), "1", "{f}\n{out}");
    }
    assert_eq!(val(&o, "json"), "['/srv/app', '/srv/proj']", "{out}");
}

/// What `persist` copied stays under its bind: edited through the bind
/// since, it is not data lost (the copy's source, unchanged since the copy
/// began), for plain `diff`, `status` and `diff --shadowed` alike.
#[test]
fn the_original_persist_copied_is_not_said_lost_after_edits_through_the_bind() {
    require_root!();
    let body = r#"
mkdir -p "$R/srv/app/sub"; echo v1 > "$R/srv/app/f"; echo s > "$R/srv/app/sub/g"
imp boot 2>/dev/null
imp persist /srv/app >/dev/null 2>&1; echo "bound=$(devof /srv/app)"
echo v2 > "$R/srv/app/f"; rm "$R/srv/app/sub/g"; echo new > "$R/srv/app/h"
imp diff > "$R/../diff" 2>/dev/null || true
imp status > "$R/../status" 2>/dev/null || true
imp diff --shadowed > "$R/../sh" 2>/dev/null || true
echo "said=$(cat "$R/../diff" "$R/../status" | grep -c '^shadowed:' || true)"
echo "listed=$(grep -c 'nothing hidden under mount points' "$R/../sh")"
"#;
    let o = live(body);
    assert_code(&o, 0);
    assert_ne!(val(&o, "bound"), "", "{}", dump(&o));
    assert_eq!(val(&o, "said"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "listed"), "1", "{}", dump(&o));
}
