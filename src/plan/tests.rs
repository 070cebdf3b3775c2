//! Planner tests: decision tables, and the property that planning again on
//! the state an apply leaves behind (modelled as data) finds nothing to do.

use super::*;
use crate::config::{Layout, Perms, PersistenceRoot, Watch};
use proptest::prelude::*;

fn entry(kind: Kind, path: &str, method: FileMethod) -> Entry {
    Entry {
        kind,
        path: path.into(),
        root: "/persistent".into(),
        source: Path::new("/persistent").join(path.trim_start_matches('/')),
        perms: Perms::default(),
        parent: Perms::default(),
        home: None,
        hide: kind == Kind::Directory,
        trash: false,
        method,
    }
}

fn settings(entries: Vec<Entry>) -> Settings {
    Settings {
        file: "/etc/impermctl/config.toml".into(),
        layout: Layout::default(),
        roots: vec![PersistenceRoot {
            path: "/persistent".into(),
            hide_mounts: true,
            allow_trash: false,
        }],
        entries,
        watch: Watch::default(),
    }
}

fn facts(target: Node, source: Node) -> Facts {
    Facts {
        target,
        source,
        mounted: Mounted::No,
    }
}

fn ops_of(w: &What) -> Vec<Op> {
    match w {
        What::Do { ops } => ops.clone(),
        other => panic!("expected ops, got {other:?}"),
    }
}

fn one(e: Entry, f: Facts) -> What {
    let s = settings(vec![e.clone()]);
    let mut o = Observed::default();
    o.entries.insert(e.path.clone(), f);
    plan(&s, &o).steps.remove(0).what
}

const HIDE: fn(bool) -> Op = |hides| Op::Mount {
    options: vec!["x-gvfs-hide".into()],
    hides,
};
const FILE_MOUNT: fn(bool) -> Op = |hides| Op::Mount {
    options: vec![],
    hides,
};

#[test]
fn directories() {
    let d = || entry(Kind::Directory, "/etc/nixos", FileMethod::Auto);
    let empty = Node::Dir { empty: true };
    let full = Node::Dir { empty: false };
    let cases = [
        (
            Node::Missing,
            Node::Missing,
            vec![Op::CreateSource, Op::CreateTarget, HIDE(false)],
        ),
        (
            empty.clone(),
            Node::Missing,
            vec![Op::CreateSource, HIDE(false)],
        ),
        (full.clone(), Node::Missing, vec![Op::Seed, HIDE(false)]),
        (full.clone(), empty.clone(), vec![Op::KeepLive, HIDE(true)]),
        (empty.clone(), full.clone(), vec![HIDE(false)]),
        (
            Node::Missing,
            full.clone(),
            vec![Op::CreateTarget, HIDE(false)],
        ),
    ];
    for (t, s, want) in cases {
        assert_eq!(
            ops_of(&one(d(), facts(t.clone(), s.clone()))),
            want,
            "{t:?} {s:?}"
        );
    }
    let blocked = Node::Blocked {
        why: "a symlink in the path".into(),
    };
    assert!(matches!(
        one(d(), facts(blocked.clone(), Node::Missing)),
        What::Fail { .. }
    ));
    assert!(matches!(
        one(d(), facts(Node::Missing, blocked)),
        What::Fail { .. }
    ));
    // A symlink at the target is data: stored as a link (never followed).
    let link = Node::Symlink { to: "/etc".into() };
    assert_eq!(
        ops_of(&one(d(), facts(link.clone(), Node::Missing))),
        vec![Op::StoreLink]
    );
    // ... unless real persistent data is there: then both are kept.
    assert!(matches!(
        one(d(), facts(link, full.clone())),
        What::Fail { .. }
    ));
    let mut f = facts(full.clone(), full.clone());
    f.mounted = Mounted::FromSource;
    assert_eq!(one(d(), f.clone()), What::Skip(Why::AlreadyBound));
    f.mounted = Mounted::Foreign {
        source: "x".into(),
        root: "/".into(),
    };
    assert!(matches!(one(d(), f), What::Skip(Why::Foreign { .. })));
}

