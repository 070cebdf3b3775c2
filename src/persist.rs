//! `impermctl persist`: move live data into persistence now. Each path is
//! observed and decided first (copy, bind a finished copy, already done, or
//! a refusal with its reason); nothing changes unless every path can go.
//! Then: atomic copy, bind mount over the live path, record. Killed at any
//! point, the live data is intact and a rerun completes.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::FileType;
use serde::Serialize;

use crate::config::{FORBIDDEN_PREFIXES, Settings};
use crate::copy::{self, CopyStats, Differ};
use crate::mountinfo::MountTable;
use crate::root::{self, Root};
use crate::sys::copy as sys;

mod record;
mod writers;

pub use record::{Kind, Record};
pub use writers::{Writer, writers_under};

/// What `persist` does (or did) for one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Copy the live data to the persistence root, then bind it.
    Copy,
    /// A complete copy exists and matches the live data: bind it.
    Bind,
    /// The persistent copy is already bound over the live path.
    Done,
}

/// The plan for one path.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The live path (logical).
    pub path: PathBuf,
    /// Directory or file.
    pub kind: Kind,
    /// The persistence root (logical).
    pub root: PathBuf,
    /// Where the data goes (logical): `root` + `path`.
    pub source: PathBuf,
    /// What to do.
    pub action: Action,
    /// A temporary copy from an interrupted run exists (removed first).
    pub stale_tmp: bool,
    /// Entries and bytes of the live data.
    pub entries: u64,
    /// Bytes of regular files in the live data.
    pub bytes: u64,
    /// Already declared in the config.
    pub declared: bool,
    /// Writers found and overridden with `--force`.
    pub writers: Vec<Writer>,
    #[serde(skip)]
    host: PathBuf,
    #[serde(skip)]
    source_host: PathBuf,
}

/// Why a path is not persisted.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The path as given.
    pub path: PathBuf,
    /// What is wrong and how to fix it.
    pub reason: String,
    /// Processes writing there, when that is the reason.
    pub writers: Vec<Writer>,
}

/// Choices from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Persistence root to use instead of the config's first.
    pub to: Option<&'a Path>,
    /// Proceed despite writers.
    pub force: bool,
    /// Where `/proc` is (for the writers scan).
    pub proc: &'a Path,
}

/// Decide what to do for every path. Changes nothing.
pub fn plan(
    root: &Root,
    settings: &Settings,
    opts: Options<'_>,
    paths: &[PathBuf],
) -> anyhow::Result<Vec<Result<Step, Refusal>>> {
    let table = match root.mountinfo_override() {
        Some(f) => MountTable::read(f)?,
        None => MountTable::read(Path::new("/proc/self/mountinfo"))?.rebase(root.dir()),
    };
    let root_fd = sys::open_dir(root.dir())
        .with_context(|| format!("cannot open the root {}", root.dir().display()))?;
    paths
        .iter()
        .map(|p| plan_one(root, root_fd.as_fd(), &table, settings, opts, p))
        .collect()
}

fn refuse(path: &Path, reason: String) -> anyhow::Result<Result<Step, Refusal>> {
    Ok(Err(Refusal {
        path: path.to_path_buf(),
        reason,
        writers: Vec::new(),
    }))
}

/// Open a logical path below the root without following any symlink:
/// `Ok(None)` when it does not exist, `Err(reason)` for a symlink.
fn open_logical(
    root_fd: BorrowedFd<'_>,
    p: &Path,
) -> anyhow::Result<Result<Option<OwnedFd>, String>> {
    let rel = p.strip_prefix("/").unwrap_or(p);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    match sys::open_beneath(root_fd, rel) {
        Ok(fd) => Ok(Ok(Some(fd))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ok(None)),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            Ok(Err(format!(
                "{} has a symlink in it: persist the real path it points to",
                p.display()
            )))
        }
        Err(e) => Err(e).with_context(|| format!("cannot open {}", p.display())),
    }
}

