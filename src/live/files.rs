//! `method = "copy"` files: copy the persistent file onto the ephemeral
//! root at boot, save the live file back into persistence. Both directions
//! are atomic (a complete copy under a temporary name, fsynced, then
//! renamed over the old one), keep owner, mode, times and xattrs, and reach
//! both sides through directory fds opened beneath their roots without
//! following symlinks (`/proc/self/fd/N/…` anchors the copy on those fds).

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::FileType;

use crate::config::Entry;
use crate::copy::{self, CopyStats};
use crate::live::sync::Outcome;
use crate::root::{Root, rel};
use crate::sys::dir;
use crate::sys::fs::{self, Owner};

/// Copy `from_name` in `from_dir` to the new `to_name` in `to_dir`
/// ([`copy::copy_tree_at`], without progress; `shown_*` name them in
/// messages). The directories may be `O_PATH` handles: both are reopened
/// for reading first (`flock`, `fsync` and `getdents` need real ones).
pub fn copy_at(
    from_dir: BorrowedFd<'_>,
    from_name: &OsStr,
    shown_from: &Path,
    to_dir: BorrowedFd<'_>,
    to_name: &OsStr,
    shown_to: &Path,
) -> anyhow::Result<CopyStats> {
    let (f, t) = (dir::open(from_dir, "")?, dir::open(to_dir, "")?);
    let from = copy::End::new(f.as_fd(), from_name, shown_from);
    let to = copy::End::new(t.as_fd(), to_name, shown_to);
    copy::copy_tree_at(from, to, &mut |_| {})
}

/// Copy `from_name` in `from_dir` to `name` in `dir`, replacing it
/// atomically: built as `.<name><suffix>` (a stale one is removed first),
/// fsynced, renamed over `name`. `shown`: the logical paths of the source
/// and the destination, for messages.
pub fn replace_with_copy(
    from_dir: BorrowedFd<'_>,
    from_name: &OsStr,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    suffix: &str,
    shown: (&Path, &Path),
) -> anyhow::Result<CopyStats> {
    let tmp = copy::sibling_name(name, suffix);
    let d = dir::open(dir, "")?;
    copy::remove_tree_at(d.as_fd(), &tmp)?;
    let shown_tmp = shown.1.with_file_name(&tmp);
    let stats = copy_at(from_dir, from_name, shown.0, d.as_fd(), &tmp, &shown_tmp)?;
    fs::rename(d.as_fd(), &tmp, name, fs::RenameFlags::empty())?;
    crate::sys::fs::fsync(d.as_fd())?;
    Ok(stats)
}

/// The directory holding `e`'s target, opened beneath the root (`None` when missing).
fn target_dir(rootfd: BorrowedFd<'_>, e: &Entry) -> anyhow::Result<Option<(OwnedFd, OsString)>> {
    let (parent, name) = fs::split(rel(&e.path))?;
    let fd = crate::sys::optional(dir::open(rootfd, parent)).with_context(|| {
        format!(
            "cannot open the directory of {} (a symlink on the way is refused)",
            e.path.display()
        )
    })?;
    Ok(fd.map(|fd| (fd, name.to_os_string())))
}

/// The directory holding `e`'s source, created (with the entry's parent
/// perms) when `create`.
fn source_dir(
    root: &Root,
    rootfd: BorrowedFd<'_>,
    e: &Entry,
    create: bool,
) -> anyhow::Result<Option<(OwnedFd, OsString)>> {
    let pfd = dir::open(rootfd, rel(&e.root))
        .with_context(|| format!("cannot open the persistence root {}", e.root.display()))?;
    let srel = e.source.strip_prefix(&e.root).unwrap_or(&e.source);
    let (parent, name) = fs::split(srel)?;
    let fd = if create {
        let o = crate::ids::Ids::default().owner(root, &e.parent)?;
        let mut owner = |_| Ok::<Owner, std::io::Error>(o);
        let (fd, _) = dir::mkdir_beneath(pfd.as_fd(), parent, &mut owner)
            .with_context(|| format!("cannot create the parents of {}", e.source.display()))?;
        Some(fd)
    } else {
        crate::sys::optional(dir::open(pfd.as_fd(), parent))
            .with_context(|| format!("cannot open the parent of {}", e.source.display()))?
    };
    Ok(fd.map(|fd| (fd, name.to_os_string())))
}

