//! Planner tests: decision tables (here), and the property that planning
//! again on the state an apply leaves behind finds nothing to do
//! (`idempotence`).

use super::*;
use crate::config::{Layout, Perms, PersistenceRoot, Watch};
use crate::state::Recorded;

mod homes;
mod idempotence;

pub(super) fn entry(kind: Kind, path: &str, method: FileMethod) -> Entry {
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
        refused: Vec::new(),
        watch: Watch::default(),
    }
}

/// Facts with nothing mounted on the target.
pub(super) fn facts(target: Node, source: Node) -> Facts {
    Facts {
        target,
        source,
        mounted: Mounted::No,
        link_data: None,
        spare: None,
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
const BIND: fn(bool) -> Op = |hides| Op::Mount {
    options: vec![],
    hides,
};

#[test]
fn directories() {
    use Node::Missing;
    use Op::{CreateSource, CreateTarget, KeepLive, Seed};
    let d = || entry(Kind::Directory, "/etc/nixos", FileMethod::Auto);
    let empty = || Node::Dir { empty: true };
    let full = || Node::Dir { empty: false };
    let cases = [
        (
            Missing,
            Missing,
            vec![CreateSource, CreateTarget, HIDE(false)],
        ),
        (empty(), Missing, vec![CreateSource, HIDE(false)]),
        (full(), Missing, vec![Seed, HIDE(false)]),
        // An empty persistent directory is seeded like a missing one (trial
        // s5 finding 2: the live data was hidden under the empty bind) ...
        (full(), empty(), vec![Seed, HIDE(false)]),
        (empty(), empty(), vec![HIDE(false)]),
        // ... a non-empty one wins, the live data kept aside.
        (full(), full(), vec![KeepLive, HIDE(true)]),
        (empty(), full(), vec![HIDE(false)]),
        (Missing, full(), vec![CreateTarget, HIDE(false)]),
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
    assert!(matches!(one(d(), facts(link, full())), What::Fail { .. }));
    let mut f = facts(full(), full());
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
    use Node::{Missing, MissingParent};
    use Op::{CreateSource, CreateTarget, InitMachineId, KeepLive, Link, Seed};
    let auto = || entry(Kind::File, "/etc/ssh/key", FileMethod::Auto);
    let mid = || entry(Kind::File, MACHINE_ID, FileMethod::Auto);
    let sym = || entry(Kind::File, "/etc/ssh/key", FileMethod::Symlink);
    let f0 = || Node::File { len: 0 };
    let f9 = || Node::File { len: 9 };
    let cases = [
        (auto(), Missing, f9(), vec![CreateTarget, BIND(false)]),
        (auto(), f0(), f9(), vec![BIND(false)]),
        (auto(), f9(), f9(), vec![KeepLive, BIND(true)]),
        (auto(), f9(), Missing, vec![Seed, BIND(false)]),
        (auto(), Missing, Missing, vec![CreateSource, Link]),
        (auto(), f0(), Missing, vec![CreateSource, Link]),
        (auto(), Missing, MissingParent, vec![CreateSource, Link]),
        (sym(), Missing, MissingParent, vec![CreateSource, Link]),
        (
            mid(),
            Missing,
            Missing,
            vec![InitMachineId, CreateTarget, BIND(false)],
        ),
        (mid(), f0(), Missing, vec![InitMachineId, BIND(false)]),
        (mid(), f9(), Missing, vec![Seed, BIND(false)]),
        (mid(), Missing, f9(), vec![CreateTarget, BIND(false)]),
        (sym(), Missing, f9(), vec![Link]),
        (sym(), f9(), Missing, vec![Seed, Link]),
    ];
    for (e, t, s, want) in cases {
        let p = e.path.clone();
        assert_eq!(
            ops_of(&one(e, facts(t.clone(), s.clone()))),
            want,
            "{p:?} {t:?} {s:?}"
        );
    }
    assert!(matches!(one(sym(), facts(f9(), f9())), What::Fail { .. }));
    let linked = Node::Symlink {
        to: "/persistent/etc/ssh/key".into(),
    };
    assert_eq!(
        one(auto(), facts(linked.clone(), f9())),
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

/// Trial-s10 F10: what left the config is not undone on a running system
/// (the data from before it was persisted would come back under its
/// services): recorded binds and links of removed entries get no step.
#[test]
fn removed_entries_get_no_step() {
    let s = settings(vec![]);
    let rec = |p: &str, how| Recorded {
        path: p.into(),
        kind: Kind::Directory,
        source: Path::new("/persistent").join(p.trim_start_matches('/')),
        how,
        seeded_ns: None,
    };
    let o = Observed {
        previous: vec![rec("/a", How::Bound), rec("/b", How::Linked)],
        ..Observed::default()
    };
    assert_eq!(plan(&s, &o).steps, Vec::new());
}

#[test]
fn an_entry_below_a_new_bind_is_planned_again() {
    let e = entry(Kind::Directory, "/var/lib/a/b", FileMethod::Auto);
    let planned = step(e.kind, &e.path, &e.source, What::Skip(Why::AlreadyBound));
    let covered = What::Skip(Why::Covered {
        by: "/var/lib/a".into(),
    });
    let covered = Step {
        what: covered,
        ..planned.clone()
    };
    for (bound, st, want) in [
        (&["/var/lib/a"][..], &planned, true),
        (&["/var"], &planned, true),
        (&["/var/lib/a/b"], &planned, false),
        (&["/var/lib/ab"], &planned, false),
        (&[], &planned, false),
        (&["/var/lib/a"], &covered, false),
    ] {
        let bound: HashSet<PathBuf> = bound.iter().map(PathBuf::from).collect();
        assert_eq!(
            below_new_bind(&e, st, &bound),
            want,
            "{bound:?} {:?}",
            st.what
        );
    }
    let dir = Node::Dir { empty: true };
    let again = replan(&e, &planned, dir.clone(), dir);
    assert_eq!(
        (again.path.as_path(), again.kind),
        (e.path.as_path(), e.kind)
    );
    assert_eq!(
        ops_of(&again.what),
        [Op::Mount {
            options: mount_options(&e),
            hides: false
        }]
    );
}

/// Trial s11 N6/N8/N27: live data that holds nothing to keep (a fresh
/// root's empty skeleton, files all in the source, a generated machine
/// ID) is hidden without a copy aside, for every kind of entry that would
/// keep it aside; the bind still says it hides data. The planner takes
/// the verdict from the facts only.
#[test]
fn live_data_with_nothing_to_keep_is_not_kept_aside() {
    let full_dir = || Node::Dir { empty: false };
    let f9 = || Node::File { len: 9 };
    let cases = [
        (
            entry(Kind::Directory, "/var", FileMethod::Auto),
            full_dir(),
            Spare::OnlyDirectories,
            HIDE(true),
        ),
        (
            entry(Kind::File, MACHINE_ID, FileMethod::Auto),
            f9(),
            Spare::MachineId,
            BIND(true),
        ),
        (
            entry(Kind::File, "/etc/ssh/key", FileMethod::Auto),
            f9(),
            Spare::InSource,
            BIND(true),
        ),
        (
            entry(Kind::File, "/etc/shadow", FileMethod::Copy),
            f9(),
            Spare::InSource,
            Op::CopyIn,
        ),
    ];
    for (e, node, why, last) in cases {
        let mut f = facts(node.clone(), node);
        assert_eq!(ops_of(&one(e.clone(), f.clone()))[0], Op::KeepLive);
        f.spare = Some(why);
        assert_eq!(
            ops_of(&one(e.clone(), f)),
            vec![Op::NothingToKeep { why }, last],
            "{:?}",
            e.path
        );
    }
}
