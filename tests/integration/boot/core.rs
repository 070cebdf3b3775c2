//! The core behaviour: binds from the persistent device, `x-gvfs-hide` as
//! findmnt shows it, machine-id across boots, idempotence, removal.

use super::{block, dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code};

const FIRST_BOOT: &str = r#"
imp boot --json > "$R/run/result.json"
echo "result=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["kind"], d["outcome"], d["counts"]["bound"], d["counts"]["failed"])' "$R/run/result.json")"
echo "pdev=$(devof /persistent)"
for t in /etc/nixos /var/log /var/lib/nixos /etc/machine-id; do echo "dev:$t=$(devof $t)"; done
echo "mid=$(od -c "$R/persistent/etc/machine-id" | head -1)"
echo "midt=$(cat "$R/etc/machine-id")"
echo BEGIN utab; cat "$R/run/mount/utab"; echo END utab
echo BEGIN status; imp status; echo END status
"#;

fn check_first_boot(o: &std::process::Output) {
    assert_code(o, 0);
    assert_eq!(val(o, "result"), "BootResult ok 4 0", "{}", dump(o));
    let pdev = val(o, "pdev");
    assert!(!pdev.is_empty(), "{}", dump(o));
    for t in [
        "/etc/nixos",
        "/var/log",
        "/var/lib/nixos",
        "/etc/machine-id",
    ] {
        assert_eq!(
            val(o, &format!("dev:{t}")),
            pdev,
            "{t} is not bound from the persistent device\n{}",
            dump(o)
        );
    }
    assert_eq!(val(o, "midt"), "uninitialized");
    let utab = block(o, "utab");
    for t in ["/etc/nixos", "/var/log", "/var/lib/nixos"] {
        assert!(utab.contains(&format!("TARGET={t} ROOT={t} ")), "{utab}");
    }
    assert!(!utab.contains("machine-id"), "{utab}");
    let status = block(o, "status");
    assert!(
        status.contains("/etc/machine-id") && status.matches("bound from").count() == 4,
        "{status}"
    );
    assert!(
        crate::util::stderr(o).contains("persisted 4 paths from /persistent in"),
        "{}",
        dump(o)
    );
}

#[test]
fn seed_config_on_an_empty_root_binds_and_hides() {
    require_root!();
    let body = format!(
        "{FIRST_BOOT}\nfor t in /etc/nixos /var/log /var/lib/nixos /etc/machine-id; do echo \"opts:$t=$(chroot_findmnt $t)\"; done\n"
    );
    let o = vps(&Layout::default(), &body);
    check_first_boot(&o);
    for t in ["/etc/nixos", "/var/log", "/var/lib/nixos"] {
        let opts = val(&o, &format!("opts:{t}"));
        assert!(opts.split(',').any(|x| x == "x-gvfs-hide"), "{t}: {opts}");
    }
    let opts = val(&o, "opts:/etc/machine-id");
    assert!(
        !opts.contains("x-gvfs"),
        "files never get userspace options: {opts}"
    );
}

#[test]
fn seed_config_in_a_user_namespace() {
    require_root!();
    let body = format!(
        "{FIRST_BOOT}\nimp boot\necho \"n1=$(nmounts)\"\nimp boot\necho \"n2=$(nmounts)\"\n"
    );
    let o = vps(
        &Layout {
            userns: true,
            ..Layout::default()
        },
        &body,
    );
    check_first_boot(&o);
    assert_eq!(val(&o, "n1"), val(&o, "n2"));
}

#[test]
fn root_as_slash_writes_the_real_utab_that_findmnt_reads() {
    require_root!();
    // Inside the namespace, make $R the root of a chroot and run boot there
    // with root=/ semantics: the utab written is the chroot's /run/mount/utab.
    let body = r#"
mkdir -p "$R/usr" "$R/opt/imp"; mount --bind /usr "$R/usr"
for l in bin lib lib64 sbin; do ln -s "usr/$l" "$R/$l"; done
mount -t proc proc "$R/proc"
cp "$IMPERMCTL" "$R/opt/imp/impermctl"
chroot "$R" /opt/imp/impermctl boot --config /etc/impermctl/config.toml
echo "opts=$(chroot "$R" findmnt --mtab -no OPTIONS /var/log)"
echo "fopts=$(chroot "$R" findmnt --mtab -no OPTIONS /etc/machine-id)"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert!(val(&o, "opts").contains("x-gvfs-hide"), "{}", dump(&o));
    assert!(!val(&o, "fopts").contains("x-gvfs"), "{}", dump(&o));
}

