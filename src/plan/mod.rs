//! The boot plan: a pure function of the settings and what was observed
//! (per entry: what is at the target and the source, and what is mounted
//! there), returning plain data that `apply` executes and `--dry-run` prints.
//! Planning after applying yields nothing to do (see the property test).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Entry, FileMethod, Kind, Settings};
use crate::state::{How, Recorded};

mod copy;
mod links;
mod moved;
mod refuse;
mod render;

use copy::{plan_copy, plan_pending};
pub use moved::MovedFrom;
pub use refuse::{Refused, refuse_roots, refused};
pub use render::print_plan;

/// The file systemd commits its ID to; seeded with `uninitialized`.
pub const MACHINE_ID: &str = "/etc/machine-id";

/// What is at a path (never following symlinks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "is", rename_all = "snake_case")]
pub enum Node {
    /// Nothing there.
    Missing,
    /// Nothing there, and its parent directory is missing too (only
    /// reported for file sources: a symlink to it could never come to life
    /// until the parent exists, so boot creates it).
    MissingParent,
    /// A directory; `empty` when it holds nothing.
    Dir {
        /// Holds no entries.
        empty: bool,
    },
    /// A regular file of `len` bytes.
    File {
        /// Size in bytes.
        len: u64,
    },
    /// A symlink to `to`.
    Symlink {
        /// The link's text.
        to: PathBuf,
    },
    /// A device, socket or fifo.
    Other,
    /// Not looked at: something is already mounted on the target, so the
    /// entry is skipped whatever is underneath (keeps reruns cheap).
    Unprobed,
    /// The path cannot be looked at safely (a symlink in a parent component,
    /// a parent that is not a directory, an I/O error).
    Blocked {
        /// Why, in a sentence.
        why: String,
    },
}

/// What is mounted on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "is", rename_all = "snake_case")]
pub enum Mounted {
    /// Nothing.
    No,
    /// A bind of the entry's source.
    FromSource,
    /// Something else.
    Foreign {
        /// The foreign mount's source.
        source: String,
        /// Its root within that filesystem.
        root: PathBuf,
    },
}

/// The facts about one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// What is at the path on the ephemeral root (under any mount).
    pub target: Node,
    /// What is at the persistent source.
    pub source: Node,
    /// What is mounted on the target.
    pub mounted: Mounted,
}

/// Everything the planner looks at besides the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    /// Facts for every configured entry, by path.
    pub entries: BTreeMap<PathBuf, Facts>,
    /// What the previous run of this boot put in place (`state.json`).
    pub previous: Vec<Recorded>,
    /// Facts for previously recorded paths that are no longer configured.
    pub leftovers: BTreeMap<PathBuf, Facts>,
    /// Entries whose source changed since the previous run of this boot
    /// (moved to another root, or `persistentStoragePath` changed).
    pub moved: BTreeMap<PathBuf, moved::MovedFrom>,
}

/// One operation of a step, executed in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create the missing source (directories: with the declared owner and
    /// mode; files: their missing parents).
    CreateSource,
    /// Copy what the target holds into the missing source, atomically.
    Seed,
    /// Write `uninitialized` to the missing source (`/etc/machine-id`).
    InitMachineId,
    /// Create the missing target (and its parents): a directory or an empty file.
    CreateTarget,
    /// Bind the source onto the target.
    Mount {
        /// Userspace options recorded in utab (`x-gvfs-hide`, `x-gvfs-trash`).
        options: Vec<String>,
        /// The target holds data that the mount hides (persistent data wins).
        hides: bool,
    },
    /// Make the target a symlink to the source (replacing an empty file).
    Link,
    /// Detach the bind of an entry that left the config; remove its empty mount point.
    Unmount,
    /// Remove the symlink of an entry that left the config.
    RemoveLink,
    /// `method = "copy"`: copy the persistent file onto the target (owner,
    /// mode, times, xattrs), replacing what is there atomically.
    CopyIn,
    /// `method = "copy"`: save the live file into the missing persistent source.
    SaveCopy,
    /// Keep the live data at the target in persistence (under
    /// `<root>/impermctl-kept/<time>/`) before it is hidden or replaced.
    KeepLive,
    /// An entry left pending by an earlier run: bind it if nobody writes
    /// there any more (saving the live data over the seed first).
    CompletePending,
    /// Symlinks as data: store the symlink found at the target (same text,
    /// same owner) as the source, atomically.
    StoreLink,
    /// Symlinks as data: recreate at the missing target the symlink stored
    /// as the source (same text, same owner).
    RestoreLink,
    /// A moved entry: copy the data of its previous source `from` into the
    /// new source, atomically (the previous copy is kept); when the new
    /// source already holds a faithful copy (an interrupted run), go on.
    Migrate {
        /// The previous source.
        from: PathBuf,
    },
    /// A moved entry: detach the bind of its previous source `from` (the
    /// mount point stays for the new bind).
    Detach {
        /// The previous source.
        from: PathBuf,
    },
}