/// Same content, owner, mode and mtime?
fn same_file(
    a_dir: BorrowedFd<'_>,
    a: &OsStr,
    b_dir: BorrowedFd<'_>,
    b: &OsStr,
) -> anyhow::Result<bool> {
    let ma = crate::sys::meta::stat_at(a_dir, a)?;
    let mb = crate::sys::meta::stat_at(b_dir, b)?;
    let meta = |m: &crate::sys::meta::Meta| (m.size, m.uid, m.gid, m.perm, m.mtime);
    if meta(&ma) != meta(&mb) {
        return Ok(false);
    }
    let fa = std::fs::File::from(crate::sys::fs::open_read_at(a_dir, a)?);
    let fb = std::fs::File::from(crate::sys::fs::open_read_at(b_dir, b)?);
    Ok(copy::same_bytes(&fa, &fb, None)?)
}

/// `e`'s live regular file (its directory and name); `None` when there is none.
fn live_file(rootfd: BorrowedFd<'_>, e: &Entry) -> anyhow::Result<Option<(OwnedFd, OsString)>> {
    Ok(target_dir(rootfd, e)?.filter(|(d, n)| regular(d.as_fd(), n)))
}

fn regular(dir: BorrowedFd<'_>, name: &OsStr) -> bool {
    crate::sys::meta::stat_at(dir, name).is_ok_and(|m| m.file_type == FileType::RegularFile)
}

/// Boot: copy the persistent file onto the target, replacing what is there
/// (an empty file, a symlink to the source, or data already kept aside).
pub fn copy_in(root: &Root, e: &Entry) -> anyhow::Result<CopyStats> {
    let rootfd = fs::open_dir(root.dir())?;
    let (sdir, sname) = source_dir(root, rootfd.as_fd(), e, false)?
        .with_context(|| format!("{} does not exist", e.source.display()))?;
    anyhow::ensure!(
        regular(sdir.as_fd(), &sname),
        "{} is not a regular file",
        e.source.display()
    );
    let (tdir, tname) = target_dir(rootfd.as_fd(), e)?
        .with_context(|| format!("the directory of {} does not exist", e.path.display()))?;
    replace_with_copy(
        sdir.as_fd(),
        &sname,
        tdir.as_fd(),
        &tname,
        ".impermctl-in",
        (&e.source, &e.path),
    )
    .with_context(|| {
        format!(
            "cannot copy {} onto {}",
            e.source.display(),
            e.path.display()
        )
    })
}

/// Is the live `method = "copy"` file saved: does its persistent copy
/// hold the same content, owner, mode and mtime ([`save`]'s test)? True
/// when there is no live regular file (the sync keeps the persistent copy
/// then, and the next boot copies it in). Reads only; errors name the path.
pub fn in_sync(root: &Root, e: &Entry) -> anyhow::Result<bool> {
    let rootfd = fs::open_dir(root.dir())?;
    let Some((tdir, tname)) = live_file(rootfd.as_fd(), e)? else {
        return Ok(true);
    };
    let Some((sdir, sname)) = source_dir(root, rootfd.as_fd(), e, false)? else {
        return Ok(false);
    };
    Ok(regular(sdir.as_fd(), &sname) && same_file(tdir.as_fd(), &tname, sdir.as_fd(), &sname)?)
}

/// Save the live file into persistence if it differs (content, owner,
/// mode, mtime, xattrs), atomically: `.<name>.impermctl-save`, fsynced,
/// renamed over the source. Killed at any point, the source is the old or
/// the new version. Without a live regular file (deleted, or not created
/// yet) the persistent copy is kept as it is, never deleted. Never
/// `Outcome::Failed`: an error is the `Err`.
pub fn save(root: &Root, e: &Entry) -> anyhow::Result<Outcome> {
    let rootfd = fs::open_dir(root.dir())?;
    let Some((tdir, tname)) = live_file(rootfd.as_fd(), e)? else {
        return Ok(Outcome::NoLiveFile);
    };
    // Before anything is created: a read-only root is the cause to name.
    if crate::live::status::read_only(&root.host(&e.root)) {
        anyhow::bail!(
            "{} cannot be written: {}",
            crate::names::show(&e.source),
            crate::live::status::remount_fix(&e.root, "impermctl sync")
        );
    }
    let (sdir, sname) = source_dir(root, rootfd.as_fd(), e, true)?
        .with_context(|| format!("cannot reach {}", e.source.display()))?;
    if regular(sdir.as_fd(), &sname) && same_file(tdir.as_fd(), &tname, sdir.as_fd(), &sname)? {
        return Ok(Outcome::Unchanged);
    }
    let s = replace_with_copy(
        tdir.as_fd(),
        &tname,
        sdir.as_fd(),
        &sname,
        ".impermctl-save",
        (&e.path, &e.source),
    )
    .with_context(|| format!("writing {}", crate::names::show(&e.source)))?;
    Ok(Outcome::Saved { bytes: s.bytes })
}

