//! fanotify(7) in FID mode (`FAN_REPORT_DFID_NAME`): init and filesystem
//! mark (through `nix`), a parser for the info records that `nix` cannot
//! read, and directory handles resolved with `open_by_handle_at` +
//! `readlink /proc/self/fd/N`. The only `unsafe` code of the crate lives
//! here: `open_by_handle_at` and closing an event's descriptor.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::libc;
use nix::sys::fanotify::{EventFFlags, InitFlags, MarkFlags, MaskFlags};

pub use libc::{
    FAN_ATTRIB, FAN_CLOSE_WRITE, FAN_CREATE, FAN_DELETE, FAN_EVENT_ON_CHILD, FAN_MODIFY,
    FAN_MOVED_FROM, FAN_MOVED_TO, FAN_ONDIR, FAN_Q_OVERFLOW, FAN_RENAME,
};

/// A filesystem mark's flags, and a directory's (never following a symlink).
const FS: MarkFlags = MarkFlags::FAN_MARK_FILESYSTEM;
const DIR: MarkFlags = MarkFlags::FAN_MARK_ONLYDIR.union(MarkFlags::FAN_MARK_DONT_FOLLOW);

/// A fanotify group reporting directory handles and names.
#[derive(Debug)]
pub struct Fanotify {
    group: nix::sys::fanotify::Fanotify,
}

/// One event. `dir`/`name` locate the object (the new location for
/// `FAN_RENAME`); `old_dir`/`old_name` are set for `FAN_RENAME` only.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// `FAN_*` bits.
    pub mask: u64,
    /// The writer's pid (0 when hidden, e.g. across user namespaces).
    pub pid: i32,
    /// The parent directory's handle (`struct file_handle` bytes), if reported.
    pub dir: Option<&'a [u8]>,
    /// The entry's name in `dir` (empty for events on the directory itself).
    pub name: &'a [u8],
    /// `FAN_RENAME`: the old parent's handle.
    pub old_dir: Option<&'a [u8]>,
    /// `FAN_RENAME`: the old name.
    pub old_name: &'a [u8],
}

impl Fanotify {
    /// `fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME)`.
    pub fn init() -> io::Result<Fanotify> {
        let flags = InitFlags::FAN_CLASS_NOTIF
            | InitFlags::FAN_CLOEXEC
            | InitFlags::FAN_NONBLOCK
            | InitFlags::from_bits_retain(libc::FAN_REPORT_DFID_NAME);
        let ev = EventFFlags::O_RDONLY | EventFFlags::O_CLOEXEC | EventFFlags::O_LARGEFILE;
        let group = nix::sys::fanotify::Fanotify::init(flags, ev)?;
        Ok(Fanotify { group })
    }

    /// Add a `FAN_MARK_FILESYSTEM` mark for `mask` on the filesystem of `path`.
    pub fn mark_filesystem(&self, path: &Path, mask: u64) -> io::Result<()> {
        self.mark_at(MarkFlags::FAN_MARK_ADD | FS, mask, path)
    }

    /// Remove `mask` from the `FAN_MARK_FILESYSTEM` mark on the filesystem
    /// of `path` (the mark stays while anything is left in it).
    pub fn unmark_filesystem(&self, path: &Path, mask: u64) -> io::Result<()> {
        self.mark_at(MarkFlags::FAN_MARK_REMOVE | FS, mask, path)
    }

    /// Add `mask` to the (non-evictable) inode mark on the directory `dir`:
    /// with `FAN_EVENT_ON_CHILD`, events in `mask` on its entries' inodes
    /// are reported (with the directory's handle and the entry's name).
    /// The mark lives as long as the inode (it pins it in the inode
    /// cache) or until removed; each counts against
    /// `/proc/sys/fs/fanotify/max_user_marks`. `dir` is not followed if it
    /// is a symlink. Errors: `ENOSPC` at the marks limit, `ENOTDIR`,
    /// `ENOENT`.
    pub fn mark_dir(&self, dir: &Path, mask: u64) -> io::Result<()> {
        self.mark_at(MarkFlags::FAN_MARK_ADD | DIR, mask, dir)
    }

    /// Remove `mask` from the inode mark on `dir` (the mark goes when
    /// nothing is left in it). `ENOENT` when there was no mark.
    pub fn unmark_dir(&self, dir: &Path, mask: u64) -> io::Result<()> {
        self.mark_at(MarkFlags::FAN_MARK_REMOVE | DIR, mask, dir)
    }

