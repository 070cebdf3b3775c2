//! The recursive, fd-relative copy: one entry at a time, metadata after
//! contents, directories finished (owner, xattrs, mode, times, fsync) after
//! their children.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::fs::FileType;
use rustix::io::Errno;

use super::{CopyStats, Pair};
use crate::sys::fs::At;
use crate::sys::meta::{Meta, stat_at, stat_fd};
use crate::sys::{dir, fs};

const CHUNK: usize = 8 << 20;
const TICK: Duration = Duration::from_millis(100);

/// A copy in progress.
pub(super) struct Copier<'a> {
    from: PathBuf,
    tmp: PathBuf,
    stats: CopyStats,
    progress: &'a mut dyn FnMut(CopyStats),
    last: Instant,
    /// (dev, ino) of a multiply-linked source inode → its first copy,
    /// relative to the temporary root.
    links: HashMap<(u64, u64), PathBuf>,
    /// The temporary root directory (when copying a directory).
    root: Option<OwnedFd>,
    /// (dev, ino) of the temporary root: met in the source, the
    /// destination is inside the source.
    root_id: (u64, u64),
    /// Filesystem and mount of `from`: nothing else is descended into.
    dev: u64,
    mnt_id: u64,
    /// How data is copied (stepped down once refused).
    method: fs::Method,
}

impl<'a> Copier<'a> {
    pub(super) fn new(from: &Path, tmp: &Path, progress: &'a mut dyn FnMut(CopyStats)) -> Self {
        Copier {
            from: from.to_path_buf(),
            tmp: tmp.to_path_buf(),
            stats: CopyStats::default(),
            progress,
            last: Instant::now(),
            links: HashMap::new(),
            root: None,
            root_id: (0, 0),
            dev: 0,
            mnt_id: 0,
            method: fs::Method::default(),
        }
    }

    pub(super) fn finish(self) -> CopyStats {
        (self.progress)(self.stats);
        self.stats
    }

    fn tick(&mut self) {
        if self.last.elapsed() >= TICK {
            self.last = Instant::now();
            (self.progress)(self.stats);
        }
    }

    /// Copy the tree's top (`top.rel` is empty; `top.dst` the temporary name).
    pub(super) fn copy_top(&mut self, top: Pair<'_>) -> anyhow::Result<()> {
        let m = stat_at(top.src_dir, top.src)
            .with_context(|| format!("cannot stat {}", self.from.display()))?;
        self.dev = m.dev;
        self.mnt_id = m.mnt_id;
        self.entry(top, &m)
    }

