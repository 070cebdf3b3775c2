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
pub mod index;
pub mod refresh;

pub use format::{Baseline, DirView, Rec, encode, encode_with};

impl Baseline {
    /// Read the baseline of `root`, if there is one.
    pub fn load(root: &Root) -> anyhow::Result<Option<Baseline>> {
        Self::read_with(root, |mut f| {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut bytes)?;
            Baseline::decode(bytes)
        })
    }

    /// [`Baseline::load`], reading on demand: a version 3 file's header
    /// and directory index now, each directory's entries when first looked
    /// up (`diff` from the watcher's list looks at a few). Older files are
    /// read whole.
    pub fn open(root: &Root) -> anyhow::Result<Option<Baseline>> {
        Self::read_with(root, Baseline::open_file)
    }

    /// Open `root`'s baseline file and read it with `read`: `None` when
    /// there is none; an error naming the file and the fix when only root
    /// may read it, it cannot be read, or `read` finds it corrupt.
    fn read_with(
        root: &Root,
        read: impl FnOnce(std::fs::File) -> anyhow::Result<Baseline>,
    ) -> anyhow::Result<Option<Baseline>> {
        let file = root.baseline_file();
        let f = match std::fs::File::open(&file) {
            Ok(f) => f,
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
        let b = read(f).with_context(|| {
            format!(
                "the baseline {} is corrupt (delete it; `impermctl boot` writes a new one, or diff falls back to the boot time)",
                file.display()
            )
        })?;
        Ok(Some(b))
    }
}

/// The origin of the baseline file at `file` (no record is older), from
/// its first bytes; `None` when it has none (version 1) or cannot be read.
pub fn origin_of(file: &std::path::Path) -> Option<std::time::SystemTime> {
    use std::io::Read;
    let mut head = Vec::with_capacity(64);
    let f = std::fs::File::open(file).ok()?;
    f.take(64).read_to_end(&mut head).ok()?;
    let (s, ns) = format::origin_in(&head)?;
    let d = std::time::Duration::new(u64::try_from(s).ok()?, ns);
    Some(std::time::UNIX_EPOCH + d)
}

struct Capture;

impl Visit for Capture {
    type Acc = Vec<(Vec<u8>, Rec)>;
    fn visit(&self, e: &Entry<'_>, acc: &mut Self::Acc) -> std::io::Result<bool> {
        let m = stat_at(e.dir, e.name)?;
        acc.push((e.path.to_vec(), Rec::from(&m)));
        Ok(true)
    }
}

/// A walk of the ephemeral root: its manifest and what frames it.
#[derive(Debug)]
pub struct Captured {
    /// `(logical path, record)`, unsorted.
    pub entries: Vec<(Vec<u8>, Rec)>,
    /// No record was taken before this (Unix seconds, nanoseconds): the
    /// walk's start minus a second (file times come from the coarse clock,
    /// up to a tick behind the precise one).
    pub origin: (i64, u32),
    /// The logical mount points the walk left out.
    pub mounts: Vec<Vec<u8>>,
}

/// Walk the ephemeral root: its manifest (unsorted), with the walk's
/// origin and the mount points it left out.
pub fn capture_framed(root: &Root, settings: &Settings) -> anyhow::Result<Captured> {
    use std::os::unix::ffi::OsStrExt;
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    let mounts = root.mount_table()?;
    let mut scope = Scope::ephemeral(root.dir(), settings, &mounts, false, &[]);
    scope.check_dev = root.mountinfo_override().is_some();
    let count = AtomicU64::new(0);
    let out = walk::walk(&scope, &Capture, walk::default_threads(), &count)?;
    let all: Vec<(Vec<u8>, Rec)> = out.accs.into_iter().flatten().collect();
    for (p, e) in out.unreadable.iter().take(5) {
        tracing::warn!("baseline: cannot read {}: {e}", String::from_utf8_lossy(p));
    }
    let mut points: Vec<Vec<u8>> = mounts
        .mounts()
        .iter()
        .map(|m| m.mount_point.as_os_str().as_bytes().to_vec())
        .filter(|p| p.as_slice() != b"/")
        .collect();
    points.sort();
    points.dedup();
    Ok(Captured {
        entries: all,
        origin: (start.as_second(), start.subsec_nanosecond().unsigned_abs()),
        mounts: points,
    })
}

/// Walk the ephemeral root and write `/run/impermctl/baseline` atomically,
/// unless it already exists (the first `boot` of a boot wins).
/// Returns whether a new baseline was written.
pub fn capture_if_missing(root: &Root, settings: &Settings) -> anyhow::Result<bool> {
    let file = root.baseline_file();
    if file.exists() {
        return Ok(false);
    }
    let Captured {
        mut entries,
        origin,
        mounts,
    } = capture_framed(root, settings)?;
    write(root, Some(origin), &mounts, &mut entries)?;
    Ok(true)
}

/// Write `root`'s baseline file atomically, created now, with `entries`
/// (those it cannot record are warned about and left out,
/// [`warn_unencodable`]), `origin` and the left-out `mounts`. Readable by
/// root only: it names files in every user's home.
pub fn write(
    root: &Root,
    origin: Option<(i64, u32)>,
    mounts: &[Vec<u8>],
    entries: &mut Vec<(Vec<u8>, Rec)>,
) -> anyhow::Result<()> {
    warn_unencodable(entries);
    let now = jiff::Timestamp::now().as_second().max(0);
    let bytes = encode_with(now, origin, mounts, entries);
    let file = root.baseline_file();
    crate::sys::fs::write_file_atomic(&file, &bytes, 0o600)
        .with_context(|| format!("cannot write the baseline {}", file.display()))
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

#[cfg(test)]
mod tests;

/// Was this file replaced by rename since the baseline (`diff`'s
/// `Item::replaced`): a regular file now (`live`) and in the baseline
/// (`rec`), with another inode. What `diff` and `persist` decide
/// `method = "copy"` from.
pub fn replaced(rec: Option<Rec>, live: Option<&crate::sys::meta::Meta>) -> bool {
    use crate::sys::meta::Kind;
    let file = |k| k == Kind::File;
    matches!((rec, live), (Some(r), Some(m)) if file(r.kind) && file(m.kind()) && r.ino != m.ino)
}
