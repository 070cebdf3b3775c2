//! Copying a tree with every bit of metadata, atomically: into a temporary
//! sibling `.<name>.impermctl-tmp`, every file and directory fsynced, then
//! renamed into place, so the destination either does not exist or is
//! complete. Used to seed persistent sources at boot and by `persist`.

use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{Context, bail};

use crate::sys::fs;
use crate::sys::meta::stat_at;

mod compare;
mod remove;
mod tree;

pub use compare::{Differ, compare_trees, measure};

/// What a copy did (also reported, as it goes, to a progress callback).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyStats {
    /// Entries copied (files, directories, links, special files).
    pub entries: u64,
    /// Bytes of file data copied.
    pub bytes: u64,
    /// Regular files among `entries`.
    pub files: u64,
    /// Things that could not be copied as they are and were left out or
    /// reduced, each logged as a warning: device nodes or `security.*` /
    /// `trusted.*` attributes without the privilege to create them, and the
    /// contents of other filesystems mounted inside the tree (the mount point
    /// itself is copied as an empty directory, like `cp -ax`).
    pub skipped: u64,
}

/// The suffix of the temporary sibling a copy is built in.
pub const TMP_SUFFIX: &str = ".impermctl-tmp";

/// The temporary name a copy to `name` is built under: `.<name>.impermctl-tmp`.
pub fn tmp_name(name: &OsStr) -> OsString {
    let mut t = OsString::from(".");
    t.push(name);
    t.push(TMP_SUFFIX);
    t
}

/// Copy the tree at host path `from` (never following symlinks) to the new
/// host path `to`, which must not exist: the data goes to a temporary
/// sibling of `to` first, is fsynced, then renamed into place, so `to`
/// either does not exist or is complete. Owner, mode, times, xattrs (ACLs),
/// hard links and special files are preserved. A stale temporary from a
/// killed run is removed first.
///
/// `from`'s and `to`'s parent directories are resolved normally; every path
/// below them is walked fd-relative, refusing symlinks.
pub fn copy_tree_atomic(from: &Path, to: &Path) -> anyhow::Result<CopyStats> {
    copy_tree_atomic_with(from, to, &mut |_| {})
}

/// [`copy_tree_atomic`], calling `progress` with the running totals about
/// every 100 ms of work and once at the end.
pub fn copy_tree_atomic_with(
    from: &Path,
    to: &Path,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    let (src_parent, src_name) = split(from)?;
    let (dst_parent, dst_name) = split(to)?;
    let src_dir = fs::open_dir(src_parent)
        .with_context(|| format!("cannot open the directory {}", src_parent.display()))?;
    let dst_dir = fs::open_dir(dst_parent).with_context(|| {
        format!(
            "cannot open {} to copy {} into it",
            dst_parent.display(),
            from.display()
        )
    })?;
    copy_tree_atomic_at(
        Side {
            dir: src_dir.as_fd(),
            name: src_name,
            shown: from,
        },
        Side {
            dir: dst_dir.as_fd(),
            name: dst_name,
            shown: to,
        },
        progress,
    )
}

/// One side of [`copy_tree_atomic_at`]: `name` in the open directory `dir`
/// (`shown` is its path for messages).
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The directory holding it (opened for reading).
    pub dir: std::os::fd::BorrowedFd<'a>,
    /// Its name there.
    pub name: &'a OsStr,
    /// Its path, for messages.
    pub shown: &'a Path,
}

/// [`copy_tree_atomic_with`] between entries of directories already open
/// (e.g. a directory hidden under a mount, reached through an fd taken
/// before the mount).
pub fn copy_tree_atomic_at(
    from: Side<'_>,
    to: Side<'_>,
    progress: &mut dyn FnMut(CopyStats),
) -> anyhow::Result<CopyStats> {
    let (src_dir, src_name, dst_dir, dst_name) = (from.dir, from.name, to.dir, to.name);
    let (from, to) = (from.shown, to.shown);
    let dst_parent = to.parent().unwrap_or(Path::new("/"));
    // One copy into a directory at a time: a second one would take our
    // temporary for a stale one.
    rustix::fs::flock(dst_dir, rustix::fs::FlockOperation::LockExclusive)
        .with_context(|| format!("cannot lock {}", dst_parent.display()))?;
    match stat_at(dst_dir, dst_name) {
        Ok(_) => bail!(
            "{} already exists: refusing to copy {} over it (move it away first)",
            to.display(),
            from.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot stat {}", to.display())),
    }
    let tmp = tmp_name(dst_name);
    let tmp_path = dst_parent.join(&tmp);
    if remove::remove_tree(dst_dir, &tmp)
        .with_context(|| format!("cannot remove the stale temporary {}", tmp_path.display()))?
    {
        tracing::info!(
            "removed {}, left over from an interrupted copy",
            tmp_path.display()
        );
    }
    let mut copier = tree::Copier::new(from, &tmp_path, progress);
    if let Err(e) = copier.copy_top(src_dir, src_name, dst_dir, &tmp) {
        // Leave nothing half-made behind (a kill leaves it to the next run).
        if let Err(r) = remove::remove_tree(dst_dir, &tmp) {
            tracing::warn!("cannot remove {}: {r:#}", tmp_path.display());
        }
        return Err(e.context(format!(
            "copying {} to {}",
            from.display(),
            tmp_path.display()
        )));
    }
    fs::fsync(dst_dir).with_context(|| format!("cannot fsync {}", dst_parent.display()))?;
    fs::rename_noreplace(dst_dir, &tmp, dst_name)
        .with_context(|| format!("cannot rename {} to {}", tmp_path.display(), to.display()))?;
    fs::fsync(dst_dir).with_context(|| format!("cannot fsync {}", dst_parent.display()))?;
    Ok(copier.finish())
}

/// Remove a stale temporary copy for `to` (`.<name>.impermctl-tmp`), if any,
/// never following symlinks nor leaving its filesystem. Returns whether
/// there was one.
pub fn remove_stale_tmp(to: &Path) -> anyhow::Result<bool> {
    let (parent, name) = split(to)?;
    let dir = fs::open_dir(parent)
        .with_context(|| format!("cannot open the directory {}", parent.display()))?;
    let tmp = tmp_name(name);
    remove::remove_tree(dir.as_fd(), &tmp)
        .with_context(|| format!("cannot remove {}", parent.join(&tmp).display()))
}

/// Remove the tree `name` in `dir` (never following symlinks nor leaving its
/// filesystem); `Ok(false)` when there is none.
pub fn remove_tree_at(dir: std::os::fd::BorrowedFd<'_>, name: &OsStr) -> anyhow::Result<bool> {
    remove::remove_tree(dir, name)
}

/// Does the temporary copy for `to` exist?
pub fn stale_tmp_exists(to: &Path) -> bool {
    split(to)
        .is_ok_and(|(parent, name)| std::fs::symlink_metadata(parent.join(tmp_name(name))).is_ok())
}

fn split(p: &Path) -> anyhow::Result<(&Path, &OsStr)> {
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            Ok((parent, name))
        }
        _ => bail!(
            "{}: need a path with a parent directory and a final name",
            p.display()
        ),
    }
}

#[cfg(test)]
mod tests;
