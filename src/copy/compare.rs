//! Comparing a copy with its source (type, owner, mode, mtime, size, link
//! targets, device numbers, xattrs, hard-link structure, optionally the
//! bytes), and measuring a tree before copying it.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rustix::fs::FileType;

use super::{End, Pair};
use crate::sys::fs::At;
use crate::sys::meta::{Meta, stat_at};
use crate::sys::{dir, fs};

/// What [`compare_trees`] looks at beyond metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct Differ {
    /// Also compare the bytes of every regular file.
    pub content: bool,
}

/// Compare the tree at `a` with the tree at `b` (host paths, resolved
/// like [`super::copy_tree_atomic`]'s, symlinks never followed): see
/// [`compare_trees_at`].
pub fn compare_trees(a: &Path, b: &Path, how: Differ) -> Result<Option<String>> {
    let ((ad, an), (bd, bn)) = (super::parent_of(a)?, super::parent_of(b)?);
    let (a, b) = (End::new(ad.as_fd(), an, a), End::new(bd.as_fd(), bn, b));
    compare_trees_at(a, b, how)
}

/// Compare the tree `a` with the tree `b`, fd-relative below their held
/// parents, symlinks never followed. `Ok(None)` when `b` is a faithful
/// copy of `a`, else the first difference found, as a sentence naming the
/// path. Atimes are not compared (reading changes them);
/// `security.*`/`trusted.*` xattrs neither (a copy without the privilege
/// leaves them out, with a warning).
pub fn compare_trees_at(a: End<'_>, b: End<'_>, how: Differ) -> Result<Option<String>> {
    let top =
        stat_at(a.dir, a.name).with_context(|| format!("cannot stat {}", a.shown.display()))?;
    let mut c = Cmp {
        how,
        a: a.shown.to_path_buf(),
        links: HashMap::new(),
        dev: (top.dev, top.mnt_id),
    };
    c.entry(Pair::top(a, b.dir, b.name))
}

struct Cmp {
    how: Differ,
    a: PathBuf,
    links: HashMap<u64, u64>,
    dev: (u64, u64),
}

impl Cmp {
    fn show(&self, rel: &Path) -> String {
        crate::root::join(&self.a, rel).display().to_string()
    }

    fn entry(&mut self, at: Pair<'_>) -> Result<Option<String>> {
        let (ad, an, bd, bn, rel) = (at.src_dir, at.src, at.dst_dir, at.dst, at.rel);
        let p = self.show(rel);
        let ma = stat_at(ad, an).with_context(|| format!("cannot stat {p}"))?;
        let mb = crate::sys::optional(stat_at(bd, bn));
        let Some(mb) = mb.with_context(|| format!("cannot stat the copy of {p}"))? else {
            return Ok(Some(format!("{p}: missing from the copy")));
        };
        // Mounted here from inside the copy (a nested entry's bind from
        // its source there): the very same inode.
        if (ma.dev, ma.ino) == (mb.dev, mb.ino) && ma.mnt_id != self.dev.1 && ma.mnt_id != 0 {
            return Ok(None);
        }
        if let Some(d) = meta_diff(&ma, &mb) {
            return Ok(Some(format!("{p}: {d}")));
        }
        if ma.file_type != FileType::Directory && ma.nlink > 1 {
            let first = *self.links.entry(ma.ino).or_insert(mb.ino);
            if first != mb.ino {
                return Ok(Some(format!("{p}: hard link not preserved")));
            }
        }
        match ma.file_type {
            FileType::Directory => self.dir(at, &ma),
            FileType::RegularFile => {
                let fa = fs::open_read_at(ad, an).with_context(|| format!("cannot open {p}"))?;
                let fb = fs::open_read_at(bd, bn)
                    .with_context(|| format!("cannot open the copy of {p}"))?;
                let (fa, fb) = (File::from(fa), File::from(fb));
                if let Some(d) = xattr_diff(At::Fd(fa.as_fd()), At::Fd(fb.as_fd()))? {
                    return Ok(Some(format!("{p}: {d}")));
                }
                if self.how.content && !same_bytes(&fa, &fb, None)? {
                    return Ok(Some(format!("{p}: contents differ")));
                }
                Ok(None)
            }
            FileType::Symlink => {
                let ta = fs::readlink_at(ad, an)?;
                let tb = fs::readlink_at(bd, bn)?;
                Ok((ta != tb).then(|| format!("{p}: link target {ta:?} vs {tb:?}")))
            }
            _ => Ok(xattr_diff(At::Name(ad, an), At::Name(bd, bn))?.map(|d| format!("{p}: {d}"))),
        }
    }