fn plan_one(
    root: &Root,
    root_fd: BorrowedFd<'_>,
    table: &MountTable,
    settings: &Settings,
    opts: Options<'_>,
    arg: &Path,
) -> anyhow::Result<Result<Step, Refusal>> {
    let Some(path) = root::normalize(arg).filter(|p| p != Path::new("/")) else {
        return refuse(
            arg,
            "give an absolute path below / without `..`, e.g. /var/lib/foo".into(),
        );
    };
    if let Some(f) = FORBIDDEN_PREFIXES.iter().find(|f| path.starts_with(f)) {
        return refuse(
            arg,
            format!(
                "{} is under {f}, which is not part of the ephemeral root: there is nothing to persist",
                path.display()
            ),
        );
    }
    let proot = match opts.to {
        Some(t) => match root::normalize(t) {
            Some(t) => t,
            None => {
                return refuse(
                    arg,
                    format!("--to {}: give an absolute path without `..`", t.display()),
                );
            }
        },
        None => match settings.roots.first() {
            Some(r) => r.path.clone(),
            None => {
                return refuse(
                    arg,
                    format!(
                        "{} declares no persistence root: add `[[persistence]] path = \"/persistent\"` or pass --to",
                        settings.file.display()
                    ),
                );
            }
        },
    };
    for r in settings.roots.iter().map(|r| &r.path).chain([&proot]) {
        if path.starts_with(r) || r.starts_with(&path) {
            return refuse(
                arg,
                format!(
                    "{} overlaps the persistence root {}: persist a path outside it",
                    path.display(),
                    r.display()
                ),
            );
        }
    }
    let live_fd = match open_logical(root_fd, &path)? {
        Ok(Some(fd)) => fd,
        Ok(None) => {
            return refuse(
                arg,
                format!(
                    "{} does not exist: there is no data to move (to persist a path that does not exist yet, add it to the config)",
                    path.display()
                ),
            );
        }
        Err(reason) => return refuse(arg, reason),
    };
    let live = sys::stat_fd(live_fd.as_fd())?;
    let kind = match live.kind {
        FileType::Directory => Kind::Directory,
        FileType::RegularFile => Kind::File,
        k => {
            return refuse(
                arg,
                format!(
                    "{} is a {k:?}: only directories and regular files can be persisted",
                    path.display()
                ),
            );
        }
    };
    let pm = match open_logical(root_fd, &proot)? {
        Ok(Some(fd)) => sys::stat_fd(fd.as_fd())?,
        Ok(None) => {
            return refuse(
                arg,
                format!(
                    "the persistence root {} does not exist: mount the persistent dataset there first",
                    proot.display()
                ),
            );
        }
        Err(reason) => return refuse(arg, reason),
    };
    let rootm = sys::stat_fd(root_fd)?;
    if pm.kind != FileType::Directory {
        return refuse(
            arg,
            format!(
                "the persistence root {} is not a directory",
                proot.display()
            ),
        );
    }
    if pm.dev == rootm.dev {
        return refuse(
            arg,
            format!(
                "the persistence root {} is on the same filesystem as /: is the persistent dataset mounted? Data moved there would be lost at the next reboot",
                proot.display()
            ),
        );
    }
    let source = proot.join(path.strip_prefix("/").unwrap_or(&path));
    let existing = match open_logical(root_fd, &source)? {
        Ok(Some(fd)) => Some(sys::stat_fd(fd.as_fd())?),
        Ok(None) => None,
        Err(reason) => return refuse(arg, reason),
    };
    let mut step = Step {
        kind,
        root: proot.clone(),
        source: source.clone(),
        action: Action::Done,
        stale_tmp: false,
        entries: 0,
        bytes: 0,
        declared: settings.entry(&path).is_some(),
        writers: Vec::new(),
        host: root.host(&path),
        source_host: root.host(&source),
        path: path.clone(),
    };
    if existing.is_some_and(|s| (s.dev, s.ino) == (live.dev, live.ino)) {
        return Ok(Ok(step));
    }
    if live.dev == pm.dev {
        return refuse(
            arg,
            format!(
                "{} is already on the persistent filesystem of {} (persisted through a parent directory?)",
                path.display(),
                proot.display()
            ),
        );
    }
    if let Some(m) = table.at(&path) {
        return refuse(
            arg,
            format!(
                "{} is a mount point ({} from {}): persisting it would stack a mount on it; unmount it first",
                path.display(),
                m.fstype,
                m.source
            ),
        );
    }
    let below: Vec<String> = table
        .below(&path)
        .map(|m| m.mount_point.display().to_string())
        .collect();
    if !below.is_empty() {
        return refuse(
            arg,
            format!(
                "{} has filesystems mounted below it ({}): binding a copy over it would hide them; unmount them first",
                path.display(),
                below.join(", ")
            ),
        );
    }
    let found = writers_under(opts.proc, &step.host);
    if !found.is_empty() && !opts.force {
        let list: Vec<String> = found.iter().map(|w| w.to_string()).collect();
        return Ok(Err(Refusal {
            path: arg.to_path_buf(),
            reason: format!(
                "processes are writing below {}: {}. Stop them (e.g. `systemctl stop` their unit) and rerun, or pass --force to copy anyway (what they write during the copy may be lost)",
                path.display(),
                list.join("; ")
            ),
            writers: found,
        }));
    }
    step.writers = found;
    (step.entries, step.bytes) = copy::measure(&step.host)?;
    match existing {
        Some(s) if s.kind != live.kind => {
            return refuse(
                arg,
                format!(
                    "{} already exists as a {:?}, but {} is a {:?}: move it away and rerun",
                    source.display(),
                    s.kind,
                    path.display(),
                    live.kind
                ),
            );
        }
        Some(_) => {
            if let Some(diff) =
                copy::compare_trees(&step.host, &step.source_host, Differ::default())?
            {
                return refuse(
                    arg,
                    format!(
                        "{} already exists and differs from the live data ({diff}): the live data changed since it was copied, or the persistent copy was there before. Move {} away and rerun to copy the live data again",
                        source.display(),
                        source.display()
                    ),
                );
            }
            step.action = Action::Bind;
        }
        None => {
            step.action = Action::Copy;
            step.stale_tmp = copy::stale_tmp_exists(&step.source_host);
        }
    }
    Ok(Ok(step))
}

