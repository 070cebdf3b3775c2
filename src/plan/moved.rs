//! An entry that moves: its source changed since the previous run of this
//! boot (`state.json` records the previous source): moved to another root,
//! or its `persistentStoragePath` changed. The empty new source is never
//! bound silently over the data of the old one: the data is migrated
//! (copied atomically; the old copy is kept), or, when both hold different
//! data, the entry is refused with the commands that resolve it.

use std::path::PathBuf;

use serde::Serialize;

use super::{Facts, Mounted, Node, Op, What, act, fail, plan_entry};
use crate::config::{Entry, Kind};
use crate::state::How;

/// What is known about a moved entry's previous source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MovedFrom {
    /// The previous source (logical path).
    pub from: PathBuf,
    /// How it was in place.
    pub how: How,
    /// What is at the previous source.
    pub old: Node,
    /// What is at the new source.
    pub new: Node,
    /// The target is still bound from the previous source.
    pub bound_old: bool,
}

fn holds_data(n: &Node) -> bool {
    matches!(n, Node::Dir { empty: false } | Node::File { .. })
}

fn merge_command(e: &Entry, m: &MovedFrom) -> String {
    let (old, new) = (m.from.display(), e.source.display());
    let copy = match e.kind {
        Kind::Directory => format!("rsync -aHAX {old}/ {new}/"),
        Kind::File => format!("cp -a {old} {new}"),
    };
    format!(
        "merge them by hand (`{copy}`), or keep only one (`mv {new} {new}.bak`), then run `impermctl boot` again"
    )
}