#[test]
fn files() {
    let auto = || entry(Kind::File, "/etc/ssh/key", FileMethod::Auto);
    let mid = || entry(Kind::File, MACHINE_ID, FileMethod::Auto);
    let sym = || entry(Kind::File, "/etc/ssh/key", FileMethod::Symlink);
    let f0 = Node::File { len: 0 };
    let f9 = Node::File { len: 9 };
    let cases = [
        (
            auto(),
            Node::Missing,
            f9.clone(),
            vec![Op::CreateTarget, FILE_MOUNT(false)],
        ),
        (auto(), f0.clone(), f9.clone(), vec![FILE_MOUNT(false)]),
        (
            auto(),
            f9.clone(),
            f9.clone(),
            vec![Op::KeepLive, FILE_MOUNT(true)],
        ),
        (
            auto(),
            f9.clone(),
            Node::Missing,
            vec![Op::Seed, FILE_MOUNT(false)],
        ),
        (
            auto(),
            Node::Missing,
            Node::Missing,
            vec![Op::CreateSource, Op::Link],
        ),
        (
            auto(),
            f0.clone(),
            Node::Missing,
            vec![Op::CreateSource, Op::Link],
        ),
        (
            auto(),
            Node::Missing,
            Node::MissingParent,
            vec![Op::CreateSource, Op::Link],
        ),
        (
            sym(),
            Node::Missing,
            Node::MissingParent,
            vec![Op::CreateSource, Op::Link],
        ),
        (
            mid(),
            Node::Missing,
            Node::Missing,
            vec![Op::InitMachineId, Op::CreateTarget, FILE_MOUNT(false)],
        ),
        (
            mid(),
            f0.clone(),
            Node::Missing,
            vec![Op::InitMachineId, FILE_MOUNT(false)],
        ),
        (
            mid(),
            f9.clone(),
            Node::Missing,
            vec![Op::Seed, FILE_MOUNT(false)],
        ),
        (
            mid(),
            Node::Missing,
            f9.clone(),
            vec![Op::CreateTarget, FILE_MOUNT(false)],
        ),
        (sym(), Node::Missing, f9.clone(), vec![Op::Link]),
        (sym(), f9.clone(), Node::Missing, vec![Op::Seed, Op::Link]),
    ];
    for (e, t, s, want) in cases {
        let p = e.path.clone();
        assert_eq!(
            ops_of(&one(e, facts(t.clone(), s.clone()))),
            want,
            "{p:?} {t:?} {s:?}"
        );
    }
    assert!(matches!(
        one(sym(), facts(f9.clone(), f9.clone())),
        What::Fail { .. }
    ));
    let linked = Node::Symlink {
        to: "/persistent/etc/ssh/key".into(),
    };
    assert_eq!(
        one(auto(), facts(linked.clone(), f9.clone())),
        What::Skip(Why::AlreadyLinked)
    );
    assert_eq!(
        one(auto(), facts(linked.clone(), Node::Missing)),
        What::Skip(Why::AlreadyLinked)
    );
    // Linked but the link's persistent parent is missing: never "already
    // linked"; the parent is created (and the link kept).
    assert_eq!(
        ops_of(&one(auto(), facts(linked, Node::MissingParent))),
        vec![Op::CreateSource, Op::Link]
    );
    let dir = Node::Dir { empty: true };
    assert!(matches!(
        one(auto(), facts(dir, Node::Missing)),
        What::Fail { .. }
    ));
}

#[test]
fn removed_entries_are_undone_and_others_left_alone() {
    let s = settings(vec![]);
    let rec = |p: &str, how| Recorded {
        path: p.into(),
        kind: Kind::Directory,
        source: Path::new("/persistent").join(p.trim_start_matches('/')),
        how,
        mount_id: None,
    };
    let mut o = Observed {
        previous: vec![
            rec("/a", How::Bound),
            rec("/b", How::Linked),
            rec("/c", How::Bound),
        ],
        ..Observed::default()
    };
    let mut bound = facts(Node::Dir { empty: true }, Node::Dir { empty: true });
    bound.mounted = Mounted::FromSource;
    o.leftovers.insert("/a".into(), bound);
    o.leftovers.insert(
        "/b".into(),
        facts(
            Node::Symlink {
                to: "/persistent/b".into(),
            },
            Node::Missing,
        ),
    );
    o.leftovers
        .insert("/c".into(), facts(Node::Dir { empty: true }, Node::Missing));
    let p = plan(&s, &o);
    let got: Vec<_> = p
        .steps
        .iter()
        .map(|s| (s.path.clone(), ops_of(&s.what)))
        .collect();
    assert_eq!(
        got,
        // Deepest (last recorded) first.
        vec![
            ("/b".into(), vec![Op::RemoveLink]),
            ("/a".into(), vec![Op::Unmount])
        ]
    );
}

