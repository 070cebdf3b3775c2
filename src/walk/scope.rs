//! What a walk covers: a tree on one filesystem, from a start directory,
//! minus pruned paths; for `diff` and the baseline also minus the declared
//! persistence targets, `/nix`, `/proc`, `/sys`, `/dev`, `/run`, symlinks
//! into a persistence root and (unless asked) `watch.ignore`. Paths are
//! logical (as the system sees them) and raw bytes.

// foldhash: looked up for every listed path and its parents ([`Scope::is_pruned`]).
use foldhash::HashSet;
use std::ffi::CStr;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::{FORBIDDEN_PREFIXES, Settings};
use crate::mountinfo::MountTable;
use crate::sys::fs;

/// What the walk covers and what it prunes (logical paths as bytes).
#[derive(Debug, Clone)]
pub struct Scope {
    /// The host directory of the root.
    pub host_root: PathBuf,
    /// Check each directory's device (the mount table may not match the
    /// tree, e.g. `--mountinfo`, or mounts came after it was read). With the
    /// live table, mount points are known and this costs a syscall per
    /// directory for nothing.
    pub check_dev: bool,
    prune: HashSet<Vec<u8>>,
    /// The directories that hold a pruned path (saves a lookup per entry
    /// elsewhere).
    pub(super) prune_parents: HashSet<Vec<u8>>,
    /// Symlinks into these are skipped (NixOS's `/etc` links into
    /// `/etc/static` are entries, classified by the `classify` module); `None`:
    /// every symlink is an entry.
    link_roots: Option<Vec<Vec<u8>>>,
    pub(super) subtrees: Vec<Vec<u8>>,
}

impl Scope {
    /// The whole tree at `host_root` on its filesystem, nothing pruned.
    pub fn tree(host_root: &Path) -> Scope {
        Scope {
            host_root: host_root.to_path_buf(),
            check_dev: true,
            prune: HashSet::default(),
            prune_parents: HashSet::default(),
            link_roots: None,
            subtrees: Vec::new(),
        }
    }

    /// The ephemeral root as `diff` and the baseline see it: `settings` on
    /// a root at `host_root` whose mount table (logical mount points) is
    /// `mounts`. `ignored` adds `watch.ignore`; `subtrees` (logical,
    /// normalised) restricts the walk when not empty.
    pub fn ephemeral(
        host_root: &Path,
        settings: &Settings,
        mounts: &MountTable,
        ignored: bool,
        subtrees: &[PathBuf],
    ) -> Scope {
        let mut s = Scope::tree(host_root);
        // Declared entries are not pruned: what is really bound is a mount
        // point, what is really linked a symlink into a persistence root; a
        // declared entry that is neither is walked (it is lost).
        mounts.mounts().iter().for_each(|m| s.prune(&m.mount_point));
        FORBIDDEN_PREFIXES
            .iter()
            .for_each(|p| s.prune(Path::new(p)));
        if ignored {
            settings.watch.ignore.iter().for_each(|p| s.prune(p));
        }
        s.link_roots = Some(settings.roots.iter().map(|r| bytes(&r.path)).collect());
        s.subtrees = subtrees.iter().map(|p| bytes(p)).collect();
        s
    }

    /// Leave out the logical path `p` (and what is below it).
    pub fn prune(&mut self, p: &Path) {
        if p != Path::new("/") {
            let p = bytes(p);
            self.prune_parents.insert(parent(&p).to_vec());
            self.prune.insert(p);
        }
    }

    /// Restrict the walk to these logical subtrees (normalised; empty: all).
    pub fn set_subtrees(&mut self, subtrees: Vec<Vec<u8>>) {
        self.subtrees = subtrees;
    }

    /// Is `path` a mount point, a declared entry or otherwise pruned?
    pub fn is_pruned(&self, path: &[u8]) -> bool {
        self.prune.contains(path)
    }

    /// A symlink into a persistence root (its data is persisted): skipped.
    pub fn skipped_symlink(&self, dir: BorrowedFd<'_>, name: &CStr, path: &[u8]) -> bool {
        let Some(roots) = &self.link_roots else {
            return false;
        };
        let Ok(target) = fs::readlink_at(dir, name) else {
            return false;
        };
        let target = link_target(path, &target);
        roots.iter().any(|r| under(r, &target))
    }
}

fn bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

/// `a` is `b` or an ancestor of `b` (path-wise, bytes).
pub fn under(a: &[u8], b: &[u8]) -> bool {
    a == b"/" || (b.starts_with(a) && (b.len() == a.len() || b[a.len()] == b'/'))
}

/// The parent of a logical path (`/` for top-level entries).
pub fn parent(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/",
        Some(i) => &p[..i],
    }
}

/// Lexically normalise an absolute byte path (`.`, `..`, `//`).
pub fn normalize(p: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => _ = parts.pop(),
            c => parts.push(c),
        }
    }
    [&b"/"[..], &parts.join(&b'/')].concat()
}

/// Where the symlink at the logical path `path` whose target is `target`
/// points (lexically: made absolute and normalised).
pub fn link_target(path: &[u8], target: &[u8]) -> Vec<u8> {
    match target.starts_with(b"/") {
        true => normalize(target),
        false => normalize(&[parent(path), b"/", target].concat()),
    }
}

/// `dir`/`name` as a logical path.
pub(super) fn child_path(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + name.len() + 1);
    if dir != b"/" {
        p.extend_from_slice(dir);
    }
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_helpers() {
        assert!(under(b"/persistent", b"/persistent/etc"));
        assert!(under(b"/persistent", b"/persistent"));
        assert!(!under(b"/persistent", b"/persistent2"));
        assert!(under(b"/", b"/x"));
        assert_eq!(parent(b"/etc/x"), b"/etc");
        assert_eq!(parent(b"/etc"), b"/");
        assert_eq!(normalize(b"/etc/../persistent/./a//b"), b"/persistent/a/b");
        assert_eq!(normalize(b"/../.."), b"/");
        assert_eq!(child_path(b"/", b"a"), b"/a");
        assert_eq!(child_path(b"/a", b"b"), b"/a/b");
    }
}
