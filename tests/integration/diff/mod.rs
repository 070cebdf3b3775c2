//! `impermctl diff` on generated trees with a known ground truth: fake VPS
//! layouts (real mounts in a private namespace) and plain tempdir roots.

use std::collections::BTreeSet;
use std::path::Path;

use crate::require_root;
use crate::util::{self, Layout, assert_code, in_vps};

mod attrs;
mod boot;
mod fast;
mod ignored;
mod judge;
mod mapped;
mod moved;
mod moved_binds;
mod notes;
mod plain;
mod replaced;
mod signal;
mod undeclared_binds;

/// The file `name` a body wrote to `dir` (empty when missing).
fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// In the artefacts `out`: `boot` exited 0 (`rc-boot`, `boot.out`) and the
/// diff after it (`after`, `rc-after`) exited 0 with nothing to lose.
#[track_caller]
fn booted_and_nothing_lost(out: &Path) {
    let (boot, after) = (read(out, "boot.out"), read(out, "after"));
    assert_eq!(read(out, "rc-boot").trim(), "0", "{boot}");
    assert_eq!(read(out, "rc-after").trim(), "0", "{after}\n{boot}");
    assert!(after.contains("nothing would be lost"), "{after}");
}

const CONFIG: &str = r#"version = 1
[[persistence]]
path = "/persistent"
[[persistence.directories]]
path = "/var/lib/keep"
[[persistence.files]]
path = "/etc/machine-id"
"#;

/// Run `body` in a fake VPS ([`in_vps`]) with `$OUT` (also `$1`) a fresh
/// directory for its artefacts (returned; writable from a user namespace)
/// and `config` in `$CFG` = `$OUT/config.toml`: outside the tree, as on
/// NixOS (a link into /etc/static), so editing it changes nothing on the
/// ephemeral root.
fn vps_with(
    layout: &Layout,
    config: &str,
    body: &str,
) -> (std::process::Output, tempfile::TempDir) {
    use std::os::unix::fs::PermissionsExt;
    let out = tempfile::tempdir().unwrap();
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = format!(
        "OUT={}\nset -- \"$OUT\"\nCFG=\"$OUT/config.toml\"\ncat > \"$CFG\" <<'TOML'\n{config}\nTOML\n{body}",
        util::shell_quote(out.path())
    );
    (in_vps(layout, &script), out)
}

/// [`vps_with`], the script must exit 0; the artefacts' directory.
#[track_caller]
fn run_with(config: &str, body: &str) -> tempfile::TempDir {
    let (o, out) = vps_with(&Layout::default(), config, body);
    assert_code(&o, 0);
    out
}

/// Bash that builds the "booted" tree (config [`CONFIG`]): persisted binds,
/// a symlink into `/persistent`, data shadowed under a mount, then the baseline.
const BOOTED: &str = r#"
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
    vps_with(layout, CONFIG, &format!("{BOOTED}{CHANGES}{body}"))
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
        .filter(|i| i["change"] == change && i["class"] != "regenerated")
        .map(item_path)
        .collect()
}

/// Items the catalog classifies as regenerated (not a loss).
fn regenerated(v: &serde_json::Value) -> BTreeSet<Vec<u8>> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["class"] == "regenerated")
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
    assert_eq!(v["basis"]["method"], "baseline");
    assert_eq!(std::fs::read_to_string(o.join("rc")).unwrap().trim(), "1");
    let (new, modified) = (by_change(&v, "new"), by_change(&v, "modified"));
    assert_eq!(show(&new), show(&new_set()), "new");
    assert_eq!(show(&modified), show(&modified_set()), "modified");
    assert_eq!(new, new_set());
    // A NixOS /etc link into /etc/static: listed, as regenerated.
    assert_eq!(show(&regenerated(&v)), ["/etc/qux"]);
    let all: BTreeSet<_> = new_set().union(&modified_set()).cloned().collect();
    assert_eq!(show(&nul_set(&o.join("nul"))), show(&all), "-0");
    // Plain diff says in brief what lies under the tmpfs on /srv/data
    // (trial-s11 N2b; listed in full by --shadowed below).
    assert_eq!(
        v["shadowed"],
        serde_json::json!([{"bytes": 16, "mount_point": "/srv/data", "paths": ["/srv/data/hidden"]}]),
        "{v}"
    );
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

/// Data hidden under a mount point is lost at the next reboot: plain
/// `diff` says so in brief (size, count, first paths, exit 1) and points
/// to `--shadowed`, which lists it (trial-s11 N2b: plain diff said
/// "nothing would be lost", exit 0). Once nothing is hidden: exit 0.
#[test]
fn plain_diff_says_in_brief_what_is_shadowed_and_exits_zero_when_nothing_changed() {
    require_root!();
    let out = run_with(
        CONFIG,
        &format!(
            "{BOOTED}\nset +e\nimp diff > \"$OUT/human\"; echo $? > \"$OUT/rc\"\nimp diff --json > \"$OUT/json\"\nimp diff --shadowed > \"$OUT/sh\"; echo $? > \"$OUT/rc-sh\"\numount \"$R/srv/data\"\nimp diff > \"$OUT/none\"; echo $? > \"$OUT/rc-none\"\n"
        ),
    );
    let p = out.path();
    let human = read(p, "human");
    assert_eq!(read(p, "rc").trim(), "1", "{human}");
    assert!(
        human.contains("no changed file would be lost at the next reboot; but see below"),
        "{human}"
    );
    assert!(
        human.contains("shadowed: 16 B in 1 entry under the mount point /srv/data, lost at the next reboot: /srv/data/hidden (")
            && human.contains("`impermctl diff --shadowed` lists them"),
        "{human}"
    );
    let json = read(p, "json");
    assert!(json.contains("/srv/data/hidden"), "{json}");
    assert_eq!(read(p, "rc-sh").trim(), "1");
    let sh = read(p, "sh");
    assert!(
        sh.contains("lost at the next reboot:\n  /srv/data/hidden"),
        "{sh}"
    );
    let none = read(p, "none");
    assert_eq!(read(p, "rc-none").trim(), "0", "{none}");
    assert!(none.contains("nothing would be lost"), "{none}");
    assert!(!none.contains("shadowed"), "{none}");
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
