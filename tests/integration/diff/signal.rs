//! What `diff` says on NixOS-shaped trees: persisted means really
//! persisted, regenerated entries are not losses, important ones come with
//! their consequence, and `--suggest` never proposes a system directory.

use super::{CONFIG, read, run_with};
use crate::util::{self, SEED, assert_code, stdout};
use crate::{require_root, require_tool};

/// Bash: `clock_past FILE MS` returns once the clock that file times come
/// from has moved more than MS milliseconds past FILE's ctime (lstat), as a
/// probe file touched now shows (polled; the script fails after 20 s).
/// Orders writes against times the tool derives, instead of a sleep.
const CLOCK_PAST: &str = r#"
clock_past() {
  local t0 now i
  t0=$(stat -c %.9Z "$1"); t0=${t0/./}
  for i in $(seq 2000); do
    touch "$OUT/clock-probe"; now=$(stat -c %.9Z "$OUT/clock-probe"); now=${now/./}
    [ $((now - t0)) -gt $(($2 * 1000000)) ] && return 0
    sleep 0.01
  done
  echo "the clock did not move $2 ms past $1" >&2; exit 1
}
"#;

/// `body` with [`CLOCK_PAST`] defined.
fn with_clock(body: &str) -> String {
    format!("{CLOCK_PAST}{body}")
}

#[test]
fn a_declared_file_replaced_by_a_plain_file_is_a_loss_with_its_reason() {
    require_root!();
    let config = format!("{SEED}[[persistence.files]]\npath = \"/etc/ssh/ssh_host_ed25519_key\"\n");
    let out = run_with(
        &config,
        r#"imp boot 2> "$OUT/boot.err"
imp diff > "$OUT/before" || true
readlink "$R/etc/ssh/ssh_host_ed25519_key" > "$OUT/link"
# sshd-keygen (or an admin) replaces the link with a plain file.
rm "$R/etc/ssh/ssh_host_ed25519_key"; echo secret-key > "$R/etc/ssh/ssh_host_ed25519_key"
set +e
imp diff > "$OUT/after"; echo $? > "$OUT/rc"
imp diff --suggest > "$OUT/suggest"
imp status > "$OUT/status"; echo $? > "$OUT/status_rc"
true
"#,
    );
    let p = out.path();
    // A declared entry that is not persisted is a finding: exit 1 by the rule.
    assert_eq!(read(p, "status_rc").trim(), "1", "{}", read(p, "status"));
    assert_eq!(
        read(p, "link").trim(),
        "/persistent/etc/ssh/ssh_host_ed25519_key",
        "{}",
        read(p, "boot.err")
    );
    assert!(
        !read(p, "before").contains("ssh_host"),
        "{}",
        read(p, "before")
    );
    let after = read(p, "after");
    assert_eq!(read(p, "rc").trim(), "1", "{after}");
    assert!(after.contains("/etc/ssh/ssh_host_ed25519_key"), "{after}");
    assert!(after.contains("declared, but not persisted"), "{after}");
    assert!(after.contains("changed host key"), "{after}");
    assert!(read(p, "status").contains("NOT PERSISTED"));
    let suggest = read(p, "suggest");
    assert!(
        suggest.contains("already declared") && !suggest.contains("files = ["),
        "{suggest}"
    );
}

#[test]
fn a_declared_directory_left_unbound_is_lost_whole() {
    require_root!();
    let out = run_with(
        CONFIG,
        r#"mkdir -p "$R/var/lib/keep"; echo old-data > "$R/var/lib/keep/db"
imp diff --capture-baseline 2>/dev/null
set +e
imp diff > "$OUT/human"; echo $? > "$OUT/rc"
"#,
    );
    let human = read(out.path(), "human");
    assert_eq!(read(out.path(), "rc").trim(), "1", "{human}");
    assert!(human.contains("/var/lib/keep"), "{human}");
    assert!(human.contains("declared, but not persisted"), "{human}");
    assert!(
        human.contains("9 B"),
        "the data already in the baseline counts: {human}"
    );
}

