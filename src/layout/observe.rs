//! Observing a root: its mount table (logical paths) and, on a live tree,
//! `lstat`/`statvfs`/`access` facts about the paths the checks care about.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::config::{Entry, Kind, Settings};
use crate::mountinfo::{Mount, MountTable};
use crate::root::Root;
use crate::sys::meta;

/// Facts about one path on a live tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// What is there (`lstat`); `None` when nothing is.
    pub kind: Option<meta::Kind>,
    /// `st_dev` as (major, minor).
    pub dev: Option<(u32, u32)>,
    /// Writable (`access(W_OK)` and not a read-only filesystem).
    pub writable: Option<bool>,
    /// Symlink target, when a symlink.
    pub link: Option<PathBuf>,
}

/// Space on the root filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes used.
    pub used: u64,
    /// Bytes in all (used + available to unprivileged users).
    pub size: u64,
}

/// Everything the checks look at.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// The mount table, with logical mount points.
    pub mounts: MountTable,
    /// Whether the probes come from a live tree (false with `--mountinfo`).
    pub live: bool,
    /// Probes of `/`, `/nix` and every persistence root and entry target.
    pub probes: BTreeMap<PathBuf, Probe>,
    /// Usage of the root filesystem (live only).
    pub root_usage: Option<Usage>,
    /// Directory entries whose persistent directory differs from the
    /// declared owner/mode (live only).
    pub drift: Vec<super::drift::Drift>,
    /// The text of the symlink stored as the source of each directory entry
    /// whose target is missing, by entry path (live only; see [`dir_link`]).
    pub source_links: BTreeMap<PathBuf, PathBuf>,
}

impl State {
    /// The probe of a logical path, if taken.
    pub fn probe(&self, p: &Path) -> Option<&Probe> {
        self.probes.get(p)
    }

    /// The device of the filesystem holding `p`: the live `st_dev` when
    /// probed, else the device of its containing mount.
    pub fn dev_of(&self, p: &Path) -> Option<(u32, u32)> {
        self.probe(p)
            .and_then(|pr| pr.dev)
            .or_else(|| self.mounts.containing(p).map(Mount::dev))
    }
}

/// Observe `root` for `settings`.
pub fn observe(root: &Root, settings: &Settings) -> anyhow::Result<State> {
    if let Some(file) = root.mountinfo_override() {
        let mounts = MountTable::read(file)?;
        return Ok(State {
            mounts,
            ..State::default()
        });
    }
    let t = MountTable::read(Path::new("/proc/self/mountinfo")).context(
        "cannot read /proc/self/mountinfo: is /proc mounted? impermctl needs it to see the layout",
    )?;
    let paths = [Path::new("/"), Path::new("/nix")].into_iter();
    let paths = paths.chain(settings.roots.iter().map(|r| r.path.as_path()));
    let paths = paths.chain(settings.entries.iter().map(|e| e.path.as_path()));
    let probes: BTreeMap<PathBuf, Probe> = paths
        .map(|p| (p.to_path_buf(), probe(&root.host(p))))
        .collect();
    let missing = |e: &&Entry| {
        e.kind == Kind::Directory && probes.get(&e.path).is_some_and(|p| p.kind.is_none())
    };
    let source_links = (settings.entries.iter().filter(missing))
        .filter_map(|e| {
            Some((
                e.path.clone(),
                std::fs::read_link(root.host(&e.source)).ok()?,
            ))
        })
        .collect();
    Ok(State {
        mounts: t.rebase(root.dir()),
        live: true,
        probes,
        root_usage: usage(root.dir()),
        drift: super::drift::observe_drift(root, settings),
        source_links,
    })
}

/// A declared directory whose symlink leads to data on the ephemeral root
/// (see `walk::data_behind_link`): boot refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirLink {
    /// The link's text.
    pub to: PathBuf,
    /// Where it leads (logical), on the ephemeral root.
    pub data: PathBuf,
    /// The link is the one stored as the source (nothing at the target).
    pub stored: bool,
}

