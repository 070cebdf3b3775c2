//! `impermctl diff` on generated trees with a known ground truth: fake VPS
//! layouts (real mounts in a private namespace) and plain tempdir roots.

use std::collections::BTreeSet;
use std::path::Path;

use crate::require_root;
use crate::util::{self, Layout, assert_code, in_vps, stderr, stdout};

const CONFIG: &str = r#"version = 1
[[persistence]]
path = "/persistent"
[[persistence.directories]]
path = "/var/lib/keep"
[[persistence.files]]
path = "/etc/machine-id"
"#;

/// Bash that builds the "booted" tree: persisted binds, a symlink into
/// `/persistent`, data shadowed under a mount, then the baseline.
const BOOTED: &str = r#"
OUT="$1"
cat > "$CFG" <<'TOML'
__CONFIG__
TOML
mkdir -p "$R/var/lib/keep" "$R/persistent/var/lib/keep" "$R/persistent/etc" "$R/srv/data" "$R/tmp" "$R/var/lib/old"
echo id > "$R/persistent/etc/machine-id"; touch "$R/etc/machine-id"
mount --bind "$R/persistent/var/lib/keep" "$R/var/lib/keep"
mount --bind "$R/persistent/etc/machine-id" "$R/etc/machine-id"
ln -s /persistent/etc/foo "$R/etc/foo"
echo keep > "$R/etc/appended"; echo t > "$R/etc/touched"; echo o > "$R/etc/linked"
echo same > "$R/etc/same"; echo hidden-by-mount > "$R/srv/data/hidden"
imp diff --capture-baseline
mount -t tmpfs shadow "$R/srv/data"
"#;

/// Bash that makes the changes the ground truth lists.
const CHANGES: &str = r#"
sleep 0.05
echo more >> "$R/etc/appended"
touch -d 2001-01-01 "$R/etc/touched"
ln "$R/etc/linked" "$R/etc/hardlink"
mkdir "$R/var/lib/app"; echo data > "$R/var/lib/app/new.txt"
echo old > "$R/etc/old-mtime"; touch -d 2001-01-01 "$R/etc/old-mtime"
mkfifo "$R/etc/fifo"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$R/etc/sock"
touch "$R/etc/new"$'\n'"line" "$R/etc/bad"$'\xff'
echo persisted > "$R/var/lib/keep/x"; echo id2 > "$R/etc/machine-id"
ln -s /persistent/etc/bar "$R/etc/bar"; ln -s ../persistent/etc/baz "$R/etc/baz"
ln -s /etc/static/qux "$R/etc/qux"; ln -s /nix/store/x-result "$R/result"
echo ignored > "$R/tmp/x"
echo x > "$R/mnt-file" 2>/dev/null || true
"#;

fn new_set() -> BTreeSet<Vec<u8>> {
    [
        &b"/var/lib/app"[..],
        b"/var/lib/app/new.txt",
        b"/etc/hardlink",
        b"/etc/old-mtime",
        b"/etc/fifo",
        b"/etc/sock",
        b"/etc/new\nline",
        b"/etc/bad\xff",
        b"/mnt-file",
        b"/result",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

fn modified_set() -> BTreeSet<Vec<u8>> {
    [&b"/etc/appended"[..], b"/etc/touched", b"/etc/linked"]
        .iter()
        .map(|s| s.to_vec())
        .collect()
}

fn vps(body: &str) -> (std::process::Output, tempfile::TempDir) {
    vps_in(&Layout::default(), body)
}

fn vps_in(layout: &Layout, body: &str) -> (std::process::Output, tempfile::TempDir) {
    use std::os::unix::fs::PermissionsExt;
    let out = tempfile::tempdir().unwrap();
    // Writable from a user namespace's root (uid 100000 on the host).
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = format!(
        "set -- {}\n{}{CHANGES}{body}",
        util::shell_quote(out.path()),
        BOOTED.replace("__CONFIG__", CONFIG)
    );
    (in_vps(layout, &script), out)
}

fn json(p: &Path) -> serde_json::Value {
    let b = std::fs::read(p).unwrap();
    serde_json::from_slice(&b)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&b)))
}

