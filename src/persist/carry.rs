//! Carrying out a `persist` step: parents, atomic copy, bind mount, record.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Action, Method, Record, Step, record};
use crate::config::Kind;
use crate::copy::{self, CopyStats, Differ, End};
use crate::names;
use crate::root::{Root, rel};
use crate::sys::meta::{Meta, stat_fd};
use crate::sys::{dir, fs};
use rustix::fs::OFlags;

/// Carry out a step: copy (into missing parents created like their live
/// counterparts), bind, record in `/run/impermctl/persisted.json`.
pub fn carry_out(
    root: &Root,
    step: &Step,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    let mut stats = CopyStats::default();
    let begun = crate::state::now_coarse_ns();
    // The record is checked before anything is copied or bound: a damaged
    // one stops here, with nothing done, instead of after the bind.
    let file = super::records_file(root);
    let records = record::read(&file).context(
        "nothing was copied or mounted; move the damaged file aside (it only lists this boot's `persist` runs) and run the command again",
    )?;
    // Every step below is fd-relative to this one handle, without symlinks.
    let root_fd = fs::open_dir(root.dir())?;
    let (p, s) = (names::show(&step.path), names::show(&step.source));
    if step.action == Action::Copy {
        let dst_dir = make_parents(root_fd.as_fd(), &step.root, &step.path)?;
        let (src_dir, src_name) = copy::open_parent(root_fd.as_fd(), rel(&step.path))
            .with_context(|| format!("cannot open the parent of {p} (a symlink?)"))?;
        let dst_name = step.source.file_name().context("the source has no name")?;
        let from = End::new(src_dir.as_fd(), src_name, &step.host);
        let to = End::new(dst_dir.as_fd(), dst_name, &step.source_host);
        stats = match step.kind {
            Kind::Directory if step.merge => copy::fill::merge_at(from, to, progress)?,
            // Missing or empty (`prepare`); a fill a killed run left is finished.
            Kind::Directory if copy::fill::finish(dst_dir.as_fd(), dst_name, &step.source)? => {
                let diff = copy::compare_trees(&step.host, &step.source_host, Differ::default())?;
                if let Some(d) = diff {
                    anyhow::bail!(
                        "the copy an interrupted run left in {s} differs from the live data ({d}): move its contents away and rerun"
                    );
                }
                CopyStats::default()
            }
            Kind::Directory => copy::copy_tree_over_empty_at(from, to, progress)?,
            Kind::File => copy::copy_tree_at(from, to, progress)?,
        };
    }
    let before = records.into_iter().find(|r| r.path == step.path);
    let since = before.as_ref().map_or_else(crate::state::now, |r| r.since);
    // Bound already (a rerun after a kill): when it was copied is unknown.
    let copied = (step.action != Action::Done).then_some(begun);
    let seeded_ns = before.and_then(|r| r.seeded_ns).or(copied);
    let record = || {
        let rec = Record {
            path: step.path.clone(),
            root: step.root.clone(),
            source: step.source.clone(),
            kind: step.kind,
            since,
            seeded_ns,
            copy: step.method == Method::Copy,
        };
        record::upsert(&file, rec)
    };
    if step.action != Action::Done && step.method == Method::Bind {
        let beneath = |p: &Path| {
            fs::open_beneath(root_fd.as_fd(), rel(p), OFlags::PATH)
                .with_context(|| format!("cannot open {} (a symlink?)", names::show(p)))
        };
        let (src, dst) = (beneath(&step.source)?, beneath(&step.path)?);
        // The binds of entries declared inside (`decide`): mounted again on
        // top of the bind, as `boot` does; what their originals hold
        // under them is stale, never carried over.
        let table = (step.kind == Kind::Directory)
            .then(|| root.mount_table())
            .transpose()?;
        let at = (step.path.as_path(), step.source.as_path());
        let below = crate::apply::held_below(root_fd.as_fd(), table.as_ref(), at, src.as_fd())?;
        let skip = (table.iter()).flat_map(|t| crate::live::reconcile::below(t, &step.path));
        // Writers that open, append and close are invisible to the writers
        // scan: hold the original to carry over what they write meanwhile.
        let mut race = crate::live::reconcile::Guard::before_bind(
            root_fd.as_fd(),
            &step.path,
            &root.host(&step.source),
        )
        // Writers found by the scan and passed with --force: waited for,
        // but not an error if they never close (warned about).
        .forcing(step.writers.iter().map(|w| w.pid))
        .skipping(skip);
        crate::sys::mount::bind(src.as_fd(), dst.as_fd(), crate::sys::mount::Api::from_env())
            .with_context(|| format!("cannot bind-mount {s} over {p}"))?;
        crate::apply::on_top(root_fd.as_fd(), &step.path, below)?;
        // The bind exists: it is recorded whatever happens next (trial-s10
        // F2: a give-up of the race returned before the record, so status
        // and diff said nothing of a bind the next boot drops), then the
        // error is said. A rerun renews the record of a bind a kill left
        // unrecorded (decide: Done).
        let after = (|| {
            let a = stat_fd(beneath(&step.path)?.as_fd())?;
            let b = stat_fd(src.as_fd())?;
            let same = (a.dev, a.ino) == (b.dev, b.ino);
            anyhow::ensure!(same, "{p} is not the bind of {s} after mounting it");
            race.after_bind()
        })();
        record()?;
        after?;
    } else {
        record()?;
    }
    Ok(stats)
}

