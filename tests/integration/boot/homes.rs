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
# An existing root-owned directory in the home is never changed.
mkdir -p "$R/persistent/home/alice/old" "$R/home/alice/old"
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
    both(&o, "/home/alice/old", "0:0 755");
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
