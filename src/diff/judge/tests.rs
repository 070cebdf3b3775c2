use super::*;
use crate::config::Kind as Persist;
use crate::diff::Basis;

fn it(p: &str, kind: Kind, change: Change, size: u64) -> Item {
    Item {
        path: p.as_bytes().to_vec(),
        kind,
        change,
        size,
        ino: size + 1000,
        nlink: 1,
        replaced: false,
    }
}

fn diff(items: Vec<Item>) -> Diff {
    Diff {
        basis: Basis::Baseline { created: 0 },
        source: crate::diff::Source::Walk {
            reason: "test".into(),
        },
        items,
        unreadable: Vec::new(),
        entries: 0,
        ignored: None,
    }
}

fn nixos_boot() -> Vec<Item> {
    use Change::*;
    vec![
        it("/etc/ssh", Kind::Dir, New, 0),
        it("/etc/ssh/ssh_host_ed25519_key", Kind::File, New, 399),
        it("/etc/ssh/ssh_host_ed25519_key.pub", Kind::File, New, 91),
        it("/etc/mtab", Kind::Symlink, New, 19),
        it("/var/lib/private", Kind::Dir, New, 0),
        it("/var/lib/systemd", Kind::Dir, New, 0),
        it("/var/lib/systemd/random-seed", Kind::File, New, 512),
        it("/var/lib/systemd/catalog", Kind::Dir, New, 0),
        it("/var/lib/systemd/catalog/database", Kind::File, New, 9000),
        it("/var/run", Kind::Symlink, New, 6),
    ]
}

#[test]
fn a_nixos_boot_shows_only_the_host_keys_important_with_the_consequence() {
    let d = diff(nixos_boot());
    let root = Root::new(Some("/nonexistent-root".into()), None);
    let mut cx = Context::default();
    let j = judge(&d, &root, &mut cx, false, true);
    let names: Vec<_> = j
        .groups
        .iter()
        .map(|g| g.path.display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/ssh/ssh_host_ed25519_key.pub"
        ]
    );
    for g in &j.groups {
        assert_eq!(g.class, GroupClass::Important);
        assert_eq!(g.persist, Persist::File);
        assert!(
            g.consequence
                .as_deref()
                .unwrap()
                .contains("changed host key")
        );
    }
    assert!(j.loses_data());
    assert_eq!(j.regenerated, 4, "seed, catalog db, mtab, /var/run");
    // Empty and regenerated-only directories are not shown.
    let shown: Vec<_> = d
        .items
        .iter()
        .zip(&j.visible)
        .filter(|(_, v)| **v)
        .map(|(i, _)| String::from_utf8_lossy(&i.path).into_owned())
        .collect();
    assert_eq!(
        shown.len(),
        3,
        "the keys and /etc/ssh holding them: {shown:?}"
    );
}

#[test]
fn all_lists_regenerated_groups_labelled_and_after_the_losses() {
    let mut items = nixos_boot();
    items.push(it("/var/lib/demo", Kind::Dir, Change::New, 0));
    items.push(it("/var/lib/demo/db", Kind::File, Change::New, 1 << 20));
    items.sort_by(|a, b| a.path.cmp(&b.path));
    let d = diff(items);
    let root = Root::new(Some("/nonexistent-root".into()), None);
    let j = judge(&d, &root, &mut Context::default(), true, true);
    let classes: Vec<_> = j.groups.iter().map(|g| g.class).collect();
    assert_eq!(
        classes[0],
        GroupClass::Important,
        "important first, even if smaller"
    );
    assert_eq!(j.groups[2].path, Path::new("/var/lib/demo"));
    assert_eq!(j.groups[2].class, GroupClass::Ordinary);
    assert!(
        j.groups[3..]
            .iter()
            .all(|g| g.class == GroupClass::Regenerated && g.regenerated.is_some())
    );
    let j = judge(&d, &root, &mut Context::default(), false, true);
    assert_eq!(j.groups.len(), 3);
}

#[test]
fn nothing_but_regenerated_entries_loses_nothing() {
    let d = diff(
        nixos_boot()
            .into_iter()
            .filter(|i| !i.path.starts_with(b"/etc/ssh/"))
            .collect(),
    );
    let root = Root::new(Some("/nonexistent-root".into()), None);
    let j = judge(&d, &root, &mut Context::default(), false, true);
    assert!(!j.loses_data(), "{:?}", j.groups);
}

