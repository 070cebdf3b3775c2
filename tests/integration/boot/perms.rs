//! Permissions of what `boot` creates (issue 11, class 6): conventional
//! system ancestors whatever a drifted persistent copy says, systemd's
//! private trees 0700 (DynamicUser= state), and declared owner/mode that
//! differs from an existing persistent directory reported, never applied.

use super::{block, dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code};

#[test]
fn created_ancestors_get_conventional_perms_whatever_persistence_says() {
    require_root!();
    let body = r#"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib/private/myservice"
[[persistence.directories]]
path = "/var/cache/private/other"
[[persistence.files]]
path = "/etc/ssh/ssh_host_ed25519_key"
T
# Drifted persistent copies of the ancestors (a restore with wrong modes).
mkdir -p "$R/persistent/var/lib/private/myservice" "$R/persistent/etc/ssh"
chmod 0700 "$R/persistent/var" "$R/persistent/var/lib"; chown 1000:1000 "$R/persistent/var/lib"
chmod 0755 "$R/persistent/var/lib/private"; chmod 0777 "$R/persistent/etc"
echo key > "$R/persistent/etc/ssh/ssh_host_ed25519_key"
rm -rf "$R/var" "$R/etc/ssh"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
for d in /var /var/lib /var/lib/private /var/cache /var/cache/private /etc; do
  echo "eph:$d=$(stat -c '%u:%g:%a' "$R$d")"
done
for d in /var/cache/private; do echo "per:$d=$(stat -c '%u:%g:%a' "$R/persistent$d")"; done
echo "untouched=$(stat -c '%u:%g:%a' "$R/persistent/var/lib" "$R/persistent/var/lib/private" | tr '\n' ' ')"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    for (d, want) in [
        ("/var", "0:0:755"),
        ("/var/lib", "0:0:755"),
        ("/var/lib/private", "0:0:700"),
        ("/var/cache", "0:0:755"),
        ("/var/cache/private", "0:0:700"),
    ] {
        assert_eq!(val(&o, &format!("eph:{d}")), want, "{d}\n{}", dump(&o));
    }
    // Created on the persistent side too.
    assert_eq!(val(&o, "per:/var/cache/private"), "0:0:700");
    // Existing persistent directories are never changed.
    assert_eq!(val(&o, "untouched"), "1000:1000:700 0:0:755 ");
}

#[test]
fn declared_owner_and_mode_that_differ_are_reported_with_the_fix() {
    require_root!();
    let body = r#"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib/postgresql"
user = "71"
group = "71"
mode = "0750"
[[persistence.directories]]
path = "/srv/share"
mode = "u=rwx,g=rwx,o="
[[persistence.directories]]
path = "/var/lib/fine"
user = "72"
group = "72"
mode = "0700"
T
mkdir -p "$R/persistent/var/lib/postgresql" "$R/persistent/srv/share" "$R/persistent/var/lib/fine"
chmod 0755 "$R/persistent/var/lib/postgresql" "$R/persistent/srv/share"
chown 72:72 "$R/persistent/var/lib/fine"; chmod 0700 "$R/persistent/var/lib/fine"
before=$(stat -c '%u:%g:%a' "$R/persistent/var/lib/postgresql" "$R/persistent/srv/share" | tr '\n' ' ')
imp boot 2>/dev/null
imp verify --json > "$R/../v.json" || true
python3 - "$R/../v.json" <<'PY'
import json, sys
for f in json.load(open(sys.argv[1]))["findings"]:
    if f["check"] == "declared-perms":
        print("drift:" + f["path"] + "=" + f["severity"] + "|" + f["message"] + "|" + f["remedy"])
PY
echo BEGIN status; imp status || true; echo END status
echo "before=$before"
echo "after=$(stat -c '%u:%g:%a' "$R/persistent/var/lib/postgresql" "$R/persistent/srv/share" | tr '\n' ' ')"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    let pg = val(&o, "drift:/var/lib/postgresql");
    assert!(
        pg.starts_with("warning|")
            && pg.contains("declared 71:71 0750")
            && pg.contains("is 0:0 0755")
            && pg.contains("chown 71:71 /persistent/var/lib/postgresql && chmod 0750 /persistent/var/lib/postgresql"),
        "{pg}"
    );
    let share = val(&o, "drift:/srv/share");
    assert!(
        share.contains("0770") && share.contains("is 0:0 0755"),
        "{share}"
    );
    assert!(
        !crate::util::stdout(&o).contains("drift:/var/lib/fine"),
        "{}",
        dump(&o)
    );
    assert!(
        block(&o, "status").contains("[declared-perms] /var/lib/postgresql"),
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "before"), val(&o, "after"), "nothing is changed");
}

