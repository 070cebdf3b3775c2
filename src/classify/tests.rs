use std::path::Path;

use super::catalog::{CATALOG, EntryKind};
use super::*;

fn plain() -> Classifier {
    Classifier::new(Path::new("/nonexistent-root"), b"")
}

/// An example path each pattern matches (`*` → `x1`, `/**` → two levels below).
fn example(pat: &str) -> String {
    let p = pat.replace("/**", "/sub/file").replace('*', "x1");
    p.replace("x1x1", "x1")
}

#[test]
fn every_path_entry_classifies_its_example_as_its_kind() {
    let c = plain();
    for e in CATALOG.iter() {
        let Some(p) = &e.path else { continue };
        let ex = example(p);
        let got = c.classify(ex.as_bytes(), false);
        match e.kind {
            EntryKind::Regenerated => {
                assert!(matches!(got, Class::Regenerated { .. }), "{ex}: {got:?}")
            }
            EntryKind::Important => {
                let Class::Important {
                    consequence,
                    persist,
                    group,
                } = got
                else {
                    panic!("{ex}: {got:?}")
                };
                assert_eq!(Some(&consequence), e.consequence.as_ref());
                assert_eq!(Some(persist), e.persist);
                assert!(Path::new(&ex).starts_with(&group), "{ex} {group:?}");
            }
            EntryKind::Temporary => unreachable!("temporaries have names"),
        }
    }
}

#[test]
fn host_keys_are_important_files_with_the_consequence() {
    let c = plain();
    for k in [
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_ed25519_key.pub",
        "/etc/ssh/ssh_host_rsa_key",
    ] {
        let Class::Important {
            consequence,
            group,
            persist,
        } = c.classify(k.as_bytes(), false)
        else {
            panic!("{k}")
        };
        assert!(consequence.contains("changed host key after every reboot"));
        assert_eq!(group, Path::new(k));
        assert_eq!(persist, Persist::File);
    }
    assert_eq!(c.classify(b"/etc/ssh/sshd_config", false), Class::Ordinary);
}

#[test]
fn databases_identities_homes_group_at_their_directory() {
    let c = plain();
    for (p, g) in [
        ("/var/lib/postgresql/16/base/1/2", "/var/lib/postgresql"),
        ("/var/lib/acme/example.org/cert.pem", "/var/lib/acme"),
        ("/var/lib/tailscale/tailscaled.state", "/var/lib/tailscale"),
        ("/home/alice/notes.txt", "/home/alice"),
        ("/root/.ssh", "/root/.ssh"),
        ("/var/lib/redis-main/dump.rdb", "/var/lib/redis-main"),
    ] {
        match c.classify(p.as_bytes(), false) {
            Class::Important { group, persist, .. } => {
                assert_eq!(group, Path::new(g), "{p}");
                assert_eq!(persist, Persist::Directory);
            }
            other => panic!("{p}: {other:?}"),
        }
    }
}

#[test]
fn regenerated_and_ordinary() {
    let c = plain();
    for p in [
        "/var/lib/systemd/random-seed",
        "/var/lib/systemd/catalog/database",
        "/etc/.updated",
        "/var/.updated",
        "/var/run",
        "/etc/mtab",
        "/sbin/init",
        "/boot/init-other-configurations-contents.txt",
        "/bin/sh",
        "/usr/bin/env",
        "/etc/static",
        "/etc/NIXOS",
        "/etc/.clean",
    ] {
        assert!(!c.classify(p.as_bytes(), false).is_loss(), "{p}");
    }
    for p in ["/var/lib/demo/db", "/etc/passwd", "/srv/www/index.html"] {
        assert_eq!(c.classify(p.as_bytes(), false), Class::Ordinary, "{p}");
    }
}