/// Create the missing directories between the persistence root and the
/// copy's parent, top-down, with the owner and mode of their live
/// counterparts (as impermanence does), all beneath `root_fd` without
/// symlinks. Returns the copy's parent, open for reading.
fn make_parents(root_fd: BorrowedFd<'_>, proot: &Path, path: &Path) -> anyhow::Result<OwnedFd> {
    let mut cur = dir::open(root_fd, rel(proot))
        .with_context(|| format!("cannot open {} (a symlink?)", names::show(proot)))?;
    let mut live = PathBuf::from("/");
    for c in rel(path.parent().unwrap_or(Path::new("/"))) {
        live.push(c);
        let shown = proot.join(rel(&live));
        let open = crate::sys::optional(dir::open(cur.as_fd(), c));
        cur = match open.with_context(|| format!("cannot open {} (a symlink?)", shown.display()))? {
            Some(fd) => fd,
            None => {
                let lm = stat_fd(fs::open_beneath(root_fd, rel(&live), OFlags::PATH)?.as_fd())?;
                make_dir(cur.as_fd(), c, &shown, &lm)
                    .with_context(|| format!("cannot create {}", names::show(&shown)))?
            }
        };
    }
    Ok(cur)
}

/// Create `name` in `dir` with the owner and mode of `like`, atomically:
/// built under a temporary name (a stale one from a killed run is removed
/// first), then renamed into place, so it never exists half-made.
fn make_dir(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    shown: &Path,
    like: &Meta,
) -> anyhow::Result<OwnedFd> {
    let end = End { dir, name, shown };
    copy::remove_stale_tmp_at(end)?;
    let tmp = copy::tmp_name(name);
    fs::mkdir_at(dir, &tmp, 0o700)?;
    let fd = dir::open(dir, &tmp)?;
    fs::chown(fs::At::Fd(fd.as_fd()), like.uid, like.gid)?;
    fs::chmod(fs::At::Fd(fd.as_fd()), like.perm)?;
    fs::fsync(fd.as_fd())?;
    let fd = match fs::rename(dir, &tmp, name, fs::RenameFlags::NOREPLACE) {
        Ok(()) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Made meanwhile by someone else: use theirs.
            drop(fd);
            copy::remove_stale_tmp_at(end)?;
            dir::open(dir, name)?
        }
        Err(e) => return Err(e.into()),
    };
    fs::fsync(dir)?;
    Ok(fd)
}