/// The model of `apply`: the facts after a plan ran successfully.
fn simulate(s: &Settings, obs: &Observed, p: &Plan) -> Observed {
    let mut next = obs.clone();
    let mut record = Vec::new();
    for st in &p.steps {
        let f = next
            .entries
            .get_mut(&st.path)
            .or_else(|| next.leftovers.get_mut(&st.path))
            .unwrap();
        if let What::Do { ops } = &st.what {
            for op in ops {
                match op {
                    Op::CreateSource if st.kind == Kind::Directory => {
                        f.source = Node::Dir { empty: true }
                    }
                    Op::CreateSource => {
                        if f.source == Node::MissingParent {
                            f.source = Node::Missing
                        }
                    }
                    Op::Seed => f.source = f.target.clone(),
                    Op::InitMachineId => f.source = Node::File { len: 14 },
                    Op::CreateTarget if st.kind == Kind::Directory => {
                        f.target = Node::Dir { empty: true }
                    }
                    Op::CreateTarget => f.target = Node::File { len: 0 },
                    Op::Mount { .. } => f.mounted = Mounted::FromSource,
                    Op::Link => {
                        f.target = Node::Symlink {
                            to: st.source.clone(),
                        }
                    }
                    Op::Unmount => f.mounted = Mounted::No,
                    Op::RemoveLink => f.target = Node::Missing,
                    Op::CopyIn => f.target = f.source.clone(),
                    Op::SaveCopy => f.source = f.target.clone(),
                    Op::KeepLive => {}
                    Op::CompletePending => f.mounted = Mounted::FromSource,
                    Op::StoreLink => f.source = f.target.clone(),
                    Op::RestoreLink => f.target = f.source.clone(),
                    // Moved entries are not generated by the model.
                    Op::Migrate { .. } | Op::Detach { .. } => f.mounted = Mounted::No,
                }
            }
        }
        let how = match (&f.mounted, &f.target) {
            (Mounted::FromSource, _) => Some(How::Bound),
            (Mounted::No, Node::Symlink { to }) if *to == st.source => Some(How::Linked),
            (Mounted::No, Node::Symlink { .. }) if f.target == f.source => Some(How::Linked),
            _ => None,
        };
        if let Some(how) = how
            && s.entry(&st.path).is_some()
        {
            record.push(Recorded {
                path: st.path.clone(),
                kind: st.kind,
                source: st.source.clone(),
                how,
                mount_id: None,
            });
        }
    }
    next.previous = record;
    next
}

fn node() -> impl Strategy<Value = Node> {
    prop_oneof![
        Just(Node::Missing),
        any::<bool>().prop_map(|empty| Node::Dir { empty }),
        (0u64..3).prop_map(|len| Node::File { len }),
        Just(Node::Symlink {
            to: "/elsewhere".into()
        }),
        Just(Node::Other),
        Just(Node::Blocked {
            why: "symlink".into()
        }),
    ]
}

fn mounted() -> impl Strategy<Value = Mounted> {
    prop_oneof![
        4 => Just(Mounted::No),
        1 => Just(Mounted::FromSource),
        1 => Just(Mounted::Foreign { source: "x".into(), root: "/".into() }),
    ]
}

fn config_and_state() -> impl Strategy<Value = (Settings, Observed)> {
    let names = [
        "/etc/nixos",
        "/var/log",
        "/var/lib/nixos",
        "/etc/machine-id",
        "/etc/ssh/k",
        "/srv/a",
    ];
    let ent = (
        0..names.len(),
        any::<bool>(),
        any::<bool>(),
        node(),
        node(),
        mounted(),
    );
    proptest::collection::vec(ent, 0..8).prop_map(move |v| {
        let mut entries: Vec<Entry> = Vec::new();
        let mut obs = Observed::default();
        for (i, is_dir, symlink, t, s, m) in v {
            let (kind, method) = match (is_dir, symlink) {
                (true, _) => (Kind::Directory, FileMethod::Auto),
                (false, false) => (Kind::File, FileMethod::Auto),
                (false, true) => (Kind::File, FileMethod::Symlink),
            };
            if entries.iter().any(|e| e.path == Path::new(names[i])) {
                continue;
            }
            let e = entry(kind, names[i], method);
            obs.entries.insert(
                e.path.clone(),
                Facts {
                    target: t,
                    source: s,
                    mounted: m,
                },
            );
            entries.push(e);
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        (settings(entries), obs)
    })
}

proptest! {
    #[test]
    fn a_second_boot_plans_nothing((s, obs) in config_and_state()) {
        let first = plan(&s, &obs);
        let after = simulate(&s, &obs, &first);
        let second = plan(&s, &after);
        prop_assert!(second.is_noop(), "first: {:#?}\nsecond: {:#?}", first, second);
        // Failures stay failures; nothing that was in place is planned again.
        prop_assert_eq!(first.steps.len(), second.steps.len());
    }

    #[test]
    fn removing_entries_undoes_them_once((s, obs) in config_and_state(), keep in 0usize..8) {
        let after = simulate(&s, &obs, &plan(&s, &obs));
        let mut smaller = s.clone();
        smaller.entries.truncate(keep.min(s.entries.len()));
        let mut obs2 = after.clone();
        for e in &s.entries[smaller.entries.len()..] {
            let f = obs2.entries.remove(&e.path).unwrap();
            obs2.leftovers.insert(e.path.clone(), f);
        }
        let p = plan(&smaller, &obs2);
        for st in p.actions() {
            let undo = matches!(&st.what, What::Do { ops } if ops[..] == [Op::Unmount] || ops[..] == [Op::RemoveLink]);
            prop_assert!(smaller.entry(&st.path).is_some() || undo, "unexpected {:?}", st);
        }
        let after2 = simulate(&smaller, &obs2, &p);
        prop_assert!(after2.previous.iter().all(|r| smaller.entry(&r.path).is_some()));
        prop_assert!(plan(&smaller, &after2).is_noop());
    }
}
