//! `impermctl diff` on plain tempdir roots (no mounts): no-baseline
//! fallback, exit codes, the baseline round trip, writers, non-root.

use std::path::Path;

use super::by_change;
use crate::require_root;
use crate::util::{self, assert_code, stderr, stdout};

/// A plain tempdir root (no mounts): the unprivileged path.
fn tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for dir in ["etc", "var/lib/x", "tmp"] {
        std::fs::create_dir_all(d.path().join(dir)).unwrap();
    }
    std::fs::write(d.path().join("etc/a"), "a").unwrap();
    d
}

fn imp(root: &Path, args: &[&str]) -> std::process::Output {
    util::run_at(root.to_str().unwrap(), &[&["diff"], args].concat())
}

#[test]
fn without_a_baseline_it_says_so_and_uses_the_boot_time() {
    let d = tree();
    let o = imp(d.path(), &[]);
    assert_code(&o, 1);
    assert!(stdout(&o).contains("no baseline"), "{}", stdout(&o));
    let o = imp(d.path(), &["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["basis"]["method"], "boot_time");
    assert!(by_change(&v, "new").contains(b"/etc/a".as_slice()), "{v}");
}

#[test]
fn exit_codes_and_baseline_round_trip() {
    let d = tree();
    assert_code(&imp(d.path(), &["--capture-baseline"]), 0);
    let o = imp(d.path(), &[]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("basis: the baseline"), "{}", stdout(&o));
    // A second capture keeps the first baseline.
    let before = std::fs::read(d.path().join("run/impermctl/baseline")).unwrap();
    std::fs::write(d.path().join("var/lib/x/n"), "new").unwrap();
    assert_code(&imp(d.path(), &["--capture-baseline"]), 0);
    assert_eq!(
        std::fs::read(d.path().join("run/impermctl/baseline")).unwrap(),
        before
    );
    let o = imp(d.path(), &["-0"]);
    assert_code(&o, 1);
    assert_eq!(o.stdout, b"/var/lib/x/n\0");
    // Writers from the watcher's file, when it has them.
    std::fs::write(
        d.path().join("run/impermctl/watch.json"),
        r#"{"apiVersion":"impermctl/v1","kind":"WatchState","backend":"inotify",
            "fallback":null,"pid":0,"since":0,"watched_directories":1,"overflows":0,"groups":[
            {"path":"/var/lib/x","kind":"directory","suggest":"","files":1,"bytes":3,
             "first_seen":0,"last_seen":0,"approximate":false,
             "writers":[{"comm":"foo","unit":"foo.service"},{"comm":"sh","unit":null}]}]}"#,
    )
    .unwrap();
    let o = imp(d.path(), &[]);
    assert!(
        stdout(&o).contains("/var/lib/x  (new; written by foo in foo.service, sh)"),
        "{}",
        stdout(&o)
    );
    std::fs::write(d.path().join("run/impermctl/watch.json"), "{not json").unwrap();
    assert_code(&imp(d.path(), &[]), 1);
    // Only ignored paths changed: 0 (1 with --all).
    std::fs::remove_file(d.path().join("var/lib/x/n")).unwrap();
    std::fs::write(d.path().join("tmp/t"), "t").unwrap();
    assert_code(&imp(d.path(), &[]), 0);
    assert_code(&imp(d.path(), &["--all"]), 1);
    // Errors: 2.
    assert_code(&imp(d.path(), &["relative/path"]), 2);
    std::fs::write(d.path().join("run/impermctl/baseline"), "garbage").unwrap();
    let o = imp(d.path(), &[]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("baseline"), "{}", stderr(&o));
}

#[test]
fn non_root_sees_what_it_can_and_counts_the_rest() {
    require_root!();
    use std::os::unix::fs::PermissionsExt;
    let d = tree();
    let secret = d.path().join("var/lib/secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("f"), "s").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(util::bin())
        .args(["--root", d.path().to_str().unwrap(), "--no-config"])
        .args(["diff", "-0"])
        .output()
        .unwrap();
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("not running as root"), "{err}");
    assert!(err.contains("could not read 1 path"), "{err}");
    assert!(err.contains("/var/lib/secret"), "{err}");
    let got: Vec<&[u8]> = o.stdout.split(|&b| b == 0).collect();
    assert!(got.contains(&&b"/etc/a"[..]), "{}", stdout(&o));
    assert!(got.contains(&&b"/var/lib/secret"[..]), "{}", stdout(&o));
}
