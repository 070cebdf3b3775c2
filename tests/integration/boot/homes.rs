//! Directories `boot` creates inside a user's home take the home's owner
//! (the fresh-user trial's finding; upstream impermanence #74, #140, #298),
//! on the root and in persistence; existing directories keep theirs.

use super::{dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code};

/// Print `p:PATH=` and `t:PATH=` (uid:gid mode, persistent and live) for each PATH.
const SHOW: &str = r#"show() { for p in "$@"; do
  echo "p:$p=$(stat -c '%u:%g %a' "$R/persistent$p")"
  echo "t:$p=$(stat -c '%u:%g %a' "$R$p")"
done; }
"#;

fn both(o: &std::process::Output, path: &str, want: &str) {
    for side in ["p", "t"] {
        assert_eq!(
            val(o, &format!("{side}:{path}")),
            want,
            "{side}:{path}\n{}",
            dump(o)
        );
    }
}

/// The trial's repro: a directory and a file (with `parent`) deep in
/// alice's existing home, declared without `users.alice`.
#[test]
fn directories_created_in_a_home_belong_to_its_user() {
    require_root!();
    let body = format!(
        r#"{SHOW}
printf 'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\nusers:x:100:\n' > "$R/etc/group"
mkdir -p "$R/home/alice" && chown 1000:100 "$R/home/alice" && chmod 700 "$R/home/alice"
# An existing root-owned directory in the home is never changed (root:root
# 0755 would be a leftover, repaired: see the test after).
mkdir -p "$R/persistent/home/alice/old" "$R/home/alice/old"
chmod 750 "$R/persistent/home/alice/old" "$R/home/alice/old"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/home/alice/.local/share/nvim"
user = "alice"
group = "users"
[[persistence.directories]]
path = "/home/alice/old/x/y"
[[persistence.files]]
path = "/home/alice/.config/gh/hosts.yml"
parent = {{ user = "alice", group = "users", mode = "0700" }}
T
imp boot
show /home /home/alice/.local /home/alice/.local/share /home/alice/.local/share/nvim \
  /home/alice/.config /home/alice/.config/gh /home/alice/old /home/alice/old/x
echo "home=$(stat -c '%u:%g %a' "$R/home/alice")"
setpriv --reuid 1000 --regid 100 --clear-groups mkdir "$R/home/alice/.local/state" "$R/home/alice/.config/foo"
echo mkdir=ok
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "mkdir"), "ok");
    assert_eq!(val(&o, "home"), "1000:100 700");
    both(&o, "/home", "0:0 755");
    both(&o, "/home/alice/.local", "1000:100 755");
    both(&o, "/home/alice/.local/share", "1000:100 755");
    both(&o, "/home/alice/.local/share/nvim", "1000:100 755");
    both(&o, "/home/alice/.config", "1000:100 755");
    both(&o, "/home/alice/.config/gh", "1000:100 700");
    both(&o, "/home/alice/old", "0:0 750");
    both(&o, "/home/alice/old/x", "1000:100 755");
}

