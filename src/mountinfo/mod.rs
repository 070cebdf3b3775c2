//! A parser and queries for `/proc/self/mountinfo` (proc(5)).
//!
//! Line format: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL…] - FSTYPE SOURCE SUPER`.
//! Root, mount point and source carry octal escapes (`\040` space, `\011` tab,
//! `\012` newline, `\134` backslash); escapes above `\377` are kept literally.
//! A mount point can be stacked: the mount listed last is the one visible.

mod parse;
mod watch;

pub use watch::Changes;

use std::path::{Path, PathBuf};

pub use self::parse::{ParseError, unescape};

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Mount ID.
    pub id: u64,
    /// Parent mount ID.
    pub parent: u64,
    /// Device major number (`st_dev`).
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// The directory of the filesystem that forms the root of this mount (binds: the source path).
    pub root: PathBuf,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw`, `nosuid`, `idmapped`, …).
    pub options: Vec<String>,
    /// Optional fields (`shared:N`, `master:N`, …).
    pub optional: Vec<String>,
    /// Filesystem type (`zfs`, `tmpfs`, …).
    pub fstype: String,
    /// Mount source (the dataset name on ZFS).
    pub source: String,
    /// Per-superblock options.
    pub super_options: Vec<String>,
}

impl Mount {
    /// The device, as `(major, minor)`.
    pub fn dev(&self) -> (u32, u32) {
        (self.major, self.minor)
    }

    /// Is the mount read-only (per-mount or superblock)?
    pub fn is_read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro") || self.super_options.iter().any(|o| o == "ro")
    }
}

/// A parsed mount table, in kernel order.
#[derive(Debug, Clone, Default)]
pub struct MountTable {
    mounts: Vec<Mount>,
    /// Mount point → index of the last mount there (lookups are hot: a
    /// table with thousands of binds is checked against thousands of
    /// entries), built by the first lookup (a table read only to be
    /// rebased never needs it).
    last_at: std::sync::OnceLock<std::collections::HashMap<PathBuf, usize>>,
}

/// Tables are equal when their mounts are (the index is derived).
impl PartialEq for MountTable {
    fn eq(&self, other: &Self) -> bool {
        self.mounts == other.mounts
    }
}

impl MountTable {
    /// Parse mountinfo text.
    pub fn parse(text: &str) -> Result<MountTable, ParseError> {
        Self::parse_bytes(text.as_bytes())
    }

    /// Parse mountinfo bytes (paths need not be UTF-8).
    pub fn parse_bytes(text: &[u8]) -> Result<MountTable, ParseError> {
        parse::lines(text).map(MountTable::new)
    }

    fn new(mounts: Vec<Mount>) -> MountTable {
        MountTable {
            mounts,
            last_at: std::sync::OnceLock::new(),
        }
    }

    /// Read and parse a mountinfo file.
    pub fn read(path: &Path) -> anyhow::Result<MountTable> {
        use anyhow::Context;
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the mount table {}", path.display()))?;
        Self::parse_bytes(&bytes)
            .with_context(|| format!("malformed mount table {}", path.display()))
    }

    /// All mounts, in kernel order.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// The visible mount at exactly `mount_point` (the last one stacked there).
    pub fn at(&self, mount_point: &Path) -> Option<&Mount> {
        let index = self.last_at.get_or_init(|| {
            (self.mounts.iter().enumerate())
                .map(|(i, m)| (m.mount_point.clone(), i))
                .collect()
        });
        index.get(mount_point).map(|&i| &self.mounts[i])
    }

    /// Is `path` a mount point?
    pub fn is_mount_point(&self, path: &Path) -> bool {
        self.at(path).is_some()
    }

    /// The mount that contains `path` (the visible mount on its longest
    /// mounted prefix). Purely lexical: symlinks are not resolved.
    pub fn containing(&self, path: &Path) -> Option<&Mount> {
        path.ancestors().find_map(|a| self.at(a))
    }

    /// Is mount `m` a bind of the logical path `source`? True when `m` is
    /// on the filesystem that holds `source` and its root is `source`'s
    /// place in it.
    pub fn is_bind_of(&self, m: &Mount, source: &Path) -> bool {
        let Some(holder) = self.containing(source) else {
            return false;
        };
        let rel = source.strip_prefix(&holder.mount_point).unwrap_or(source);
        holder.dev() == m.dev() && m.root == holder.root.join(rel)
    }

    /// Is `path` on the root's filesystem: no mount holds it but `/`'s (a
    /// bind from persistence is another mount)?
    pub fn on_root(&self, path: &Path) -> bool {
        self.containing(path)
            .is_none_or(|m| m.mount_point == Path::new("/"))
    }

    /// The root mount (`/`).
    pub fn root(&self) -> Option<&Mount> {
        self.at(Path::new("/"))
    }

    /// Mounts whose mount point is strictly below `dir`.
    pub fn below<'a>(&'a self, dir: &'a Path) -> impl Iterator<Item = &'a Mount> + 'a {
        self.mounts
            .iter()
            .filter(move |m| m.mount_point != dir && m.mount_point.starts_with(dir))
    }

    /// The table as seen from a root at `dir` (`--root`): mounts outside it
    /// are dropped and mount points become logical (`dir/x` → `/x`). The
    /// mount containing `dir` itself becomes `/` when `dir` is not a mount
    /// point. Consumes the table: mounts move, none is copied (a table of
    /// thousands of binds is rebased a few times per `boot`).
    pub fn rebase(self, dir: &Path) -> MountTable {
        if dir == Path::new("/") {
            return self;
        }
        let mut mounts = Vec::with_capacity(self.mounts.len());
        if !self.is_mount_point(dir)
            && let Some(c) = self.containing(dir)
        {
            let mut m = c.clone();
            let rel = dir.strip_prefix(&c.mount_point).unwrap_or(Path::new(""));
            m.root = m.root.join(rel);
            m.mount_point = PathBuf::from("/");
            mounts.push(m);
        }
        for mut m in self.mounts {
            if let Ok(rel) = m.mount_point.strip_prefix(dir) {
                m.mount_point = Path::new("/").join(rel);
                mounts.push(m);
            }
        }
        MountTable::new(mounts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_mounts_last_wins() {
        let t = MountTable::parse(
            "1 0 0:1 / / rw - tmpfs a rw\n2 1 0:2 / /x rw - tmpfs b rw\n3 1 0:3 / /x ro - tmpfs c rw\n",
        )
        .unwrap();
        assert_eq!(t.at(Path::new("/x")).unwrap().source, "c");
        assert!(t.at(Path::new("/x")).unwrap().is_read_only());
        assert_eq!(t.containing(Path::new("/x/y/z")).unwrap().source, "c");
        assert_eq!(t.containing(Path::new("/y")).unwrap().source, "a");
        assert!(!t.is_mount_point(Path::new("/y")));
    }

    #[test]
    fn rebase_maps_a_root_dir_to_slash() {
        let t = MountTable::parse(
            "1 0 8:1 / / rw - ext4 /dev/vda rw\n2 1 0:5 /private /tmp/r rw - tmpfs ds.impermanence-abcdef rw\n3 2 0:6 /private /tmp/r/persistent rw - tmpfs ds rw\n4 1 0:7 / /other rw - tmpfs o rw\n",
        )
        .unwrap();
        let r = t.clone().rebase(Path::new("/tmp/r"));
        assert_eq!(r.root().unwrap().source, "ds.impermanence-abcdef");
        assert_eq!(r.at(Path::new("/persistent")).unwrap().source, "ds");
        assert!(r.at(Path::new("/other")).is_none());
        // A root that is a plain directory inherits its containing mount.
        let r = t.rebase(Path::new("/srv/x"));
        assert_eq!(r.root().unwrap().source, "/dev/vda");
        assert_eq!(r.root().unwrap().root, Path::new("/srv/x"));
    }
}