    fn dir(&mut self, at: Pair<'_>, ma: &Meta) -> Result<Option<String>> {
        let p = self.show(at.rel);
        let da = dir::open(at.src_dir, at.src).with_context(|| format!("cannot open {p}"))?;
        let db = dir::open(at.dst_dir, at.dst)
            .with_context(|| format!("cannot open the copy of {p}"))?;
        if let Some(d) = xattr_diff(At::Fd(da.as_fd()), At::Fd(db.as_fd()))? {
            return Ok(Some(format!("{p}: {d}")));
        }
        let other_mount =
            (ma.dev, ma.mnt_id) != self.dev && !(ma.dev == self.dev.0 && ma.mnt_id == 0);
        let mut na = if other_mount {
            Vec::new()
        } else {
            dir::names(da.as_fd())?
        };
        let mut nb = dir::names(db.as_fd())?;
        na.sort();
        nb.sort();
        if na != nb {
            let extra: Vec<_> = nb.iter().filter(|n| !na.contains(n)).take(3).collect();
            let missing: Vec<_> = na.iter().filter(|n| !nb.contains(n)).take(3).collect();
            return Ok(Some(format!(
                "{p}: entries differ (only in the source: {missing:?}; only in the copy: {extra:?})"
            )));
        }
        for n in &na {
            let child = at.rel.join(n);
            if let Some(d) = self.entry(Pair::child(da.as_fd(), db.as_fd(), n, &child))? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }
}

fn meta_diff(a: &Meta, b: &Meta) -> Option<String> {
    if a.file_type != b.file_type {
        return Some(format!("type {:?} vs {:?}", a.file_type, b.file_type));
    }
    if (a.uid, a.gid) != (b.uid, b.gid) {
        return Some(format!("owner {}:{} vs {}:{}", a.uid, a.gid, b.uid, b.gid));
    }
    if a.file_type != FileType::Symlink && a.perm != b.perm {
        return Some(format!("mode {:04o} vs {:04o}", a.perm, b.perm));
    }
    if a.mtime != b.mtime {
        return Some(format!(
            "mtime {}.{:09} vs {}.{:09}",
            a.mtime.0, a.mtime.1, b.mtime.0, b.mtime.1
        ));
    }
    if a.file_type == FileType::RegularFile && a.size != b.size {
        return Some(format!("size {} vs {}", a.size, b.size));
    }
    if matches!(
        a.file_type,
        FileType::CharacterDevice | FileType::BlockDevice
    ) && a.rdev != b.rdev
    {
        return Some("device number differs".into());
    }
    None
}

/// How the extended attributes of `a` and `b` differ, in words (their
/// names), or `None` when they are the same; `security.*` and `trusted.*`
/// are left out, as [`compare_trees_at`] leaves them.
pub fn xattr_diff(a: At<'_>, b: At<'_>) -> Result<Option<String>> {
    let read = |at: At<'_>| -> Result<Vec<(CString, Vec<u8>)>> {
        let mut v = Vec::new();
        for n in fs::xattr_list(at)? {
            let s = n.as_bytes();
            if s.starts_with(b"security.") || s.starts_with(b"trusted.") {
                continue;
            }
            let val = fs::xattr_get(at, &n)?;
            v.push((n, val));
        }
        v.sort();
        Ok(v)
    };
    let (xa, xb) = (read(a)?, read(b)?);
    if xa == xb {
        return Ok(None);
    }
    let names = |x: &[(CString, Vec<u8>)]| x.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    Ok(Some(format!(
        "xattrs differ ({:?} vs {:?})",
        names(&xa),
        names(&xb)
    )))
}

/// Do the files `a` and `b` hold the same first `len` bytes (both at
/// least that long), or with `None` the same bytes to the end of both?
/// Positional reads: the files' offsets are left alone.
pub fn same_bytes(a: &File, b: &File, len: Option<u64>) -> std::io::Result<bool> {
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut off = 0u64;
    loop {
        let left = len.map_or(u64::MAX, |l| l - off);
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(x.len());
        if want == 0 {
            return Ok(true);
        }
        let n = read_full_at(a, &mut x[..want], off)?;
        let m = read_full_at(b, &mut y[..want], off)?;
        if x[..n] != y[..m] {
            return Ok(false);
        }
        if n < want {
            return Ok(len.is_none());
        }
        off += want as u64;
    }
}

/// Read `buf.len()` bytes of `f` at `off`, fewer only at the end of the file.
pub fn read_full_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], off + done as u64)? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

/// Count the entries and bytes of regular files of the tree at `from`, as a
/// copy would (same filesystem only, symlinks not followed, a file's bytes
/// once however many names it has), and its files linked from outside it:
/// for progress estimates, `--dry-run` and [`super::separated`].
pub fn measure(from: &Path) -> Result<crate::walk::Usage> {
    crate::walk::usage(from).with_context(|| format!("cannot measure {}", from.display()))
}