fn machine_id_first_and_second_boot(layout: &Layout) {
    let body = r#"
imp boot
echo "first=$(cat "$R/etc/machine-id")"
# systemd commits the ID through the bind on the first boot.
printf '0123456789abcdef0123456789abcdef\n' > "$R/etc/machine-id"
# Reboot: the ephemeral root loses its mounts and /run.
for t in /etc/machine-id /etc/nixos /var/log /var/lib/nixos; do umount "$R$t"; done
rm -rf "$R/run/impermctl" "$R/run/mount" "$R/etc/machine-id"
imp boot
echo "second=$(cat "$R/etc/machine-id")"
echo "persisted=$(cat "$R/persistent/etc/machine-id")"
echo "dev=$(devof /etc/machine-id) pdev=$(devof /persistent)"
"#;
    let o = vps(layout, body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "first"), "uninitialized");
    assert_eq!(val(&o, "second"), "0123456789abcdef0123456789abcdef");
    assert_eq!(val(&o, "persisted"), "0123456789abcdef0123456789abcdef");
    let d = val(&o, "dev");
    let (dev, pdev) = d.split_once(" pdev=").unwrap();
    assert_eq!(dev, pdev, "{}", dump(&o));
}

fn reruns_plan_nothing_and_never_stack(layout: &Layout) {
    let body = r#"
imp boot
n0=$(nmounts)
imp boot --dry-run --json > "$R/run/plan.json"
echo "noop=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(p["kind"], all(s["action"] != "do" for s in p["steps"]))' "$R/run/plan.json")"
for i in $(seq 100); do imp boot 2>/dev/null; done
echo "n0=$n0 n100=$(nmounts)"
echo "utablines=$(wc -l < "$R/run/mount/utab")"
echo "runs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["runs"])' "$R/run/impermctl/state.json")"
"#;
    let o = vps(layout, body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "noop"), "BootPlan True", "{}", dump(&o));
    let counts = val(&o, "n0");
    let (a, b) = counts.split_once(" n100=").unwrap();
    assert_eq!(a, b, "mount count changed over 100 reruns");
    assert_eq!(val(&o, "utablines"), "3");
    assert_eq!(val(&o, "runs"), "101");
}

/// Trial-s10 F10: an entry removed from the config stays bound (its utab
/// line too) until the next boot; what is written there still goes to
/// persistence, nothing is planned for it.
fn removing_an_entry_leaves_it_bound_until_the_next_boot(layout: &Layout) {
    let body = r#"
imp boot
echo kept > "$R/var/log/messages"
python3 - "$CFG" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace('[[persistence.directories]]\npath = "/var/log"\n', '')
open(p, "w").write(s)
PY
imp boot
echo more >> "$R/var/log/messages"
echo "logmounted=$(devof /var/log)"
echo "data=$(cat "$R/persistent/var/log/messages" | tr '\n' ,)"
echo "utab=$(grep -c /var/log "$R/run/mount/utab" || true)"
echo "others=$(devof /etc/nixos)"
imp boot --dry-run
"#;
    let o = vps(layout, body);
    assert_code(&o, 0);
    assert!(!val(&o, "logmounted").is_empty(), "{}", dump(&o));
    assert_eq!(val(&o, "data"), "kept,more,");
    assert_eq!(val(&o, "utab"), "1");
    assert!(!val(&o, "others").is_empty());
    assert!(
        crate::util::stdout(&o).contains("0 of 3 paths need work"),
        "{}",
        dump(&o)
    );
}