/// One entry with two problems (a mode that differs and a user that does
/// not exist): `verify` reports both, each with its own fix; an unknown
/// owner alone (the mode as declared) is reported too.
#[test]
fn every_problem_of_one_entry_is_reported() {
    require_root!();
    let body = r#"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib/both"
user = "nosuchuser"
group = "root"
mode = "0700"
[[persistence.directories]]
path = "/var/lib/owneronly"
user = "root"
group = "nosuchgroup"
mode = "0750"
T
mkdir -p "$R/persistent/var/lib/both" "$R/persistent/var/lib/owneronly"
chmod 0755 "$R/persistent/var/lib/both"; chmod 0750 "$R/persistent/var/lib/owneronly"
imp verify --json > "$R/../v.json" || true
python3 - "$R/../v.json" <<'PY'
import json, sys
for f in json.load(open(sys.argv[1]))["findings"]:
    if f["check"] == "declared-perms":
        print("found:" + f["path"] + "|" + f["message"] + "|" + f["remedy"])
PY
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    let out = crate::util::stdout(&o);
    let of = |p: &str| -> Vec<&str> {
        (out.lines())
            .filter(|l| l.starts_with(&format!("found:{p}|")))
            .collect()
    };
    let both = of("/var/lib/both");
    assert_eq!(both.len(), 2, "{}", dump(&o));
    assert!(
        both.iter()
            .any(|l| l.contains("user \"nosuchuser\" does not exist")),
        "{}",
        dump(&o)
    );
    assert!(
        both.iter()
            .any(|l| l.contains("is 0:0 0755") && l.contains("chmod 0700 /persistent/var/lib/both")),
        "{}",
        dump(&o)
    );
    let owner = of("/var/lib/owneronly");
    assert!(
        owner.len() == 1 && owner[0].contains("group \"nosuchgroup\" does not exist"),
        "{}",
        dump(&o)
    );
}

/// Bash: trial N12's entries declared (`/var/lib/expl` with its own owner
/// and mode), their live directories empty, with the owners and modes
/// their programs give them.
const N12: &str = r#"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/root"
[[persistence.directories]]
path = "/var/tmp"
[[persistence.directories]]
path = "/var/spool/cron/crontabs"
[[persistence.directories]]
path = "/var/lib/svc"
[[persistence.directories]]
path = "/var/lib/expl"
user = "71"
group = "72"
mode = "0750"
T
rm -rf "$R/root" "$R/var/tmp" "$R/var/spool" "$R/var/lib/svc" "$R/var/lib/expl"
mkdir -p "$R/var/lib" "$R/var/spool"
mkdir -m 0700 "$R/root"; mkdir -m 1777 "$R/var/tmp"; chmod 1777 "$R/var/tmp"
mkdir -m 0750 "$R/var/spool/cron"; chgrp 50 "$R/var/spool/cron"
mkdir -m 1730 "$R/var/spool/cron/crontabs"; chgrp 50 "$R/var/spool/cron/crontabs"
chmod 1730 "$R/var/spool/cron/crontabs"
install -d -m 0700 -o 1000 -g 1000 "$R/var/lib/svc" "$R/var/lib/expl"
"#;

