//! Live data that a bind (or a copy-in) would hide or replace while a
//! persistent copy already exists: never dropped silently. It is copied
//! into the persistence root under `impermctl-kept/<UTC time>/<path>`
//! (owner, mode, times, xattrs), and one WARNING says where.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Entry;
use crate::root::{Root, rel};
use crate::sys::fs::{self, Owner};

/// The directory, directly below a persistence root, that holds kept data.
pub const KEPT_DIR: &str = "impermctl-kept";

/// `<root>/impermctl-kept/<YYYY-MM-DDTHH-MM-SSZ>/<path>` (logical).
pub fn kept_path(root: &Path, path: &Path, now: i64) -> PathBuf {
    let stamp = jiff::Timestamp::from_second(now)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H-%M-%SZ")
        .to_string();
    root.join(KEPT_DIR).join(stamp).join(rel(path))
}

/// Copy the live data at `e`'s target to its kept path; returns that path
/// (logical), or `None` when the persistent source already holds exactly
/// that data (content, owner, mode, times: e.g. a seed whose bind was
/// interrupted). Directories created on the way are root-only (0700): the
/// data may belong to several users.
pub fn keep(root: &Root, e: &Entry) -> anyhow::Result<Option<PathBuf>> {
    let same = matches!(
        crate::copy::compare_trees(
            &root.host(&e.path),
            &root.host(&e.source),
            crate::copy::Differ { content: true },
        ),
        Ok(None)
    );
    if same {
        return Ok(None);
    }
    let now = jiff::Timestamp::now().as_second().max(0);
    let base = kept_path(&e.root, &e.path, now).into_os_string();
    let taken = |p: &std::ffi::OsStr| root.host(Path::new(p)).symlink_metadata().is_ok();
    let to = PathBuf::from(fs::free_name(base, 2, taken));
    let rootfd = fs::open_dir(root.dir())?;
    let (tparent, tname) = crate::copy::open_parent(rootfd.as_fd(), rel(&e.path))?;
    let pfd = crate::sys::dir::open(rootfd.as_fd(), rel(&e.root))?;
    let krel = to.strip_prefix(&e.root).unwrap_or(&to).to_path_buf();
    let (kparent, kname) = fs::split(&krel)?;
    let mut owner = |_| Ok::<Owner, std::io::Error>(Owner::root(0o700));
    let (kdir, _) = crate::sys::dir::mkdir_beneath(pfd.as_fd(), kparent, &mut owner)
        .with_context(|| format!("cannot create {}", e.root.join(kparent).display()))?;
    super::files::copy_at(tparent.as_fd(), tname, &e.path, kdir.as_fd(), kname, &to).with_context(
        || {
            format!(
                "cannot keep the live data of {} at {}",
                e.path.display(),
                to.display()
            )
        },
    )?;
    Ok(Some(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_paths_name_the_time_and_the_path() {
        assert_eq!(
            kept_path(
                Path::new("/persistent"),
                Path::new("/var/lib/foo"),
                86_400 + 3661
            ),
            Path::new("/persistent/impermctl-kept/1970-01-02T01-01-01Z/var/lib/foo")
        );
    }
}