fn declared_owner_and_mode_apply_on_creation_only(layout: &Layout) {
    let body = r#"
printf 'root:x:0:0::/root:/bin/sh\npostgres:x:71:71::/var/lib/postgresql:/bin/false\n' > "$R/etc/passwd"
printf 'root:x:0:\npostgres:x:72:\n' > "$R/etc/group"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib/postgresql"
user = "postgres"
group = "postgres"
mode = "u=rwx,g=rx,o="
[[persistence.directories]]
path = "/srv/ghost"
user = "nosuchuser"
T
mkdir -p "$R/persistent/srv/kept"; chmod 700 "$R/persistent/srv/kept"
rc=0; imp boot || rc=$?
echo "rc=$rc"
echo "src=$(stat -c '%u:%g %a' "$R/persistent/var/lib/postgresql")"
echo "tgt=$(stat -c '%u:%g %a' "$R/var/lib/postgresql")"
echo "ghost=$([ -e "$R/persistent/srv/ghost" ] && echo created || echo absent)"
echo "nixos=$(devof /etc/nixos)"
"#;
    let o = vps(layout, body);
    assert_eq!(
        val(&o, "rc"),
        "1",
        "an unknown user fails its entry: exit 1\n{}",
        dump(&o)
    );
    assert_eq!(val(&o, "src"), "71:72 750");
    assert_eq!(val(&o, "tgt"), "71:72 750");
    assert_eq!(val(&o, "ghost"), "absent");
    assert!(!val(&o, "nixos").is_empty(), "other entries proceed");
    let err = crate::util::stderr(&o);
    assert!(
        err.contains("\"nosuchuser\"") && err.contains("/srv/ghost"),
        "{err}"
    );
}

/// The core cases, as root of the host and inside a user namespace with a
/// non-identity map (root = uid 100000 outside), as on vpsFree.
macro_rules! both {
    ($($case:ident),*) => {
        mod host {
            $(#[test]
            fn $case() {
                crate::require_root!();
                super::$case(&crate::util::Layout::default());
            })*
        }
        mod userns {
            $(#[test]
            fn $case() {
                crate::require_root!();
                super::$case(&crate::util::Layout { userns: true, ..Default::default() });
            })*
        }
    };
}

both!(
    machine_id_first_and_second_boot,
    reruns_plan_nothing_and_never_stack,
    removing_an_entry_leaves_it_bound_until_the_next_boot,
    declared_owner_and_mode_apply_on_creation_only
);

#[test]
fn a_parent_and_a_child_both_declared() {
    require_root!();
    let body = r#"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib"
T
imp boot
echo "lib=$(devof /var/lib) nixos=$(devof /var/lib/nixos) p=$(devof /persistent)"
imp boot --dry-run
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    let v = val(&o, "lib");
    let p = v.rsplit("p=").next().unwrap().to_string();
    // /var/lib/nixos is covered by the bind of /var/lib: nothing is bound
    // inside that bind (it would bind the directory onto itself).
    assert_eq!(v, format!("{p} nixos= p={p}"), "{}", dump(&o));
    assert!(
        crate::util::stdout(&o).contains("ok: covered by /var/lib"),
        "{}",
        dump(&o)
    );
    assert!(
        crate::util::stdout(&o).contains("0 of 5 paths need work"),
        "{}",
        dump(&o)
    );
    assert!(!crate::util::stderr(&o).contains("hidden"), "{}", dump(&o));
}

