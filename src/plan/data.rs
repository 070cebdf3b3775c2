//! The plan's data: what was observed per entry (`Node`, `Mounted`,
//! `Facts`, `Observed`) and what to do (`Op`, `Why`, `What`, `Step`, `Plan`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::MovedFrom;
use crate::config::Kind;
pub use crate::live::keep::Spare;
use crate::state::Recorded;

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
    /// A directory entry whose link (live, or stored as its source while
    /// nothing is at the target) leads to this place on the ephemeral root
    /// ([`super::dir_link_data`]): refused, its data would stay there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_data: Option<PathBuf>,
    /// Both the target and the source hold data, and binding (or copying)
    /// the source over the target would lose nothing: why
    /// (`live::keep::nothing_to_keep`). `None` when not looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spare: Option<Spare>,
}

/// Everything the planner looks at besides the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    /// Facts for every configured entry, by path.
    pub entries: BTreeMap<PathBuf, Facts>,
    /// What the previous run of this boot put in place (`state.json`).
    pub previous: Vec<Recorded>,
    /// Entries whose source changed since the previous run of this boot
    /// (moved to another root, or `persistentStoragePath` changed).
    pub moved: BTreeMap<PathBuf, MovedFrom>,
}

/// One operation of a step, executed in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create the missing source (directories: with the declared owner and
    /// mode; files: their missing parents).
    CreateSource,
    /// Copy what the target holds into the missing source (a directory's:
    /// also an empty one, replaced only while it stays empty), atomically.
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
    /// `method = "copy"`: copy the persistent file onto the target (owner,
    /// mode, times, xattrs), replacing what is there atomically.
    CopyIn,
    /// `method = "copy"`: save the live file into the missing persistent source.
    SaveCopy,
    /// Keep the live data at the target in persistence (under
    /// `<root>/impermctl-kept/<time>/`) before it is hidden or replaced.
    KeepLive,
    /// The live data at the target holds nothing to keep (`why`): hidden or
    /// replaced without a copy aside. Checked again right before the bind:
    /// what holds more by then is kept as [`Op::KeepLive`] keeps it.
    NothingToKeep {
        /// Why nothing is lost.
        why: Spare,
    },
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
        /// `user:group` as declared, or `of /home/NAME`: a plain entry below
        /// a home that is nobody's yet (`plan::homes::unresolved`).
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
    /// One step per configured entry (config order: parents first).
    pub steps: Vec<Step>,
}

impl Plan {
    /// The steps that do something.
    pub fn actions(&self) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .filter(|s| matches!(s.what, What::Do { .. }))
    }
}
