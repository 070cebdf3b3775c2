//! Hard links that persisting a tree separates. A file of the tree with
//! names outside it cannot stay one file: the copy in persistence is a new
//! inode, bound over the tree, while the names outside keep the original
//! on the ephemeral root. Nothing is lost (both keep today's content, the
//! original stays hidden under the bind until the reboot), but from then
//! on a write to one no longer shows in the other. Links inside the tree
//! are kept (the copy links them again, [`super::copy_tree_at`]).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::names::show;
use crate::walk::Usage;

/// A file of a persisted tree hard-linked from outside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Separated {
    /// Its (first) name in the tree (logical).
    pub path: PathBuf,
    /// Its names outside the tree (logical), found on the root's filesystem.
    pub others: Vec<PathBuf>,
    /// Names outside the tree not found (hidden under a mount point, or
    /// removed meanwhile).
    pub unfound: u32,
}

/// The files of the tree at the logical `tree` linked from outside it
/// (`usage`: the tree's [`crate::walk::usage`]), with their other names:
/// one walk of the root's filesystem when there are any, none otherwise.
/// When that walk fails, the other names are counted as not found.
pub fn separated(root: &crate::root::Root, tree: &Path, usage: &Usage) -> Vec<Separated> {
    if usage.linked_out.is_empty() {
        return Vec::new();
    }
    let ids: Vec<(u64, u64)> = usage.linked_out.iter().map(|l| l.id).collect();
    let mut found = crate::walk::other_names(root.dir(), tree, &ids).unwrap_or_default();
    (usage.linked_out.iter())
        .map(|l| {
            let others = found.remove(&l.id).unwrap_or_default();
            let unfound = (l.nlink - l.inside).saturating_sub(others.len() as u32);
            let path = crate::root::join(tree, &l.path);
            Separated {
                path,
                others,
                unfound,
            }
        })
        .collect()
}

impl Separated {
    /// The warning for persisting `tree` to `source` (logical paths).
    pub fn message(&self, tree: &Path, source: &Path) -> String {
        let (p, t) = (show(&self.path), show(tree));
        let mut names: Vec<String> = self.others.iter().map(|o| show(o)).collect();
        if self.unfound > 0 {
            let n = crate::human::count(self.unfound.into(), "name", "names");
            names.push(format!("{n} not found (hidden under a mount point?)"));
        }
        let keep = match self.others.len() as u32 + self.unfound {
            1 => "keeps",
            _ => "keep",
        };
        let names = names.join(", ");
        let copy = show(&crate::root::join(
            source,
            self.path.strip_prefix(tree).unwrap_or(&self.path),
        ));
        format!(
            "{p} is hard-linked to {names}, outside {t}: persisting {t} cannot keep that link, so from the bind on they are two separate files: {p} is the copy in {copy}, {names} {keep} the original on the ephemeral root (lost at the next reboot unless persisted too); both keep today's content, but a write to one no longer shows in the other"
        )
    }
}
