//! An entry that moves: its source changed since the previous run of this
//! boot (`state.json` records the previous source): moved to another root,
//! or its `persistentStoragePath` changed. The empty new source is never
//! bound silently over the data of the old one: the data is migrated
//! (copied atomically; the old copy is kept), or, when both hold different
//! data, the entry is refused with the commands that resolve it.

use std::path::PathBuf;

use serde::Serialize;

use super::{Facts, Mounted, Node, Op, What, plan_entry};
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
    // Already bound from the new source (the record was not written yet).
    if f.mounted == Mounted::FromSource {
        return What::Skip(super::Why::AlreadyBound);
    }
    if m.how == How::Linked {
        return What::Fail {
            error: format!(
                "{} moved from {} to {}: it is a symlink to the previous source; move the data (`mv {} {}`), remove the link, then run `impermctl boot` again",
                e.path.display(),
                m.from.display(),
                e.source.display(),
                m.from.display(),
                e.source.display()
            ),
        };
    }
    let migrate = holds_data(&m.old);
    if migrate
        && !matches!(
            m.new,
            Node::Missing | Node::MissingParent | Node::Dir { empty: true }
        )
    {
        // Both hold data: go on only if the new one is a faithful copy (an
        // interrupted migration); `Migrate` checks that, else fails.
        if !holds_data(&m.new) {
            return What::Fail {
                error: format!(
                    "{} moved from {} to {}, and {} is in the way: {}",
                    e.path.display(),
                    m.from.display(),
                    e.source.display(),
                    e.source.display(),
                    merge_command(e, m)
                ),
            };
        }
    }
    let mut ops = Vec::new();
    if migrate {
        ops.push(Op::Migrate {
            from: m.from.clone(),
        });
    }
    if m.bound_old {
        // The mount point exists: detach the old bind, bind the new source.
        if !migrate && matches!(m.new, Node::Missing | Node::MissingParent) {
            ops.push(Op::CreateSource);
        }
        ops.push(Op::Detach {
            from: m.from.clone(),
        });
        ops.push(Op::Mount {
            options: super::mount_options(e),
            hides: false,
        });
        return What::Do { ops };
    }
    // Not bound from the old source: plan as usual, as if the new source
    // already held the migrated data.
    let after = Facts {
        source: if migrate {
            m.old.clone()
        } else {
            m.new.clone()
        },
        target: f.target.clone(),
        mounted: Mounted::No,
    };
    match plan_entry(e, &after) {
        What::Do { ops: rest } => {
            ops.extend(rest.into_iter().filter(|o| !(migrate && *o == Op::Seed)));
            What::Do { ops }
        }
        What::Skip(_) if !ops.is_empty() => What::Do { ops },
        other => other,
    }
}