    /// Add `mask` to the ignore mask of an evictable inode mark on the
    /// directory `dir` (`FAN_MARK_IGNORE | FAN_MARK_IGNORED_SURV_MODIFY |
    /// FAN_MARK_EVICTABLE`, Linux 6.0): events in `mask` on the directory's
    /// entries (with `FAN_EVENT_ON_CHILD`: also on its children's inodes)
    /// are dropped by the kernel before they are queued. Events on
    /// directories still arrive unless `mask` has `FAN_ONDIR`. The mark
    /// does not pin the inode: when the kernel evicts it, the mark is gone
    /// and events arrive again. `dir` is not followed if it is a symlink.
    /// Errors: `EINVAL` before Linux 6.0, `ENOTDIR`, `ENOENT`.
    pub fn ignore_dir(&self, dir: &Path, mask: u64) -> io::Result<()> {
        let flags = MarkFlags::FAN_MARK_IGNORE_SURV | MarkFlags::FAN_MARK_EVICTABLE | DIR;
        self.mark_at(MarkFlags::FAN_MARK_ADD | flags, mask, dir)
    }

    /// Remove `mask` from the ignore mask on `dir` (the mark goes when
    /// nothing is left in it). `ENOENT` when there was no mark.
    pub fn unignore_dir(&self, dir: &Path, mask: u64) -> io::Result<()> {
        let flags = MarkFlags::FAN_MARK_IGNORE_SURV | DIR;
        self.mark_at(MarkFlags::FAN_MARK_REMOVE | flags, mask, dir)
    }

    /// `fanotify_mark` on `path`, also one longer than `PATH_MAX` (then
    /// relative to its parent, opened a few components at a time).
    fn mark_at(&self, flags: MarkFlags, mask: u64, path: &Path) -> io::Result<()> {
        let mask = MaskFlags::from_bits_retain(mask);
        match self.group.mark(flags, mask, rustix::fs::CWD, Some(path)) {
            Err(Errno::ENAMETOOLONG) => {}
            r => return Ok(r?),
        }
        let (parent, name) = open_parent(path)?;
        Ok(self.group.mark(flags, mask, parent.as_fd(), Some(name))?)
    }

    /// How many distinct inodes carry one of this group's inode marks
    /// with a bit of `mask` in its mask (ignore masks not counted), from
    /// the kernel's own list (`/proc/self/fdinfo/FD`, one `fanotify ino:…
    /// mask:HEX …` line per marked inode). A mark goes with its inode: a
    /// deleted directory's is not counted.
    /// With `ignored`, the inodes whose ignore mask has a bit of `mask`.
    pub fn inode_marks(&self, mask: u64, ignored: bool) -> io::Result<usize> {
        let fd = self.group.as_fd().as_raw_fd();
        let text = std::fs::read(format!("/proc/self/fdinfo/{fd}"))?;
        let key: &[u8] = if ignored { b"ignored_mask:" } else { b"mask:" };
        Ok(count_inode_marks(&text, key, mask))
    }

    /// Read queued events into `buf`; `Ok(0)` when none are queued.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match nix::unistd::read(self.group.as_fd(), buf) {
            Ok(n) => Ok(n),
            Err(Errno::EAGAIN) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

impl AsFd for Fanotify {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.group.as_fd()
    }
}

/// The inode marks in a fanotify fdinfo text whose field `key` (`mask:`
/// or `ignored_mask:`) has a bit of `mask`.
fn count_inode_marks(text: &[u8], key: &[u8], mask: u64) -> usize {
    let field = |line: &[u8], key: &[u8]| -> Option<u64> {
        let w = line
            .split(|&c| c == b' ')
            .find_map(|w| w.strip_prefix(key))?;
        u64::from_str_radix(std::str::from_utf8(w).ok()?, 16).ok()
    };
    text.split(|&c| c == b'\n')
        .filter(|l| l.starts_with(b"fanotify ino:"))
        .filter(|l| field(l, key).is_some_and(|m| m & mask != 0))
        .count()
}

/// Iterate over the events in a buffer filled by [`Fanotify::read`].
pub fn events(buf: &[u8]) -> Events<'_> {
    Events { buf }
}

/// Iterator over a read buffer.
#[derive(Debug)]
pub struct Events<'a> {
    buf: &'a [u8],
}

const META: usize = std::mem::size_of::<libc::fanotify_event_metadata>();

fn u16_at(b: &[u8], o: usize) -> usize {
    u16::from_ne_bytes([b[o], b[o + 1]]) as usize
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes(b[o..o + 4].try_into().unwrap())
}