impl DirLink {
    /// Why boot refuses `e`, with the line that persists the data.
    pub fn refusal(&self, e: &Entry) -> String {
        crate::suggest::dir_link_refusal(e, &self.to, &self.data, self.stored)
    }
}

/// [`DirLink`] of `e` in `state`, if any (never for a mounted target).
pub fn dir_link(state: &State, settings: &Settings, e: &Entry) -> Option<DirLink> {
    if mount_state(state, &e.path, &e.source).is_some() {
        return None;
    }
    let p = state.probe(&e.path)?;
    let (to, stored) = match (&p.link, state.source_links.get(&e.path)) {
        (Some(to), _) if p.kind == Some(meta::Kind::Symlink) => (to, false),
        (_, Some(to)) if p.kind.is_none() => (to, true),
        _ => return None,
    };
    let data = crate::walk::entry_link_data(settings, &state.mounts, e, to)?;
    Some(DirLink {
        to: to.clone(),
        data,
        stored,
    })
}

fn probe(host: &Path) -> Probe {
    let Ok(md) = std::fs::symlink_metadata(host) else {
        return Probe::default();
    };
    let kind = meta::Kind::from_mode(md.mode());
    let dev = md.dev();
    let writable = (kind != meta::Kind::Symlink).then(|| {
        nix::unistd::access(host, nix::unistd::AccessFlags::W_OK).is_ok()
            && !crate::live::status::read_only(host)
    });
    let dev = (
        nix::sys::stat::major(dev) as u32,
        nix::sys::stat::minor(dev) as u32,
    );
    Probe {
        kind: Some(kind),
        dev: Some(dev),
        writable,
        link: std::fs::read_link(host).ok(),
    }
}

fn usage(host: &Path) -> Option<Usage> {
    let s = nix::sys::statvfs::statvfs(host).ok()?;
    let frag = s.fragment_size();
    let used = (s.blocks() - s.blocks_free()) * frag;
    let size = used + s.blocks_available() * frag;
    (size > 0).then_some(Usage { used, size })
}

/// The state of one declared entry on the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EntryState {
    /// Bind-mounted from its persistent source.
    Bound,
    /// A symlink to its persistent source.
    Symlinked,
    /// Nothing at the target.
    Missing,
    /// Present but not persisted (a plain directory or file on the ephemeral root).
    NotPersisted,
    /// Something else is mounted there.
    Foreign {
        /// The source of the foreign mount.
        source: String,
        /// Its root within that filesystem.
        root: PathBuf,
    },
    /// Inside a declared directory whose bind already persists it
    /// (decided from the config: see `Settings::covered_by`).
    Covered {
        /// The declared directory.
        by: PathBuf,
    },
    /// A symlink pointing somewhere else.
    WrongLink {
        /// Where it points.
        target: PathBuf,
    },
}

/// What the mount table says is at `path`: `Bound` when it is the bind
/// of `source`, `Foreign` for any other mount; `None` when nothing is
/// mounted there.
pub fn mount_state(state: &State, path: &Path, source: &Path) -> Option<EntryState> {
    let m = state.mounts.at(path)?;
    Some(match state.mounts.is_bind_of(m, source) {
        true => EntryState::Bound,
        false => EntryState::Foreign {
            source: m.source.clone(),
            root: m.root.clone(),
        },
    })
}

/// Where `entry` stands in `state`.
pub fn entry_state(state: &State, entry: &Entry) -> EntryState {
    if let Some(s) = mount_state(state, &entry.path, &entry.source) {
        return s;
    }
    let link = |p: &Probe| {
        p.link
            .clone()
            .filter(|_| p.kind == Some(meta::Kind::Symlink))
    };
    match state.probe(&entry.path) {
        Some(p) if let Some(target) = link(p) => match target == entry.source {
            true => EntryState::Symlinked,
            false => EntryState::WrongLink { target },
        },
        Some(Probe { kind: None, .. }) => EntryState::Missing,
        Some(_) => EntryState::NotPersisted,
        // Offline (captured mount table): no mount there means not bound.
        None => match entry.kind {
            Kind::File => EntryState::Missing,
            Kind::Directory => EntryState::NotPersisted,
        },
    }
}
