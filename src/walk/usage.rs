//! Entries and bytes of a tree (`persist`'s measure, `--orphans`), on the
//! one walker.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::AtomicU64;

use crate::sys::meta::{Kind, stat_at, stat_path};

use super::{Entry, Scope, Visit, default_threads, walk};

/// What [`usage`] counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Entries, the top included.
    pub entries: u64,
    /// Bytes of regular files.
    pub file_bytes: u64,
    /// Bytes of symlinks (their targets' lengths).
    pub link_bytes: u64,
}

impl Usage {
    fn add(&mut self, kind: Kind, size: u64) {
        self.entries += 1;
        match kind {
            Kind::File => self.file_bytes += size,
            Kind::Symlink => self.link_bytes += size,
            _ => {}
        }
    }
}

struct CountUsage;

impl Visit for CountUsage {
    type Acc = Usage;
    fn visit(&self, e: &Entry<'_>, acc: &mut Usage) -> io::Result<bool> {
        let size = match e.kind {
            Kind::File | Kind::Symlink => stat_at(e.dir, e.name)?.size,
            _ => 0,
        };
        acc.add(e.kind, size);
        Ok(true)
    }
}

/// Entries and bytes of the tree at the host path `p`, on its filesystem,
/// without following symlinks. Fails on the first entry it cannot read.
pub fn usage(p: &Path) -> anyhow::Result<Usage> {
    use anyhow::Context;
    let m = stat_path(p).with_context(|| format!("cannot stat {}", p.display()))?;
    let mut total = Usage::default();
    total.add(m.kind(), m.size);
    if m.kind() == Kind::Dir {
        let (scope, count) = (Scope::tree(p), AtomicU64::new(0));
        let out = walk(&scope, &CountUsage, default_threads(), &count)?;
        if let Some((path, e)) = out.unreadable.first() {
            let shown = p.join(OsStr::from_bytes(&path[1..]));
            anyhow::bail!("cannot read {}: {e}", shown.display());
        }
        for u in out.accs {
            total.entries += u.entries;
            total.file_bytes += u.file_bytes;
            total.link_bytes += u.link_bytes;
        }
    }
    Ok(total)
}
