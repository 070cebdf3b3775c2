//! The home-owner rule (`plan::homes`) as a table: which home a created
//! level lies in and the perms it gets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::entry;
use crate::config::{FileMethod, Kind, Perms};
use crate::plan::homes::{
    Home, candidates, decide, leftover, level_in_home, parse_passwd, repairable,
};

const PASSWD: &str = "root:x:0:0::/root:/bin/sh\n\
    alice:x:1000:100::/home/alice/:/bin/sh\n\
    bob:x:1001:100::/home/bob:/bin/sh\n\
    postgres:x:71:71::/var/lib/postgresql:/bin/false\n\
    nobody:x:65534:65534::/var/empty:/bin/false\n\
    slash:x:1002:100::/:/bin/sh\n\
    dots:x:1003:100::/home/../etc:/bin/sh\n\
    broken\n";

fn homes(existing: &[(&str, u32, u32)]) -> Vec<Home> {
    let ex: BTreeMap<PathBuf, (u32, u32)> = existing
        .iter()
        .map(|&(p, u, g)| (PathBuf::from(p), (u, g)))
        .collect();
    decide(&parse_passwd(PASSWD), &ex)
}

fn perms(user: &str, group: &str, mode: u32) -> Option<Perms> {
    Some(Perms {
        user: user.into(),
        group: group.into(),
        mode,
    })
}

#[test]
fn passwd_gives_the_normal_users_homes() {
    let pw = parse_passwd(PASSWD);
    let got: Vec<(&Path, u32, u32)> = pw
        .iter()
        .map(|h| (h.path.as_path(), h.uid, h.gid))
        .collect();
    assert_eq!(
        got,
        [
            (Path::new("/home/alice"), 1000, 100),
            (Path::new("/home/bob"), 1001, 100)
        ]
    );
    let paths = [
        "/home/alice/.config/gh/hosts.yml",
        "/home/carol/x",
        "/home/shared",
        "/var/lib/x",
    ];
    let c = candidates(&pw, paths.iter().map(Path::new));
    let want = ["/home/alice", "/home/carol", "/home/shared"].map(PathBuf::from);
    assert_eq!(c, want);
}

/// The entry itself: its declared perms, else (root:root 0755, as every
/// rendered entry carries) the home's owner.
#[test]
fn an_undeclared_entry_in_a_home_is_the_homes() {
    let hs = homes(&[]);
    let ssh = entry(Kind::Directory, "/home/alice/.ssh", FileMethod::Auto);
    let got = level_in_home(&ssh, &hs, Path::new("/home/alice/.ssh"), true);
    assert_eq!(got, perms("1000", "100", 0o755));
    let whole = entry(Kind::Directory, "/home/bob", FileMethod::Auto);
    let got = level_in_home(&whole, &hs, Path::new("/home/bob"), true);
    assert_eq!(got, perms("1001", "100", 0o700));
    let mut declared = ssh.clone();
    declared.perms.mode = 0o700;
    assert_eq!(
        level_in_home(&declared, &hs, Path::new("/home/alice/.ssh"), true),
        None
    );
    let var = entry(Kind::Directory, "/var/lib/x", FileMethod::Auto);
    assert_eq!(
        level_in_home(&var, &hs, Path::new("/var/lib/x"), true),
        None
    );
}

#[test]
fn created_levels_take_the_homes_owner() {
    // bob's home exists owned by uid 4242 (no passwd entry): its owner wins;
    // carol is not in passwd but /home/carol exists (4343); /home/shared is
    // root's; alice's home does not exist yet (passwd's ids).
    let hs = homes(&[
        ("/home/bob", 4242, 4242),
        ("/home/carol", 4343, 100),
        ("/home/shared", 0, 0),
    ]);
    let dir = |p: &str| entry(Kind::Directory, p, FileMethod::Auto);
    let file = |p: &str| entry(Kind::File, p, FileMethod::Auto);
    let mut gh = file("/home/alice/.config/gh/hosts.yml");
    gh.parent = Perms {
        user: "alice".into(),
        group: "users".into(),
        mode: 0o700,
    };
    let mut nvim = dir("/home/alice/.local/share/nvim");
    nvim.perms.user = "alice".into();
    let mut declared = dir("/home/alice/.var/app/x");
    declared.parent = Perms {
        user: "alice".into(),
        group: "wheel".into(),
        mode: 0o750,
    };
    let mut users_entry = dir("/home/alice/.ssh/keys");
    users_entry.home = Some("/home/alice".into());
    let table: &[(&crate::config::Entry, &str, Option<Perms>)] = &[
        // The trial's repro: every level between the home and the leaf.
        (&nvim, "/home/alice/.local", perms("1000", "100", 0o755)),
        (
            &nvim,
            "/home/alice/.local/share",
            perms("1000", "100", 0o755),
        ),
        (&gh, "/home/alice/.config", perms("1000", "100", 0o755)),
        // A file's declared parent: its direct parent only.
        (
            &gh,
            "/home/alice/.config/gh",
            perms("alice", "users", 0o700),
        ),
        // A directory's declared parent: every level.
        (
            &declared,
            "/home/alice/.var",
            perms("alice", "wheel", 0o750),
        ),
        // A missing home: 0700, the user's.
        (&gh, "/home/alice", perms("1000", "100", 0o700)),
        // Above a home: the other rules (root).
        (&gh, "/home", None),
        // A file deep in a home.
        (
            &file("/home/bob/a/b/c/d"),
            "/home/bob/a/b",
            perms("4242", "4242", 0o755),
        ),
        (
            &file("/home/bob/a/b/c/d"),
            "/home/bob/a/b/c",
            perms("4242", "4242", 0o755),
        ),
        // A home not in passwd, owned by a uid with no entry.
        (
            &dir("/home/carol/.cache/x"),
            "/home/carol/.cache",
            perms("4343", "100", 0o755),
        ),
        // Not a user's home: root's, and one that exists nowhere.
        (&dir("/home/shared/proj/x"), "/home/shared/proj", None),
        (&dir("/home/projects/a/b"), "/home/projects/a", None),
        // System users' homes are not homes here.
        (
            &dir("/var/lib/postgresql/16/main"),
            "/var/lib/postgresql/16",
            None,
        ),
        // users.<name> entries keep their own rule (`levels`).
        (&users_entry, "/home/alice/.ssh", None),
    ];
    for (e, level, want) in table {
        let got = level_in_home(e, &hs, Path::new(level), false);
        assert_eq!(&got, want, "{} at {level}", e.path.display());
    }
}

