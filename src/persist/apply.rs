//! Carrying out a `persist` step: parents, atomic copy, bind mount, record.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Action, Record, Step, record};
use crate::copy::{self, CopyStats};
use crate::root::Root;
use crate::sys::meta::{Meta, stat_fd};
use crate::sys::{dir, fs};
use rustix::fs::OFlags;

/// Carry out a step: copy (into missing parents created like their live
/// counterparts), bind, record in `/run/impermctl/persisted.json`.
pub fn apply(
    root: &Root,
    step: &Step,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    let mut stats = CopyStats::default();
    // The record is checked before anything is copied or bound: a damaged
    // one stops here, with nothing done, instead of after the bind.
    let file = super::records_file(root);
    let records = record::read(&file).context(
        "nothing was copied or mounted; move the damaged file aside (it only lists this boot's `persist` runs) and run the command again",
    )?;
    if step.action == Action::Copy {
        make_parents(root, &step.root, &step.path)?;
        stats = copy::copy_tree_atomic_with(&step.host, &step.source_host, progress)?;
    }
    if step.action != Action::Done {
        let root_fd = fs::open_dir(root.dir())?;
        let beneath = |p: &Path| {
            fs::open_beneath(
                root_fd.as_fd(),
                p.strip_prefix("/").unwrap_or(p),
                OFlags::PATH,
            )
            .with_context(|| format!("cannot open {} (a symlink?)", p.display()))
        };
        let (src, dst) = (beneath(&step.source)?, beneath(&step.path)?);
        // Writers that open, append and close are invisible to the writers
        // scan: hold the original to carry over what they write meanwhile.
        let mut race = crate::live::reconcile::Guard::before_bind(
            root_fd.as_fd(),
            &step.path,
            &root.host(&step.source),
        );
        crate::sys::mount::bind(src.as_fd(), dst.as_fd(), crate::sys::mount::Api::from_env())
            .with_context(|| {
                format!(
                    "cannot bind-mount {} over {}",
                    step.source.display(),
                    step.path.display()
                )
            })?;
        let (a, b) = (
            stat_fd(beneath(&step.path)?.as_fd())?,
            stat_fd(src.as_fd())?,
        );
        anyhow::ensure!(
            (a.dev, a.ino) == (b.dev, b.ino),
            "{} is not the bind of {} after mounting it",
            step.path.display(),
            step.source.display()
        );
        race.after_bind()?;
    }
    let since = records
        .into_iter()
        .find(|r| r.path == step.path)
        .map_or_else(now, |r| r.since);
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
    let root_fd = fs::open_dir(root.dir())?;
    let mut cur = fs::open_dir(&root.host(proot))
        .with_context(|| format!("cannot open {}", proot.display()))?;
    let mut live = PathBuf::from("/");
    let parent = path.parent().unwrap_or(Path::new("/"));
    for c in parent.strip_prefix("/").unwrap_or(parent).iter() {
        live.push(c);
        let next = match dir::open(cur.as_fd(), c) {
            Ok(fd) => fd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let lm = stat_fd(
                    fs::open_beneath(root_fd.as_fd(), live.strip_prefix("/")?, OFlags::PATH)?
                        .as_fd(),
                )?;
                let shown = proot.join(live.strip_prefix("/")?);
                make_dir(cur.as_fd(), c, &root.host(&shown), &lm)
                    .with_context(|| format!("cannot create {}", shown.display()))?
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

/// Create `name` in `dir` with the owner and mode of `like`, atomically:
/// built under a temporary name (a stale one from a killed run is removed
/// first), then renamed into place, so it never exists half-made.
fn make_dir(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    host: &Path,
    like: &Meta,
) -> anyhow::Result<OwnedFd> {
    copy::remove_stale_tmp(host)?;
    let tmp = copy::tmp_name(name);
    fs::mkdir_at(dir, &tmp, 0o700)?;
    let fd = dir::open(dir, &tmp)?;
    fs::chown_fd(fd.as_fd(), like.uid, like.gid)?;
    fs::chmod_fd(fd.as_fd(), like.perm)?;
    fs::fsync(fd.as_fd())?;
    let fd = match fs::rename_noreplace(dir, &tmp, name) {
        Ok(()) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Made meanwhile by someone else: use theirs.
            drop(fd);
            copy::remove_stale_tmp(host)?;
            dir::open(dir, name)?
        }
        Err(e) => return Err(e.into()),
    };
    fs::fsync(dir)?;
    Ok(fd)
}