    fn entry(&mut self, at: Pair<'_>, m: &Meta) -> anyhow::Result<()> {
        let rel = at.rel;
        // A file mounted here (a bind of its own, maybe from another root):
        // like a directory mount, its data is not copied (trial s11 N18).
        if m.file_type != FileType::Directory && m.mnt_id != 0 && m.mnt_id != self.mnt_id {
            return self.mount_point_file(at, m);
        }
        if m.file_type != FileType::Directory
            && m.nlink > 1
            && let Some(first) = self.links.get(&(m.dev, m.ino))
        {
            let root = self
                .root
                .as_ref()
                .context("hard link outside a directory")?;
            fs::link_at(root.as_fd(), first, at.dst_dir, at.dst)
                .with_context(|| format!("cannot hard-link {}", self.tmp.join(rel).display()))?;
            self.stats.entries += 1;
            return Ok(());
        }
        match m.file_type {
            FileType::Directory => self.dir(at, m)?,
            FileType::RegularFile => self.file(at, m)?,
            FileType::Symlink => {
                let target = fs::readlink_at(at.src_dir, at.src)
                    .with_context(|| format!("cannot read the link {}", self.src(rel)))?;
                fs::symlink_at(OsStr::from_bytes(&target), at.dst_dir, at.dst)
                    .with_context(|| format!("cannot create {}", self.dst(rel)))?;
                self.set_meta(at.src_at(), at.dst_at(), m, at.rel)?;
            }
            FileType::Fifo
            | FileType::Socket
            | FileType::CharacterDevice
            | FileType::BlockDevice => {
                match fs::mknod_at(at.dst_dir, at.dst, m.file_type, m.rdev) {
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                        tracing::warn!(
                            "{}: not permitted to create this device node here, left out",
                            self.src(rel)
                        );
                        self.stats.skipped += 1;
                        return Ok(());
                    }
                    r => r.with_context(|| format!("cannot create {}", self.dst(rel)))?,
                }
                self.set_meta(at.src_at(), at.dst_at(), m, at.rel)?;
            }
            FileType::Unknown => bail!("{}: unknown file type", self.src(rel)),
        }
        if m.file_type != FileType::Directory && m.nlink > 1 {
            self.links.insert((m.dev, m.ino), rel.to_path_buf());
        }
        self.stats.entries += 1;
        self.tick();
        Ok(())
    }

    fn dir(&mut self, at: Pair<'_>, m: &Meta) -> anyhow::Result<()> {
        let rel = at.rel;
        let other_mount = m.dev != self.dev || (m.mnt_id != 0 && m.mnt_id != self.mnt_id);
        let s = dir::open(at.src_dir, at.src)
            .with_context(|| format!("cannot open {}", self.src(rel)))?;
        let sm = self.same(s.as_fd(), m, rel)?;
        if (m.dev, m.ino) == self.root_id {
            bail!(
                "{} is the copy being made: the destination is inside the source",
                self.src(rel)
            );
        }
        fs::mkdir_at(at.dst_dir, at.dst, 0o700)
            .with_context(|| format!("cannot create {}", self.dst(rel)))?;
        let d = dir::open(at.dst_dir, at.dst)
            .with_context(|| format!("cannot open {}", self.dst(rel)))?;
        if rel.as_os_str().is_empty() {
            let id = stat_fd(d.as_fd())?;
            self.root_id = (id.dev, id.ino);
            self.root = Some(d.try_clone().context("dup")?);
        }
        if other_mount {
            tracing::warn!(
                "{}: another filesystem is mounted here: its files are not copied (the mount point is, as an empty directory)",
                self.src(rel)
            );
            self.stats.skipped += 1;
        } else {
            let mut names =
                dir::names(s.as_fd()).with_context(|| format!("cannot list {}", self.src(rel)))?;
            names.sort();
            for n in &names {
                let child = rel.join(n);
                let cm = stat_at(s.as_fd(), n)
                    .with_context(|| format!("cannot stat {}", self.src(&child)))?;
                self.entry(Pair::child(s.as_fd(), d.as_fd(), n, &child), &cm)?;
            }
        }
        self.set_meta(At::Fd(s.as_fd()), At::Fd(d.as_fd()), &sm, rel)
    }

    /// The mount point of a file mounted at `at` (`m`): an empty regular
    /// file with its owner, mode and xattrs and the times of the epoch, so
    /// never newer than a version it is merged with ([`super::fill::merge_at`]).
    fn mount_point_file(&mut self, at: Pair<'_>, m: &Meta) -> anyhow::Result<()> {
        let rel = at.rel;
        tracing::warn!(
            "{}: a file is mounted here: its data is not copied (the mount point is, as an empty file)",
            self.src(rel)
        );
        let d = fs::create_at(at.dst_dir, at.dst)
            .with_context(|| format!("cannot create {}", self.dst(rel)))?;
        let epoch = Meta {
            atime: (0, 0),
            mtime: (0, 0),
            ..*m
        };
        self.set_meta(at.src_at(), At::Fd(d.as_fd()), &epoch, rel)?;
        self.stats.skipped += 1;
        self.stats.entries += 1;
        Ok(())
    }

    fn file(&mut self, at: Pair<'_>, m: &Meta) -> anyhow::Result<()> {
        let rel = at.rel;
        let s = fs::open_read_at(at.src_dir, at.src)
            .with_context(|| format!("cannot open {}", self.src(rel)))?;
        self.same(s.as_fd(), m, rel)?;
        let d = fs::create_at(at.dst_dir, at.dst)
            .with_context(|| format!("cannot create {}", self.dst(rel)))?;
        self.data(s.as_fd(), m, d.as_fd(), rel)?;
        // The metadata as it is after reading: what the copy now holds.
        let after = stat_fd(s.as_fd()).with_context(|| format!("cannot stat {}", self.src(rel)))?;
        self.stats.files += 1;
        self.set_meta(At::Fd(s.as_fd()), At::Fd(d.as_fd()), &after, rel)
    }

    fn data(
        &mut self,
        s: BorrowedFd<'_>,
        m: &Meta,
        d: BorrowedFd<'_>,
        rel: &Path,
    ) -> anyhow::Result<()> {
        let what = format!("cannot copy the data of {}", self.src(rel));
        let ctx = || what.clone();
        let sparse = m.blocks.saturating_mul(512) < m.size;
        let mut off = 0;
        if sparse {
            let mut data = 0;
            while let Some((start, end)) = fs::next_data(s, off).with_context(ctx)? {
                off = start;
                while off < end {
                    let want = usize::try_from(end - off).unwrap_or(CHUNK).min(CHUNK);
                    let n = fs::copy_chunk(s, d, off, want, &mut self.method).with_context(ctx)?;
                    if n == 0 {
                        break;
                    }
                    off += n as u64;
                    data += n as u64;
                    self.stats.bytes += n as u64;
                    self.tick();
                }
                off = off.max(end);
            }
            let len = stat_fd(s).with_context(ctx)?.size;
            fs::truncate(d, len).with_context(ctx)?;
            // The holes are copied too, as holes (trial-s10 F8: "saved
            // (966656 bytes)" for a 1 MiB sparse file).
            self.stats.bytes += len.saturating_sub(data);
            return Ok(());
        }
        loop {
            let n = fs::copy_chunk(s, d, off, chunk(m.size, off), &mut self.method)
                .with_context(ctx)?;
            if n == 0 {
                return Ok(());
            }
            off += n as u64;
            self.stats.bytes += n as u64;
            self.tick();
        }
    }

    /// Refuse when the opened inode is not the one stat'ed (swapped meanwhile).
    fn same(&self, fd: BorrowedFd<'_>, m: &Meta, rel: &Path) -> anyhow::Result<Meta> {
        let now = stat_fd(fd).with_context(|| format!("cannot stat {}", self.src(rel)))?;
        if now.ino != m.ino || now.dev != m.dev || now.file_type != m.file_type {
            bail!("{} was replaced while it was being copied", self.src(rel));
        }
        Ok(now)
    }

    /// Owner, xattrs, mode (not of a symlink), times, and (through an open
    /// fd) fsync of the copy `d` of `s`.
    pub(super) fn set_meta(
        &mut self,
        s: At<'_>,
        d: At<'_>,
        m: &Meta,
        rel: &Path,
    ) -> anyhow::Result<()> {
        let path = self.dst(rel);
        fs::chown(d, m.uid, m.gid)
            .with_context(|| format!("cannot chown {path} to {}:{}", m.uid, m.gid))?;
        self.xattrs(s, d, rel)?;
        if m.file_type != FileType::Symlink {
            fs::chmod(d, m.perm).with_context(|| format!("cannot chmod {path}"))?;
        }
        fs::set_times(d, m.atime, m.mtime)
            .with_context(|| format!("cannot set the times of {path}"))?;
        match d {
            At::Fd(fd) => fs::fsync(fd).with_context(|| format!("cannot fsync {path}")),
            At::Name(..) => Ok(()),
        }
    }

    pub(super) fn xattrs(&mut self, s: At<'_>, d: At<'_>, rel: &Path) -> anyhow::Result<()> {
        let names = fs::xattr_list(s)
            .with_context(|| format!("cannot list the xattrs of {}", self.src(rel)))?;
        for n in names {
            let v = match fs::xattr_get(s, &n) {
                Ok(v) => v,
                // Removed meanwhile.
                Err(e) if e.raw_os_error() == Some(Errno::NODATA.raw_os_error()) => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot read xattr {n:?} of {}", self.src(rel)));
                }
            };
            if let Err(e) = fs::xattr_set(d, &n, &v) {
                let b = n.as_bytes();
                let privileged = b.starts_with(b"security.") || b.starts_with(b"trusted.");
                let refused = matches!(
                    e.raw_os_error().map(Errno::from_raw_os_error),
                    Some(Errno::PERM | Errno::NOTSUP | Errno::INVAL)
                );
                if privileged && refused {
                    tracing::warn!("{}: xattr {n:?} not copied: {e}", self.src(rel));
                    self.stats.skipped += 1;
                    continue;
                }
                return Err(e)
                    .with_context(|| format!("cannot set xattr {n:?} on {}", self.dst(rel)));
            }
        }
        Ok(())
    }

    fn src(&self, rel: &Path) -> String {
        crate::root::join(&self.from, rel).display().to_string()
    }

    fn dst(&self, rel: &Path) -> String {
        crate::root::join(&self.tmp, rel).display().to_string()
    }
}

/// How much to ask for at `off` in a file of `size` bytes: what is left
/// (at least 64 KiB, to notice growth), at most `CHUNK`.
fn chunk(size: u64, off: u64) -> usize {
    let left = usize::try_from(size.saturating_sub(off)).unwrap_or(CHUNK);
    left.clamp(64 << 10, CHUNK)
}
