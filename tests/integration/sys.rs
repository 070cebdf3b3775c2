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

/// Under a real journald: every field of ours is `IMPERMCTL_*` (none bare,
/// like `PATH=`, `BOUND=`, `DURATION_MS=`), and a boot refusal carries its
/// MESSAGE_ID at PRIORITY=2 with the check, explained by the installed catalog.
#[test]
fn journal_fields_are_namespaced_and_the_refusal_has_a_catalog_entry() {
    require_root!();
    let journald = crate::require_journald!();
    let catalog = crate::util::repo().join("systemd/impermctl.catalog");
    let body = format!(
        r#"
mount -t tmpfs tmpfs /usr/lib/systemd/catalog; cp {catalog} /usr/lib/systemd/catalog/
mkdir -p /var/lib/systemd/catalog; mount -t tmpfs tmpfs /var/lib/systemd/catalog
journalctl --update-catalog
{journal}
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
        journal = crate::util::private_journald(journald),
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

/// The swapper: as the unprivileged user, exchange `share` with a symlink
/// into a root-only tree in each base directory, as fast as it can; on
/// `pause` put the real directories back and wait (handshake: `paused`).
const SWAPPER: &str = r#"
import os, sys, time
ctl, bases = sys.argv[1], sys.argv[2:]
def restore(b):
    s, l, r = b + "/share", b + "/share.link", b + "/share.real"
    if os.path.islink(s) and not os.path.lexists(l):
        os.rename(s, l)
    if os.path.isdir(r) and not os.path.lexists(s):
        os.rename(r, s)
def swap(b):
    s, l, r = b + "/share", b + "/share.link", b + "/share.real"
    try:
        os.rename(s, r); os.rename(l, s); os.rename(s, l); os.rename(r, s)
    except OSError:
        restore(b)
swaps = 0
while not os.path.exists(ctl + "/stop"):
    if os.path.exists(ctl + "/pause"):
        for b in bases:
            restore(b)
        open(ctl + "/paused", "w").close()
        while os.path.exists(ctl + "/pause"):
            time.sleep(0.0002)
        os.unlink(ctl + "/paused")
        continue
    for b in bases:
        swap(b)
    swaps += 1
open(ctl + "/swaps", "w").write(str(swaps))
"#;

/// One namespace, `trials` runs of `cmd` (boot seeding or persist) as root
/// while the user swaps her own directories (live and persistent side) for
/// symlinks into root-only trees. Prints the counts; `escapes` must be 0.
fn race(cmd: &str, config: &str, trials: u32) -> std::process::Output {
    let body = format!(
        r#"
chmod 755 "$R/.."
A=1000
S="$R/home/alice/.local/share"; PS="$R/persistent/home/alice/.local/share"
mkdir -p "$S/app/sub" "$PS" "$R/root/secret/app" "$R/root/pdir"
echo data > "$S/app/data"; echo more > "$S/app/sub/more"
echo top > "$R/root/secret/app/topsecret"
chmod 700 "$R/root"; chmod 755 "$R/home" "$R/persistent/home"
chown -R $A:$A "$R/home/alice" "$R/persistent/home/alice"
ln -s ../../../root/secret "$R/home/alice/.local/share.link"
ln -s ../../../../root/pdir "$R/persistent/home/alice/.local/share.link"
chown -h $A:$A "$R/home/alice/.local/share.link" "$R/persistent/home/alice/.local/share.link"
cat > "$CFG" <<'T'
{config}
T
CTL="$R/../ctl"; mkdir -p "$CTL"; chmod 777 "$CTL"
cat > "$CTL/swapper.py" <<'PY'
{swapper}
PY
setpriv --reuid=$A --regid=$A --clear-groups /usr/bin/python3 "$CTL/swapper.py" "$CTL" "$R/home/alice/.local" "$R/persistent/home/alice/.local" & W=$!
trap 'touch "$CTL/stop"; rm -f "$CTL/pause"; wait $W || true' EXIT
pause() {{
  touch "$CTL/pause"
  for j in $(seq 100000); do [ -e "$CTL/paused" ] && return 0; kill -0 $W 2>/dev/null || break; done
  echo "the swapper is gone" >&2; exit 3
}}
resume() {{ rm -f "$CTL/pause"; }}
ok=0; refused=0; escapes=0
for i in $(seq {trials}); do
  rc=0; {cmd} >/dev/null 2>&1 || rc=$?
  pause
  if [ $rc = 0 ]; then ok=$((ok+1)); else refused=$((refused+1)); fi
  e=""
  find "$R/persistent" -name topsecret | grep -q . && e="$e root-only-data-copied"
  [ -e "$S/app/topsecret" ] && e="$e root-only-data-bound"
  awk -v r="$R" '$5 != r && index($5, r "/") == 1 && $5 != r "/persistent" && $5 != r "/nix" && !($5 == r "/home/alice/.local/share/app" && $4 == "/home/alice/.local/share/app") {{ bad = 1 }} END {{ exit !bad }}' /proc/self/mountinfo && e="$e foreign-mount"
  find "$R/root" -user $A | grep -q . && e="$e user-dir-in-root-only-dir"
  find "$R/root" -name '*.impermctl-*' | grep -q . && e="$e tmp-in-root-only-dir"
  # boot creates a declared target's missing levels: a `share` it made
  # while hers was renamed away leaves hers at share.real.
  [ "$(cat "$S/app/data" 2>/dev/null || cat "$S.real/app/data" 2>/dev/null)" = data ] || e="$e data-lost"
  if [ -n "$e" ]; then escapes=$((escapes+1)); echo "trial $i:$e" >&2; fi
  while umount "$S/app" 2>/dev/null; do :; done
  for d in "$S" "$PS"; do
    if [ -d "$d.real" ] && [ ! -L "$d" ]; then rm -rf "$d"; mv "$d.real" "$d"; fi
  done
  rm -rf "$PS/app" "$PS/.app.impermctl-tmp" "$R/run/impermctl" "$R/run/mount"
  find "$R/root" -mindepth 1 -not -path "$R/root/secret*" -not -path "$R/root/pdir" -exec rm -rf {{}} + 2>/dev/null || true
  resume
done
touch "$CTL/stop"; wait $W || true; trap - EXIT
echo "trials={trials} ok=$ok refused=$refused escapes=$escapes swaps=$(cat "$CTL/swaps")"
echo "escapes=$escapes"
"#,
        swapper = SWAPPER,
    );
    vps(&Layout::default(), &body)
}

/// `race`'s verdict: it ran and no trial let a user redirect root.
#[track_caller]
fn no_escape(what: &str, o: std::process::Output) {
    eprintln!("{what} race: {}", val(&o, "trials"));
    assert_code(&o, 0);
    assert_eq!(
        val(&o, "escapes"),
        "0",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

const RACE_CONFIG: &str = r#"version = 1
[[persistence]]
path = "/persistent"
"#;

/// Issue 14.1: while root seeds at `boot`, the user swaps her own
/// directories for symlinks into root-only trees: ≥ 500 trials, no escape.
#[test]
fn seeding_is_never_redirected_by_a_users_symlink_swaps() {
    require_root!();
    let config = format!(
        "{RACE_CONFIG}[[persistence.directories]]\npath = \"/home/alice/.local/share/app\"\nuser = \"1000\"\ngroup = \"1000\"\nmode = \"0700\"\nparent = {{ user = \"1000\", group = \"1000\", mode = \"0755\" }}"
    );
    no_escape("seeding", race("imp boot", &config, 500));
}

/// Issue 14.1: the same swaps while root runs `persist`: ≥ 500 trials, no escape.
#[test]
fn persist_is_never_redirected_by_a_users_symlink_swaps() {
    require_root!();
    no_escape(
        "persist",
        race("imp persist /home/alice/.local/share/app", RACE_CONFIG, 500),
    );
}