#[test]
fn a_root_that_is_not_ephemeral_loses_nothing_and_says_why() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("etc")).unwrap();
    std::fs::write(d.path().join("etc/new"), "x").unwrap();
    let fixture = util::repo().join("tests/fixtures/mountinfo/feature-disabled.mountinfo");
    let o = util::run_at(
        d.path().to_str().unwrap(),
        &["diff", "--mountinfo", fixture.to_str().unwrap()],
    );
    assert_code(&o, 0);
    let s = stdout(&o);
    assert!(s.contains("not an ephemeral root"), "{s}");
    assert!(s.contains("nothing would be lost"), "{s}");
    let o = util::run_at(
        d.path().to_str().unwrap(),
        &["diff", "--json", "--mountinfo", fixture.to_str().unwrap()],
    );
    assert_code(&o, 0);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["basis"]["method"], "not_ephemeral");
    assert_eq!(crate::schemas::validate(&doc), "Diff");
}

#[test]
fn a_path_that_does_not_exist_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let o = util::run_at(d.path().to_str().unwrap(), &["diff", "/nonexistent"]);
    assert_code(&o, 2);
    assert!(util::stderr(&o).contains("/nonexistent"));
}

/// What NixOS activation and the first services write after the baseline
/// (the fresh-root one `boot` takes): the /etc link farm, a copied file
/// listed in /etc/.clean, tmpfiles links, the random seed, then host keys,
/// a crontab in an existing spool directory, a service's state.
const NIXOS_WRITES: &str = r#"
mkdir -p "$R/nix/.x" 2>/dev/null || true
ln -sfn /nix/store/aaaa-etc/etc "$R/etc/static"
mkdir -p "$R/etc/ssh" "$R/etc/pam.d" "$R/var/lib/systemd" "$R/var/spool/cron" "$R/var/lib/private"
ln -s /etc/static/ssh/sshd_config "$R/etc/ssh/sshd_config.tmp" && mv "$R/etc/ssh/sshd_config.tmp" "$R/etc/ssh/sshd_config"
ln -s /etc/static/pam.d/sshd "$R/etc/pam.d/sshd"
echo 'root ALL=(ALL) ALL' > "$R/etc/sudoers"; printf 'sudoers\n' > "$R/etc/.clean"
ln -s ../proc/self/mounts "$R/etc/mtab"; ln -s ../run "$R/var/run"
head -c 512 /dev/urandom > "$R/var/lib/systemd/random-seed"
touch "$R/etc/.updated" "$R/var/.updated"
"#;

const USER_WRITES: &str = r#"
echo key > "$R/etc/ssh/ssh_host_ed25519_key"; echo pub > "$R/etc/ssh/ssh_host_ed25519_key.pub"
mkdir -p "$R/root"; echo ls > "$R/root/.bash_history"
echo '* * * * * true' > "$R/var/spool/cron/root"
mkdir -p "$R/var/lib/demo"; echo row > "$R/var/lib/demo/db"
"#;

