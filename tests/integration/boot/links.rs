//! Symlinks as data (issue 11, class 5): a declared path that is a symlink
//! is persisted as the link itself (text and owner), recreated after a
//! reboot, and what `diff --suggest` proposes for a symlink boot accepts.
//! Not a declared directory whose link leads to data on the ephemeral root
//! (systemd's `DynamicUser=` link `/var/lib/foo -> private/foo`, trial s10
//! F6): refused by every command with the line that persists the data.

use super::{REBOOT, block, dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code};

#[test]
fn symlinks_are_stored_and_recreated_across_a_reboot() {
    require_root!();
    let body = format!(
        r#"{REBOOT}
cat >> "$CFG" <<'T'
[[persistence.files]]
path = "/etc/localtime"
[[persistence.files]]
path = "/etc/resolv.conf"
[[persistence.directories]]
path = "/var/lib/app"
T
ln -s /etc/zoneinfo/Europe/Prague "$R/etc/localtime"
ln -s ../run/resolved/stub-resolv.conf "$R/etc/resolv.conf"; chown -h 1000:100 "$R/etc/resolv.conf"
# An app's state directory linked onto another dataset (kept across reboots):
# the data is persisted there, the link is what to keep.
mkdir -p "$R/var/lib" "$R/data"; mount -t tmpfs tank/ct/101/data "$R/data"
mkdir "$R/data/appdata"; ln -s /data/appdata "$R/var/lib/app"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
for p in /etc/localtime /etc/resolv.conf /var/lib/app; do echo "stored:$p=$(readlink "$R/persistent$p") $(stat -c %u:%g "$R/persistent$p")"; done
echo BEGIN plan; imp boot --dry-run; echo END plan
reboot_vps
rc2=0; imp boot 2>>"$R/err" || rc2=$?; echo "rc2=$rc2"
for p in /etc/localtime /etc/resolv.conf /var/lib/app; do echo "back:$p=$(readlink "$R$p") $(stat -c %u:%g "$R$p")"; done
# Changed on the live system: the next boot run stores the new link.
ln -sfn /etc/zoneinfo/UTC "$R/etc/localtime"
imp boot 2>>"$R/err"
echo "restored=$(readlink "$R/persistent/etc/localtime")"
echo BEGIN err; cat "$R/err"; echo END err
"#
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    for (p, want) in [
        ("/etc/localtime", "/etc/zoneinfo/Europe/Prague 0:0"),
        (
            "/etc/resolv.conf",
            "../run/resolved/stub-resolv.conf 1000:100",
        ),
        ("/var/lib/app", "/data/appdata 0:0"),
    ] {
        assert_eq!(val(&o, &format!("stored:{p}")), want, "{}", dump(&o));
        assert_eq!(val(&o, &format!("back:{p}")), want, "{}", dump(&o));
    }
    let plan = block(&o, "plan");
    assert!(plan.contains("0 of 7 paths need work"), "{plan}");
    assert!(plan.contains("the stored symlink is in place"), "{plan}");
    assert_eq!(val(&o, "rc2"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "restored"), "/etc/zoneinfo/UTC");
}

/// What `diff --suggest=toml` proposes for a symlink, `boot` accepts.
#[test]
fn what_diff_suggests_for_a_symlink_boot_accepts() {
    require_root!();
    let body = r#"
imp boot 2>/dev/null
mkdir -p "$R/var/lib"; ln -s /srv/elsewhere "$R/var/lib/linked"
ln -s /etc/zoneinfo/Europe/Prague "$R/etc/localtime"
imp diff --suggest=toml > "$R/../suggest.toml" 2>"$R/../diff.err" || true
echo BEGIN suggest; cat "$R/../suggest.toml"; echo END suggest
python3 - "$R/../suggest.toml" "$CFG" <<'PY'
import sys, re
text = open(sys.argv[1]).read()
# Keep the entry tables only (the config already has its [[persistence]] block).
keep = re.findall(r'(\[\[persistence\.(?:directories|files)\]\]\n(?:[a-z_]+ = .*\n)+)', text)
open(sys.argv[2], "a").write("".join(keep))
print("added=%d" % len(keep))
PY
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
echo "linked=$(readlink "$R/persistent/var/lib/linked")"
echo "localtime=$(readlink "$R/persistent/etc/localtime")"
echo BEGIN err; cat "$R/err"; echo END err
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    let added: usize = val(&o, "added").parse().unwrap();
    assert!(added >= 1, "{}", dump(&o));
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    let suggested = block(&o, "suggest");
    assert!(
        suggested.contains("/var/lib/linked") && suggested.contains("/etc/localtime"),
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "linked"), "/srv/elsewhere", "{}", dump(&o));
    assert_eq!(
        val(&o, "localtime"),
        "/etc/zoneinfo/Europe/Prague",
        "{}",
        dump(&o)
    );
}