#[test]
fn a_declared_entry_that_is_not_persisted_is_a_loss_with_its_reason() {
    let d = diff(vec![it(
        "/etc/ssh/ssh_host_ed25519_key",
        Kind::File,
        Change::Unchanged,
        399,
    )]);
    let root = Root::new(Some("/nonexistent-root".into()), None);
    let mut cx = Context {
        not_persisted: vec![(
            PathBuf::from("/etc/ssh/ssh_host_ed25519_key"),
            true,
            "a plain file".into(),
        )],
        ..Context::default()
    };
    let j = judge(&d, &root, &mut cx, false, true);
    assert!(j.loses_data());
    assert_eq!(j.groups[0].declared.as_deref(), Some("a plain file"));
    assert_eq!(j.groups[0].bytes, 399);
}

#[test]
fn hard_links_count_once_and_a_lone_file_is_persisted_as_a_file() {
    let linked = |p: &str| Item {
        ino: 3,
        nlink: 2,
        ..it(p, Kind::File, Change::New, 100)
    };
    let d = diff(vec![
        it("/etc/adjtime", Kind::File, Change::New, 10),
        it("/var/lib/foo", Kind::Dir, Change::New, 0),
        linked("/var/lib/foo/a"),
        linked("/var/lib/foo/b"),
        it("/var/lib/foo/c", Kind::File, Change::Modified, 5),
    ]);
    let root = Root::new(Some("/nonexistent-root".into()), None);
    let j = judge(&d, &root, &mut Context::default(), false, true);
    let g = &j.groups;
    assert_eq!(g.len(), 2, "{g:?}");
    assert_eq!(g[0].path, Path::new("/var/lib/foo"));
    assert_eq!((g[0].files, g[0].dirs, g[0].bytes), (3, 1, 105));
    assert_eq!((g[0].new, g[0].modified), (3, 1));
    assert_eq!(g[0].persist, Persist::Directory);
    assert_eq!(
        (g[1].path.as_path(), g[1].persist),
        (Path::new("/etc/adjtime"), Persist::File)
    );
}

/// Without groups (`-0`), each item is classified and shown as with
/// them, and `loses_data` says the same, whatever the items.
#[test]
fn ungrouped_judging_shows_and_loses_as_grouped() {
    let linked = |p: &str| Item {
        ino: 3,
        nlink: 2,
        ..it(p, Kind::File, Change::New, 100)
    };
    let boot = nixos_boot();
    let regenerated: Vec<Item> = (boot.iter())
        .filter(|i| !i.path.starts_with(b"/etc/ssh/"))
        .cloned()
        .collect();
    let cases: Vec<(Vec<Item>, Context)> = vec![
        (boot, Context::default()),
        (regenerated, Context::default()),
        (Vec::new(), Context::default()),
        (
            vec![it("/srv/d", Kind::Dir, Change::Modified, 0)],
            Context::default(),
        ),
        (
            vec![
                it("/var/lib/foo", Kind::Dir, Change::New, 0),
                linked("/var/lib/foo/a"),
                linked("/var/lib/foo/b"),
                it("/var/lib/foo/c", Kind::File, Change::Unchanged, 5),
            ],
            Context::default(),
        ),
        (
            vec![it(
                "/etc/ssh/ssh_host_ed25519_key",
                Kind::File,
                Change::Unchanged,
                399,
            )],
            Context {
                not_persisted: vec![(
                    PathBuf::from("/etc/ssh/ssh_host_ed25519_key"),
                    true,
                    "a plain file".into(),
                )],
                ..Context::default()
            },
        ),
    ];
    let root = Root::new(Some("/nonexistent-root".into()), None);
    for (items, cx) in cases {
        let d = diff(items);
        let g = judge(&d, &root, &mut cx.clone(), false, true);
        let u = judge(&d, &root, &mut cx.clone(), false, false);
        let paths: Vec<_> = d.items.iter().map(|i| i.path.clone()).collect();
        assert_eq!(u.visible, g.visible, "{paths:?}");
        assert_eq!(u.classes, g.classes, "{paths:?}");
        assert_eq!(u.loses_data(), g.loses_data(), "{paths:?}");
        assert!(u.groups.is_empty());
        // With --all the groups are formed either way.
        let key = |j: &Judged| -> Vec<_> {
            (j.groups.iter())
                .map(|g| (g.path.clone(), g.class, g.files, g.bytes))
                .collect()
        };
        let a = judge(&d, &root, &mut cx.clone(), true, false);
        assert_eq!(key(&a), key(&judge(&d, &root, &mut cx.clone(), true, true)));
    }
}
