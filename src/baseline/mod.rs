//! The baseline: a manifest of the ephemeral root right after activation
//! (path, type, inode, size, mtime, ctime), written once per boot by `boot`
//! and read by `diff`. The format is in `format`.

use std::sync::atomic::AtomicU64;

use anyhow::Context;

use crate::config::Settings;
use crate::root::Root;
use crate::sys::meta::stat_at;
use crate::walk::{self, Entry, Scope, Visit};

pub mod format;
#[cfg(test)]
mod tests_fuzz;

pub use format::{Baseline, DirView, Rec, encode};

impl Baseline {
    /// Read the baseline of `root`, if there is one.
    pub fn load(root: &Root) -> anyhow::Result<Option<Baseline>> {
        let file = root.baseline_file();
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                anyhow::bail!(
                    "the baseline {} is readable by root only (it names files in every user's home): run `sudo impermctl diff`",
                    file.display()
                );
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the baseline {}", file.display()));
            }
        };
        let b = Baseline::decode(bytes).with_context(|| {
            format!(
                "the baseline {} is corrupt (delete it; `impermctl boot` writes a new one, or diff falls back to the boot time)",
                file.display()
            )
        })?;
        Ok(Some(b))
    }
}

struct Capture;

impl Visit for Capture {
    type Acc = Vec<(Vec<u8>, Rec)>;
    fn visit(&self, e: &Entry<'_>, acc: &mut Self::Acc) -> std::io::Result<bool> {
        let m = stat_at(e.dir, e.name)?;
        acc.push((
            e.path.to_vec(),
            Rec {
                kind: m.kind(),
                ino: m.ino,
                size: m.size,
                mtime: m.mtime,
                ctime: m.ctime,
            },
        ));
        Ok(true)
    }
}

/// Walk the ephemeral root and return its manifest (unsorted).
pub fn capture(root: &Root, settings: &Settings) -> anyhow::Result<Vec<(Vec<u8>, Rec)>> {
    let mounts = root.mount_table()?;
    let mut scope = Scope::ephemeral(root.dir(), settings, &mounts, false, &[]);
    scope.check_dev = root.mountinfo_override().is_some();
    let count = AtomicU64::new(0);
    let out = walk::walk(&scope, &Capture, walk::default_threads(), &count)?;
    let all: Vec<(Vec<u8>, Rec)> = out.accs.into_iter().flatten().collect();
    for (p, e) in out.unreadable.iter().take(5) {
        tracing::warn!("baseline: cannot read {}: {e}", String::from_utf8_lossy(p));
    }
    Ok(all)
}

/// Walk the ephemeral root and write `/run/impermctl/baseline` atomically,
/// unless it already exists (the first `boot` of a boot wins).
/// Returns whether a new baseline was written.
pub fn capture_if_missing(root: &Root, settings: &Settings) -> anyhow::Result<bool> {
    let file = root.baseline_file();
    if file.exists() {
        return Ok(false);
    }
    let mut entries = capture(root, settings)?;
    warn_unencodable(&entries);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    crate::sys::fs::write_file_atomic(&file, &encode(now, &mut entries), 0o600)
        .with_context(|| format!("cannot write the baseline {}", file.display()))?;
    Ok(true)
}

/// Say which entries the baseline leaves out (a directory path longer than
/// its 16-bit length field; `format::unencodable`): `diff` lists them as new.
pub fn warn_unencodable(entries: &[(Vec<u8>, Rec)]) {
    let refused = format::unencodable(entries);
    if let Some(first) = refused.first() {
        tracing::warn!(
            "baseline: {} entries left out: their directory path is longer than 65,535 bytes, which the baseline cannot record (first: {}…); `diff` lists them as new",
            refused.len(),
            crate::names::human(&first[..first.len().min(200)])
        );
    }
}
