//! Persistence roots where people put them (issue 11, classes 1 and 7):
//! under `/nix`, nested, sub-directories of one mounted filesystem, an
//! entry's own root inside another; and failure isolation: an unusable
//! root refuses only its own entries, the others are still bound.

use super::{block, dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code};

/// Write `$CFG` from `toml`, boot, and print `rc=`, the device of each
/// listed target and of each listed root's filesystem (`dev:PATH=`).
fn boot_with(toml: &str, prepare: &str, targets: &[&str]) -> std::process::Output {
    let mut body = format!(
        "cat > \"$CFG\" <<'T'\n{toml}T\n{prepare}\nrc=0; imp boot 2>\"$R/err\" || rc=$?\necho \"rc=$rc\"\n"
    );
    for t in targets {
        body.push_str(&format!("echo \"dev:{t}=$(devof {t})\"\n"));
    }
    body.push_str("echo BEGIN err; cat \"$R/err\"; echo END err\n");
    body.push_str("echo BEGIN status; imp status || true; echo END status\n");
    vps(&Layout::default(), &body)
}

/// The seed config's entries (all in `/persistent`).
pub(super) const SEED_ENTRIES: [&str; 4] = [
    "/etc/nixos",
    "/var/log",
    "/var/lib/nixos",
    "/etc/machine-id",
];

/// [`boot_with`]: `boot` exits `rc`, each `(target, root)` of `bound` is
/// bound from `root`'s filesystem, and nothing is mounted on `unbound`.
#[track_caller]
pub(super) fn boots(
    toml: &str,
    prepare: &str,
    rc: &str,
    bound: &[(&str, &str)],
    unbound: &[&str],
) -> std::process::Output {
    let mut targets: Vec<&str> = bound.iter().flat_map(|(t, r)| [*t, *r]).collect();
    targets.extend(unbound);
    targets.dedup();
    let o = boot_with(toml, prepare, &targets);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), rc, "{}", dump(&o));
    for (target, root) in bound {
        let (t, d) = (
            val(&o, &format!("dev:{target}")),
            val(&o, &format!("dev:{root}")),
        );
        assert!(
            !t.is_empty() && t == d,
            "{target} is not bound from {root}'s filesystem\n{}",
            dump(&o)
        );
    }
    for t in unbound {
        let dev = val(&o, &format!("dev:{t}"));
        assert_eq!(dev, "", "{t} must not be mounted\n{}", dump(&o));
    }
    o
}

/// Each of `targets` with `root`, for [`boots`].
pub(super) fn from<'a>(root: &'a str, targets: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    targets.iter().map(|t| (*t, root)).collect()
}

#[test]
fn two_roots_on_one_mounted_filesystem() {
    require_root!();
    let toml = r#"version = 1
[[persistence]]
path = "/persistent/system"
[[persistence.directories]]
path = "/etc/nixos"
[[persistence.files]]
path = "/etc/machine-id"
[[persistence]]
path = "/persistent/home"
[[persistence.directories]]
path = "/home/alice"
"#;
    let o = boots(
        toml,
        "mkdir -p \"$R/persistent/system\" \"$R/persistent/home\"",
        "0",
        &from(
            "/persistent",
            &["/etc/nixos", "/etc/machine-id", "/home/alice"],
        ),
        &[],
    );
    assert!(
        !block(&o, "err").contains("not a mount point"),
        "{}",
        dump(&o)
    );
}

#[test]
fn a_root_under_nix_and_nested_roots() {
    require_root!();
    // /nix is the only disk (tmpfs-root machines): /nix/persist, with a
    // nested root /nix/persist/home and an entry's own root inside it.
    let toml = r#"version = 1
[[persistence]]
path = "/nix/persist"
[[persistence.directories]]
path = "/var/lib/nixos"
[[persistence.files]]
path = "/etc/machine-id"
[[persistence]]
path = "/nix/persist/home"
[[persistence.directories]]
path = "/home/bob"
[[persistence]]
path = "/nix/persist/db"
[[persistence.directories]]
path = "/var/lib/postgresql"
"#;
    let targets = [
        "/var/lib/nixos",
        "/etc/machine-id",
        "/home/bob",
        "/var/lib/postgresql",
    ];
    boots(
        toml,
        "mount -o remount,rw,bind \"$R/nix\" 2>/dev/null || mount -o remount,rw \"$R/nix\"\nmkdir -p \"$R/nix/persist/home\" \"$R/nix/persist/db\"",
        "0",
        &from("/nix", &targets),
        &[],
    );
}