fn item_path(i: &serde_json::Value) -> Vec<u8> {
    match i["path_hex"].as_str() {
        Some(h) => (0..h.len() / 2)
            .map(|k| u8::from_str_radix(&h[2 * k..2 * k + 2], 16).unwrap())
            .collect(),
        None => i["path"].as_str().unwrap().as_bytes().to_vec(),
    }
}

fn by_change(v: &serde_json::Value, change: &str) -> BTreeSet<Vec<u8>> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["change"] == change)
        .map(item_path)
        .collect()
}

fn nul_set(p: &Path) -> BTreeSet<Vec<u8>> {
    std::fs::read(p)
        .unwrap()
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn show(s: &BTreeSet<Vec<u8>>) -> Vec<String> {
    s.iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

#[test]
fn reports_exactly_the_changes_since_the_baseline() {
    require_root!();
    ground_truth(&Layout::default());
}

#[test]
fn reports_exactly_the_changes_in_a_user_namespace() {
    require_root!();
    ground_truth(&Layout {
        userns: true,
        ..Layout::default()
    });
}

fn ground_truth(layout: &Layout) {
    let (o, out) = vps_in(
        layout,
        r#"
set +e
imp diff --json > "$OUT/diff.json"; echo $? > "$OUT/rc"
imp diff -0 > "$OUT/nul"
imp diff --all --json > "$OUT/all.json"
imp diff --shadowed --json > "$OUT/shadowed.json" 2> "$OUT/shadowed.err"; echo $? > "$OUT/rc-shadowed"
imp diff -l > "$OUT/long"
imp diff /etc -0 > "$OUT/etc"
imp diff > "$OUT/human"; true
"#,
    );
    assert_code(&o, 0);
    let o = out.path();
    let v = json(&o.join("diff.json"));
    assert_eq!(v["kind"], "Diff");
    assert_eq!(v["basis"]["kind"], "baseline");
    assert_eq!(std::fs::read_to_string(o.join("rc")).unwrap().trim(), "1");
    let (new, modified) = (by_change(&v, "new"), by_change(&v, "modified"));
    assert_eq!(show(&new), show(&new_set()), "new");
    assert_eq!(show(&modified), show(&modified_set()), "modified");
    assert_eq!(new, new_set());
    let all: BTreeSet<_> = new_set().union(&modified_set()).cloned().collect();
    assert_eq!(show(&nul_set(&o.join("nul"))), show(&all), "-0");
    assert!(v.get("shadowed").is_none());
    // /etc only.
    let etc: BTreeSet<_> = all
        .iter()
        .filter(|p| p.starts_with(b"/etc/"))
        .cloned()
        .collect();
    assert_eq!(show(&nul_set(&o.join("etc"))), show(&etc), "diff /etc");
    // --all: ignored paths and unchanged entries too, never persisted ones.
    let va = json(&o.join("all.json"));
    assert!(by_change(&va, "new").contains(b"/tmp/x".as_slice()));
    let unchanged = by_change(&va, "unchanged");
    assert!(
        unchanged.contains(b"/etc/same".as_slice()),
        "{:?}",
        show(&unchanged)
    );
    for p in [
        &b"/var/lib/keep/x"[..],
        b"/etc/machine-id",
        b"/etc/foo",
        b"/etc/bar",
        b"/etc/baz",
        b"/etc/qux",
        b"/persistent/etc",
    ] {
        for set in [&new, &modified, &unchanged] {
            assert!(!set.contains(p), "{} listed", String::from_utf8_lossy(p));
        }
    }
    // --shadowed: the data under the tmpfs on /srv/data.
    let err = std::fs::read_to_string(o.join("shadowed.err")).unwrap();
    assert!(!err.contains("error"), "{err}");
    // Host-made mounts are locked in a user namespace: said, not hidden.
    assert_eq!(
        layout.userns,
        err.contains("cannot look under /persistent"),
        "{err}"
    );
    let vs = json(&o.join("shadowed.json"));
    let sh = &vs["shadowed"].as_array().unwrap();
    assert_eq!(sh.len(), 1, "{vs}");
    assert_eq!(sh[0]["mount_point"], "/srv/data");
    assert_eq!(sh[0]["paths"], serde_json::json!(["/srv/data/hidden"]));
    // Human forms.
    let long = std::fs::read_to_string(o.join("long")).unwrap();
    assert!(
        long.contains("+        5 B  /var/lib/app/new.txt"),
        "{long}"
    );
    assert!(
        long.contains("M ") && long.contains("/etc/new\\nline"),
        "{long}"
    );
    let human = std::fs::read_to_string(o.join("human")).unwrap();
    assert!(human.contains("/var/lib/app"), "{human}");
    assert!(human.contains("total:"), "{human}");
}

#[test]
fn exit_zero_when_nothing_changed_and_shadowed_needs_the_flag() {
    require_root!();
    let out = tempfile::tempdir().unwrap();
    let script = format!(
        "set -- {}\n{}\nset +e\nimp diff > \"$OUT/human\"; echo $? > \"$OUT/rc\"\nimp diff --shadowed > \"$OUT/sh\"; echo $? > \"$OUT/rc-sh\"\n",
        util::shell_quote(out.path()),
        BOOTED.replace("__CONFIG__", CONFIG)
    );
    let o = in_vps(&Layout::default(), &script);
    assert_code(&o, 0);
    let p = out.path();
    let human = std::fs::read_to_string(p.join("human")).unwrap();
    assert_eq!(
        std::fs::read_to_string(p.join("rc")).unwrap().trim(),
        "0",
        "{human}"
    );
    assert!(human.contains("nothing would be lost"), "{human}");
    assert_eq!(
        std::fs::read_to_string(p.join("rc-sh")).unwrap().trim(),
        "1"
    );
    let sh = std::fs::read_to_string(p.join("sh")).unwrap();
    assert!(sh.contains("/srv/data/hidden"), "{sh}");
}

#[test]
fn orphans_are_listed_with_sizes_and_kept() {
    require_root!();
    let (o, out) = vps(r#"
mkdir -p "$R/persistent/var/lib/gone" "$R/persistent/old"
printf 12345 > "$R/persistent/var/lib/gone/f"; printf 123 > "$R/persistent/old/g"
imp diff --orphans --json > "$OUT/o.json" || true
test -f "$R/persistent/var/lib/gone/f" && test -f "$R/persistent/old/g"
"#);
    assert_code(&o, 0);
    let v = json(&out.path().join("o.json"));
    let orphans: Vec<(String, u64)> = v["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["path"].as_str().unwrap().to_owned(),
                x["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        orphans,
        vec![
            ("/persistent/old".to_owned(), 3),
            ("/persistent/var/lib/gone".to_owned(), 5)
        ]
    );
}

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
    let mut a = vec![
        "--root",
        root.to_str().unwrap(),
        "--config",
        "/nonexistent/config.toml",
        "diff",
    ];
    a.extend_from_slice(args);
    util::run(&a)
}

#[test]
fn without_a_baseline_it_says_so_and_uses_the_boot_time() {
    let d = tree();
    let o = imp(d.path(), &[]);
    assert_code(&o, 1);
    assert!(stdout(&o).contains("no baseline"), "{}", stdout(&o));
    let o = imp(d.path(), &["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["basis"]["kind"], "boot_time");
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
        r#"{"apiVersion":"impermctl/v1","kind":"WatchState","groups":[
            {"path":"/var/lib/x","writers":[{"comm":"foo","unit":"foo.service"},{"comm":"sh","unit":null}]}]}"#,
    )
    .unwrap();
    let o = imp(d.path(), &[]);
    assert!(
        stdout(&o).contains("/var/lib/x  (new; written by foo (foo.service), sh)"),
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
fn suggestion_makes_the_next_diff_empty_through_boot() {
    require_root!();
    let out = tempfile::tempdir().unwrap();
    let script = format!(
        r#"set -- {}
# The config lives outside the tree, as on NixOS (a link into /etc/static):
# editing it must not count as a change on the ephemeral root.
CFG="$1/config.toml"
{}
mkdir -p "$R/var/lib/app"; echo data > "$R/var/lib/app/new.txt"
echo 1 > "$R/etc/adjtime"
imp diff --suggest=toml > "$OUT/suggest.toml" || true
imp diff --suggest > "$OUT/suggest.nix" || true
cat "$OUT/suggest.toml" >> "$CFG"
set +e
imp boot > "$OUT/boot.out" 2>&1; echo $? > "$OUT/rc-boot"
imp diff > "$OUT/after"; echo $? > "$OUT/rc-after"
"#,
        util::shell_quote(out.path()),
        BOOTED.replace("__CONFIG__", CONFIG)
    );
    let o = in_vps(&Layout::default(), &script);
    assert_code(&o, 0);
    let p = out.path();
    let nix = std::fs::read_to_string(p.join("suggest.nix")).unwrap();
    assert!(
        nix.contains("environment.persistence.\"/persistent\" = {"),
        "{nix}"
    );
    assert!(
        nix.contains("directories = [\n    \"/var/lib/app\"\n  ];"),
        "{nix}"
    );
    assert!(
        nix.contains("files = [\n    \"/etc/adjtime\"\n  ];"),
        "{nix}"
    );
    let toml = std::fs::read_to_string(p.join("suggest.toml")).unwrap();
    assert!(
        toml.contains("[[persistence.files]]\npath = \"/etc/adjtime\""),
        "{toml}"
    );
    let boot = std::fs::read_to_string(p.join("boot.out")).unwrap();
    if boot.contains("not implemented yet") {
        // Gate: `impermctl boot` lands from another branch.
        eprintln!("skipped the boot half: `impermctl boot` reports \"not implemented yet\"");
        return;
    }
    let after = std::fs::read_to_string(p.join("after")).unwrap();
    assert_eq!(
        std::fs::read_to_string(p.join("rc-boot")).unwrap().trim(),
        "0",
        "{boot}"
    );
    assert_eq!(
        std::fs::read_to_string(p.join("rc-after")).unwrap().trim(),
        "0",
        "{after}\n{boot}"
    );
    assert!(after.contains("nothing would be lost"), "{after}");
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
        .args([
            "--root",
            d.path().to_str().unwrap(),
            "--config",
            "/nonexistent/c.toml",
        ])
        .args(["diff", "-0"])
        .output()
        .unwrap();
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("not running as root"), "{err}");
    assert!(err.contains("1 path could not be read"), "{err}");
    assert!(err.contains("/var/lib/secret"), "{err}");
    let got: Vec<&[u8]> = o.stdout.split(|&b| b == 0).collect();
    assert!(got.contains(&&b"/etc/a"[..]), "{}", stdout(&o));
    assert!(got.contains(&&b"/var/lib/secret"[..]), "{}", stdout(&o));
}

#[test]
fn boot_writes_the_baseline_diff_compares_with() {
    require_root!();
    let out = tempfile::tempdir().unwrap();
    let script = format!(
        r#"set -- {}
CFG="$1/config.toml"
cat > "$CFG" <<'TOML'
{CONFIG}TOML
mkdir -p "$R/var/lib/keep" "$R/etc" "$R/srv"; echo before > "$R/srv/old"
set +e
imp boot > "$1/boot.out" 2>&1; echo $? > "$1/rc-boot"
imp boot >> "$1/boot.out" 2>&1
imp diff > "$1/clean"; echo $? > "$1/rc-clean"
echo after > "$R/srv/new"; echo x > "$R/var/lib/keep/persisted"
imp diff -0 > "$1/nul"; echo $? > "$1/rc-nul"
true
"#,
        util::shell_quote(out.path())
    );
    let o = in_vps(&Layout::default(), &script);
    assert_code(&o, 0);
    let p = out.path();
    let read = |f: &str| std::fs::read_to_string(p.join(f)).unwrap();
    if read("boot.out").contains("not implemented yet") {
        eprintln!("skipped: `impermctl boot` reports \"not implemented yet\"");
        return;
    }
    assert_eq!(read("rc-boot").trim(), "0", "{}", read("boot.out"));
    assert_eq!(read("rc-clean").trim(), "0", "{}", read("clean"));
    assert!(
        read("clean").contains("basis: the baseline"),
        "{}",
        read("clean")
    );
    assert_eq!(read("rc-nul").trim(), "1");
    assert_eq!(std::fs::read(p.join("nul")).unwrap(), b"/srv/new\0");
}
