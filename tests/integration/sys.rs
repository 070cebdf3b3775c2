//! The syscall layer seen from outside: names resolved through NSS on the
//! live root, and root's steps never redirected by a user's symlink swaps.

use crate::boot::vps;
use crate::require_root;
use crate::util::{Layout, assert_code};

fn val(o: &std::process::Output, key: &str) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_default()
        .to_string()
}

/// `boot` on the live root (`/` of a chroot) resolves a name only NSS knows:
/// nss-systemd's synthesized `nobody`, absent from the tree's /etc/passwd
/// (as a `DynamicUser=` or LDAP name would be).
#[test]
fn boot_on_the_live_root_resolves_names_through_nss() {
    require_root!();
    if !std::path::Path::new("/usr/lib/x86_64-linux-gnu/libnss_systemd.so.2").exists()
        && !std::path::Path::new("/lib/x86_64-linux-gnu/libnss_systemd.so.2").exists()
    {
        assert!(
            std::env::var_os("IMPERMCTL_REQUIRE_PRIVILEGED").is_none(),
            "nss-systemd is needed"
        );
        eprintln!("skipped: no nss-systemd on this host");
        return;
    }
    let body = r#"
mkdir -p "$R/usr" "$R/opt/imp"; mount --bind /usr "$R/usr"
for l in bin lib lib64 sbin; do ln -s "usr/$l" "$R/$l"; done
mount -t proc proc "$R/proc"
cp "$IMPERMCTL" "$R/opt/imp/impermctl"
printf 'root:x:0:0::/root:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\n' > "$R/etc/group"
printf 'passwd: files systemd\ngroup: files systemd\n' > "$R/etc/nsswitch.conf"
# The synthesized group is "nobody" or "nogroup", as systemd was built.
grp=$(chroot "$R" getent group 65534 | cut -d: -f1)
cat >> "$CFG" <<T
[[persistence.directories]]
path = "/var/lib/dyn"
user = "nobody"
group = "$grp"
mode = "0750"
T
chroot "$R" /opt/imp/impermctl boot --config /etc/impermctl/config.toml
echo "owner=$(stat -c '%u:%g %a' "$R/persistent/var/lib/dyn")"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "owner"), "65534:65534 750");
}

/// The path of systemd-journald, when installed.
fn journald() -> Option<&'static str> {
    [
        "/lib/systemd/systemd-journald",
        "/usr/lib/systemd/systemd-journald",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
}

/// Under a real journald: every field of ours is `IMPERMCTL_*` (none bare,
/// like `PATH=`, `BOUND=`, `DURATION_MS=`), and a boot refusal carries its
/// MESSAGE_ID at PRIORITY=2 with the check, explained by the installed catalog.
#[test]
fn journal_fields_are_namespaced_and_the_refusal_has_a_catalog_entry() {
    require_root!();
    let Some(journald) = journald() else {
        assert!(
            std::env::var_os("IMPERMCTL_REQUIRE_PRIVILEGED").is_none(),
            "systemd-journald is needed"
        );
        eprintln!("skipped: systemd-journald is not installed");
        return;
    };
    let catalog = crate::util::repo().join("systemd/impermctl.catalog");
    let body = format!(
        r#"
mount -t tmpfs tmpfs /run/systemd; mkdir -p /run/systemd/journal
mount -t tmpfs tmpfs /run/log
mount -t tmpfs tmpfs /usr/lib/systemd/catalog; cp {catalog} /usr/lib/systemd/catalog/
mkdir -p /var/lib/systemd/catalog; mount -t tmpfs tmpfs /var/lib/systemd/catalog
journalctl --update-catalog
{journald} & J=$!
trap 'kill $J 2>/dev/null || true' EXIT
for i in $(seq 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
j() {{ journalctl -D /run/log/journal --no-pager SYSLOG_IDENTIFIER=impermctl "$@"; }}
# Poll until journald has written what we sent (no fixed sleep).
until_seen() {{ for i in $(seq 200); do j -o json | grep -q "$1" && return 0; sleep 0.05; done; return 1; }}
INVOCATION_ID=0123456789abcdef0123456789abcdef IMPERMCTL_LOG= imp boot
until_seen IMPERMCTL_BOUND
umount "$R/persistent"
rc=0; INVOCATION_ID=0123456789abcdef0123456789abcdef IMPERMCTL_LOG= imp boot || rc=$?
echo "rc=$rc"
until_seen 7453d25c65914aa987070e3c0f6c3aa4
j -o json > "$R/../journal.json"
echo "explained=$(j -x MESSAGE_ID=7453d25c65914aa987070e3c0f6c3aa4 | grep -c 'refused to bind persisted paths')"
python3 - "$R/../journal.json" <<'PY'
import json, sys
ours = {{"MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE"}}
bare, fields, refusal = set(), set(), None
for line in open(sys.argv[1]):
    e = json.loads(line)
    for k in e:
        if k.startswith("_") or k.startswith("__") or k in ours:
            continue
        if k.startswith("IMPERMCTL_"):
            fields.add(k)
        else:
            bare.add(k)
    if e.get("MESSAGE_ID") == "7453d25c65914aa987070e3c0f6c3aa4":
        refusal = e
print("bare=" + ",".join(sorted(bare)))
print("fields=" + ",".join(sorted(fields)))
print("prio=" + (refusal or {{}}).get("PRIORITY", ""))
print("check=" + (refusal or {{}}).get("IMPERMCTL_CHECK", ""))
PY
"#,
        catalog = crate::util::shell_quote(&catalog),
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "2");
    assert_eq!(val(&o, "bare"), "", "fields without our prefix");
    let fields = val(&o, "fields");
    for f in ["IMPERMCTL_BOUND", "IMPERMCTL_DURATION_MS", "IMPERMCTL_PATH"] {
        assert!(fields.split(',').any(|x| x == f), "{f} in {fields}");
    }
    assert_eq!(val(&o, "prio"), "2");
    assert!(!val(&o, "check").is_empty());
    assert_eq!(val(&o, "explained"), "1");
}
