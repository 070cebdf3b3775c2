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
