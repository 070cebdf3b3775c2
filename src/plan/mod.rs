//! The boot plan: a pure function of the settings and what was observed
//! (per entry: what is at the target and the source, and what is mounted
//! there), returning plain data that `apply` executes and `--dry-run` prints.
//! Planning after applying yields nothing to do (see the property test).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::config::{Entry, FileMethod, Kind, Settings};
use crate::state::How;

pub mod advice;
mod copy;
mod data;
pub mod homes;
mod links;
mod moved;
mod refuse;
mod render;

use copy::{plan_copy, plan_pending};
pub use data::{Facts, Mounted, Node, Observed, Op, Plan, Spare, Step, What, Why};
pub use links::dir_link_data;
pub use moved::MovedFrom;
pub use refuse::{Refused, gate, refuse_roots, refused};
pub use render::print_plan;

/// The file systemd commits its ID to; seeded with `uninitialized`.
pub const MACHINE_ID: &str = "/etc/machine-id";

/// Plan the boot.
pub fn plan(settings: &Settings, obs: &Observed) -> Plan {
    let mut steps = Vec::with_capacity(settings.entries.len());
    // The previous run's records, looked up per entry (a scan per entry
    // made a rerun with thousands of entries quadratic).
    let recorded: HashSet<(&Path, How)> = (obs.previous.iter())
        .map(|r| (r.path.as_path(), r.how))
        .collect();
    for e in &settings.entries {
        let before = |how| recorded.contains(&(e.path.as_path(), how));
        let what = match obs.entries.get(&e.path) {
            _ if let Some(d) = settings.covered_by(e) => {
                What::Skip(Why::Covered { by: d.path.clone() })
            }
            Some(f) if e.kind == Kind::File && e.method == FileMethod::Copy => {
                plan_copy(e, f, before(How::Copied))
            }
            Some(f) if before(How::Pending) => plan_pending(f).unwrap_or_else(|| plan_entry(e, f)),
            Some(f) if let Some(m) = obs.moved.get(&e.path) => moved::plan_moved(e, f, m),
            Some(f) => plan_entry(e, f),
            None => fail(format!("{} was not observed", e.path.display())),
        };
        steps.push(step(e.kind, &e.path, &e.source, what));
    }
    Plan { steps }
}

/// What to do for one configured entry, given its facts.
pub fn plan_entry(e: &Entry, f: &Facts) -> What {
    match e.kind {
        Kind::Directory => plan_dir(e, f),
        Kind::File => plan_file(e, f),
    }
}

/// Does `planned` (for `e`) need planning again because a directory bound
/// by this run (`bound_now`) covers `e`, which was observed before that
/// bind? A step skipped as covered stays as it is.
pub fn below_new_bind(e: &Entry, planned: &Step, bound_now: &HashSet<PathBuf>) -> bool {
    !matches!(planned.what, What::Skip(Why::Covered { .. }))
        && e.path.ancestors().skip(1).any(|a| bound_now.contains(a))
}

/// `planned` again, from what is at the target and source now (nothing is
/// mounted there: the bind above was just made).
pub fn replan(e: &Entry, planned: &Step, target: Node, source: Node) -> Step {
    let f = Facts {
        target,
        source,
        mounted: Mounted::No,
        link_data: None,
        spare: None,
    };
    Step {
        what: plan_entry(e, &f),
        ..planned.clone()
    }
}

fn step(kind: Kind, path: &Path, source: &Path, what: What) -> Step {
    Step {
        path: path.to_path_buf(),
        kind,
        source: source.to_path_buf(),
        what,
    }
}

fn fail(error: String) -> What {
    What::Fail { error }
}

fn act(ops: Vec<Op>) -> What {
    What::Do { ops }
}

/// A path that cannot be looked at safely fails; a target with a mount
/// on it is skipped (copy files included: bound by an earlier config with
/// method auto, copying takes over at the next boot).
fn blocked_or_mounted(e: &Entry, f: &Facts) -> Option<What> {
    for (side, p, n) in [
        ("target", &e.path, &f.target),
        ("source", &e.source, &f.source),
    ] {
        if let Node::Blocked { why } = n {
            return Some(fail(format!("{side} {}: {why}", p.display())));
        }
    }
    match &f.mounted {
        Mounted::FromSource => Some(What::Skip(Why::AlreadyBound)),
        Mounted::Foreign { source, root } => Some(What::Skip(Why::Foreign {
            source: source.clone(),
            root: root.clone(),
        })),
        Mounted::No => None,
    }
}