#[test]
fn nested_roots_on_their_own_filesystems() {
    require_root!();
    // /persistent and /persistent/home, each its own mount.
    let toml = format!(
        "{}[[persistence]]\npath = \"/persistent/home\"\n[[persistence.directories]]\npath = \"/home/carol\"\n",
        crate::util::SEED
    );
    boots(
        &toml,
        "mkdir -p \"$R/persistent/home\"; mount -t tmpfs tank/ct/101/home \"$R/persistent/home\"",
        "0",
        &[
            ("/etc/nixos", "/persistent"),
            ("/home/carol", "/persistent/home"),
        ],
        &[],
    );
}

/// The seed root is fine, a second root is not usable: the seed's entries
/// are bound, the second root's entries are refused loudly, exit 1, and
/// `status` says why instead of "run impermctl boot".
fn second_root_unusable(prepare: &str, why: &str) {
    let toml = format!(
        "{}[[persistence]]\npath = \"/data\"\n[[persistence.directories]]\npath = \"/srv/www\"\n",
        crate::util::SEED
    );
    // Partly done: exit 1.
    let o = boots(
        &toml,
        prepare,
        "1",
        &from("/persistent", &SEED_ENTRIES),
        &["/srv/www"],
    );
    let err = block(&o, "err");
    assert!(
        err.contains("refusing 1 entry of /data") && err.contains(why),
        "{err}"
    );
    assert!(err.contains("1 FAILED"), "{err}");
    let status = block(&o, "status");
    let line = status
        .lines()
        .find(|l| l.contains("/srv/www"))
        .unwrap_or_default();
    assert!(!line.contains("run `impermctl boot`"), "{status}");
    assert!(line.contains("/data is unusable"), "{status}");
}

#[test]
fn a_second_root_not_mounted_refuses_only_its_entries() {
    require_root!();
    second_root_unusable("mkdir -p \"$R/data\"", "ephemeral root");
}

#[test]
fn a_second_root_missing_refuses_only_its_entries() {
    require_root!();
    second_root_unusable("", "does not exist");
}

#[test]
fn a_second_root_that_is_a_symlink_refuses_only_its_entries() {
    require_root!();
    second_root_unusable(
        "mkdir -p \"$R/elsewhere\"; ln -s /elsewhere \"$R/data\"",
        "symlink",
    );
}

/// Entries that cannot be applied (wrong type on either side, an owner that
/// does not exist yet) fail alone with their reason; the rest are bound;
/// the exit status says something failed. Only an unparseable config
/// refuses everything.
#[test]
fn an_entry_that_cannot_be_applied_fails_alone() {
    require_root!();
    let toml = format!(
        "{}[[persistence.directories]]\npath = \"/srv/wrongtype\"\n[[persistence.files]]\npath = \"/etc/wrongsource\"\n[[persistence.directories]]\npath = \"/var/lib/postgresql\"\nuser = \"postgres\"\ngroup = \"postgres\"\n",
        crate::util::SEED
    );
    let o = boots(
        &toml,
        "mkdir -p \"$R/srv\" \"$R/persistent/etc/wrongsource\"; echo x > \"$R/srv/wrongtype\"",
        "1",
        &from("/persistent", &SEED_ENTRIES),
        &["/srv/wrongtype", "/var/lib/postgresql"],
    );
    let err = block(&o, "err");
    assert!(err.contains("/srv/wrongtype is not a directory"), "{err}");
    assert!(
        err.contains("/persistent/etc/wrongsource is not a regular file"),
        "{err}"
    );
    assert!(err.contains("user \"postgres\" does not exist"), "{err}");
    assert!(err.contains("3 FAILED"), "{err}");
}

#[test]
fn only_an_unparseable_config_refuses_everything() {
    require_root!();
    let o = boots(
        "version = 1\n[[persistence]\npath = \"/persistent\"\n",
        "",
        "2",
        &[],
        &SEED_ENTRIES,
    );
    let err = block(&o, "err");
    assert!(err.contains("config.toml:2:"), "{err}");
}
