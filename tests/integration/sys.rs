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
