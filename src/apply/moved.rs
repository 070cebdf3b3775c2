//! The operations of a moved entry (see `plan::moved`): migrate the data of
//! the previous source into the new one, atomically, keeping the previous
//! copy; detach the bind of the previous source.

use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{Context, bail};
use rustix::fs::FileType;
use tracing::info;

use super::Cx;
use super::dirs::{Side, ensure_dir};
use super::ops::{ctx, parent_of, source_parent, srel};
use crate::config::{Entry, Kind};
use crate::copy::End;
use crate::root::rel;
use crate::sys::fs;
use crate::sys::meta::stat_at;

/// Copy `from` (the previous source) to the entry's new source. A new
/// source that is an empty directory is replaced; one that already holds a
/// faithful copy (a run killed after the copy) is accepted; any other data
/// there refuses the entry with the commands that resolve it.
pub(super) fn migrate(cx: &mut Cx, e: &Entry, from: &Path) -> anyhow::Result<()> {
    let parent = parent_of(srel(e));
    ensure_dir(cx, e, parent, false, Side::Source)?;
    // Both ends are held directory fds from here to the final rename: a
    // symlink swapped in anywhere fails, never followed.
    let (dir, name) = source_parent(cx, e)?;
    let rfd = cx.h.root.as_fd();
    let (odir, oname) = ctx(
        crate::copy::open_parent(rfd, rel(from)),
        rfd,
        rel(from),
        from,
    )?;
    let (old, new) = (cx.root.host(from), cx.root.host(&e.source));
    let ends = (
        End::new(odir.as_fd(), oname, &old),
        End::new(dir.as_fd(), name, &new),
    );
    let (p, f, s) = (e.path.display(), from.display(), e.source.display());
    if let Ok(m) = stat_at(dir.as_fd(), name) {
        // An empty directory is removed (rmdir refuses anything else).
        let emptied = m.file_type == FileType::Directory
            && e.kind == Kind::Directory
            && fs::unlink_at(dir.as_fd(), name, true).is_ok();
        if !emptied {
            let differ = crate::copy::Differ { content: true };
            match crate::copy::compare_trees_at(ends.0, ends.1, differ)? {
                None => {
                    info!(path = %p, "{s} already holds a faithful copy of {f}");
                    return Ok(());
                }
                Some(diff) => bail!(
                    "{p} moved from {f} to {s}, and both hold different data ({diff}): merge them by hand, or keep only one (`mv {s} {s}.bak`), then run `impermctl boot` again"
                ),
            }
        }
    }
    let nothing = || {
        format!("cannot migrate {p} from {f} to {s} (nothing changed: the data is still at {f})")
    };
    if let Ok(u) = crate::copy::measure(&old) {
        crate::copy::room(from, &new, &u, "impermctl boot").with_context(nothing)?;
    }
    let stats = crate::copy::copy_tree_at(ends.0, ends.1, &mut |_| {}).with_context(nothing)?;
    info!(
        path = %p,
        entries = stats.entries,
        bytes = stats.bytes,
        "migrated {p} from {f} to {s}; the previous copy is kept (remove it when you no longer need it)"
    );
    Ok(())
}

/// Detach the bind of the previous source from the target; the mount point
/// stays for the new bind.
pub(super) fn detach(cx: &mut Cx, e: &Entry, from: &Path) -> anyhow::Result<()> {
    let (p, f) = (e.path.display(), from.display());
    let gone = format!("{p} is no longer bound from {f}");
    super::ops::detach_at(
        cx,
        &e.path,
        gone,
        format!("cannot detach the bind of {f} from {p}"),
    )
}
