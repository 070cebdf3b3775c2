//! Deciding what `persist` does for each path, without changing anything:
//! refusals (with the reason and the fix), the writers scan, and the resume
//! states (copy, bind a finished copy, done).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::FileType;

use super::{Action, Options, Refusal, Step, writers_under};
use crate::config::Kind;
use crate::config::{FORBIDDEN_PREFIXES, Settings};
use crate::copy::{self, Differ, End};
use crate::mountinfo::MountTable;
use crate::root::{self, Root};
use crate::sys::fs;
use crate::sys::meta::stat_fd;

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
    let root_fd = fs::open_dir(root.dir())
        .with_context(|| format!("cannot open the root {}", root.dir().display()))?;
    let normal: Vec<Option<PathBuf>> = paths.iter().map(|p| root::normalize(p)).collect();
    let mut out = Vec::new();
    for (i, arg) in paths.iter().enumerate() {
        let clash = normal[i].as_ref().and_then(|me| {
            normal.iter().enumerate().find_map(|(j, other)| {
                let other = other.as_ref()?;
                (j != i && me.starts_with(other) && (me != other || j < i)).then_some(other)
            })
        });
        out.push(match clash {
            Some(other) => refuse(
                arg,
                format!(
                    "{} is also given as {}: persist each path once, and a parent without its children",
                    arg.display(),
                    other.display()
                ),
            )?,
            None => plan_one(root, root_fd.as_fd(), &table, settings, opts, arg)?,
        });
    }
    Ok(out)
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
    match fs::open_beneath(root_fd, rel, rustix::fs::OFlags::PATH) {
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
    let live = stat_fd(live_fd.as_fd())?;
    let kind = match live.file_type {
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
        Ok(Some(fd)) => stat_fd(fd.as_fd())?,
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
    let rootm = stat_fd(root_fd)?;
    if pm.file_type != FileType::Directory {
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
        Ok(Some(fd)) => Some(stat_fd(fd.as_fd())?),
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
        if settings.is_persisted(&path) {
            return refuse(
                arg,
                format!(
                    "{} is already persisted: declared in {} and bound from {}",
                    path.display(),
                    settings.file.display(),
                    source.display()
                ),
            );
        }
        if table.at(&path).is_none() {
            let parent = table.containing(&path).map_or_else(
                || "a parent".into(),
                |m| m.mount_point.display().to_string(),
            );
            return refuse(
                arg,
                format!(
                    "{} is already persisted: it is inside {parent}, which is bound from {}",
                    path.display(),
                    proot.display()
                ),
            );
        }
        // Bound by an earlier run of `persist`: done (the record is renewed).
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
                "processes are writing below {}: {}. Stop them (e.g. `systemctl stop` their unit) and rerun, or pass --force to copy anyway (what they write during the copy is not in it, and until restarted they keep writing to the hidden live files, which the next reboot discards)",
                path.display(),
                list.join("; ")
            ),
            writers: found,
        }));
    }
    step.writers = found;
    (step.entries, step.bytes) = copy::measure(&step.host)?;
    match existing {
        Some(s) if s.file_type != live.file_type => {
            return refuse(
                arg,
                format!(
                    "{} already exists as a {:?}, but {} is a {:?}: move it away and rerun",
                    source.display(),
                    s.file_type,
                    path.display(),
                    live.file_type
                ),
            );
        }
        Some(_) => {
            let rel = |p: &'_ Path| p.strip_prefix("/").unwrap_or(p).to_path_buf();
            let (lrel, srel) = (rel(&path), rel(&source));
            let (ld, ln) = copy::open_parent(root_fd, &lrel)?;
            let (sd, sn) = copy::open_parent(root_fd, &srel)?;
            let ends = (
                End {
                    dir: ld.as_fd(),
                    name: ln,
                    shown: &step.host,
                },
                End {
                    dir: sd.as_fd(),
                    name: sn,
                    shown: &step.source_host,
                },
            );
            if let Some(diff) = copy::compare_trees_at(ends.0, ends.1, Differ::default())? {
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