/// Say `KEY=yes` when something (a link included) is at `PATH`, else `KEY=no`.
const THERE: &str = r#"there() { if [ -e "$2" ] || [ -L "$2" ]; then echo "$1=yes"; else echo "$1=no"; fi; }
"#;

/// What every refusal of a `DynamicUser=` name says to declare instead.
const PRIVATE_FOO: &str =
    r#""/var/lib/private/foo"  # into environment.persistence."/persistent".directories = [ … ]"#;

/// Bash for a `DynamicUser=` service `foo` (systemd's link `/var/lib/foo
/// -> private/foo`): `declare_foo` declares `/var/lib/foo`, the usual first
/// try; `kept_private` puts the data an earlier boot kept (`db`: `kept`) in
/// the persistent `private/foo` (root 0700); `boot_status` runs `boot`
/// (`rc=`, block `err`) and `status` (`status=`, block `status`);
/// `follow` declares `/var/lib/private/foo` instead, as every refusal
/// advises, and boots (`fixed=`); `back` prints the live `db` (`back=`)
/// and the live `/var/lib/private`'s mode and owner (`lmode=`).
const DYNAMIC_USER: &str = r##"
declare_foo() { printf '[[persistence.directories]]\npath = "/var/lib/foo"\n' >> "$CFG"; }
kept_private() {
  mkdir -p "$R/persistent/var/lib/private/foo"; chmod 0700 "$R/persistent/var/lib/private"
  echo kept > "$R/persistent/var/lib/private/foo/db"
}
boot_status() {
  rc=0; imp boot 2>"$R/../err" || rc=$?; echo "rc=$rc"
  echo BEGIN err; cat "$R/../err"; echo END err
  rc=0; imp status >"$R/../out" 2>&1 || rc=$?; echo "status=$rc"
  echo BEGIN status; cat "$R/../out"; echo END status
}
follow() {
  sed -i 's#"/var/lib/foo"#"/var/lib/private/foo"#' "$CFG"
  rc=0; imp boot 2>>"$R/../err" || rc=$?; echo "fixed=$rc"
}
back() {
  echo "back=$(cat "$R/var/lib/private/foo/db")"
  echo "lmode=$(stat -c '%a %u:%g' "$R/var/lib/private")"
}
"##;

/// `status`'s row for `/var/lib/foo` ([`DYNAMIC_USER`]'s block `status`).
fn foo_row(o: &std::process::Output) -> String {
    let status = block(o, "status");
    let row = status
        .lines()
        .find(|l| l.trim_start().starts_with("dir  /var/lib/foo "));
    row.unwrap_or_default().to_owned()
}

