//! Copying a tree with every bit of metadata, atomically: into a temporary
//! sibling `.<name>.impermctl-tmp`, every file and directory fsynced, then
//! renamed into place, so the destination either does not exist or is
//! complete. Used to seed persistent sources at boot and by `persist`.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, bail};
use rustix::fs::FileType;

use crate::sys::fs::At;
use crate::sys::meta::stat_at;
use crate::sys::{dir, fs};

mod compare;
pub mod fill;
mod remove;
mod room;
mod separated;
mod tree;

pub use compare::{
    Differ, compare_trees, compare_trees_at, measure, read_full_at, same_bytes, xattr_diff,
};
pub use remove::remove_tree_at;
pub use room::room;
pub use separated::{Separated, separated};

/// What a copy did (also reported, as it goes, to a progress callback).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyStats {
    /// Entries copied (files, directories, links, special files).
    pub entries: u64,
    /// Bytes of the regular files copied: their sizes (a sparse file's
    /// holes are reproduced as holes, and counted).
    pub bytes: u64,
    /// Regular files among `entries`.
    pub files: u64,
    /// Things that could not be copied as they are and were left out or
    /// reduced, each logged as a warning: device nodes or `security.*` /
    /// `trusted.*` attributes without the privilege to create them, and the
    /// contents of other filesystems (or files) mounted inside the tree (the
    /// mount point itself is copied as an empty directory, like `cp -ax`, or
    /// as an empty file).
    pub skipped: u64,
}

/// The temporary name a copy to `name` is built under: `.<name>.impermctl-tmp`.
pub fn tmp_name(name: &OsStr) -> OsString {
    sibling_name(name, ".impermctl-tmp")
}

pub use crate::sys::fs::sibling_name;

/// Copy the xattrs (POSIX ACLs included) of the directory open at `from`
/// onto the one open at `to` (both open for reading), as a seed copy does
/// (the same code: privileged ones the kernel refuses are skipped with a
/// warning). `shown_from`/`shown_to` name them in errors.
pub fn copy_dir_xattrs(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    shown_from: &Path,
    shown_to: &Path,
) -> anyhow::Result<()> {
    let mut progress = |_| {};
    let mut c = tree::Copier::new(shown_from, shown_to, &mut progress);
    c.xattrs(At::Fd(from), At::Fd(to), Path::new(""))
}

/// One end of a copy: the entry `name` in the directory `dir`, which the
/// caller opened for reading beneath a directory fd it holds (the root, a
/// persistence root), without symlinks; `shown` names it in messages.
#[derive(Debug, Clone, Copy)]
pub struct End<'a> {
    /// The parent directory, open for reading.
    pub dir: BorrowedFd<'a>,
    /// The entry's name in it.
    pub name: &'a OsStr,
    /// The path shown in messages.
    pub shown: &'a Path,
}

impl<'a> End<'a> {
    /// The entry `name` in `dir`, shown as `shown`.
    pub fn new(dir: BorrowedFd<'a>, name: &'a OsStr, shown: &'a Path) -> Self {
        End { dir, name, shown }
    }
}

/// One entry on a walk of two trees side by side (a source and its copy):
/// its name in each side's open parent directory, and its path relative to
/// the top (empty for the top itself).
#[derive(Debug, Clone, Copy)]
struct Pair<'a> {
    src_dir: BorrowedFd<'a>,
    src: &'a OsStr,
    dst_dir: BorrowedFd<'a>,
    dst: &'a OsStr,
    rel: &'a Path,
}

impl<'a> Pair<'a> {
    /// The top: `from` and its copy `dst` in the directory open at `dst_dir`.
    fn top(from: End<'a>, dst_dir: BorrowedFd<'a>, dst: &'a OsStr) -> Self {
        Pair {
            src_dir: from.dir,
            src: from.name,
            dst_dir,
            dst,
            rel: Path::new(""),
        }
    }

    /// The entry `name` (the same on both sides) of the directories open at
    /// `src_dir` and `dst_dir`; `rel` is its path from the top.
    fn child(
        src_dir: BorrowedFd<'a>,
        dst_dir: BorrowedFd<'a>,
        name: &'a OsStr,
        rel: &'a Path,
    ) -> Self {
        Pair {
            src_dir,
            src: name,
            dst_dir,
            dst: name,
            rel,
        }
    }

    /// The source entry, by name.
    fn src_at(&self) -> At<'a> {
        At::Name(self.src_dir, self.src)
    }

    /// The copy's entry, by name.
    fn dst_at(&self) -> At<'a> {
        At::Name(self.dst_dir, self.dst)
    }
}

/// Open the parent directory of `rel` beneath `base` for reading, without
/// following a symlink anywhere ([`fs::open_beneath`]); its final name.
pub fn open_parent<'r>(
    base: BorrowedFd<'_>,
    rel: &'r Path,
) -> std::io::Result<(OwnedFd, &'r OsStr)> {
    let (parent, name) = fs::split(rel)?;
    Ok((dir::open(base, parent)?, name))
}

/// The parent directory of the host path `p`, opened from `/` (or the
/// working directory, when `p` is relative) without following a symlink
/// in any component, and `p`'s final name.
fn parent_of(p: &Path) -> anyhow::Result<(OwnedFd, &OsStr)> {
    let (start, rel) = match p.strip_prefix("/") {
        Ok(rel) => ("/", rel),
        Err(_) => (".", p),
    };
    let fd = fs::open_dir(Path::new(start)).with_context(|| format!("cannot open {start}"))?;
    open_parent(fd.as_fd(), rel)
        .with_context(|| format!("cannot open the parent of {}", p.display()))
}