/// The `method = "copy"` files this boot put in place: `state.json`
/// records them `Copied` (copied in, saved from the live file, or with
/// nothing to copy yet), by path, with the source recorded. Only these can
/// have been deleted since ([`deleted`]); a file `boot` could not restore,
/// or whose root was refused, is not recorded. Empty without a record.
pub fn copied_this_boot(root: &Root) -> Vec<(PathBuf, PathBuf)> {
    let Ok(Some(st)) = crate::state::read(&root.state_file()) else {
        return Vec::new();
    };
    (st.entries.into_iter())
        .filter(|r| r.how == crate::state::How::Copied)
        .map(|r| (r.path, r.source))
        .collect()
}

/// Was `e`'s live file deleted after this boot put it in place? It is
/// in `copied` ([`copied_this_boot`], from the same source), its
/// directory is there but nothing is at its name, and its persistent copy
/// is a regular file. Then the sync moves that copy aside
/// ([`keep_deleted`]) so that the next boot does not bring it back.
pub fn deleted(root: &Root, e: &Entry, copied: &[(PathBuf, PathBuf)]) -> bool {
    let recorded = copied.iter().any(|(p, s)| *p == e.path && *s == e.source);
    recorded && deleted_now(root, e).unwrap_or(false)
}

fn deleted_now(root: &Root, e: &Entry) -> anyhow::Result<bool> {
    let rootfd = fs::open_dir(root.dir())?;
    let Some((tdir, tname)) = target_dir(rootfd.as_fd(), e)? else {
        return Ok(false);
    };
    if crate::sys::optional(crate::sys::meta::stat_at(tdir.as_fd(), tname.as_os_str()))?.is_some() {
        return Ok(false);
    }
    let source = source_dir(root, rootfd.as_fd(), e, false)?;
    Ok(source.is_some_and(|(d, n)| regular(d.as_fd(), &n)))
}

/// The sync, for a [`deleted`] file: move its persistent copy aside to
/// `<root>/impermctl-kept/<time>/<path>` (one rename on the persistence
/// root: killed at any point, the copy is at one of the two names; never
/// deleted), so that the next boot does not copy the deleted file back.
/// Returns where it went (logical).
pub fn keep_deleted(root: &Root, e: &Entry) -> anyhow::Result<PathBuf> {
    let rootfd = fs::open_dir(root.dir())?;
    let (sdir, sname) = source_dir(root, rootfd.as_fd(), e, false)?
        .with_context(|| format!("cannot reach {}", e.source.display()))?;
    let now = jiff::Timestamp::now().as_second().max(0);
    let base = super::keep::kept_path(&e.root, &e.path, now).into_os_string();
    let taken = |p: &OsStr| root.host(Path::new(p)).symlink_metadata().is_ok();
    let to = PathBuf::from(fs::free_name(base, 2, taken));
    let pfd = dir::open(rootfd.as_fd(), rel(&e.root))?;
    let krel = to.strip_prefix(&e.root).unwrap_or(&to);
    let (kparent, kname) = fs::split(krel)?;
    let mut owner = |_| Ok::<Owner, std::io::Error>(Owner::root(0o700));
    let (kdir, _) = dir::mkdir_beneath(pfd.as_fd(), kparent, &mut owner)
        .with_context(|| format!("cannot create {}", e.root.join(kparent).display()))?;
    let kdir = dir::open(kdir.as_fd(), "")?;
    let flags = rustix::fs::RenameFlags::NOREPLACE;
    rustix::fs::renameat_with(sdir.as_fd(), sname.as_os_str(), kdir.as_fd(), kname, flags)
        .with_context(|| format!("cannot move {} to {}", e.source.display(), to.display()))?;
    fs::fsync(kdir.as_fd())?;
    fs::fsync(sdir.as_fd())?;
    Ok(to)
}