impl<'a> Iterator for Events<'a> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        let b = self.buf;
        if b.len() < META {
            return None;
        }
        let len = (u32_at(b, 0) as usize).clamp(META, b.len());
        let meta_len = u16_at(b, 6).clamp(META, len);
        let mask = u64::from_ne_bytes(b[8..16].try_into().unwrap());
        let fd = u32_at(b, 16) as i32;
        let pid = u32_at(b, 20) as i32;
        if fd >= 0 {
            // Not in FID mode this cannot happen; never leak a descriptor.
            // SAFETY: the kernel handed us this fd; we close it once.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let mut ev = Event {
            mask,
            pid,
            dir: None,
            name: &[],
            old_dir: None,
            old_name: &[],
        };
        let mut rec = &b[meta_len..len];
        while rec.len() >= 4 {
            let kind = rec[0];
            let rlen = u16_at(rec, 2).clamp(4, rec.len());
            let body = &rec[4..rlen];
            if let Some((handle, name)) = split_fid(body) {
                match kind {
                    libc::FAN_EVENT_INFO_TYPE_DFID_NAME
                    | libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME => {
                        ev.dir = Some(handle);
                        ev.name = name;
                    }
                    libc::FAN_EVENT_INFO_TYPE_DFID if ev.dir.is_none() => ev.dir = Some(handle),
                    libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME => {
                        ev.old_dir = Some(handle);
                        ev.old_name = name;
                    }
                    _ => {}
                }
            }
            rec = &rec[rlen..];
        }
        self.buf = &b[len..];
        Some(ev)
    }
}

/// Split a FID record body (`fsid(8) + file_handle + [name\0]`) into the
/// handle bytes (header included) and the name.
fn split_fid(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let fh = body.get(8..)?;
    let hb = u32_at(fh.get(..4)?, 0) as usize;
    let end = 8 + hb;
    let handle = fh.get(..end)?;
    let rest = &fh[end..];
    let name = &rest[..rest.iter().position(|&c| c == 0).unwrap_or(rest.len())];
    Some((handle, name))
}