/// Trial N12/N25: a declared directory that exists empty on the live root
/// gets a persistent source with the live directory's owner and mode (as a
/// seed copy of a non-empty one does, xattrs and ACLs included), its
/// created parents too; an entry's own owner or mode still wins.
#[test]
fn created_sources_take_owner_and_mode_of_the_empty_live_directory() {
    require_root!();
    let body = format!(
        r#"{N12}setfattr -n user.x -v y "$R/var/lib/svc"; setfacl -d -m u:1001:rwx "$R/var/lib/svc"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
for d in /root /var/tmp /var/spool/cron /var/spool/cron/crontabs /var/lib/svc /var/lib/expl; do
  echo "per:$d=$(stat -c '%u:%g:%a' "$R/persistent$d")"
  echo "eph:$d=$(stat -c '%u:%g:%a' "$R$d")"
done
echo "xattr=$(getfattr --only-values -n user.x "$R/persistent/var/lib/svc")"
echo "acl=$(getfacl -cd "$R/persistent/var/lib/svc" | grep -c 'user:1001:rwx')"
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    for (d, want) in [
        ("/root", "0:0:700"),
        ("/var/tmp", "0:0:1777"),
        ("/var/spool/cron", "0:50:750"),
        ("/var/spool/cron/crontabs", "0:50:1730"),
        ("/var/lib/svc", "1000:1000:700"),
        ("/var/lib/expl", "71:72:750"),
    ] {
        assert_eq!(val(&o, &format!("per:{d}")), want, "{d}\n{}", dump(&o));
        if d != "/var/spool/cron" {
            assert_eq!(val(&o, &format!("eph:{d}")), want, "{d}\n{}", dump(&o));
        }
    }
    // Its xattrs and (default) ACL too, as a seed copy would.
    assert_eq!(val(&o, "xattr"), "y", "{}", dump(&o));
    assert_eq!(val(&o, "acl"), "1", "{}", dump(&o));
}

/// Persistent directories an older impermctl made 0:0 0755 whatever the
/// live directory was (trial N12, before `created_sources_take_…`): the
/// next boot tightens one to the live mode when that only takes bits away
/// (`/root` 0700, a 0750 directory), and for a wider mode or another owner
/// (`/var/tmp` 1777, crontabs 1730 root:50, a service's 0700 directory)
/// warns with the commands instead of opening it or handing it over. What
/// they hold stays; one that is not 0:0 0755 (chosen by hand) is never
/// changed, nor one whose entry declares its perms (`declared-perms`
/// reports that). An explicit root:root 0755 is the defaults every
/// rendered entry carries: it takes the live mode, as a created one does.
#[test]
fn old_0755_sources_are_tightened_to_the_live_mode_never_opened() {
    require_root!();
    let body = format!(
        r#"{N12}cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib/grp"
[[persistence.directories]]
path = "/var/lib/byhand"
[[persistence.directories]]
path = "/var/lib/dflt"
user = "root"
group = "root"
mode = "0755"
T
mkdir -m 0700 "$R/var/lib/byhand" "$R/var/lib/dflt"; mkdir -m 0750 "$R/var/lib/grp"
DIRS="/root /var/lib/grp /var/tmp /var/spool/cron/crontabs /var/lib/svc /var/lib/byhand /var/lib/expl /var/lib/dflt"
for d in $DIRS; do
  mkdir -p "$R/persistent$d"; chmod 0755 "$R/persistent$d"; echo "kept $d" > "$R/persistent$d/data"
done
chmod 0775 "$R/persistent/var/lib/byhand"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
for d in $DIRS; do
  echo "per:$d=$(stat -c '%u:%g:%a' "$R/persistent$d")"
  echo "eph:$d=$(stat -c '%u:%g:%a' "$R$d")"
  echo "data:$d=$(cat "$R$d/data")"
done
echo BEGIN err; cat "$R/err"; echo END err
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    let err = block(&o, "err");
    for (d, want) in [
        ("/root", "0:0:700"),
        ("/var/lib/grp", "0:0:750"),
        ("/var/tmp", "0:0:755"),
        ("/var/spool/cron/crontabs", "0:0:755"),
        ("/var/lib/svc", "0:0:755"),
        ("/var/lib/byhand", "0:0:775"),
        ("/var/lib/expl", "0:0:755"),
        ("/var/lib/dflt", "0:0:700"),
    ] {
        assert_eq!(val(&o, &format!("per:{d}")), want, "{d}\n{}", dump(&o));
        // Bound: the live path shows it, with what it held.
        assert_eq!(val(&o, &format!("eph:{d}")), want, "{d}\n{}", dump(&o));
        assert_eq!(val(&o, &format!("data:{d}")), format!("kept {d}"));
    }
    for (d, owner, mode) in [
        ("/var/tmp", "0:0", "1777"),
        ("/var/spool/cron/crontabs", "0:50", "1730"),
        ("/var/lib/svc", "1000:1000", "0700"),
    ] {
        let fix = format!("run `chown {owner} /persistent{d} && chmod {mode} /persistent{d}`");
        assert!(
            err.contains(&format!("{d} is {owner} {mode} on the ephemeral root"))
                && err.contains(&fix),
            "{d}: {err}"
        );
    }
    let warned =
        |d: &str| format!("on the ephemeral root, but its persistent directory /persistent{d} is");
    for d in ["/var/lib/byhand", "/var/lib/expl", "/root", "/var/lib/dflt"] {
        assert!(!err.contains(&warned(d)), "{d}: {err}");
    }
    assert_eq!(
        err.matches("on the ephemeral root, but its persistent")
            .count(),
        3,
        "{err}"
    );
    assert!(
        err.contains("/persistent/root is now 0700 as the live /root was"),
        "{err}"
    );
}