/// Checks common to both kinds: unsafe paths, existing mounts, links.
fn common(e: &Entry, f: &Facts) -> Option<What> {
    if let Some(w) = blocked_or_mounted(e, f) {
        return Some(w);
    }
    if let Some(data) = &f.link_data {
        return Some(links::plan_dir_link(e, f, data));
    }
    // Symlinks as data: a link stored in persistence is recreated.
    if let Node::Symlink { to } = &f.source {
        return Some(links::plan_stored_link(e, f, to));
    }
    match &f.target {
        // Linked, but the link's persistent parent is gone: recreate it.
        Node::Symlink { to } if *to == e.source && e.kind == Kind::File => Some(match f.source {
            Node::MissingParent => act(vec![Op::CreateSource, Op::Link]),
            _ => What::Skip(Why::AlreadyLinked),
        }),
        // A symlink that is not impermctl's own link is data: stored as a link.
        Node::Symlink { to } => Some(links::plan_live_link(e, f, to)),
        _ => None,
    }
}

/// The userspace options of `e`'s bind (`x-gvfs-hide`, `x-gvfs-trash`).
pub fn mount_options(e: &Entry) -> Vec<String> {
    let on = [(e.hide, "x-gvfs-hide"), (e.trash, "x-gvfs-trash")];
    on.into_iter()
        .filter(|o| o.0)
        .map(|o| o.1.to_string())
        .collect()
}

/// Before the live data at the target is hidden or replaced: kept aside,
/// unless it holds nothing to keep ([`Facts::spare`]).
fn keep_live(f: &Facts) -> Op {
    match f.spare {
        Some(why) => Op::NothingToKeep { why },
        None => Op::KeepLive,
    }
}

fn plan_dir(e: &Entry, f: &Facts) -> What {
    if let Some(w) = common(e, f) {
        return w;
    }
    let (p, s) = (e.path.display(), e.source.display());
    let mut ops = Vec::new();
    match &f.source {
        Node::Missing | Node::MissingParent => match f.target {
            Node::Dir { empty: false } => ops.push(Op::Seed),
            _ => ops.push(Op::CreateSource),
        },
        // An empty persistent directory (made by hand, as guides say, before
        // declaring it) holds nothing to lose: seeded like a missing one, so
        // the live data is not hidden. The seed replaces it only while empty.
        Node::Dir { empty: true } if f.target == (Node::Dir { empty: false }) => ops.push(Op::Seed),
        Node::Dir { .. } => {}
        _ => {
            return fail(format!(
                "source {s} is not a directory; move it away so that impermctl can create the directory"
            ));
        }
    }
    match &f.target {
        Node::Missing => ops.push(Op::CreateTarget),
        Node::Dir { .. } => {}
        _ => {
            return fail(format!(
                "{p} is not a directory; move it away (or declare it as a file)"
            ));
        }
    }
    let hides = f.source == (Node::Dir { empty: false }) && f.target == Node::Dir { empty: false };
    if hides {
        ops.push(keep_live(f));
    }
    ops.push(Op::Mount {
        options: mount_options(e),
        hides,
    });
    act(ops)
}

fn plan_file(e: &Entry, f: &Facts) -> What {
    if e.method == FileMethod::Copy {
        return plan_copy(e, f, false);
    }
    if let Some(w) = common(e, f) {
        return w;
    }
    let (p, s) = (e.path.display(), e.source.display());
    let target_len = match &f.target {
        Node::Missing => None,
        Node::File { len } => Some(*len),
        _ => {
            return fail(format!(
                "{p} is not a regular file; move it away (or declare it as a directory)"
            ));
        }
    };
    let source_exists = match &f.source {
        Node::Missing | Node::MissingParent => false,
        Node::File { .. } => true,
        _ => return fail(format!("source {s} is not a regular file; move it away")),
    };
    let data = target_len.is_some_and(|l| l > 0);
    let mount = |hides| Op::Mount {
        options: Vec::new(),
        hides,
    };
    let ops = match (e.method, source_exists) {
        (FileMethod::Symlink, true) if data => {
            return fail(format!(
                "{p} holds data and {s} exists too; a symlink would drop one of them: merge them by hand, then run `impermctl boot` again"
            ));
        }
        (FileMethod::Symlink, false) if data => vec![Op::Seed, Op::Link],
        (FileMethod::Symlink, true) => vec![Op::Link],
        // The link's persistent parents are created first (as upstream), so
        // writers through the link can create the file.
        (FileMethod::Symlink, false) => vec![Op::CreateSource, Op::Link],
        (FileMethod::Auto, true) if target_len.is_none() => vec![Op::CreateTarget, mount(false)],
        (FileMethod::Auto, true) if data => vec![keep_live(f), mount(true)],
        (FileMethod::Auto, true) => vec![mount(false)],
        (FileMethod::Auto, false) if data => vec![Op::Seed, mount(false)],
        (FileMethod::Auto, false) if e.path == Path::new(MACHINE_ID) => {
            let mut ops = vec![Op::InitMachineId];
            if target_len.is_none() {
                ops.push(Op::CreateTarget);
            }
            ops.push(mount(false));
            ops
        }
        (FileMethod::Auto, false) => vec![Op::CreateSource, Op::Link],
        (FileMethod::Copy, _) => return plan_copy(e, f, false),
    };
    act(ops)
}

#[cfg(test)]
mod tests;
