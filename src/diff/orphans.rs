//! `--orphans`: content under the persistence roots that no declared entry
//! covers (left behind when an entry was removed from the config). Listed
//! with sizes; never deleted.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Settings;
use crate::root::Root;

/// One uncovered item under a persistence root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    /// The persistence root.
    pub root: PathBuf,
    /// The item (logical path, under the root; in JSON text, with `path_hex` when not UTF-8).
    #[serde(serialize_with = "crate::names::lossy")]
    pub path: PathBuf,
    /// Bytes in it (apparent sizes, recursively).
    pub bytes: u64,
    /// Entries in it (itself included).
    pub entries: u64,
}

/// Items under each persistence root that are neither a declared entry's
/// source, nor under one, nor an ancestor of one.
pub fn find(root: &Root, settings: &Settings) -> anyhow::Result<Vec<Orphan>> {
    let mut out = Vec::new();
    for pr in &settings.roots {
        let sources: Vec<&Path> = settings
            .entries
            .iter()
            .filter(|e| e.root == pr.path)
            .map(|e| e.source.as_path())
            .collect();
        scan(root, &pr.path, &pr.path, &sources, &mut out);
    }
    Ok(out)
}

fn scan(root: &Root, pr: &Path, dir: &Path, sources: &[&Path], out: &mut Vec<Orphan>) {
    let Ok(rd) = std::fs::read_dir(root.host(dir)) else {
        return;
    };
    let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for name in names {
        let p = dir.join(&name);
        if sources.iter().any(|s| p.starts_with(s)) {
            continue;
        }
        let host = root.host(&p);
        let is_dir = std::fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir());
        if is_dir && sources.iter().any(|s| s.starts_with(&p)) {
            scan(root, pr, &p, sources, out);
            continue;
        }
        // Apparent sizes, symlinks not followed, on its filesystem only.
        let u = crate::walk::usage(&host).unwrap_or_default();
        out.push(Orphan {
            root: pr.to_path_buf(),
            path: p,
            bytes: u.file_bytes + u.link_bytes,
            entries: u.entries,
        });
    }
}
