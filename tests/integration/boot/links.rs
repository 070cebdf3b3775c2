//! Symlinks as data (issue 11, class 5): a declared path that is a symlink
//! is persisted as the link itself (text and owner), recreated after a
//! reboot, and what `diff --suggest` proposes for a symlink boot accepts.

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
mkdir -p "$R/var/lib" "$R/srv/appdata"; ln -s /srv/appdata "$R/var/lib/app"
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
        ("/var/lib/app", "/srv/appdata 0:0"),
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