/// The plan of a moved entry with facts `f` (judged against the new source).
pub(super) fn plan_moved(e: &Entry, f: &Facts, m: &MovedFrom) -> What {
    let (p, old, new) = (e.path.display(), m.from.display(), e.source.display());
    // Already bound from the new source (the record was not written yet).
    if f.mounted == Mounted::FromSource {
        return What::Skip(super::Why::AlreadyBound);
    }
    if m.how == How::Linked {
        return fail(format!(
            "{p} moved from {old} to {new}: it is a symlink to the previous source; move the data (`mv {old} {new}`), remove the link, then run `impermctl boot` again"
        ));
    }
    let migrate = holds_data(&m.old);
    let new_free = matches!(
        m.new,
        Node::Missing | Node::MissingParent | Node::Dir { empty: true }
    );
    // Both hold data: go on only if the new one is a faithful copy (an
    // interrupted migration); `Migrate` checks that, else fails.
    if migrate && !new_free && !holds_data(&m.new) {
        return fail(format!(
            "{p} moved from {old} to {new}, and {new} is in the way: {}",
            merge_command(e, m)
        ));
    }
    let from = || m.from.clone();
    let mut ops: Vec<Op> = (migrate.then(|| Op::Migrate { from: from() }))
        .into_iter()
        .collect();
    if m.bound_old {
        // The mount point exists: detach the old bind, bind the new source.
        if !migrate && matches!(m.new, Node::Missing | Node::MissingParent) {
            ops.push(Op::CreateSource);
        }
        ops.push(Op::Detach { from: from() });
        ops.push(Op::Mount {
            options: super::mount_options(e),
            hides: false,
        });
        return act(ops);
    }
    // Not bound from the old source: plan as usual, as if the new source
    // already held the migrated data.
    let after = Facts {
        source: (if migrate { &m.old } else { &m.new }).clone(),
        target: f.target.clone(),
        mounted: Mounted::No,
        link_data: f.link_data.clone(),
        // Judged against the configured source, which a migration replaces.
        spare: f.spare.filter(|_| !migrate),
    };
    match plan_entry(e, &after) {
        What::Do { ops: rest } => {
            ops.extend(rest.into_iter().filter(|o| !(migrate && *o == Op::Seed)));
            act(ops)
        }
        What::Skip(_) if !ops.is_empty() => act(ops),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Why;
    use std::path::Path;

    fn entry(kind: Kind) -> Entry {
        let section = kind.list();
        crate::config::parse(
            &format!("version = 1\n[[persistence]]\npath = \"/data\"\n[[persistence.{section}]]\npath = \"/srv/x\"\n"),
            Path::new("c.toml"),
        )
        .unwrap()
        .entries
        .remove(0)
    }

    fn moved(old: Node, new: Node, bound_old: bool, how: How) -> MovedFrom {
        MovedFrom {
            from: "/persistent/srv/x".into(),
            how,
            old,
            new,
            bound_old,
        }
    }

    fn bound_elsewhere() -> Facts {
        Facts {
            target: Node::Unprobed,
            source: Node::Unprobed,
            mounted: Mounted::Foreign {
                source: "tank/ct/101".into(),
                root: "/srv/x".into(),
            },
            link_data: None,
            spare: None,
        }
    }

    #[test]
    fn moved_entries_migrate_rebind_or_refuse() {
        let e = entry(Kind::Directory);
        let full = Node::Dir { empty: false };
        let from = PathBuf::from("/persistent/srv/x");
        let mount = Op::Mount {
            options: vec![],
            hides: false,
        };
        // Old has data, new is missing or empty: migrate, detach, bind.
        for new in [Node::Missing, Node::Dir { empty: true }] {
            let m = moved(full.clone(), new, true, How::Bound);
            assert_eq!(
                plan_moved(&e, &bound_elsewhere(), &m),
                What::Do {
                    ops: vec![
                        Op::Migrate { from: from.clone() },
                        Op::Detach { from: from.clone() },
                        mount.clone()
                    ]
                }
            );
        }
        // Old is empty: just rebind (creating the new source).
        let m = moved(Node::Dir { empty: true }, Node::Missing, true, How::Bound);
        assert_eq!(
            plan_moved(&e, &bound_elsewhere(), &m),
            What::Do {
                ops: vec![
                    Op::CreateSource,
                    Op::Detach { from: from.clone() },
                    mount.clone()
                ]
            }
        );
        // Both hold data: Migrate decides (faithful copy: go on; else refuse).
        let m = moved(full.clone(), full.clone(), true, How::Bound);
        assert!(matches!(
            plan_moved(&e, &bound_elsewhere(), &m),
            What::Do { ops } if ops[0] == Op::Migrate { from: from.clone() }
        ));
        // A file where the new directory source should be: refused with the commands.
        let m = moved(full.clone(), Node::Other, true, How::Bound);
        match plan_moved(&e, &bound_elsewhere(), &m) {
            What::Fail { error } => assert!(error.contains("rsync -aHAX"), "{error}"),
            w => panic!("{w:?}"),
        }
        // Not bound any more (killed after the detach): migrate and plan as usual.
        let f = Facts {
            target: Node::Dir { empty: true },
            source: Node::Missing,
            mounted: Mounted::No,
            link_data: None,
            spare: None,
        };
        let m = moved(full.clone(), Node::Missing, false, How::Bound);
        assert_eq!(
            plan_moved(&e, &f, &m),
            What::Do {
                ops: vec![Op::Migrate { from: from.clone() }, mount.clone()]
            }
        );
        // Already bound from the new source: nothing to do.
        let f = Facts {
            mounted: Mounted::FromSource,
            ..f
        };
        assert_eq!(plan_moved(&e, &f, &m), What::Skip(Why::AlreadyBound));
        // A moved symlinked file: refused with the command.
        let e = entry(Kind::File);
        let m = moved(Node::File { len: 3 }, Node::Missing, false, How::Linked);
        match plan_moved(&e, &bound_elsewhere(), &m) {
            What::Fail { error } => {
                assert!(
                    error.contains("mv /persistent/srv/x /data/srv/x"),
                    "{error}"
                )
            }
            w => panic!("{w:?}"),
        }
    }
}
