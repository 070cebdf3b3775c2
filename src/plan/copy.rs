//! The plan for `method = "copy"` files and for pending entries (pure).

use super::{Facts, Mounted, Node, Op, What, Why, act, fail};
use crate::config::Entry;

/// What is at a copy file's target.
enum Target {
    Missing,
    File(u64),
    LinkToSource,
}

/// Plan a `method = "copy"` file. `copied_before`: an earlier run of this
/// boot put it in place, so the live file is the newest version (programs
/// changed it; the saver and the shutdown sync carry it to persistence).
pub fn plan_copy(e: &Entry, f: &Facts, copied_before: bool) -> What {
    if let Some(w) = super::blocked_or_mounted(e, f) {
        return w;
    }
    let (p, s) = (e.path.display(), e.source.display());
    let source = match &f.source {
        Node::Missing | Node::MissingParent => false,
        Node::File { .. } => true,
        Node::Symlink { to } => {
            return fail(format!(
                "source {s} is a symlink (to {}); impermctl never follows symlinks in persisted paths: replace it with the real file",
                to.display()
            ));
        }
        _ => return fail(format!("source {s} is not a regular file; move it away")),
    };
    let target = match &f.target {
        Node::Missing | Node::MissingParent => Target::Missing,
        Node::File { len } => Target::File(*len),
        Node::Symlink { to } if *to == e.source => Target::LinkToSource,
        Node::Symlink { to } => {
            return fail(format!(
                "{p} is a symlink (to {}); impermctl never follows symlinks in persisted paths (nor replaces them): remove it and run `impermctl boot` again",
                to.display()
            ));
        }
        _ => {
            return fail(format!(
                "{p} is not a regular file; move it away (method = \"copy\" is for files)"
            ));
        }
    };
    let ops = match (source, target) {
        (_, Target::File(_)) if copied_before => return What::Skip(Why::AlreadyCopied),
        (true, Target::Missing) => vec![Op::CreateTarget, Op::CopyIn],
        (true, Target::LinkToSource | Target::File(0)) => vec![Op::CopyIn],
        (true, Target::File(_)) => vec![super::keep_live(f), Op::CopyIn],
        (false, Target::File(n)) if n > 0 => vec![Op::CreateSource, Op::SaveCopy],
        (false, _) => return What::Skip(Why::NothingToCopy),
    };
    act(ops)
}

/// Plan an entry that an earlier run of this boot left pending (or began
/// to seed): complete it (bind, if its writers are gone) when the seed and
/// the live data are still there; `None` to plan it normally (a seed never
/// made, or only partly: an empty directory, is made again).
pub fn plan_pending(f: &Facts) -> Option<What> {
    let ok = f.mounted == Mounted::No
        && matches!(
            (&f.source, &f.target),
            (Node::Dir { empty: false }, Node::Dir { .. }) | (Node::File { .. }, Node::File { .. })
        );
    ok.then(|| act(vec![Op::CompletePending]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FileMethod, Kind};
    use crate::plan::tests::facts;

    fn entry() -> Entry {
        crate::plan::tests::entry(Kind::File, "/etc/shadow", FileMethod::Copy)
    }

    fn ops(ops: &[Op]) -> What {
        What::Do { ops: ops.to_vec() }
    }

    #[test]
    fn copy_files_are_copied_never_mounted() {
        use Node::*;
        let e = entry();
        let file = |len| File { len };
        let link = Symlink {
            to: "/persistent/etc/shadow".into(),
        };
        let table: Vec<(Node, Node, bool, What)> = vec![
            (
                Missing,
                file(9),
                false,
                ops(&[Op::CreateTarget, Op::CopyIn]),
            ),
            (link.clone(), file(9), false, ops(&[Op::CopyIn])),
            (file(0), file(9), false, ops(&[Op::CopyIn])),
            (file(5), file(9), false, ops(&[Op::KeepLive, Op::CopyIn])),
            (file(5), file(9), true, What::Skip(Why::AlreadyCopied)),
            (
                file(5),
                Missing,
                false,
                ops(&[Op::CreateSource, Op::SaveCopy]),
            ),
            (file(5), Missing, true, What::Skip(Why::AlreadyCopied)),
            (Missing, Missing, false, What::Skip(Why::NothingToCopy)),
            (
                Missing,
                MissingParent,
                false,
                What::Skip(Why::NothingToCopy),
            ),
            (link, Missing, false, What::Skip(Why::NothingToCopy)),
        ];
        for (t, s, before, want) in table {
            assert_eq!(
                plan_copy(&e, &facts(t.clone(), s.clone()), before),
                want,
                "{t:?} {s:?} {before}"
            );
        }
        let w = plan_copy(
            &e,
            &facts(
                Symlink {
                    to: "/elsewhere".into(),
                },
                file(1),
            ),
            false,
        );
        assert!(matches!(w, What::Fail { .. }), "{w:?}");
        let mut f = facts(file(1), file(1));
        f.mounted = Mounted::FromSource;
        assert_eq!(plan_copy(&e, &f, false), What::Skip(Why::AlreadyBound));
    }

    #[test]
    fn a_pending_entry_completes_only_when_both_sides_are_there() {
        use Node::*;
        let d = |empty| Dir { empty };
        assert!(plan_pending(&facts(d(false), d(false))).is_some());
        assert!(plan_pending(&facts(Missing, d(false))).is_none());
        // A seed never completed (a kill during the copy) is made again.
        assert!(plan_pending(&facts(d(false), d(true))).is_none());
        let mut f = facts(d(false), d(false));
        f.mounted = Mounted::FromSource;
        assert!(plan_pending(&f).is_none());
    }
}