#[test]
fn on_a_nixos_shaped_tree_suggest_then_boot_gives_an_empty_diff() {
    require_root!();
    let out = run_with(
        SEED,
        &format!(
            r#"mkdir -p "$R/var/spool/cron" "$R/etc/ssh"
imp boot 2> "$OUT/boot1.err"
{NIXOS_WRITES}
imp diff > "$OUT/activation"; echo $? > "$OUT/rc-activation"
{USER_WRITES}
set +e
imp diff > "$OUT/human"; echo $? > "$OUT/rc"
imp diff --all > "$OUT/all"
imp diff --suggest=toml > "$OUT/suggest.toml"
imp diff --suggest > "$OUT/suggest.nix"
cat "$OUT/suggest.toml" >> "$CFG"
imp verify > "$OUT/verify" 2>&1
imp boot > "$OUT/boot.out" 2>&1; echo $? > "$OUT/rc-boot"
imp diff > "$OUT/after"; echo $? > "$OUT/rc-after"
"#
        ),
    );
    let p = out.path();
    // Session 5's trial (finding 5): what --suggest proposes, verify
    // accepts without a replaced-files warning (host keys, shell history).
    let verify = read(p, "verify");
    assert!(!verify.contains("replaced-files"), "{verify}");
    let toml = read(p, "suggest.toml");
    assert!(
        toml.contains("path = \"/root/.bash_history\"\nmethod = \"copy\""),
        "{toml}"
    );
    let act = read(p, "activation");
    assert_eq!(
        read(p, "rc-activation").trim(),
        "0",
        "activation's output is not a loss:\n{act}"
    );
    let human = read(p, "human");
    assert_eq!(read(p, "rc").trim(), "1");
    let lines: Vec<&str> = human.lines().collect();
    assert!(
        lines[1].starts_with("found by: walking the root"),
        "{human}"
    );
    assert!(
        lines[2].contains("important") && lines[2].contains("ssh_host_ed25519_key"),
        "{human}"
    );
    assert!(
        human.contains("clients will see a changed host key"),
        "{human}"
    );
    for g in ["/var/spool/cron", "/var/lib/demo"] {
        assert!(human.contains(g), "{g}: {human}");
    }
    for noise in [
        "random-seed",
        "mtab",
        "/etc/static",
        "sshd_config",
        "sudoers",
        ".updated",
    ] {
        assert!(
            !human.contains(noise),
            "{noise} shown without --all: {human}"
        );
    }
    let all = read(p, "all");
    assert!(
        all.contains("regenerated") && all.contains("random-seed"),
        "{all}"
    );
    let nix = read(p, "suggest.nix");
    for bad in [
        "\"/\"",
        "\"/etc\"",
        "\"/var\"",
        "\"/usr\"",
        "\"/etc/ssh\"",
        "/etc/static",
        "\"/var/spool\"",
    ] {
        assert!(!nix.contains(bad), "{bad} suggested:\n{nix}");
    }
    for good in [
        "{ file = \"/etc/ssh/ssh_host_ed25519_key\"; method = \"copy\"; }",
        "{ file = \"/etc/ssh/ssh_host_ed25519_key.pub\"; method = \"copy\"; }",
        "\"/var/lib/demo\"",
    ] {
        assert!(nix.contains(good), "{good} not suggested:\n{nix}");
    }
    super::booted_and_nothing_lost(p);
}

#[test]
fn baseline_at_the_end_of_activation_adopts_its_writes_and_keeps_earlier_losses() {
    require_root!();
    let out = run_with(
        SEED,
        &with_clock(
            r#"echo 'root:x:0:0::/root:/bin/sh' > "$R/etc/passwd"
imp boot 2> "$OUT/boot.err"
# A service writes before the switch, which starts once the clock file
# times come from has moved past that write by more than how early
# `--since activation` may read the switch's start (slack and clock ticks).
mkdir -p "$R/var/lib/demo"; echo row > "$R/var/lib/demo/db"
clock_past "$R/var/lib/demo/db" 100
# `nixos-rebuild switch`: activation rewrites the users files by rename and
# the /etc links through *.tmp, then (last snippet) `impermctl baseline`.
export R CFG IMPERMCTL OUT
bash -c '
  printf "root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n" > "$R/etc/passwd.tmp"
  mv "$R/etc/passwd.tmp" "$R/etc/passwd"
  mkdir -p "$R/etc/foo"; echo generated > "$R/etc/foo/generated.conf"
  "$IMPERMCTL" --root "$R" --config "$CFG" diff > "$OUT/during" || true
  "$IMPERMCTL" --root "$R" --config "$CFG" baseline > "$OUT/baseline.out"
'
set +e
imp diff > "$OUT/after"; echo $? > "$OUT/rc"
imp baseline --since nonsense 2> "$OUT/bad.err"; echo $? > "$OUT/rc-bad"
"#,
        ),
    );
    let p = out.path();
    let during = read(p, "during");
    assert!(
        during.contains("/etc/passwd") && during.contains("/var/lib/demo"),
        "{during}"
    );
    let b = read(p, "baseline.out");
    assert!(b.contains("adopted") && b.contains("activation"), "{b}");
    let after = read(p, "after");
    assert_eq!(read(p, "rc").trim(), "1", "{after}");
    assert!(
        after.contains("/var/lib/demo"),
        "a loss from before activation is kept: {after}"
    );
    assert!(!after.contains("/etc/passwd"), "{after}");
    assert!(!after.contains("/etc/foo"), "{after}");
    assert_eq!(read(p, "rc-bad").trim(), "2");
    assert!(read(p, "bad.err").contains("expected activation, boot, all or @SECONDS"));
}