/// Why nothing is done for an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Why {
    /// Already bind-mounted from its source.
    AlreadyBound,
    /// Already a symlink to its source.
    AlreadyLinked,
    /// `boot --defer-unknown-owners`: the declared owner does not exist
    /// yet (the same activation creates it); the next pass applies it.
    DeferredOwner {
        /// `user:group` as declared.
        owner: String,
    },
    /// `method = "copy"`: copied in by an earlier run of this boot; the
    /// live file is the newest and is saved back, never overwritten.
    AlreadyCopied,
    /// `method = "copy"`: no persistent copy and no live data yet; saved
    /// when a program creates it.
    NothingToCopy,
    /// Symlinks as data: the target is the same symlink as the one stored.
    LinkInPlace,
    /// Inside a declared directory whose bind already holds its data:
    /// nothing is linked or bound inside that bind.
    Covered {
        /// The declared directory.
        by: PathBuf,
    },
    /// Something else is mounted there; never stacked.
    Foreign {
        /// The foreign mount's source.
        source: String,
        /// Its root.
        root: PathBuf,
    },
    /// A recorded entry that left the config is not undone: the record or
    /// the mount there is not one impermctl made (see `state::untrusted`).
    NotOurs {
        /// Why, in a sentence.
        reason: String,
    },
}

/// What happens to one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum What {
    /// Run these operations.
    Do {
        /// In order.
        ops: Vec<Op>,
    },
    /// Nothing to do.
    Skip(Why),
    /// The entry cannot be put in place; nothing is done for it.
    Fail {
        /// Why, and how to fix it.
        error: String,
    },
}

/// The plan for one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The path on the ephemeral root.
    pub path: PathBuf,
    /// Directory or file.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The persistent source.
    pub source: PathBuf,
    /// What to do.
    #[serde(flatten)]
    pub what: What,
}

/// The boot plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// One step per configured entry (config order: parents first), then
    /// one per entry to undo.
    pub steps: Vec<Step>,
}

impl Plan {
    /// The steps that do something.
    pub fn actions(&self) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .filter(|s| matches!(s.what, What::Do { .. }))
    }

    /// Nothing to do (skips and failures only)?
    pub fn is_noop(&self) -> bool {
        self.actions().next().is_none()
    }
}

