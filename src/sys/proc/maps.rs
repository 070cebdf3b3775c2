//! Files mapped shared and writable by a process. A write through such a
//! mapping reaches the file without a write system call, so neither
//! fanotify nor inotify reports it (only the last close of a descriptor
//! opened for writing).
//!
//! Each process's `/proc/PID/maps` is opened and asked with `PROCMAP_QUERY`
//! (Linux 6.11+, [`crate::sys::procmap`]: the kernel skips the other
//! mappings and formats nothing); on an older kernel its text is read whole
//! into one reused buffer, a line parsed past its permissions only when
//! they read `?w?s`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags, openat};
use rustix::io::Errno;

use crate::sys::procmap;

/// One shared writable mapping of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The mapping process.
    pub pid: i32,
    /// The file's device as the line gives it (its superblock's: on btrfs
    /// not the subvolume's that `stat` gives).
    pub dev: u64,
    /// The file's inode number.
    pub ino: u64,
    /// Its path as the kernel prints it: seen from the reader's root, through
    /// the mount the mapping process opened it by (in its mount namespace);
    /// `\012` unescaped to a newline, ` (deleted)` cut off. Empty when the
    /// kernel printed none (e.g. longer than `PATH_MAX`).
    pub path: Vec<u8>,
    /// The line ended in ` (deleted)`: the name was unlinked.
    pub deleted: bool,
}

/// Why a process's mappings are unknown: its maps could not be read (not
/// because it exited meanwhile).
#[derive(Debug)]
pub struct Unreadable {
    /// The process.
    pub pid: i32,
    /// The error of `open` or `read`.
    pub error: io::Error,
}

/// What [`shared_writable`] saw.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every shared writable file mapping it could read.
    pub mappings: Vec<Mapping>,
    /// The processes whose maps it could not read.
    pub unreadable: Vec<Unreadable>,
}

/// Every shared writable file mapping of every process visible in `proc`
/// (normally `/proc`) but this one. Processes that exit meanwhile are
/// skipped; those whose maps cannot be read (`EACCES` without ptrace
/// rights over them: another user namespace's, or an LSM's rule) are
/// listed apart. `Err`: `proc` itself cannot be read.
pub fn shared_writable(proc: &Path) -> io::Result<Scan> {
    scan(proc, true)
}

/// The inode numbers of the files [`shared_writable`] finds mapped on the
/// devices `devs` (`makedev` numbers; empty: any device, since a line
/// gives the superblock's device, which `stat` may not, e.g. on btrfs):
/// the files to compare by content, since a write through a page already
/// dirty changes neither size, mtime nor ctime. Empty when `proc` cannot
/// be read.
pub fn mapped_inodes(proc: &Path, devs: &[u64]) -> std::collections::HashSet<u64> {
    let scan = shared_writable(proc).unwrap_or_default();
    (scan.mappings.iter())
        .filter(|m| devs.is_empty() || devs.contains(&m.dev))
        .map(|m| m.ino)
        .collect()
}

/// [`shared_writable`], by `PROCMAP_QUERY` while `query` and the kernel
/// has it, else by the text.
fn scan(proc: &Path, mut query: bool) -> io::Result<Scan> {
    let dir = crate::sys::fs::open_dir(proc)?;
    let pids = pids(&dir)?;
    let mut out = Scan::default();
    let mut buf = Vec::new();
    let mut name_buf = Box::new([0u8; procmap::NAME_MAX]);
    let mut name = String::with_capacity(32);
    for pid in pids {
        use std::fmt::Write;
        name.clear();
        let _ = write!(name, "{pid}/maps");
        let opened = openat(
            &dir,
            name.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        );
        let had = out.mappings.len();
        let asked = opened.and_then(|fd| {
            let mut push = |dev, ino, raw: &[u8]| {
                out.mappings.push(named(pid, dev, ino, raw, false));
            };
            if query && procmap::shared_writable(fd.as_fd(), &mut name_buf, &mut push)? {
                return Ok(());
            }
            query = false;
            let text = read_all(&fd, &mut buf)?;
            parse(pid, text, &mut out.mappings);
            Ok(())
        });
        if let Err(e) = asked {
            // What was found before the error goes with it.
            out.mappings.truncate(had);
            // Else: exited meanwhile, or no memory map (a kernel thread).
            if !matches!(e, Errno::NOENT | Errno::SRCH) {
                out.unreadable.push(Unreadable {
                    pid,
                    error: e.into(),
                });
            }
        }
    }
    Ok(out)
}