#[test]
fn files_bind_link_and_warn_about_what_they_hide() {
    require_root!();
    let body = r#"
cat >> "$CFG" <<'T'
[[persistence.files]]
path = "/etc/ssh/ssh_host_ed25519_key"
[[persistence.files]]
path = "/etc/adjtime"
[[persistence.files]]
path = "/root/.bash_history"
method = "symlink"
T
mkdir -p "$R/persistent/etc/ssh" "$R/etc/ssh"
echo persisted-key > "$R/persistent/etc/ssh/ssh_host_ed25519_key"
echo ephemeral-key > "$R/etc/ssh/ssh_host_ed25519_key"
imp boot
echo "key=$(cat "$R/etc/ssh/ssh_host_ed25519_key")"
echo "adjtime=$(readlink "$R/etc/adjtime")"
echo "history=$(readlink "$R/root/.bash_history")"
echo BEGIN status; imp status || echo "status-rc=$?"; echo END status
echo "kept=$(cat "$R"/persistent/impermctl-kept/*/etc/ssh/ssh_host_ed25519_key)"
echo "second=$(imp boot --dry-run | tail -1)"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "key"), "persisted-key");
    assert_eq!(val(&o, "adjtime"), "/persistent/etc/adjtime");
    assert_eq!(val(&o, "history"), "/persistent/root/.bash_history");
    // boot's STATUS= reaches systemd through the real unit: e2e scenario 70.
    let summary = crate::util::stderr(&o);
    assert!(
        summary.contains("persisted 7 paths from /persistent in ")
            && summary.contains("5 bound, 2 linked, 0 skipped"),
        "{summary}"
    );
    let err = crate::util::stderr(&o);
    assert!(
        err.contains("/etc/ssh/ssh_host_ed25519_key already held data on the ephemeral root: a file of 14 bytes"),
        "{err}"
    );
    let status = super::block(&o, "status");
    assert!(
        status.contains("symlink to /persistent/etc/adjtime"),
        "{status}"
    );
    assert!(status.matches("bound from").count() == 5, "{status}");
    // The host key and the history file are replaced by their programs:
    // `status` warns (exit 1) and says method = "copy".
    assert_eq!(val(&o, "status-rc"), "1", "{status}");
    assert!(
        status.contains("[replaced-files]") && status.contains("method = \"copy\""),
        "{status}"
    );
    // The hidden ephemeral key is kept in persistence.
    assert_eq!(val(&o, "kept"), "ephemeral-key");
    assert_eq!(val(&o, "second"), "0 of 7 paths need work");
}

#[test]
fn a_users_entry_creates_the_home_0700_and_root_owned_parents() {
    require_root!();
    let body = r#"
printf 'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\nusers:x:100:\n' > "$R/etc/group"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/home/alice/.local/share/keyrings"
home = "/home/alice"
user = "alice"
group = "users"
mode = "0700"
parent = { user = "alice", group = "users", mode = "0755" }
T
imp boot
for p in /home /home/alice /home/alice/.local /home/alice/.local/share /home/alice/.local/share/keyrings; do
  echo "p:$p=$(stat -c '%u:%g %a' "$R/persistent$p")"
  echo "t:$p=$(stat -c '%u:%g %a' "$R$p")"
done
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    for side in ["p", "t"] {
        let v = |p: &str| val(&o, &format!("{side}:{p}"));
        assert_eq!(v("/home"), "0:0 755", "{}", dump(&o));
        assert_eq!(v("/home/alice"), "1000:100 700");
        assert_eq!(v("/home/alice/.local"), "1000:100 755");
        assert_eq!(v("/home/alice/.local/share"), "1000:100 755");
        assert_eq!(v("/home/alice/.local/share/keyrings"), "1000:100 700");
    }
}

/// Without the new mount API (refused by some seccomp profiles), binds are
/// made with mount(2) on the same safely opened fds.
#[test]
fn the_legacy_mount_path_binds_the_same_way() {
    require_root!();
    for userns in [false, true] {
        let body = format!("export IMPERMCTL_MOUNT_API=legacy\n{FIRST_BOOT}");
        let o = vps(
            &Layout {
                userns,
                ..Layout::default()
            },
            &body,
        );
        check_first_boot(&o);
    }
}

/// Trial s5 finding 8: boot's INFO lines on stderr name their path (stderr
/// shows the message only; the journal has `IMPERMCTL_PATH` besides); so
/// do the WARNING and the summary for an entry that left the config, left
/// bound until the next boot (trial-s10 F10).
#[test]
fn info_lines_name_their_path() {
    require_root!();
    let body = r#"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/srv/gone"
T
imp boot 2>"$R/../err1"
sed -i 's|^path = "/srv/gone"$|path = "/srv/kept"|' "$CFG"
imp boot 2>"$R/../err2"
echo BEGIN err; cat "$R/../err1" "$R/../err2"; echo END err
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    let err = block(&o, "err");
    for want in [
        "INFO created persistent directory /persistent/etc\n",
        "INFO created persistent directory /persistent/srv/gone\n",
        "INFO wrote \"uninitialized\" to /persistent/etc/machine-id: ",
        "INFO created persistent directory /persistent/srv/kept\n",
        "WARN /srv/gone is no longer declared: left bound from /persistent/srv/gone until the next boot",
        "; 1 removed entry left in place until the next boot (/srv/gone)",
    ] {
        assert!(err.contains(want), "{want:?} in\n{err}\n{}", dump(&o));
    }
}