/// `--since activation` reads the boot clock (`/proc/uptime`) and the wall
/// clock to place its caller's start: a stall between the two reads (a
/// preemption on a loaded machine; here strace holds the first close of
/// `/proc/uptime` for 300 ms) moved that start later by the stall, and
/// activation's first writes were not adopted. They are, however long the
/// stall.
#[test]
fn baseline_since_activation_is_not_moved_by_a_stall_between_its_clock_reads() {
    require_root!();
    require_tool!("strace");
    let out = run_with(
        SEED,
        r#"echo 'root:x:0:0::/root:/bin/sh' > "$R/etc/passwd"
imp boot 2> "$OUT/boot.err"
export R CFG IMPERMCTL OUT
strace -f -qq -o /dev/null -P /proc/uptime -e trace=close -e inject=close:delay_exit=300000:when=1 bash -c '
  printf "root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n" > "$R/etc/passwd.tmp"
  mv "$R/etc/passwd.tmp" "$R/etc/passwd"
  "$IMPERMCTL" --root "$R" --config "$CFG" baseline > "$OUT/baseline.out"
'
set +e
imp diff > "$OUT/after"; echo $? > "$OUT/rc"
"#,
    );
    let p = out.path();
    let after = read(p, "after");
    assert!(
        !after.contains("/etc/passwd"),
        "{after}\n{}",
        read(p, "baseline.out")
    );
    assert_eq!(read(p, "rc").trim(), "0", "{after}");
}

#[test]
fn baseline_until_current_system_keeps_what_services_wrote_after_activation() {
    require_root!();
    let out = run_with(
        SEED,
        &with_clock(
            r#"echo 'root:x:0:0::/root:/bin/sh' > "$R/etc/passwd"
imp boot 2> "$OUT/boot.err"
# Stage-2 activation: users files by rename, then the last step relinks
# /run/current-system.
echo 'root:x:0:0::/root:/bin/bash' > "$R/etc/passwd.tmp"; mv "$R/etc/passwd.tmp" "$R/etc/passwd"
mkdir -p "$R/run"; ln -sfn /nix/store/aaaa-nixos-system "$R/run/current-system"
clock_past "$R/run/current-system" 0
# systemd starts; sshd-keygen writes the host key before the baseline unit runs.
mkdir -p "$R/etc/ssh"; echo key > "$R/etc/ssh/ssh_host_ed25519_key"
set +e
imp baseline --since boot --until current-system > "$OUT/baseline.out"; echo $? > "$OUT/rc-b"
imp diff > "$OUT/after"; echo $? > "$OUT/rc"
imp baseline --until nonsense 2> "$OUT/bad.err"; echo $? > "$OUT/rc-bad"
"#,
        ),
    );
    let p = out.path();
    assert_eq!(read(p, "rc-b").trim(), "0", "{}", read(p, "baseline.out"));
    let after = read(p, "after");
    assert_eq!(read(p, "rc").trim(), "1", "{after}");
    assert!(after.contains("ssh_host_ed25519_key"), "{after}");
    assert!(!after.contains("/etc/passwd"), "{after}");
    assert_eq!(read(p, "rc-bad").trim(), "2");
}

#[test]
fn shadowed_lists_hidden_data_only_where_it_differs_from_what_is_visible() {
    require_root!();
    let out = run_with(
        SEED,
        r#"imp boot 2> "$OUT/boot.err"
mkdir -p "$R/var/lib/seeded/sub" "$R/persistent/var/lib/seeded/sub"
echo same > "$R/var/lib/seeded/a"; echo same > "$R/persistent/var/lib/seeded/a"
echo old > "$R/var/lib/seeded/b"; echo new > "$R/persistent/var/lib/seeded/b"
echo only-here > "$R/var/lib/seeded/sub/c"
mount --bind "$R/persistent/var/lib/seeded" "$R/var/lib/seeded"
set +e
imp diff --shadowed --json > "$OUT/shadowed.json"; echo $? > "$OUT/rc"
"#,
    );
    let v: serde_json::Value =
        serde_json::from_str(&read(out.path(), "shadowed.json")).expect("json");
    let sh = v["shadowed"].as_array().unwrap();
    let m = sh
        .iter()
        .find(|m| m["mount_point"] == "/var/lib/seeded")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        m["paths"],
        serde_json::json!(["/var/lib/seeded/b", "/var/lib/seeded/sub/c"]),
        "{v}"
    );
}