/// The class: a file deep in a home, a home that does not exist yet, a
/// `users.<name>` entry as the NixOS module renders it, a path under
/// /home that is no one's home, a home owned by a uid with no passwd entry,
/// an entry without declared perms.
#[test]
fn each_kind_of_home_gets_its_owner() {
    require_root!();
    let body = format!(
        r#"{SHOW}
printf 'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\nbob:x:1001:100::/home/bob:/bin/sh\ndave:x:1003:100::/home/dave:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\nusers:x:100:\n' > "$R/etc/group"
mkdir -p "$R/home/alice" "$R/persistent/home/carol"
chown 1000:100 "$R/home/alice"; chown 4343:4344 "$R/persistent/home/carol"
cat >> "$CFG" <<'T'
[[persistence.files]]
path = "/home/alice/a/b/c/deep.txt"
[[persistence.directories]]
path = "/home/bob/.cache/app"
user = "bob"
[[persistence.files]]
path = "/home/dave/.config/x/y.conf"
home = "/home/dave"
parent = {{ user = "dave", group = "users", mode = "0755" }}
[[persistence.directories]]
path = "/home/shared/proj/x"
[[persistence.directories]]
path = "/home/carol/.cache/x"
[[persistence.directories]]
path = "/home/alice/.ssh"
T
imp boot
show /home/alice/a /home/alice/a/b/c /home/bob /home/bob/.cache /home/dave /home/dave/.config/x \
  /home/shared /home/shared/proj /home/carol /home/carol/.cache /home/alice/.ssh
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    both(&o, "/home/alice/a", "1000:100 755");
    both(&o, "/home/alice/a/b/c", "1000:100 755");
    both(&o, "/home/bob", "1001:100 700");
    both(&o, "/home/bob/.cache", "1001:100 755");
    both(&o, "/home/dave", "1003:100 700");
    both(&o, "/home/dave/.config/x", "1003:100 755");
    both(&o, "/home/shared", "0:0 755");
    both(&o, "/home/shared/proj", "0:0 755");
    both(&o, "/home/carol", "4343:4344 755");
    both(&o, "/home/carol/.cache", "4343:4344 755");
    // An entry declared without an owner is the home's too.
    both(&o, "/home/alice/.ssh", "1000:100 755");
}

/// NixOS' pass before users exist (`--defer-unknown-owners`, no passwd
/// entry, no home anywhere) defers an entry below the home instead of
/// creating root-owned directories; the pass after users applies it.
#[test]
fn an_entry_in_a_home_nobody_has_yet_waits_for_its_user() {
    require_root!();
    let body = format!(
        r#"{SHOW}
printf 'root:x:0:0::/root:/bin/sh\n' > "$R/etc/passwd"; printf 'root:x:0:\nusers:x:100:\n' > "$R/etc/group"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/home/erin/.local/share/app"
T
rc=0; imp boot --defer-unknown-owners 2>"$R/../first.err" || rc=$?; echo "first_rc=$rc"
echo "deferred=$(grep -c 'deferred' "$R/../first.err")"
echo "created=$([ -e "$R/persistent/home/erin" ] || [ -e "$R/home/erin" ] && echo yes || echo no)"
echo 'erin:x:1005:100::/home/erin:/bin/sh' >> "$R/etc/passwd"
rc=0; imp boot --defer-unknown-owners 2>/dev/null || rc=$?; echo "second_rc=$rc"
show /home/erin /home/erin/.local /home/erin/.local/share/app
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "first_rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "deferred"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "created"), "no", "{}", dump(&o));
    assert_eq!(val(&o, "second_rc"), "0", "{}", dump(&o));
    both(&o, "/home/erin", "1005:100 700");
    both(&o, "/home/erin/.local", "1005:100 755");
    both(&o, "/home/erin/.local/share/app", "1005:100 755");
}

/// Bash: the leftovers an older impermctl (before its home-owner rule) or
/// impermanence (its #74, #140, #298) left in alice's persistent home —
/// levels of declared entries made root:root 0755 — and what must never be
/// changed beside them. `alice_check` then prints each side's owner.
const LEFTOVERS: &str = r#"
printf 'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\nbob:x:1001:100::/home/bob:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\nwheel:x:10:\nusers:x:100:\n' > "$R/etc/group"
cp "$R/etc/passwd" "$R/../passwd.keep"; cp "$R/etc/group" "$R/../group.keep"
P="$R/persistent/home/alice"
mkdir -p "$R/home/alice" "$P"; chown 1000:100 "$R/home/alice" "$P"; chmod 700 "$R/home/alice" "$P"
# Leftovers: root:root 0755 levels of entries (in persistence; live, as a
# run of this boot left them: .cache).
mkdir -p "$P/.local/share/nvim" "$P/.config/gh" "$P/.ssh" "$R/home/alice/.cache"
chown 1000:100 "$P/.local/share/nvim"; echo data > "$P/.local/share/nvim/init.lua"; chown 1000:100 "$P/.local/share/nvim/init.lua"
echo hosts > "$P/.config/gh/hosts.yml"; chown 1000:100 "$P/.config/gh/hosts.yml"
echo key > "$P/.ssh/authorized_keys"; chmod 600 "$P/.ssh/authorized_keys"
# Never changed: an entry itself (a root-owned ~/.ssh may be deliberate);
# other modes, owners and groups; what no entry passes through; a level
# behind a symlink; the entry's contents; bob's home (itself root's:
# NixOS' createHome sets a home's owner).
mkdir -p "$P/locked/x" "$P/wheel/x" "$P/other/x" "$P/junk" "$R/persistent/target" "$R/persistent/home/bob/.cache/x"
chmod 700 "$P/locked"; chgrp 10 "$P/wheel"; chown 1234:1234 "$P/other"
# A mount's root (a dataset, root:root 0755 as created) at a level: kept,
# and its live copy mirrors it, also when boot runs again in the same boot.
mkdir -p "$P/mnt"; mount -t tmpfs -o mode=0755 tank/ct/101/alice-mnt "$P/mnt"; mkdir "$P/mnt/x"
ln -s ../../target "$P/sym"
mkdir "$R/home/alice/sym"  # live, root:root 0755, its persistent level a symlink
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/home/alice/.local/share/nvim"
[[persistence.files]]
path = "/home/alice/.config/gh/hosts.yml"
[[persistence.directories]]
path = "/home/alice/.ssh"
[[persistence.directories]]
path = "/home/alice/.cache/app"
[[persistence.directories]]
path = "/home/alice/locked/x"
[[persistence.directories]]
path = "/home/alice/wheel/x"
[[persistence.directories]]
path = "/home/alice/other/x"
[[persistence.directories]]
path = "/home/alice/sym/x"
[[persistence.directories]]
path = "/home/alice/mnt/x"
[[persistence.directories]]
path = "/home/bob/.cache/x"
T
alice_check() {
  show /home/alice/.local /home/alice/.local/share /home/alice/.local/share/nvim /home/alice/.config \
    /home/alice/.config/gh /home/alice/.ssh /home/alice/.cache /home/alice/locked /home/alice/wheel \
    /home/alice/other /home/alice/mnt
  echo "p:junk=$(stat -c '%u:%g %a' "$P/junk")"
  echo "p:target=$(stat -c '%u:%g %a' "$R/persistent/target")"
  echo "t:sym=$(stat -c '%u:%g %a' "$R/home/alice/sym" 2>/dev/null || echo none)"
  echo "p:bob=$(stat -c '%u:%g %a' "$R/persistent/home/bob") $(stat -c '%u:%g %a' "$R/persistent/home/bob/.cache")"
  echo "p:keys=$(stat -c '%u:%g %a' "$P/.ssh/authorized_keys") $(cat "$P/.ssh/authorized_keys")"
  echo "p:init=$(cat "$P/.local/share/nvim/init.lua")"
  rc=0; setpriv --reuid 1000 --regid 100 --clear-groups sh -c \
    'mkdir "$0/.local/state" "$0/.config/foo" "$0/.cache/new"' "$R/home/alice" || rc=$?
  echo "alice_rc=$rc"
  rm -rf "$R/home/alice/.local/state" "$R/home/alice/.config/foo" "$R/home/alice/.cache/new"
}
"#;

fn leftovers_repaired(o: &std::process::Output) {
    assert_eq!(val(o, "alice_rc"), "0", "{}", dump(o));
    for p in [
        "/home/alice/.local",
        "/home/alice/.local/share",
        "/home/alice/.local/share/nvim",
        "/home/alice/.config",
        "/home/alice/.config/gh",
        "/home/alice/.cache",
    ] {
        both(o, p, "1000:100 755");
    }
    both(o, "/home/alice/.ssh", "0:0 755");
    both(o, "/home/alice/locked", "0:0 700");
    both(o, "/home/alice/wheel", "0:10 755");
    both(o, "/home/alice/other", "1234:1234 755");
    both(o, "/home/alice/mnt", "0:0 755");
    assert_eq!(val(o, "p:junk"), "0:0 755");
    assert_eq!(val(o, "p:target"), "0:0 755");
    assert_eq!(val(o, "p:bob"), "0:0 755 0:0 755");
    assert_eq!(val(o, "p:keys"), "0:0 600 key");
    assert_eq!(val(o, "p:init"), "data");
}

/// Session 6 left open: directories an older version (or impermanence)
/// made root's in a home stayed root's, and the live copies took their
/// owner at every boot (impermanence's rule: a live level mirrors its
/// persistent one), so alice could not `mkdir ~/.local/state` after any
/// reboot. `boot` gives such a leftover the home's owner, on both sides,
/// and after a reboot it stays so; nothing else changes.
#[test]
fn root_owned_leftovers_in_a_home_are_given_to_its_user() {
    require_root!();
    let body = format!(
        r#"{SHOW}{}{LEFTOVERS}
imp boot 2>"$R/../boot.err" || echo "boot_rc=$?"
imp boot 2>/dev/null || true
alice_check
reboot_vps
imp boot 2>/dev/null || true
echo AFTER-REBOOT
alice_check
"#,
        super::REBOOT
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    // Each section on its own: after the two runs, and after the reboot.
    let out = crate::util::stdout(&o);
    let (first, second) = out.split_once("AFTER-REBOOT").unwrap();
    for (section, sym) in [(first, "0:0 755"), (second, "none")] {
        let mut part = o.clone();
        part.stdout = section.as_bytes().to_vec();
        leftovers_repaired(&part);
        assert_eq!(val(&part, "t:sym"), sym, "{section}");
    }
}

/// kill -9 of `boot` while it repairs 900 leftovers (300 entries, three
/// levels each): every level is either still root:root 0755 or the home's
/// 0755 (one `fchown` each, never another state), the data below is
/// untouched, and the next run repairs the rest. Odd trials kill 0–9 ms
/// after the first repair is logged, even ones at a random point of the
/// run; trials go on until three kills landed midway (some levels
/// repaired, not all), at most 40.
#[test]
fn leftover_repair_killed_midway_loses_nothing_and_a_rerun_completes() {
    require_root!();
    let body = format!(
        r#"{}
printf 'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\nusers:x:100:\n' > "$R/etc/group"
cp "$R/etc/passwd" "$R/../passwd.keep"; cp "$R/etc/group" "$R/../group.keep"
P="$R/persistent/home/alice"
mkdir -p "$R/home/alice" "$P"; chown 1000:100 "$R/home/alice" "$P"; chmod 700 "$R/home/alice" "$P"
for i in $(seq 1 300); do
  mkdir -p "$P/a$i/b/c/d"; echo "v$i" > "$P/a$i/b/c/d/f"; chown -R 1000:100 "$P/a$i/b/c/d"
  printf '[[persistence.directories]]\npath = "/home/alice/a%s/b/c/d"\n' "$i" >> "$CFG"
done
# The data: names, contents, and the entries' own owners and modes.
data() {{ (cd "$P" && find . -mindepth 4 -printf '%U:%G %m %p\n' | sort; find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum; }}
levels() {{ find "$P" -mindepth 1 -maxdepth 3 -type d -printf '%U:%G %m\n' | sort | uniq -c | awk '{{printf "%s %s %s;", $1, $2, $3}}'; }}
before=$(data)
trials=0 partial=0 bad=0
while [ $trials -lt 40 ] && [ $partial -lt 3 ]; do
  trials=$((trials + 1))
  reboot_vps || true  # nothing mounted yet at the first trial: its grep finds nothing
  find "$P" -mindepth 1 -maxdepth 3 -type d -exec chown 0:0 {{}} +
  if [ $((trials % 2)) = 1 ]; then
    : > "$R/../k.err"
    "$IMPERMCTL" --root "$R" --config "$CFG" boot >/dev/null 2>"$R/../k.err" & pid=$!
    until grep -q ' gave ' "$R/../k.err" || ! kill -0 $pid 2>/dev/null; do :; done
    sleep "0.00$((RANDOM % 10))"; kill -9 $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  else
    kill_within 900 boot
  fi
  got=$(levels)
  case "$got" in
    "900 0:0 755;"|"900 1000:100 755;") ;;
    *" 0:0 755;"*" 1000:100 755;") partial=$((partial + 1)) ;;
    *) bad=$((bad + 1)); echo "bad_state=$got" ;;
  esac
  [ "$(data)" = "$before" ] || {{ bad=$((bad + 1)); echo "changed_data_at=$trials"; }}
  imp boot >/dev/null 2>&1 || echo "rerun_rc=$?"
  [ "$(levels)" = "900 1000:100 755;" ] || {{ bad=$((bad + 1)); echo "not_completed=$(levels)"; }}
done
echo "trials=$trials"; echo "partial=$partial"; echo "bad=$bad"
echo "data=$([ "$(data)" = "$before" ] && echo same || echo changed)"
"#,
        super::REBOOT
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    eprintln!(
        "trials={} partial={}",
        val(&o, "trials"),
        val(&o, "partial")
    );
    assert_eq!(val(&o, "bad"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "data"), "same", "{}", dump(&o));
    assert_eq!(val(&o, "partial"), "3", "{}", dump(&o));
}