/// Carry out a step: copy (into missing parents created like their live
/// counterparts), bind, record in `/run/impermctl/persisted.json`.
pub fn apply(
    root: &Root,
    step: &Step,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    let mut stats = CopyStats::default();
    if step.action == Action::Copy {
        make_parents(root, &step.root, &step.path)?;
        stats = copy::copy_tree_atomic_with(&step.host, &step.source_host, progress)?;
    }
    if step.action != Action::Done {
        sys::bind_mount(&step.source_host, &step.host).with_context(|| {
            format!(
                "cannot bind-mount {} over {}",
                step.source.display(),
                step.path.display()
            )
        })?;
        let (a, b) = (
            sys::stat_fd(sys::open_path(&step.host)?.as_fd())?,
            sys::stat_fd(sys::open_path(&step.source_host)?.as_fd())?,
        );
        anyhow::ensure!(
            (a.dev, a.ino) == (b.dev, b.ino),
            "{} is not the bind of {} after mounting it",
            step.path.display(),
            step.source.display()
        );
    }
    let file = root.run_dir().join("persisted.json");
    let since = record::read(&file)
        .ok()
        .and_then(|rs| {
            rs.into_iter()
                .find(|r| r.path == step.path)
                .map(|r| r.since)
        })
        .unwrap_or_else(now);
    record::upsert(
        &file,
        Record {
            path: step.path.clone(),
            root: step.root.clone(),
            source: step.source.clone(),
            kind: step.kind,
            since,
        },
    )?;
    Ok(stats)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Create the missing directories between the persistence root and the
/// copy's parent, top-down, with the owner and mode of their live
/// counterparts (as impermanence does).
fn make_parents(root: &Root, proot: &Path, path: &Path) -> anyhow::Result<()> {
    let root_fd = sys::open_dir(root.dir())?;
    let mut cur = sys::open_dir(&root.host(proot))
        .with_context(|| format!("cannot open {}", proot.display()))?;
    let mut live = PathBuf::from("/");
    let parent = path.parent().unwrap_or(Path::new("/"));
    for c in parent.strip_prefix("/").unwrap_or(parent).iter() {
        live.push(c);
        let next = match sys::open_dir_at(cur.as_fd(), c) {
            Ok(fd) => fd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let lm = sys::stat_fd(
                    sys::open_beneath(root_fd.as_fd(), live.strip_prefix("/")?)?.as_fd(),
                )?;
                sys::mkdir_at(cur.as_fd(), c, 0o700).with_context(|| {
                    format!(
                        "cannot create {}",
                        proot
                            .join(live.strip_prefix("/").unwrap_or(&live))
                            .display()
                    )
                })?;
                let fd = sys::open_dir_at(cur.as_fd(), c)?;
                sys::chown_fd(fd.as_fd(), lm.uid, lm.gid)?;
                sys::chmod_fd(fd.as_fd(), lm.perm)?;
                sys::fsync(cur.as_fd())?;
                fd
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot open {} (a symlink?)",
                        proot
                            .join(live.strip_prefix("/").unwrap_or(&live))
                            .display()
                    )
                });
            }
        };
        cur = next;
    }
    Ok(())
}