/// The file handle of `path` (the `struct file_handle` bytes, header
/// included, as fanotify reports them), from `name_to_handle_at`. Symlinks
/// in `path` itself are not followed.
pub fn handle_of(path: &Path) -> io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    const MAX_HANDLE_SZ: usize = 128;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(Errno::EINVAL))?;
    let mut store = vec![0u32; (8 + MAX_HANDLE_SZ) / 4];
    store[0] = MAX_HANDLE_SZ as u32;
    let mut mount_id: libc::c_int = 0;
    // SAFETY: store is a file_handle with handle_bytes = MAX_HANDLE_SZ bytes
    // of room after its 8-byte header; c is NUL-terminated.
    let r = unsafe {
        libc::name_to_handle_at(
            libc::AT_FDCWD,
            c.as_ptr(),
            store.as_mut_ptr().cast::<libc::file_handle>(),
            &mut mount_id,
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = 8 + (store[0] as usize).min(MAX_HANDLE_SZ);
    let bytes: Vec<u8> = store
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .take(len)
        .collect();
    Ok(bytes)
}

/// The parent directory of the absolute `path` (`O_PATH`, opened at most
/// 2,048 bytes of components at a time, no symlink followed) and its last
/// component.
fn open_parent(path: &Path) -> io::Result<(OwnedFd, &std::ffi::OsStr)> {
    use rustix::fs::{Mode, OFlags, openat};
    let name = path.file_name().ok_or(Errno::EINVAL)?;
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut fd = openat(rustix::fs::CWD, "/", flags, Mode::empty())?;
    let mut chunk = PathBuf::new();
    let parent = path.parent().unwrap_or(Path::new("/"));
    for c in parent.components() {
        let std::path::Component::Normal(c) = c else {
            continue;
        };
        if chunk.as_os_str().len() + c.len() > 2048 {
            fd = openat(&fd, &chunk, flags, Mode::empty())?;
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.as_os_str().is_empty() {
        fd = openat(&fd, &chunk, flags, Mode::empty())?;
    }
    Ok((fd, name))
}

/// Resolve a directory handle to its path, as seen through `mount_fd`'s
/// mount, also one longer than `PATH_MAX` ([`path_of`]).
pub fn resolve(mount_fd: BorrowedFd<'_>, handle: &[u8]) -> io::Result<PathBuf> {
    if handle.len() < 8 {
        return Err(Errno::EINVAL.into());
    }
    // `struct file_handle` needs 4-byte alignment: copy into u32 storage.
    let mut store = vec![0u32; handle.len().div_ceil(4)];
    // SAFETY: store has at least handle.len() bytes; regions do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            handle.as_ptr(),
            store.as_mut_ptr().cast::<u8>(),
            handle.len(),
        )
    };
    // SAFETY: store holds a complete file_handle (header + handle_bytes bytes).
    let fd = unsafe {
        libc::open_by_handle_at(
            mount_fd.as_raw_fd(),
            store.as_mut_ptr().cast::<libc::file_handle>(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    path_of(fd)
}

/// The path of the directory `dir` is open on. Past `PATH_MAX` (the
/// kernel's `readlink` of `/proc/self/fd/N` says `ENAMETOOLONG`) it is
/// found upwards: each parent (`..`) is read for the name of the entry
/// with the child's inode, until a parent's path is short enough.
fn path_of(dir: OwnedFd) -> io::Result<PathBuf> {
    use rustix::fs::{Mode, OFlags, openat};
    let link = |fd: &OwnedFd| std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let mut names: Vec<std::ffi::OsString> = Vec::new();
    let mut cur = dir;
    loop {
        match link(&cur) {
            Err(e) if e.raw_os_error() == Some(libc::ENAMETOOLONG) => {}
            Err(e) => return Err(e),
            Ok(mut p) => {
                p.extend(names.iter().rev());
                return Ok(p);
            }
        }
        // Past PATH_MAX a path is at least 2,048 components of one byte.
        if names.len() > 4096 {
            return Err(Errno::ELOOP.into());
        }
        let st = rustix::fs::fstat(&cur)?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let parent = openat(&cur, "..", flags, Mode::empty())?;
        names.push(name_of(&parent, st.st_ino)?);
        cur = parent;
    }
}

/// The name in the directory `parent` of the entry with inode `ino`.
fn name_of(parent: &OwnedFd, ino: u64) -> io::Result<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    let dir = rustix::fs::Dir::read_from(parent)?;
    for e in dir {
        let e = e?;
        let n = e.file_name().to_bytes();
        if e.ino() == ino && n != b"." && n != b".." {
            return Ok(std::ffi::OsStr::from_bytes(n).to_os_string());
        }
    }
    Err(Errno::ESTALE.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_inode_marks_with_content_bits_only() {
        let text = b"pos:\t0\nflags:\t4000\nfanotify flags:200 event-flags:8000\n\
fanotify sdev:2f mflags:0 mask:c0 ignored_mask:0\n\
fanotify ino:1a sdev:2f mflags:0 mask:800000a ignored_mask:0 fhandle-bytes:8\n\
fanotify ino:1b sdev:2f mflags:2c mask:0 ignored_mask:c0 fhandle-bytes:8\n\
fanotify ino:1c sdev:2f mflags:0 mask:8000006 ignored_mask:0 fhandle-bytes:8\n";
        assert_eq!(count_inode_marks(text, b"mask:", FAN_MODIFY), 2);
        assert_eq!(count_inode_marks(text, b"mask:", FAN_CREATE), 0);
        assert_eq!(count_inode_marks(text, b"ignored_mask:", !0), 1);
    }

    #[test]
    fn parses_a_dfid_name_record() {
        // metadata (24) + header(4) + fsid(8) + handle(8 + 4) + "ab\0" + pad
        let mut b = Vec::new();
        let rec_len = 4 + 8 + 12 + 3 + 1;
        let total = META + rec_len;
        b.extend_from_slice(&(total as u32).to_ne_bytes());
        b.extend_from_slice(&[3, 0]);
        b.extend_from_slice(&(META as u16).to_ne_bytes());
        b.extend_from_slice(&(FAN_CREATE | FAN_ONDIR).to_ne_bytes());
        b.extend_from_slice(&(-1i32).to_ne_bytes());
        b.extend_from_slice(&42i32.to_ne_bytes());
        b.extend_from_slice(&[libc::FAN_EVENT_INFO_TYPE_DFID_NAME, 0]);
        b.extend_from_slice(&(rec_len as u16).to_ne_bytes());
        b.extend_from_slice(&[9; 8]);
        b.extend_from_slice(&4u32.to_ne_bytes());
        b.extend_from_slice(&1i32.to_ne_bytes());
        b.extend_from_slice(&[1, 2, 3, 4]);
        b.extend_from_slice(b"ab\0\0");
        let evs: Vec<_> = events(&b).collect();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].pid, 42);
        assert_eq!(evs[0].mask, FAN_CREATE | FAN_ONDIR);
        assert_eq!(evs[0].name, b"ab");
        assert_eq!(evs[0].dir.unwrap().len(), 12);
    }
}