#[test]
fn rules_read_the_tree_links_into_etc_static_and_the_clean_list() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    std::fs::create_dir_all(r.join("etc/ssh")).unwrap();
    std::os::unix::fs::symlink("/etc/static/ssh/sshd_config", r.join("etc/ssh/sshd_config"))
        .unwrap();
    std::os::unix::fs::symlink("../static/hosts", r.join("etc/ssh/rel")).unwrap();
    std::os::unix::fs::symlink("/nix/store/x-hosts", r.join("etc/hosts")).unwrap();
    std::os::unix::fs::symlink("/etc/static/x", r.join("etc/../outside")).unwrap();
    std::fs::write(r.join("etc/sudoers"), "x").unwrap();
    std::fs::write(r.join("etc/.clean"), "sudoers\n/etc/pam.d/other\n").unwrap();
    let c = Classifier::load(&Root::new(Some(r.to_path_buf()), None));
    let regen = |p: &str, link| !c.classify(p.as_bytes(), link).is_loss();
    assert!(regen("/etc/ssh/sshd_config", true));
    assert!(regen("/etc/ssh/rel", true));
    assert!(
        !regen("/etc/hosts", true),
        "a link into /nix/store is not /etc/static"
    );
    assert!(!regen("/outside", true), "only under /etc");
    assert!(
        !regen("/etc/ssh/sshd_config", false),
        "the rule is for symlinks"
    );
    assert!(regen("/etc/sudoers", false));
    assert!(regen("/etc/pam.d/other", false));
    assert!(!regen("/etc/shadow", false));
}

/// systemd's `DynamicUser=` links are made again at each start of their
/// service: not a loss (their data, under `private/`, is); other links are.
#[test]
fn systemd_private_links_are_regenerated() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    for d in ["var/lib/private/foo", "var/cache", "var/log", "srv"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    let link = |to: &str, at: &str| std::os::unix::fs::symlink(to, r.join(at)).unwrap();
    link("private/foo", "var/lib/foo");
    link("/var/cache/private/bar", "var/cache/bar");
    link("private/other", "var/log/baz");
    link("/srv/appdata", "var/lib/app");
    link("private/x", "srv/x");
    let c = Classifier::load(&Root::new(Some(r.to_path_buf()), None));
    let regen = |p: &str, link| !c.classify(p.as_bytes(), link).is_loss();
    assert!(regen("/var/lib/foo", true));
    assert!(regen("/var/cache/bar", true));
    assert!(!regen("/var/log/baz", true), "another service's name");
    assert!(!regen("/var/lib/app", true), "an app's own link");
    assert!(
        !regen("/srv/x", true),
        "only /var/lib, /var/cache, /var/log"
    );
    assert!(!regen("/var/lib/foo", false), "the rule is for symlinks");
    assert!(!regen("/var/lib/private/foo", false));
}

#[test]
fn temporaries_by_name() {
    let c = plain();
    for p in [
        "/etc/ssh/sshd_config.tmp",
        "/etc/passwd.tmp.Xa1b2",
        "/var/lib/systemd/.#random-seedAbc",
        "/etc/foo.dpkg-new",
    ] {
        assert!(c.is_temporary(p.as_bytes()), "{p}");
    }
    for p in ["/etc/tmp", "/var/lib/demo/db", "/etc/x.tmpl"] {
        assert!(!c.is_temporary(p.as_bytes()), "{p}");
    }
}

/// Issue 13's trial: `/root/.ssh` without `/**` matched the directory
/// alone, so a key written into it was an ordinary file of a second group.
#[test]
fn what_is_written_inside_an_important_directory_is_important_too() {
    let c = plain();
    for e in CATALOG.iter().filter(|e| e.kind == EntryKind::Important) {
        if e.persist == Some(crate::config::Kind::File) {
            continue;
        }
        let p = e.path.as_deref().unwrap_or_default();
        let dir = example(p.strip_suffix("/**").unwrap_or(p));
        for inside in [format!("{dir}/f"), format!("{dir}/a/b"), dir.clone()] {
            match c.classify(inside.as_bytes(), false) {
                Class::Important { group, .. } => assert_eq!(group, Path::new(&dir), "{inside}"),
                other => panic!("{inside} ({p}): {other:?}"),
            }
        }
    }
    assert!(matches!(
        c.classify(b"/root/.ssh/authorized_keys", false),
        Class::Important { .. }
    ));
}