/// Trial s10 F6: a `DynamicUser=` service's state directory declared as
/// `/var/lib/foo` (systemd's link to `private/foo`), the usual first try of
/// impermanence users. On main `boot` stored the link, exited 0 and kept
/// none of the data. Now `boot` refuses it with the line that persists
/// `/var/lib/private/foo`, `status`, `verify` and `persist` say the same,
/// `diff --suggest` proposes that line and no `files` entry for the link;
/// following the advice keeps the data across a reboot, `/var/lib/private`
/// root 0700 on both sides (systemd refuses a laxer one).
#[test]
fn a_dynamic_user_link_declared_as_a_directory_is_refused_with_the_line_that_keeps_its_data() {
    require_root!();
    let body = format!(
        r##"{REBOOT}{THERE}{DYNAMIC_USER}
imp boot 2>/dev/null; imp baseline >/dev/null 2>&1
mkdir -p "$R/var/lib/private"; chmod 0700 "$R/var/lib/private"
mkdir -m 0700 "$R/var/lib/private/foo"; echo state > "$R/var/lib/private/foo/db"
ln -s private/foo "$R/var/lib/foo"
echo BEGIN suggest; imp diff --suggest 2>&1 || true; echo END suggest
echo BEGIN persist; imp persist /var/lib/foo 2>&1 || true; echo END persist
declare_foo; boot_status
there stored "$R/persistent/var/lib/foo"
echo BEGIN verify; imp verify 2>&1 || true; echo END verify
echo BEGIN diff; imp diff 2>&1 || true; echo END diff
follow
echo "saved=$(cat "$R/persistent/var/lib/private/foo/db")"
echo "pmode=$(stat -c '%a %u:%g' "$R/persistent/var/lib/private")"
reboot_vps
rc=0; imp boot 2>>"$R/../err" || rc=$?; echo "rebooted=$rc"
back
"##
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    let all = dump(&o);
    let line = PRIVATE_FOO;
    // diff --suggest: the data directory, never the link systemd recreates.
    let suggest = block(&o, "suggest");
    assert!(suggest.contains(r#""/var/lib/private/foo""#), "{all}");
    assert!(!suggest.contains(r#""/var/lib/foo""#), "{all}");
    assert!(!suggest.contains(r#""/var/lib/private""#), "{all}");
    // persist: refused, with the command that persists the data.
    let persist = block(&o, "persist");
    assert!(
        persist.contains("`impermctl persist /var/lib/private/foo`"),
        "{all}"
    );
    // boot: refused (not exit 0), nothing stored, the line named.
    assert_ne!(val(&o, "rc"), "0", "{all}");
    assert_eq!(val(&o, "stored"), "no", "{all}");
    let err = block(&o, "err");
    assert!(err.contains(line), "{all}");
    assert!(
        err.contains("systemd makes /var/lib/foo -> private/foo again"),
        "{all}"
    );
    // status: not persisted, why, and the fix; exit 1.
    assert_eq!(val(&o, "status"), "1", "{all}");
    let row = foo_row(&o);
    assert!(
        row.contains("NOT PERSISTED: symlink to private/foo") && row.contains(line),
        "{all}"
    );
    // verify: a named finding with the line.
    let verify = block(&o, "verify");
    assert!(
        verify.contains("directory-links") && verify.contains(line),
        "{all}"
    );
    // diff: the data is listed as lost, suggested as the directory.
    let diff = block(&o, "diff");
    assert!(diff.contains("/var/lib/private/foo"), "{all}");
    // Followed: persisted, private 0700 root, back after the reboot.
    assert_eq!(val(&o, "fixed"), "0", "{all}");
    assert_eq!(val(&o, "saved"), "state", "{all}");
    assert_eq!(val(&o, "pmode"), "700 0:0", "{all}");
    assert_eq!(val(&o, "rebooted"), "0", "{all}");
    assert_eq!(val(&o, "back"), "state", "{all}");
    assert_eq!(val(&o, "lmode"), "700 0:0", "{all}");
}

/// The link is not there yet at boot (the service has not started since
/// the reboot), but an earlier impermctl stored it (`private/foo`) and the
/// persistent copy has the `private/foo` directory: on main `boot` recreated
/// the link and exited 0, the data left unbound. Now refused with the line;
/// declaring it binds the persistent data.
#[test]
fn a_stored_dynamic_user_link_is_refused_at_boot_and_its_data_bound_once_declared() {
    require_root!();
    let body = format!(
        r##"{REBOOT}{THERE}{DYNAMIC_USER}
declare_foo; kept_private
ln -s private/foo "$R/persistent/var/lib/foo"
boot_status
there live "$R/var/lib/foo"
echo BEGIN verify; imp verify 2>&1 || true; echo END verify
follow; back
"##
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    let all = dump(&o);
    let line = PRIVATE_FOO;
    assert_ne!(val(&o, "rc"), "0", "{all}");
    assert_eq!(val(&o, "live"), "no", "{all}");
    let err = block(&o, "err");
    for needle in [
        "/var/lib/foo is missing and its persistent copy /persistent/var/lib/foo is a symlink (to private/foo)",
        line,
        "its persistent copy is then /persistent/var/lib/private/foo",
        "remove the link /persistent/var/lib/foo",
    ] {
        assert!(err.contains(needle), "{needle}\n{all}");
    }
    assert_eq!(val(&o, "status"), "1", "{all}");
    let row = foo_row(&o);
    assert!(row.contains("missing") && row.contains(line), "{all}");
    assert!(block(&o, "verify").contains("directory-links"), "{all}");
    assert_eq!(val(&o, "fixed"), "0", "{all}");
    assert_eq!(val(&o, "back"), "kept", "{all}");
    assert_eq!(val(&o, "lmode"), "700 0:0", "{all}");
}

/// The same class for any app that links its state directory (absolute or
/// relative) to a place on the ephemeral root: refused, the line for the
/// data and the `files` line that keeps the link too; a link into a
/// declared directory is kept as before (its data is bound there).
#[test]
fn an_app_state_link_onto_the_ephemeral_root_is_refused_unless_its_data_is_declared() {
    require_root!();
    let body = format!(
        r##"{REBOOT}{THERE}
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib/app"
[[persistence.directories]]
path = "/var/lib/rel"
T
mkdir -p "$R/srv/appstate" "$R/var/lib"; echo db > "$R/srv/appstate/db"
ln -s /srv/appstate "$R/var/lib/app"; ln -s ../../srv/appstate "$R/var/lib/rel"
rc=0; imp boot 2>"$R/../err" || rc=$?; echo "rc=$rc"
there stored "$R/persistent/var/lib/app"
echo BEGIN err; cat "$R/../err"; echo END err
echo BEGIN persist; imp persist /var/lib/app 2>&1 || true; echo END persist
# A link to a file stays refused as a symlink (a file's link is its own data).
echo x > "$R/etc/realfile"; ln -s /etc/realfile "$R/etc/alias"
echo BEGIN filelink; imp persist /etc/alias 2>&1 || true; echo END filelink
printf '[[persistence.directories]]\npath = "/srv/appstate"\n' >> "$CFG"
rc=0; imp boot 2>"$R/../err2" || rc=$?; echo "declared=$rc"
echo "linked=$(readlink "$R/persistent/var/lib/app")"
echo "saved=$(cat "$R/persistent/srv/appstate/db")"
echo BEGIN err2; cat "$R/../err2"; echo END err2
"##
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    let all = dump(&o);
    assert_ne!(val(&o, "rc"), "0", "{all}");
    assert_eq!(val(&o, "stored"), "no", "{all}");
    let err = block(&o, "err");
    for needle in [
        "/var/lib/app is a symlink (to /srv/appstate), so its data is in /srv/appstate",
        "/var/lib/rel is a symlink (to ../../srv/appstate), so its data is in /srv/appstate",
        r#""/srv/appstate"  # into environment.persistence."/persistent".directories = [ … ]"#,
        r#""/var/lib/app"  # into environment.persistence."/persistent".files = [ … ]"#,
    ] {
        assert!(err.contains(needle), "{needle}\n{all}");
    }
    assert!(
        block(&o, "persist").contains("`impermctl persist /srv/appstate`"),
        "{all}"
    );
    let filelink = block(&o, "filelink");
    assert!(
        filelink.contains("/etc/alias is a symlink: only directories and regular files"),
        "{all}"
    );
    assert_eq!(val(&o, "declared"), "0", "{all}");
    assert_eq!(val(&o, "linked"), "/srv/appstate", "{all}");
    assert_eq!(val(&o, "saved"), "db", "{all}");
}

/// No link anywhere yet (the service has not started since the reboot, and
/// no impermctl stored one), but the persistent copy has the service's
/// `private/foo` (declared as `/var/lib/private/foo` before): on main `boot`
/// created `/persistent/var/lib/foo` and bound an empty directory at
/// `/var/lib/foo`, exit 0, which makes systemd fail to start the service
/// (impermanence #93). Now refused with the line that binds the data.
#[test]
fn a_dynamic_user_name_whose_data_is_persisted_under_private_is_refused_not_bound_empty() {
    require_root!();
    let body = format!(
        r##"{REBOOT}{THERE}{DYNAMIC_USER}
declare_foo; kept_private; boot_status
there created "$R/persistent/var/lib/foo"
there live "$R/var/lib/foo"
follow; back
"##
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    let all = dump(&o);
    let line = PRIVATE_FOO;
    assert_ne!(val(&o, "rc"), "0", "{all}");
    assert_eq!(val(&o, "created"), "no", "{all}");
    assert_eq!(val(&o, "live"), "no", "{all}");
    let err = block(&o, "err");
    assert!(
        err.contains("/persistent/var/lib/private/foo holds the data of a DynamicUser= service")
            && err.contains(line),
        "{all}"
    );
    assert_eq!(val(&o, "status"), "1", "{all}");
    let row = foo_row(&o);
    assert!(row.contains("missing") && row.contains(line), "{all}");
    assert_eq!(val(&o, "fixed"), "0", "{all}");
    assert_eq!(val(&o, "back"), "kept", "{all}");
}