/// `/home/<name>` above an entry that neither passwd nor the disk knows
/// (NixOS' pass before users exist): unresolved, so the entry is deferred.
#[test]
fn a_home_nobody_has_yet_is_unresolved() {
    let pw = parse_passwd(PASSWD);
    let paths = [
        "/home/alice/x",
        "/home/erin/.cache/x",
        "/home/shared/p",
        "/home/frank",
        "/srv/x",
    ];
    let c = candidates(&pw, paths.iter().map(Path::new));
    let ex: BTreeMap<PathBuf, (u32, u32)> = [(PathBuf::from("/home/shared"), (0, 0))].into();
    let got = crate::plan::homes::unresolved(&c, &pw, &ex);
    assert_eq!(got, ["/home/erin", "/home/frank"].map(PathBuf::from));
}

/// Which directories of an entry `boot` repairs when they are leftovers:
/// the levels strictly below its home; never the entry, the home, above it
/// or outside homes.
#[test]
fn leftovers_are_looked_for_between_the_home_and_the_entry() {
    let hs = homes(&[("/home/shared", 0, 0)]);
    let dir = |p: &str| entry(Kind::Directory, p, FileMethod::Auto);
    let file = |p: &str| entry(Kind::File, p, FileMethod::Auto);
    let mut users_entry = dir("/home/alice/.local/share/keyrings");
    users_entry.home = Some("/home/alice".into());
    let mut users_home = dir("/home/alice");
    users_home.home = Some("/home/alice".into());
    let table: &[(crate::config::Entry, &[&str])] = &[
        (
            dir("/home/alice/.local/share/nvim"),
            &["/home/alice/.local", "/home/alice/.local/share"],
        ),
        (
            file("/home/alice/.config/gh/hosts.yml"),
            &["/home/alice/.config", "/home/alice/.config/gh"],
        ),
        (file("/home/bob/a/b/c"), &["/home/bob/a", "/home/bob/a/b"]),
        (
            users_entry,
            &["/home/alice/.local", "/home/alice/.local/share"],
        ),
        // The entry itself, the home itself, no home.
        (dir("/home/alice/.ssh"), &[]),
        (file("/home/alice/.bash_history"), &[]),
        (users_home, &[]),
        (dir("/home/alice"), &[]),
        (dir("/home/shared/proj/x"), &[]),
        (dir("/home/nobody/x/y"), &[]),
        (dir("/var/lib/postgresql/16/main"), &[]),
        (dir("/srv/app/data"), &[]),
    ];
    for (e, want) in table {
        let want: Vec<PathBuf> = want.iter().map(PathBuf::from).collect();
        assert_eq!(repairable(e, &hs), want, "{}", e.path.display());
    }
}

/// A leftover is exactly root:root 0755, given a non-root owner with the
/// same mode; anything else someone made so and is kept.
#[test]
fn only_root_root_0755_is_a_leftover_and_only_the_owner_changes() {
    let alice = (1000, 100, 0o755);
    let table = [
        ((0, 0, 0o755), alice, true),
        ((0, 0, 0o700), alice, false),
        ((0, 0, 0o750), alice, false),
        ((0, 0, 0o1755), alice, false),
        ((0, 10, 0o755), alice, false),
        ((1234, 1234, 0o755), alice, false),
        ((1000, 100, 0o755), alice, false),
        ((0, 0, 0o755), (0, 0, 0o755), false),
        ((0, 0, 0o755), (1000, 100, 0o700), false),
        ((0, 0, 0o755), (1000, 0, 0o755), true),
    ];
    for (found, want, is) in table {
        assert_eq!(leftover(found, want), is, "{found:?} -> {want:?}");
    }
}