/// The pids in the open `/proc` directory `dir`, but this process's.
pub(super) fn pids(dir: &OwnedFd) -> io::Result<Vec<i32>> {
    let me = std::process::id() as i32;
    let mut pids = Vec::with_capacity(512);
    let mut dbuf = crate::sys::dir::DirBuf::default();
    crate::sys::dir::read(dir.as_fd(), &mut dbuf, |n, _, _| {
        let pid = std::str::from_utf8(n.to_bytes())
            .ok()
            .and_then(|s| s.parse::<i32>().ok());
        pids.extend(pid.filter(|&p| p != me));
    })?;
    Ok(pids)
}

/// All of `fd` into `buf` (grown as needed).
fn read_all<'b>(fd: &OwnedFd, buf: &'b mut Vec<u8>) -> Result<&'b [u8], Errno> {
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize((buf.len() * 2).max(64 * 1024), 0);
        }
        match rustix::io::read(fd, &mut buf[len..]) {
            Ok(0) => return Ok(&buf[..len]),
            Ok(k) => len += k,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Does process `pid`'s mount namespace (`proc/PID/mountinfo`, readable
/// without ptrace rights) mount a filesystem with one of the devices
/// `devs` (`(major, minor)`, as the table gives them)? A process that
/// exits meanwhile has none.
pub fn mounts_any(proc: &Path, pid: i32, devs: &[(u32, u32)]) -> io::Result<bool> {
    let gone = |e: &io::Error| {
        [Errno::NOENT, Errno::SRCH]
            .map(Errno::raw_os_error)
            .contains(&e.raw_os_error().unwrap_or(0))
    };
    let text = match std::fs::read(proc.join(format!("{pid}/mountinfo"))) {
        Ok(t) => t,
        Err(e) if gone(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    // `ID PARENT MAJ:MIN ...`
    let wanted: Vec<String> = devs.iter().map(|(a, b)| format!("{a}:{b}")).collect();
    Ok(text.split(|&b| b == b'\n').any(|l| {
        l.split(|&b| b == b' ')
            .nth(2)
            .is_some_and(|d| wanted.iter().any(|w| w.as_bytes() == d))
    }))
}

/// The shared writable file mappings among `text`'s lines (`/proc/PID/maps`
/// of `pid`), appended to `out`. Lines that do not parse are skipped.
pub fn parse(pid: i32, text: &[u8], out: &mut Vec<Mapping>) {
    let mut start = 0;
    while start < text.len() {
        let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |i| start + i);
        let line = &text[start..end];
        start = end + 1;
        // `ADDR-ADDR PERM ...`: the permissions right after the first space.
        let Some(sp) = memchr::memchr(b' ', line) else {
            continue;
        };
        match line.get(sp + 1..sp + 5) {
            Some([_, b'w', _, b's']) => {}
            _ => continue,
        }
        if let Some(m) = line.get(sp + 6..).and_then(|rest| mapping(pid, rest)) {
            out.push(m);
        }
    }
}

/// `OFFSET MAJ:MIN INODE   PATH` (after the permissions) of a file
/// mapping (`None` for an anonymous one: inode 0).
fn mapping(pid: i32, rest: &[u8]) -> Option<Mapping> {
    let mut fields = rest.splitn(4, |&b| b == b' ');
    let (_offset, dev, ino) = (fields.next()?, fields.next()?, fields.next()?);
    let ino: u64 = std::str::from_utf8(ino).ok()?.parse().ok()?;
    if ino == 0 {
        return None;
    }
    let colon = memchr::memchr(b':', dev)?;
    let hex = |b: &[u8]| u32::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok();
    let dev = rustix::fs::makedev(hex(&dev[..colon])?, hex(&dev[colon + 1..])?);
    let raw = fields.next().unwrap_or_default();
    let raw = &raw[raw.iter().position(|&b| b != b' ').unwrap_or(raw.len())..];
    Some(named(pid, dev, ino, raw, true))
}

/// The mapping of `(dev, ino)` named `raw` by the kernel: ` (deleted)` cut
/// off; `\012` unescaped to a newline when `escaped` (the text's).
fn named(pid: i32, dev: u64, ino: u64, raw: &[u8], escaped: bool) -> Mapping {
    let (raw, deleted) = match raw.strip_suffix(b" (deleted)") {
        Some(r) => (r, true),
        None => (raw, false),
    };
    let mut path = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if escaped && raw[i..].starts_with(b"\\012") {
            path.push(b'\n');
            i += 4;
        } else {
            path.push(raw[i]);
            i += 1;
        }
    }
    Mapping {
        pid,
        dev,
        ino,
        path,
        deleted,
    }
}

#[cfg(test)]
mod tests;
