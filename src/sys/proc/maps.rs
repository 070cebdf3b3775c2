//! Files mapped shared and writable by a process: `/proc/PID/maps` lines
//! whose permissions read `?w?s`. A write through such a mapping reaches
//! the file without a write system call, so neither fanotify nor inotify
//! reports it (only the last close of a descriptor opened for writing).
//!
//! A lean reader: one reused buffer, every process's file read whole (the
//! kernel's text generation is most of the cost), and a line parsed past
//! its permissions only when they say shared and writable.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags, openat};
use rustix::io::Errno;

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
    let unreadable = |pid, e: Errno| Unreadable {
        pid,
        error: e.into(),
    };
    let dir = crate::sys::fs::open_dir(proc)?;
    let me = std::process::id() as i32;
    let mut pids = Vec::with_capacity(512);
    let mut dbuf = crate::sys::dir::DirBuf::default();
    crate::sys::dir::read(dir.as_fd(), &mut dbuf, |n, _, _| {
        let pid = std::str::from_utf8(n.to_bytes())
            .ok()
            .and_then(|s| s.parse::<i32>().ok());
        pids.extend(pid.filter(|&p| p != me));
    })?;
    let mut out = Scan::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut name = String::with_capacity(32);
    for pid in pids {
        use std::fmt::Write;
        name.clear();
        let _ = write!(name, "{pid}/maps");
        let fd = match openat(
            &dir,
            name.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::SRCH) => continue,
            Err(e) => {
                out.unreadable.push(unreadable(pid, e));
                continue;
            }
        };
        let mut len = 0;
        loop {
            if len == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
            match rustix::io::read(&fd, &mut buf[len..]) {
                Ok(0) => break,
                Ok(k) => len += k,
                Err(Errno::INTR) => {}
                // Exited while read.
                Err(Errno::SRCH | Errno::NOENT) => {
                    len = 0;
                    break;
                }
                Err(e) => {
                    out.unreadable.push(unreadable(pid, e));
                    len = 0;
                    break;
                }
            }
        }
        parse(pid, &buf[..len], &mut out.mappings);
    }
    Ok(out)
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
    let (raw, deleted) = match raw.strip_suffix(b" (deleted)") {
        Some(r) => (r, true),
        None => (raw, false),
    };
    let mut path = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"\\012") {
            path.push(b'\n');
            i += 4;
        } else {
            path.push(raw[i]);
            i += 1;
        }
    }
    Some(Mapping {
        pid,
        dev,
        ino,
        path,
        deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_shared_writable_file_mappings_are_kept() {
        let text = b"\
55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1234                       /usr/bin/cat
7f0000000000-7f0000002000 rw-s 00000000 00:2d 77                         /var/lib/lmdb/data.mdb
7f0000002000-7f0000003000 r--s 00000000 00:2d 78                         /var/lib/ro.mdb
7f0000003000-7f0000004000 rw-p 00000000 00:2d 79                         /var/lib/private.db
7f0000004000-7f0000005000 -w-s 00001000 103:0a 80                        /srv/a b\\012c (deleted)
7f0000005000-7f0000006000 rw-s 00000000 00:01 0                          /dev/zero (deleted)
7f0000006000-7f0000007000 rwxs 00000000 00:2d 81                         /srv/x (deleted) y
7f0000007000-7f0000008000 rw-s 00000000 00:2d 82 
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
garbage
7f00 rw-s";
        let mut out = Vec::new();
        parse(7, text, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|m| {
                (
                    m.pid,
                    m.dev,
                    m.ino,
                    String::from_utf8_lossy(&m.path).into_owned(),
                    m.deleted,
                )
            })
            .collect();
        let dev = |a, b| rustix::fs::makedev(a, b);
        assert_eq!(
            got,
            [
                (7, dev(0, 0x2d), 77, "/var/lib/lmdb/data.mdb".into(), false),
                (7, dev(0x103, 0x0a), 80, "/srv/a b\nc".into(), true),
                (7, dev(0, 0x2d), 81, "/srv/x (deleted) y".into(), false),
                (7, dev(0, 0x2d), 82, String::new(), false),
            ]
        );
    }

    /// A real process maps three files: shared writable (its fd closed
    /// after `mmap`, the mapping kept), shared read-only, private
    /// writable. Only the first is found, with its device and inode.
    #[test]
    fn finds_a_real_shared_writable_mapping_whose_fd_was_closed() {
        use std::io::BufRead;
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        for f in ["shared", "readonly", "private"] {
            std::fs::write(t.path().join(f), [0u8; 4096]).unwrap();
        }
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import mmap, os, sys, time\n\
                 def m(name, flags, prot, mode):\n\
                 \x20   fd = os.open(os.path.join(sys.argv[1], name), mode)\n\
                 \x20   r = mmap.mmap(fd, 4096, flags=flags, prot=prot); os.close(fd); return r\n\
                 a = m('shared', mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, os.O_RDWR)\n\
                 b = m('readonly', mmap.MAP_SHARED, mmap.PROT_READ, os.O_RDONLY)\n\
                 c = m('private', mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE, os.O_RDWR)\n\
                 a[0:1] = b'x'; c[0:1] = b'y'\n\
                 print('mapped', flush=True); time.sleep(60)\n",
            )
            .arg(t.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let all = shared_writable(Path::new("/proc"));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(line.trim(), "mapped");
        let all = all.unwrap().mappings;
        let pid = child.id() as i32;
        assert!(all.iter().all(|m| m.pid != std::process::id() as i32));
        let mine: Vec<_> = all.iter().filter(|m| m.pid == pid).collect();
        let md = std::fs::metadata(t.path().join("shared")).unwrap();
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(
            (mine[0].dev, mine[0].ino, mine[0].deleted),
            (md.dev(), md.ino(), false)
        );
        assert_eq!(
            mine[0].path,
            t.path().join("shared").as_os_str().as_encoded_bytes()
        );
    }
}