/// Copy the tree at host path `from` (never following symlinks) to the new
/// host path `to`, which must not exist: see [`copy_tree_at`]. Both paths
/// are resolved from `/` (or the working directory, when relative) without
/// following a symlink in any component; `progress` as for
/// [`copy_tree_at`]. For tests and tools: impermctl's own steps hold their
/// root fds and call [`copy_tree_at`].
pub fn copy_tree_atomic(
    from: &Path,
    to: &Path,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    let ((sd, sn), (dd, dn)) = (parent_of(from)?, parent_of(to)?);
    let (from, to) = (End::new(sd.as_fd(), sn, from), End::new(dd.as_fd(), dn, to));
    copy_tree_at(from, to, progress)
}

/// Copy the tree `from` (never following symlinks) to `to`, which must not
/// exist: the data goes to a temporary sibling of `to` first, is fsynced,
/// then renamed into place, so `to` either does not exist or is complete.
/// Owner, mode, times, xattrs (ACLs), hard links and special files are
/// preserved. A stale temporary from a killed run is removed first.
/// Everything happens fd-relative below the two held parent directories,
/// from the first open to the final rename. `progress` gets the running
/// totals about every 100 ms of work and once at the end.
pub fn copy_tree_at(
    from: End<'_>,
    to: End<'_>,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    copy_tree_onto(from, to, progress, false)
}

/// [`copy_tree_at`] of a directory `from` onto `to`, which is missing or an
/// empty directory: the final `rename(2)` replaces an empty directory
/// atomically and fails (`ENOTEMPTY`), changing nothing, if `to` gained an
/// entry meanwhile, so nothing written there can be lost.
pub fn copy_tree_over_empty_at(
    from: End<'_>,
    to: End<'_>,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    copy_tree_onto(from, to, progress, true)
}

fn copy_tree_onto(
    from: End<'_>,
    to: End<'_>,
    progress: &mut dyn FnMut(CopyStats),
    over_empty_dir: bool,
) -> anyhow::Result<CopyStats> {
    let (dst_dir, dst_name) = (to.dir, to.name);
    let dst_parent = to.shown.parent().unwrap_or(Path::new("/"));
    // One copy into a directory at a time: a second one would take our
    // temporary for a stale one.
    fs::lock(dst_dir).with_context(|| format!("cannot lock {}", dst_parent.display()))?;
    let is_dir = |d| stat_at(d, from.name).is_ok_and(|m| m.file_type == FileType::Directory);
    match stat_at(dst_dir, dst_name) {
        // A mount point cannot be renamed over (EBUSY): filled in place.
        Ok(m) if over_empty_dir && m.file_type == FileType::Directory && is_dir(from.dir) => {
            if crate::sys::meta::stat_fd(dst_dir).is_ok_and(|p| p.mnt_id != m.mnt_id) {
                return fill::fill_at(from, to, progress);
            }
        }
        Ok(_) => bail!(
            "{} already exists: refusing to copy {} over it (move it away first)",
            to.shown.display(),
            from.shown.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot stat {}", to.shown.display())),
    }
    let tmp = tmp_name(dst_name);
    let tmp_path = dst_parent.join(&tmp);
    if remove_tree_at(dst_dir, &tmp)
        .with_context(|| format!("cannot remove the stale temporary {}", tmp_path.display()))?
    {
        tracing::info!(
            "removed {}, left over from an interrupted copy",
            tmp_path.display()
        );
    }
    let mut copier = tree::Copier::new(from.shown, &tmp_path, progress);
    // Leave nothing half-made behind (a kill leaves it to the next run).
    let discard = || {
        if let Err(r) = remove_tree_at(dst_dir, &tmp) {
            tracing::warn!("cannot remove {}: {r:#}", tmp_path.display());
        }
    };
    if let Err(e) = copier.copy_top(Pair::top(from, to.dir, &tmp)) {
        discard();
        return Err(e.context(format!(
            "copying {} to {}",
            from.shown.display(),
            tmp_path.display()
        )));
    }
    fs::fsync(dst_dir).with_context(|| format!("cannot fsync {}", dst_parent.display()))?;
    let flags = if over_empty_dir && is_dir(from.dir) {
        fs::RenameFlags::empty()
    } else {
        fs::RenameFlags::NOREPLACE
    };
    if let Err(e) = fs::rename(dst_dir, &tmp, dst_name, flags) {
        // `to` appeared, or gained an entry: it stays as it is, the copy goes.
        discard();
        let why = match rustix::io::Errno::from_io_error(&e) {
            Some(rustix::io::Errno::NOTEMPTY | rustix::io::Errno::EXIST) => {
                " (it gained entries meanwhile and is left as it is)"
            }
            _ => "",
        };
        return Err(e).with_context(|| {
            format!(
                "cannot rename {} to {}{why}",
                tmp_path.display(),
                to.shown.display()
            )
        });
    }
    fs::fsync(dst_dir).with_context(|| format!("cannot fsync {}", dst_parent.display()))?;
    Ok(copier.finish())
}

/// Remove a stale temporary copy for `to` (`.<name>.impermctl-tmp` in its
/// directory), if any, never following symlinks nor leaving its
/// filesystem. Returns whether there was one.
pub fn remove_stale_tmp_at(to: End<'_>) -> anyhow::Result<bool> {
    let tmp = tmp_name(to.name);
    let parent = to.shown.parent().unwrap_or(Path::new("/"));
    remove_tree_at(to.dir, &tmp)
        .with_context(|| format!("cannot remove {}", parent.join(&tmp).display()))
}

/// Does the temporary copy for the host path `to` exist? (Informational.)
pub fn stale_tmp_exists(to: &Path) -> bool {
    fs::split(to)
        .is_ok_and(|(dir, name)| std::fs::symlink_metadata(dir.join(tmp_name(name))).is_ok())
}

#[cfg(test)]
mod tests;
