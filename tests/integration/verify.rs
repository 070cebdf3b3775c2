//! `impermctl verify` on captured mount tables and on live vpsFree-like layouts.

use std::path::Path;

use crate::require_root;
use crate::util::{self, Layout, SEED, assert_code, in_vps, mountinfo_fixture, stdout};

/// `verify ARGS` with `config` (written to a temporary file) judging the
/// mount table `mountinfo`.
fn verify_on(config: &str, mountinfo: &Path, args: &[&str]) -> std::process::Output {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("config.toml");
    std::fs::write(&cfg, config).unwrap();
    let (cfg, mi) = (cfg.to_str().unwrap(), mountinfo.to_str().unwrap());
    util::run(&[&["verify", "--config", cfg, "--mountinfo", mi][..], args].concat())
}

/// `verify --json EXTRA` with the seed config on the fixture `name`.
fn verify_fixture(name: &str, extra: &[&str]) -> std::process::Output {
    verify_on(
        SEED,
        &mountinfo_fixture(name),
        &[&["--json"][..], extra].concat(),
    )
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", stdout(o), util::stderr(o)))
}

fn checks_found(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}:{}",
                f["severity"].as_str().unwrap(),
                f["check"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn healthy_native_vps_is_healthy() {
    for fx in [
        "native-booted.mountinfo",
        "zfs-map-mode.mountinfo",
        "hybrid-cgroup.mountinfo",
    ] {
        let o = verify_fixture(fx, &[]);
        assert_code(&o, 0);
        let v = json(&o);
        assert_eq!(v["api_version"], "impermctl/v2");
        assert_eq!(v["kind"], "Verification");
        assert_eq!(v["verdict"], "healthy", "{fx}: {v}");
        assert!(checks_found(&v).is_empty(), "{fx}: {:?}", checks_found(&v));
    }
}

#[test]
fn first_boot_and_early_boot_are_healthy() {
    for fx in [
        "first-boot-symlink-machine-id.mountinfo",
        "early-boot-lxc-handover.mountinfo",
        "early-boot-stage2-activation.mountinfo",
        "buggy-ordering-86.mountinfo",
    ] {
        let o = verify_fixture(fx, &[]);
        assert_code(&o, 0);
        assert_eq!(json(&o)["verdict"], "healthy", "{fx}");
    }
}

#[test]
fn persistent_not_mounted_is_fatal_with_the_remedy() {
    let o = verify_fixture("persistent-not-mounted.mountinfo", &[]);
    assert_code(&o, 2);
    let v = json(&o);
    assert_eq!(v["verdict"], "fatal");
    let f = &v["findings"].as_array().unwrap()[0];
    assert_eq!(f["check"], "persistent-root-mounted");
    assert_eq!(f["path"], "/persistent");
    assert!(f["remedy"].as_str().unwrap().contains("step 5"), "{f}");
    // Human output carries the same remedy.
    let fx = mountinfo_fixture("persistent-not-mounted.mountinfo");
    let o = verify_on(SEED, &fx, &[]);
    assert_code(&o, 2);
    assert!(stdout(&o).contains("FATAL"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("fix: mount the VPS's dataset at /persistent"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn feature_disabled_is_a_warning() {
    let o = verify_fixture("feature-disabled.mountinfo", &[]);
    assert_code(&o, 1);
    let found = checks_found(&json(&o));
    assert!(
        found.contains(&"warning:root-ephemeral".to_string()),
        "{found:?}"
    );
    assert!(!found.iter().any(|f| f.starts_with("fatal:")), "{found:?}");
}

#[test]
fn rescue_mode_is_recognised_and_nothing_else_is_judged() {
    let o = verify_fixture("rescue-mode.mountinfo", &[]);
    assert_code(&o, 1);
    let v = json(&o);
    assert_eq!(v["verdict"], "rescue");
    assert_eq!(checks_found(&v), vec!["warning:rescue-mode"]);
    assert!(
        v["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "persistent-root-mounted")
    );
}

#[test]
fn imitation_tmpfs_layout_is_healthy() {
    let o = verify_fixture("imitation-tmpfs-userns.mountinfo", &[]);
    assert_code(&o, 0);
}

#[test]
fn skip_and_list() {
    let o = verify_fixture(
        "persistent-not-mounted.mountinfo",
        &["--skip", "persistent-root-mounted"],
    );
    assert_code(&o, 0);
    let v = json(&o);
    assert!(
        v["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "persistent-root-mounted"),
        "{v}"
    );
    assert!(
        !v["ran"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "persistent-root-mounted"),
        "{v}"
    );
    let o = verify_fixture("native-booted.mountinfo", &["--skip", "no-such-check"]);
    assert_code(&o, 2);
    assert!(util::stderr(&o).contains("no such check"));
    let o = util::run(&["verify", "--list"]);
    assert_code(&o, 0);
    for name in [
        "persistent-root-mounted",
        "root-ephemeral",
        "recommended-paths",
        "root-usage",
    ] {
        assert!(stdout(&o).contains(name), "{name}");
    }
}

#[test]
fn missing_recommended_paths_warn_per_path() {
    let config = "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"/var/log\"\n";
    let fx = mountinfo_fixture("native-booted.mountinfo");
    let o = verify_on(config, &fx, &["--json"]);
    assert_code(&o, 1);
    let v = json(&o);
    let paths: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec!["/etc/nixos", "/var/lib/nixos", "/etc/machine-id"]
    );
}

#[test]
fn malformed_mountinfo_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let fx = d.path().join("bad.mountinfo");
    std::fs::write(
        &fx,
        "1 0 0:1 / / rw - tmpfs a rw\nthis is not a mount line\n",
    )
    .unwrap();
    let o = util::run(&["verify", "--no-config", "--mountinfo", fx.to_str().unwrap()]);
    assert_code(&o, 2);
    let e = util::stderr(&o);
    assert!(e.contains("bad.mountinfo") && e.contains("line 2"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

// ---- live layouts (root, private mount namespaces) ----

/// `verify --json` on a live fake VPS with `config`, after the bash
/// `prepare`: the exit code and the document.
fn live_verify(layout: &Layout, config: &str, prepare: &str) -> (i32, serde_json::Value) {
    let body = format!(
        "cat > \"$CFG\" <<'TOML'\n{config}TOML\n{prepare}\nset +e\nimp verify --json\necho \"rc=$?\" >&2\n"
    );
    let o = in_vps(layout, &body);
    let err = util::stderr(&o);
    let rc = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("rc="))
        .unwrap_or_else(|| panic!("no rc: {err}"))
        .parse()
        .unwrap();
    (rc, json(&o))
}

/// [`live_verify`] of the default layout changed by `tweak`, with the seed
/// config, exits `rc` and finds exactly `checks` (`severity:check`, in order).
#[track_caller]
fn live_finds(tweak: impl FnOnce(&mut Layout), rc: i32, checks: &[&str]) -> serde_json::Value {
    let mut layout = Layout::default();
    tweak(&mut layout);
    let (code, v) = live_verify(&layout, SEED, "");
    assert_eq!(code, rc, "{v}");
    assert_eq!(checks_found(&v), checks, "{v}");
    v
}

#[test]
fn live_healthy_layout() {
    require_root!();
    let v = live_finds(|_| {}, 0, &[]);
    assert_eq!(v["verdict"], "healthy");
}

#[test]
fn live_healthy_layout_in_a_user_namespace() {
    require_root!();
    live_finds(|l| l.userns = true, 0, &[]);
}

#[test]
fn live_persistent_plain_directory_is_fatal() {
    require_root!();
    live_finds(
        |l| l.persistent_mounted = false,
        2,
        &["fatal:persistent-root-mounted"],
    );
}

#[test]
fn live_persistent_on_the_root_filesystem_is_fatal() {
    require_root!();
    live_finds(
        |l| l.persistent_on_root = true,
        2,
        &["fatal:persistent-root-separate"],
    );
}

#[test]
fn live_read_only_persistent_is_a_warning() {
    require_root!();
    live_finds(
        |l| l.persistent_ro = true,
        1,
        &["warning:persistent-root-writable"],
    );
}

/// Trial s5 finding 8: a missing root under the read-only /nix is reported
/// missing, not also read-only.
#[test]
fn live_missing_root_is_not_also_read_only() {
    require_root!();
    let config =
        format!("{SEED}\n[[persistence]]\npath = \"/nix/persist\"\ndirectories = [\"/srv/x\"]\n");
    let (rc, v) = live_verify(&Layout::default(), &config, "");
    assert_eq!(rc, 2, "{v}");
    let found = checks_found(&v);
    assert!(
        found.contains(&"fatal:persistent-root-exists".to_string()),
        "{v}"
    );
    assert!(
        !found.contains(&"warning:persistent-root-writable".to_string()),
        "{v}"
    );
}

#[test]
fn live_persistent_symlink_is_fatal() {
    require_root!();
    let config = SEED.replace("path = \"/persistent\"", "path = \"/persist2\"");
    let link = "mkdir -p \"$R/elsewhere\"\nln -s /elsewhere \"$R/persist2\"";
    let (rc, v) = live_verify(&Layout::default(), &config, link);
    assert_eq!(rc, 2, "{v}");
    assert!(
        checks_found(&v).contains(&"fatal:persistent-root-exists".to_string()),
        "{v}"
    );
    let msg = v["findings"][0]["message"].as_str().unwrap();
    assert!(msg.contains("symlink"), "{msg}");
}

#[test]
fn live_non_ephemeral_root_warns() {
    require_root!();
    // The rig's root is a tmpfs (always ephemeral): expecting ZFS makes it "not ephemeral".
    let config = format!("{SEED}[layout]\nephemeral_root = \"zfs\"\n");
    let (rc, v) = live_verify(&Layout::default(), &config, "");
    assert_eq!(rc, 1, "{v}");
    assert_eq!(checks_found(&v), vec!["warning:root-ephemeral"], "{v}");
}

/// Remedies name vpsAdmin only on a vpsFree layout; on a tmpfs-root machine
/// with /persistent not mounted the fix is generic (issue 15).
#[test]
fn remedies_mention_vpsadmin_only_on_a_vpsfree_layout() {
    let d = tempfile::tempdir().unwrap();
    let mi = d.path().join("tmpfs-root.mountinfo");
    std::fs::write(
        &mi,
        "22 1 0:20 / / rw,relatime shared:1 - tmpfs none rw,mode=755\n\
         23 22 259:2 / /nix rw,relatime shared:2 - ext4 /dev/nvme0n1p2 rw\n\
         24 22 0:5 / /proc rw,nosuid,nodev,noexec shared:3 - proc proc rw\n",
    )
    .unwrap();
    let args = |m: &Path| verify_on(SEED, m, &["--json"]);
    let remedies = |o: &std::process::Output| -> String {
        json(o)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["remedy"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let generic = args(&mi);
    assert_code(&generic, 2);
    let r = remedies(&generic);
    assert!(
        r.contains("mount the persistent filesystem at /persistent"),
        "{r}"
    );
    assert!(!r.contains("vpsAdmin") && !r.contains("VPS"), "{r}");
    let vps = args(&mountinfo_fixture("persistent-not-mounted.mountinfo"));
    assert_code(&vps, 2);
    assert!(remedies(&vps).contains("vpsAdmin"), "{}", remedies(&vps));
}
