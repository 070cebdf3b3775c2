//! The tree impermctl works on: `/` on a live system, `--root DIR` for image
//! builders and tests. Below the CLI nothing names `/` directly: every path is
//! a *logical* absolute path (as the system sees it) that `Root` maps to the
//! host path it can be found at.

use std::path::{Component, Path, PathBuf};

use crate::mountinfo::MountTable;

/// Where the per-boot state lives, relative to the root.
pub const RUN_DIR: &str = "/run/impermctl";

/// The root of the tree and where to read its mount table.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
    mountinfo: Option<PathBuf>,
}

impl Root {
    /// A root at `dir`; `mountinfo` overrides the mount table (a captured
    /// file whose mount points are already logical paths).
    pub fn new(dir: Option<PathBuf>, mountinfo: Option<PathBuf>) -> Root {
        Root {
            dir: dir.unwrap_or_else(|| PathBuf::from("/")),
            mountinfo,
        }
    }

    /// The host directory of the root.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Is this the live `/`?
    pub fn is_system(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// A captured mount table given with `--mountinfo`, if any. When set, the
    /// filesystem under the root is not probed for layout facts.
    pub fn mountinfo_override(&self) -> Option<&Path> {
        self.mountinfo.as_deref()
    }

    /// The mount table of the root with logical mount points: the
    /// `--mountinfo` file as it is, else `/proc/self/mountinfo` rebased on
    /// the root's directory.
    pub fn mount_table(&self) -> anyhow::Result<MountTable> {
        use anyhow::Context;
        if let Some(file) = self.mountinfo_override() {
            return MountTable::read(file);
        }
        let t = MountTable::read(Path::new("/proc/self/mountinfo"))
            .context("cannot read /proc/self/mountinfo: is /proc mounted?")?;
        let dir = std::fs::canonicalize(&self.dir)
            .with_context(|| format!("cannot resolve the root {}", self.dir.display()))?;
        Ok(t.rebase(&dir))
    }

    /// The host path of a logical absolute path.
    pub fn host(&self, logical: &Path) -> PathBuf {
        join(&self.dir, rel(logical))
    }

    /// The logical path of a host path under the root (None if outside).
    pub fn logical(&self, host: &Path) -> Option<PathBuf> {
        let rel = host.strip_prefix(&self.dir).ok()?;
        Some(Path::new("/").join(rel))
    }

    /// `/run/impermctl` on the host.
    pub fn run_dir(&self) -> PathBuf {
        self.host(Path::new(RUN_DIR))
    }

    /// `/run/impermctl/state.json`: what `boot` did.
    pub fn state_file(&self) -> PathBuf {
        self.run_dir().join("state.json")
    }

    /// `/run/impermctl/baseline`: the manifest of the ephemeral root after activation.
    pub fn baseline_file(&self) -> PathBuf {
        self.run_dir().join("baseline")
    }

    /// `/run/impermctl/watch.json`: the watcher's groups when D-Bus is absent.
    pub fn watch_file(&self) -> PathBuf {
        self.run_dir().join("watch.json")
    }
}

/// A logical absolute path relative to the root: `/etc/x` → `etc/x`
/// (`/` → the empty path), for the fd-relative calls beneath a root fd.
pub fn rel(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

/// `base` and `rel` below it (`base` itself when `rel` is empty, without
/// the trailing `/` that `Path::join("")` adds).
pub fn join(base: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

/// Lexically normalise an absolute path: drop `.` and duplicate slashes.
/// Returns `None` for relative paths and for paths containing `..`.
pub fn normalize(p: &Path) -> Option<PathBuf> {
    if !p.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_logical_round_trip() {
        let r = Root::new(Some("/tmp/x".into()), None);
        assert_eq!(
            r.host(Path::new("/etc/nixos")),
            Path::new("/tmp/x/etc/nixos")
        );
        assert_eq!(r.host(Path::new("/")), Path::new("/tmp/x"));
        assert_eq!(
            r.logical(Path::new("/tmp/x/etc/nixos")).unwrap(),
            Path::new("/etc/nixos")
        );
        assert_eq!(r.logical(Path::new("/tmp/y")), None);
        assert_eq!(r.state_file(), Path::new("/tmp/x/run/impermctl/state.json"));
    }

    #[test]
    fn normalize_rejects_relative_and_dotdot() {
        assert_eq!(
            normalize(Path::new("//etc/./nixos/")).unwrap(),
            Path::new("/etc/nixos")
        );
        assert_eq!(normalize(Path::new("etc")), None);
        assert_eq!(normalize(Path::new("/etc/../root")), None);
    }
}
