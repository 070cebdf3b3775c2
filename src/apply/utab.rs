//! `<root>/run/mount/utab`: the userspace options (`x-gvfs-hide`, …) of
//! the binds made, for `findmnt` and file managers.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tracing::debug;

use super::Cx;
use crate::config::Entry;
use crate::mountinfo::MountTable;
use crate::sys::utab::{self, UtabEntry};

/// Queue the utab line of `e`'s existing bind when it has options and
/// utab (`in_utab`: its targets) has no line for it.
pub(super) fn repair(cx: &mut Cx, e: &Entry, in_utab: &HashSet<PathBuf>) {
    let options = crate::plan::mount_options(e);
    if !options.is_empty() && !in_utab.contains(&e.path) {
        debug!(path = %e.path.display(), "bound without its utab line: adding it");
        cx.utab_add
            .push((e.path.clone(), e.source.clone(), options.join(",")));
    }
}

/// Record the userspace options of the new binds in `<root>/run/mount/utab`,
/// with the source and root the kernel reports for each mount, and drop the
/// lines of unmounted entries.
pub(super) fn write(cx: &Cx) -> anyhow::Result<()> {
    if cx.utab_add.is_empty() && cx.utab_drop.is_empty() {
        return Ok(());
    }
    let mut add = Vec::new();
    if !cx.utab_add.is_empty() {
        let table = MountTable::read(Path::new("/proc/self/mountinfo"))?.rebase(cx.root.dir());
        for (target, source, opts) in &cx.utab_add {
            let t = target.display();
            let m = (table.at(target))
                .with_context(|| format!("{t} is not in the mount table after binding it"))?;
            add.push(UtabEntry {
                src: m.source.clone(),
                target: target.clone(),
                root: m.root.clone(),
                bindsrc: Some(source.clone()),
                opts: opts.clone(),
            });
        }
    }
    let dir = cx.root.host(Path::new("/run/mount"));
    utab::update(&dir, &cx.utab_drop, &add)
        .with_context(|| format!("cannot record mount options in {}/utab", dir.display()))
}