/// Plan the boot.
pub fn plan(settings: &Settings, obs: &Observed) -> Plan {
    let mut steps = Vec::with_capacity(settings.entries.len());
    // The previous run's records, looked up per entry (a scan per entry
    // made a rerun with thousands of entries quadratic).
    let recorded: std::collections::HashSet<(&Path, How)> = obs
        .previous
        .iter()
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
            None => What::Fail {
                error: format!("{} was not observed", e.path.display()),
            },
        };
        steps.push(step(e.kind, &e.path, &e.source, what));
    }
    let declared: std::collections::HashSet<&Path> =
        settings.entries.iter().map(|e| e.path.as_path()).collect();
    // Undo deepest first (the record is in config order, parents first).
    for r in obs.previous.iter().rev() {
        if declared.contains(r.path.as_path()) {
            continue;
        }
        let Some(f) = obs.leftovers.get(&r.path) else {
            continue;
        };
        let not_ours = |reason: String| What::Skip(Why::NotOurs { reason });
        let what = match (
            crate::state::untrusted(r, &settings.roots),
            &r.how,
            &f.mounted,
            &f.target,
        ) {
            (Some(why), ..) => not_ours(why),
            (None, How::Bound, Mounted::FromSource, _) => What::Do {
                ops: vec![Op::Unmount],
            },
            (None, How::Bound, Mounted::Foreign { source, root }, _) => not_ours(format!(
                "the mount there ({source} {}) is not the bind of {} impermctl recorded",
                root.display(),
                r.source.display()
            )),
            (None, How::Linked, Mounted::No, Node::Symlink { to }) if *to == r.source => What::Do {
                ops: vec![Op::RemoveLink],
            },
            _ => continue,
        };
        steps.push(step(r.kind, &r.path, &r.source, what));
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

/// Checks common to both kinds: unsafe paths, existing mounts, links.
fn common(e: &Entry, f: &Facts) -> Option<What> {
    for (side, p, n) in [
        ("target", &e.path, &f.target),
        ("source", &e.source, &f.source),
    ] {
        if let Node::Blocked { why } = n {
            return Some(fail(format!("{side} {}: {why}", p.display())));
        }
    }
    match &f.mounted {
        Mounted::FromSource => return Some(What::Skip(Why::AlreadyBound)),
        Mounted::Foreign { source, root } => {
            return Some(What::Skip(Why::Foreign {
                source: source.clone(),
                root: root.clone(),
            }));
        }
        Mounted::No => {}
    }
    // Symlinks as data: a link stored in persistence is recreated.
    if let Node::Symlink { to } = &f.source {
        return Some(links::plan_stored_link(e, f, to));
    }
    match &f.target {
        // Linked, but the link's persistent parent is gone: recreate it.
        Node::Symlink { to } if *to == e.source && e.kind == Kind::File => {
            Some(if f.source == Node::MissingParent {
                What::Do {
                    ops: vec![Op::CreateSource, Op::Link],
                }
            } else {
                What::Skip(Why::AlreadyLinked)
            })
        }
        // A symlink that is not impermctl's own link is data: stored as a link.
        Node::Symlink { to } => Some(links::plan_live_link(e, f, to)),
        _ => None,
    }
}

/// The userspace options of `e`'s bind (`x-gvfs-hide`, `x-gvfs-trash`).
pub fn mount_options(e: &Entry) -> Vec<String> {
    let mut o = Vec::new();
    if e.hide {
        o.push("x-gvfs-hide".to_string());
    }
    if e.trash {
        o.push("x-gvfs-trash".to_string());
    }
    o
}

fn plan_dir(e: &Entry, f: &Facts) -> What {
    if let Some(w) = common(e, f) {
        return w;
    }
    let mut ops = Vec::new();
    match &f.source {
        Node::Missing | Node::MissingParent => match f.target {
            Node::Dir { empty: false } => ops.push(Op::Seed),
            _ => ops.push(Op::CreateSource),
        },
        Node::Dir { .. } => {}
        _ => {
            return fail(format!(
                "source {} is not a directory; move it away so that impermctl can create the directory",
                e.source.display()
            ));
        }
    }
    match &f.target {
        Node::Missing => ops.push(Op::CreateTarget),
        Node::Dir { .. } => {}
        _ => {
            return fail(format!(
                "{} is not a directory; move it away (or declare it as a file)",
                e.path.display()
            ));
        }
    }
    let hides = matches!(f.source, Node::Dir { .. }) && f.target == Node::Dir { empty: false };
    if hides {
        ops.push(Op::KeepLive);
    }
    ops.push(Op::Mount {
        options: mount_options(e),
        hides,
    });
    What::Do { ops }
}

fn plan_file(e: &Entry, f: &Facts) -> What {
    if e.method == FileMethod::Copy {
        return plan_copy(e, f, false);
    }
    if let Some(w) = common(e, f) {
        return w;
    }
    let target_len = match &f.target {
        Node::Missing => None,
        Node::File { len } => Some(*len),
        _ => {
            return fail(format!(
                "{} is not a regular file; move it away (or declare it as a directory)",
                e.path.display()
            ));
        }
    };
    let source_exists = match &f.source {
        Node::Missing | Node::MissingParent => false,
        Node::File { .. } => true,
        _ => {
            return fail(format!(
                "source {} is not a regular file; move it away",
                e.source.display()
            ));
        }
    };
    let data = target_len.is_some_and(|l| l > 0);
    let mount = |hides| Op::Mount {
        options: Vec::new(),
        hides,
    };
    let ops = match (e.method, source_exists) {
        (FileMethod::Symlink, true) if data => {
            return fail(format!(
                "{} holds data and {} exists too; a symlink would drop one of them: merge them by hand, then run `impermctl boot` again",
                e.path.display(),
                e.source.display()
            ));
        }
        (FileMethod::Symlink, false) if data => vec![Op::Seed, Op::Link],
        (FileMethod::Symlink, true) => vec![Op::Link],
        // The link's persistent parents are created first (as upstream), so
        // writers through the link can create the file.
        (FileMethod::Symlink, false) => vec![Op::CreateSource, Op::Link],
        (FileMethod::Auto, true) if target_len.is_none() => vec![Op::CreateTarget, mount(false)],
        (FileMethod::Auto, true) if data => vec![Op::KeepLive, mount(true)],
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
    What::Do { ops }
}

#[cfg(test)]
mod tests;