/// Issue 13's trial: the watcher asked to persist `/run/mount` (a root
/// whose `/run` is on the ephemeral filesystem). Every area the config
/// rejects an entry under is never a loss nor a suggestion, for `diff`
/// (which does not walk there) and the watcher (which drops it) alike.
#[test]
fn what_the_config_rejects_is_never_a_loss_nor_suggested() {
    let c = plain();
    for area in ["/nix", "/proc", "/sys", "/dev", "/run"] {
        for p in [
            area.to_string(),
            format!("{area}/mount/utab"),
            format!("{area}/x"),
        ] {
            let class = c.classify(p.as_bytes(), false);
            assert!(!class.is_loss(), "{p}: {class:?}");
            assert_eq!(never_persisted(p.as_bytes()), Some(area), "{p}");
            // The config refuses the same path.
            let cfg = format!(
                "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [\"{p}\"]\n"
            );
            let err = crate::config::parse(&cfg, Path::new("c.toml")).unwrap_err();
            assert!(format!("{err:#}").contains(area), "{p}: {err:#}");
        }
    }
    for p in [
        "/runx",
        "/run2/a",
        "/devices",
        "/nixos",
        "/var/run/x",
        "/etc/nix/nix.conf",
    ] {
        assert_eq!(never_persisted(p.as_bytes()), None, "{p}");
    }
    // The walk leaves out exactly these areas too.
    assert_eq!(
        crate::config::FORBIDDEN_PREFIXES,
        ["/nix", "/proc", "/sys", "/dev", "/run"]
    );
}

/// Issue 13's trial: the watcher warned about writes to a `method =
/// "copy"` file (asking to declare what is declared). A file `boot` copied
/// in (state.json) is no loss for the watcher's classifier; `diff`'s
/// (`load_catalog`) leaves it to the comparison with the persistent copy.
#[test]
fn copy_files_boot_copied_in_are_no_loss_for_the_watcher() {
    use crate::state::{BootState, How, Recorded};
    let t = tempfile::tempdir().unwrap();
    let root = Root::new(Some(t.path().to_path_buf()), None);
    std::fs::create_dir_all(root.run_dir()).unwrap();
    let rec = |p: &str, how| Recorded {
        path: p.into(),
        kind: crate::config::Kind::File,
        source: format!("/persistent{p}").into(),
        how,
        seeded_ns: None,
    };
    let st = BootState {
        config: "/etc/impermctl/config.toml".into(),
        time: 0,
        runs: 1,
        entries: vec![
            rec("/etc/shadow", How::Copied),
            rec("/etc/machine-id", How::Bound),
        ],
        pending: Vec::new(),
        failed: Vec::new(),
    };
    crate::state::write(&root.state_file(), &st).unwrap();
    let watcher = Classifier::load(&root);
    assert_eq!(
        watcher.classify(b"/etc/shadow", false),
        Class::Regenerated { why: COPIED.into() }
    );
    assert!(watcher.classify(b"/etc/machine-id", false).is_loss());
    assert!(watcher.classify(b"/etc/shadow2", false).is_loss());
    assert!(
        Classifier::load_catalog(&root)
            .classify(b"/etc/shadow", false)
            .is_loss()
    );
}

/// The index that skips patterns by first component skips only what
/// cannot match: a path under a first component no pattern names is
/// still asked of the rules (an absolute `/etc/.clean` line anywhere),
/// and one under a named component of every entry there, in order.
#[test]
fn a_first_component_no_pattern_names_still_meets_the_rules() {
    let c = Classifier::new(Path::new("/nonexistent-root"), b"/srv/app/gen\nsudoers\n");
    let regen = |p: &str| !c.classify(p.as_bytes(), false).is_loss();
    assert!(regen("/srv/app/gen"), "an absolute clean line outside /etc");
    assert!(regen("/etc/sudoers"));
    assert!(!regen("/srv/app/other"));
    assert!(!regen("/t004/m001/f1.dat"));
    assert!(regen("/var/lib/systemd/random-seed"));
    assert!(c.classify(b"/var/lib/acme/x/cert", false) != Class::Ordinary);
    assert_eq!(c.classify(b"/variable/x", false), Class::Ordinary);
}
