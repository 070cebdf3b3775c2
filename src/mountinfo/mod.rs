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

/// The mount IDs above `m` in `by_id` (its parent, the parent's parent, …).
fn above(by_id: &std::collections::HashMap<u64, &Mount>, m: &Mount) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut cur = m;
    while let Some(p) = by_id.get(&cur.parent).filter(|p| p.id != cur.id) {
        if ids.contains(&p.id) {
            break;
        }
        ids.push(p.id);
        cur = p;
    }
    ids
}

/// A mount that no path reaches, and the mount hiding it ([`MountTable::hidden`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hidden<'a> {
    /// The hidden mount.
    pub mount: &'a Mount,
    /// The mount over its mount point or a directory above it.
    pub cover: &'a Mount,
}

impl Hidden<'_> {
    /// Does the same filesystem tree (device and root) show at the hidden
    /// mount's mount point in `t` (mounted again on top)? Then nothing is
    /// diverted: what is written there reaches the same files.
    pub fn twin_on_top(&self, t: &MountTable) -> bool {
        t.at(&self.mount.mount_point).is_some_and(|v| {
            v.id != self.mount.id && v.dev() == self.mount.dev() && v.root == self.mount.root
        })
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
    /// Every mount point, sorted (a directory's descendants follow it),
    /// built by the first [`MountTable::any_below`].
    sorted: std::sync::OnceLock<Vec<PathBuf>>,
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
            sorted: std::sync::OnceLock::new(),
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

    /// Is anything mounted strictly below `dir`? A binary search (a
    /// table of thousands of binds is asked once per entry).
    pub fn any_below(&self, dir: &Path) -> bool {
        let sorted = self.sorted.get_or_init(|| {
            let mut v: Vec<PathBuf> = self.mounts.iter().map(|m| m.mount_point.clone()).collect();
            v.sort();
            v
        });
        let i = sorted.partition_point(|p| p.as_path() <= dir);
        sorted.get(i).is_some_and(|p| p.starts_with(dir))
    }

    /// Mounts no path reaches any more, each with the mount that hides it:
    /// `c` hides `m` when `c` sits on `m`'s mount point or on a directory
    /// above it, inside the tree of `m`'s parent mount (`c` descends from
    /// it), without being on the way to `m` (an ancestor of `m`) or on top
    /// of it (a descendant of `m`). E.g. a bind made over `/var/lib/a`
    /// after a filesystem was mounted on `/var/lib/a/sub` hides that
    /// filesystem: lookups of `/var/lib/a/sub` now end in the bind. A
    /// mount whose parent is not in the table is never judged hidden.
    pub fn hidden(&self) -> Vec<Hidden<'_>> {
        use std::collections::HashMap;
        let by_id: HashMap<u64, &Mount> = self.mounts.iter().map(|m| (m.id, m)).collect();
        let mut at: HashMap<&Path, Vec<&Mount>> = HashMap::new();
        for m in &self.mounts {
            at.entry(m.mount_point.as_path()).or_default().push(m);
        }
        let mut out = Vec::new();
        for m in &self.mounts {
            if !by_id.contains_key(&m.parent) || m.parent == m.id {
                continue;
            }
            let mine = above(&by_id, m);
            // The outermost cover first: the bind over a parent directory.
            let prefixes: Vec<&Path> = m.mount_point.ancestors().collect();
            let cover = (prefixes.into_iter().rev())
                .flat_map(|a| at.get(a).into_iter().flatten().copied())
                .find(|&c| {
                    let theirs = above(&by_id, c);
                    c.id != m.id
                        && !mine.contains(&c.id)
                        && !theirs.contains(&m.id)
                        && theirs.contains(&m.parent)
                });
            if let Some(c) = cover {
                out.push(Hidden { mount: m, cover: c });
            }
        }
        out
    }

    /// The mounts strictly below `dir` that a path reaches, outermost only
    /// (what is mounted inside one of them comes along with a recursive
    /// clone of it), one per mount point.
    pub fn visible_below(&self, dir: &Path) -> Vec<&Mount> {
        if !self.any_below(dir) {
            return Vec::new();
        }
        let hidden: Vec<u64> = self.hidden().iter().map(|h| h.mount.id).collect();
        let mut out: Vec<&Mount> = Vec::new();
        let mut below: Vec<&Mount> = (self.mounts.iter())
            .filter(|m| m.mount_point != dir && m.mount_point.starts_with(dir))
            .filter(|m| !hidden.contains(&m.id))
            .collect();
        below.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
        for m in below {
            if !out
                .iter()
                .any(|o| m.mount_point.starts_with(&o.mount_point))
            {
                out.push(m);
            }
        }
        out
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
    fn a_bind_over_a_parent_hides_the_mount_below() {
        // 3 on /a/sub, then the bind 4 over /a: 3 is hidden by 4. 5 is a
        // clone of 3 on top of the bind (a twin), 6 is mounted inside 5,
        // 7 is stacked on 4 itself: none of them is hidden.
        let t = MountTable::parse(
            "1 0 0:1 / / rw - tmpfs r rw\n2 1 0:2 / /p rw - ext4 p rw\n3 1 0:3 / /a/sub rw - tmpfs s rw\n4 1 0:2 /a /a rw - ext4 p rw\n5 4 0:3 / /a/sub rw - tmpfs s rw\n6 5 0:4 / /a/sub/x rw - tmpfs x rw\n",
        )
        .unwrap();
        let h = t.hidden();
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!((h[0].mount.id, h[0].cover.id), (3, 4));
        assert!(h[0].twin_on_top(&t));
        let shown: Vec<u64> = t
            .visible_below(Path::new("/a"))
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(shown, vec![5]);
        assert!(t.any_below(Path::new("/a")) && t.any_below(Path::new("/")));
        assert!(!t.any_below(Path::new("/a/sub/x")) && !t.any_below(Path::new("/a-b")));
        // Without the clone on top, nothing shows below /a, and the
        // hidden mount has no twin.
        let t = MountTable::parse(
            "1 0 0:1 / / rw - tmpfs r rw\n3 1 0:3 / /a/sub rw - tmpfs s rw\n4 1 0:2 /a /a rw - ext4 p rw\n7 4 0:2 /a /a rw - ext4 p rw\n",
        )
        .unwrap();
        let h = t.hidden();
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(!h[0].twin_on_top(&t));
        assert!(t.visible_below(Path::new("/a")).is_empty());
        // Before the bind: visible, not hidden.
        let t =
            MountTable::parse("1 0 0:1 / / rw - tmpfs r rw\n3 1 0:3 / /a/sub rw - tmpfs s rw\n")
                .unwrap();
        assert!(t.hidden().is_empty());
        assert_eq!(t.visible_below(Path::new("/a")).len(), 1);
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
