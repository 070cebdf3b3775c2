//! What `/proc` says about processes, read with the `procfs` crate: who a
//! pid is (comm, command line, systemd unit from its cgroup), which process
//! wrote a file it holds open (`writer`), and which processes hold files
//! under a directory open for writing (the mode bits of a `/proc/PID/fd/N` link are the access
//! mode it was opened with). `proc` is normally `/proc`.
//!
//! File names are taken from the `fd` links as raw bytes (procfs reads them
//! as UTF-8, lossily), so a name that is not UTF-8 still matches.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use procfs::ProcessCGroup;

pub mod maps;
pub mod sockets;
mod users;
pub mod writable;
mod writer;
use procfs::process::{
    FDPermissions, FDTarget, MMPermissions, MMapPath, Process, all_processes_with_root,
};
pub use writer::by_open_file;

/// What is known about a writer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    /// The process id (None when the backend hides it and no open file matched).
    pub pid: Option<i32>,
    /// `/proc/PID/comm`.
    pub comm: Option<String>,
    /// `/proc/PID/cmdline`, arguments joined by spaces, shortened.
    pub cmdline: Option<String>,
    /// The systemd unit the process runs in.
    pub unit: Option<String>,
}

/// Read what `/proc/PID` says.
pub fn of_pid(proc: &Path, pid: i32) -> Attribution {
    let Ok(p) = Process::new_with_root(proc.join(pid.to_string())) else {
        return Attribution {
            pid: Some(pid),
            ..Attribution::default()
        };
    };
    let cmdline = p.cmdline().ok().map(|args| shorten(args.join(" "), 200));
    Attribution {
        pid: Some(pid),
        comm: comm(&p),
        cmdline: cmdline.filter(|c| !c.is_empty()),
        unit: p.cgroups().ok().and_then(|c| unit_of_cgroups(&c.0)),
    }
}

fn comm(p: &Process) -> Option<String> {
    p.stat().ok().map(|s| s.comm)
}

fn shorten(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The systemd unit of a process's cgroups: the last path component that
/// names a unit (`foo.service`, `session-3.scope`), from the unified
/// hierarchy (`0::`) or else the `name=systemd` one.
pub fn unit_of_cgroups(cgroups: &[ProcessCGroup]) -> Option<String> {
    let path = cgroups
        .iter()
        .find(|c| c.hierarchy == 0 && c.controllers.is_empty() && c.pathname != "/")
        .or_else(|| {
            cgroups
                .iter()
                .find(|c| c.controllers.iter().any(|n| n == "name=systemd"))
        })?;
    const KINDS: [&str; 6] = [".service", ".scope", ".socket", ".mount", ".swap", ".timer"];
    path.pathname
        .rsplit('/')
        .find(|c| KINDS.iter().any(|k| c.ends_with(k)))
        .map(str::to_string)
}

/// Every visible process but this one, with the raw target of each of its
/// file descriptors that points at a file (`writable`: opened for writing).
fn open_files(proc: &Path, mut each: impl FnMut(&Process, PathBuf, bool)) {
    each_process(proc, |p| {
        fds_of(proc, p, |link, writable| each(p, link, writable), |_| {})
    });
}

/// The raw target of each of `p`'s file descriptors that points at a file
/// (`writable`: opened for writing), and the inode of each that is a
/// socket (`socket:[INODE]`).
fn fds_of(
    proc: &Path,
    p: &Process,
    mut each: impl FnMut(PathBuf, bool),
    mut socket: impl FnMut(u64),
) {
    for fd in p.fd().into_iter().flatten().flatten() {
        match fd.target {
            FDTarget::Path(_) => {
                let link = proc.join(format!("{}/fd/{}", p.pid, fd.fd));
                each(link, fd.mode().contains(FDPermissions::WRITE));
            }
            FDTarget::Socket(inode) => socket(inode),
            _ => {}
        }
    }
}

/// Does a visible process other than this one have a `comm` (`/proc/PID/stat`,
/// at most 15 bytes) for which `pred` holds? Unreadable processes count as no.
pub fn any_comm(proc: &Path, mut pred: impl FnMut(&str) -> bool) -> bool {
    let mut found = false;
    each_process(proc, |p| found = found || comm(p).is_some_and(|c| pred(&c)));
    found
}

/// Every visible process but this one.
fn each_process(proc: &Path, mut each: impl FnMut(&Process)) {
    let me = std::process::id() as i32;
    let Ok(procs) = all_processes_with_root(proc) else {
        return;
    };
    for p in procs.flatten().filter(|p| p.pid != me) {
        each(&p);
    }
}

/// A process that writes, or may write any moment, at or below a directory
/// (see [`writers_under`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpenWriter {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub comm: String,
    /// The file or directory it holds (host path).
    pub file: PathBuf,
    /// How it holds it.
    pub how: Hold,
}

impl std::fmt::Display for OpenWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (pid, comm, file) = (self.pid, &self.comm, self.file.display());
        match self.how {
            Hold::Open if self.file.is_dir() => {
                write!(f, "pid {pid} ({comm}) holds the directory {file} open")
            }
            Hold::Open => write!(f, "pid {pid} ({comm}) has {file} open for writing"),
            Hold::Mapped => write!(f, "pid {pid} ({comm}) has {file} mapped for writing"),
            Hold::WorkingDirectory => {
                write!(f, "pid {pid} ({comm}) has its working directory at {file}")
            }
            Hold::Listening => listening(f, self.pid, comm, &self.file),
        }
    }
}

/// `pid PID (COMM) listens on the unix socket FILE …` ([`Hold::Listening`];
/// pid 0: no visible process holds it).
fn listening(
    f: &mut std::fmt::Formatter<'_>,
    pid: u32,
    comm: &str,
    file: &Path,
) -> std::fmt::Result {
    match pid {
        0 => write!(f, "a process not visible here"),
        _ => write!(f, "pid {pid} ({comm})"),
    }?;
    write!(
        f,
        " listens on the unix socket {} (a bind over it hides the socket: its clients get \"Connection refused\" until it restarts)",
        file.display()
    )
}

/// Processes (other than this one) that write at or below the host path
/// `dir`, or may any moment, as far as `/proc` lets us see: a file there
/// open for writing, a directory there open (new files can be opened
/// through it), a file there mapped shared and writable (written through
/// memory even with no fd left: LMDB), a working or root directory there
/// (files created by a relative name); and processes serving a unix socket
/// there ([`Hold::Listening`], [`sockets`]: a bind would hide it). A
/// working or root directory is left out for a process with a controlling
/// terminal (your shell `cd`'d there: it is warned about after the bind
/// instead). Sorted by pid.
pub fn writers_under(proc: &Path, dir: &Path) -> Vec<OpenWriter> {
    let mut out = Vec::new();
    let mut seen = sockets::Seen::default();
    each_process(proc, |p| {
        let mut push = |file: PathBuf, how| {
            let comm = comm(p).unwrap_or_else(|| "?".into());
            let pid = p.pid as u32;
            out.push(OpenWriter {
                pid,
                comm,
                file,
                how,
            });
        };
        let files = |link: PathBuf, writable| {
            if let Ok(target) = std::fs::read_link(&link) {
                let file = strip_deleted(target);
                let dir_fd = || std::fs::metadata(&link).is_ok_and(|m| m.is_dir());
                if file.starts_with(dir) && (writable || dir_fd()) {
                    push(file, Hold::Open);
                }
            }
        };
        fds_of(proc, p, files, |inode| seen.socket(p, inode));
        users::cwd_or_root(proc, p, dir, &mut push);
        seen.netns(proc, p);
    });
    users::mapped(proc, dir, &mut out);
    sockets::under(proc, dir, &seen, &mut out);
    out.sort_by(|a, b| (a.pid, a.how, &a.file).cmp(&(b.pid, b.how, &b.file)));
    out.dedup();
    out
}

/// How a [`Holder`] holds a file or directory of the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hold {
    /// A file descriptor: a regular file opened for writing, or a directory
    /// (through which new files can be opened).
    Open,
    /// A writable shared mapping of a regular file (`/proc/PID/maps`
    /// permissions `rw?s`): the process writes through memory, with or
    /// without an fd still open (databases: LMDB, SQLite's `-shm`).
    Mapped,
    /// Its working directory (`/proc/PID/cwd`): files it creates by a
    /// relative name go there. A shell `cd`'d into the directory is the
    /// usual case; it never lets go by itself.
    WorkingDirectory,
    /// It serves a unix socket bound there (listening, or a bound datagram
    /// socket: [`sockets`]): it writes nothing through it, but a bind over
    /// the directory hides the socket file, and clients get
    /// `ECONNREFUSED` until it restarts. Found by [`writers_under`] only.
    Listening,
}

/// A process holding one of a set of files or directories (see
/// [`holders_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub comm: String,
    /// The path `/proc` shows for it (the path it was opened by, even when a
    /// mount now hides it).
    pub file: PathBuf,
    /// How it holds it.
    pub how: Hold,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (pid, comm, file) = (self.pid, &self.comm, self.file.display());
        match self.how {
            Hold::Open => write!(f, "pid {pid} ({comm}) holds {file} open"),
            Hold::Mapped => write!(f, "pid {pid} ({comm}) has {file} mapped for writing"),
            Hold::WorkingDirectory => {
                write!(f, "pid {pid} ({comm}) has its working directory in {file}")
            }
            Hold::Listening => listening(f, self.pid, comm, &self.file),
        }
    }
}

/// Processes (other than this one) holding one of the inodes `ids`
/// (`(st_dev, st_ino)` pairs), in each of the [`Hold`] ways: by a file
/// descriptor (a regular file opened for writing, or a directory;
/// read-only holders of regular files cannot write and are left out), by a
/// writable shared mapping, or as the working directory. Each fd and cwd
/// link is `stat`ed, so files hidden under a mount are found too. Sorted by
/// pid, without duplicates; processes that vanish meanwhile are skipped.
pub fn holders_of(proc: &Path, ids: &std::collections::HashSet<(u64, u64)>) -> Vec<Holder> {
    let mut out = Vec::new();
    let held = |m: &std::fs::Metadata| ids.contains(&(m.dev(), m.ino()));
    let holder = |p: &Process, file: PathBuf, how: Hold| Holder {
        pid: p.pid as u32,
        comm: comm(p).unwrap_or_else(|| "?".into()),
        file,
        how,
    };
    // One pass over the processes: fds, working directory, mappings.
    each_process(proc, |p| {
        let files = |link: PathBuf, writable| {
            let Ok(m) = std::fs::metadata(&link) else {
                return;
            };
            if (m.is_dir() || (writable && m.is_file())) && held(&m) {
                let file = std::fs::read_link(&link).map_or_else(|_| link, strip_deleted);
                out.push(holder(p, file, Hold::Open));
            }
        };
        fds_of(proc, p, files, |_| {});
        let cwd = proc.join(p.pid.to_string()).join("cwd");
        if std::fs::metadata(&cwd).is_ok_and(|m| held(&m)) {
            let file = std::fs::read_link(&cwd).map_or(cwd, strip_deleted);
            out.push(holder(p, file, Hold::WorkingDirectory));
        }
        for m in p.maps().into_iter().flatten() {
            let shared_write = m
                .perms
                .contains(MMPermissions::SHARED | MMPermissions::WRITE);
            let dev = rustix::fs::makedev(m.dev.0 as u32, m.dev.1 as u32);
            if shared_write && m.inode != 0 && ids.contains(&(dev, m.inode)) {
                let file = match m.pathname {
                    MMapPath::Path(f) => strip_deleted(f),
                    other => PathBuf::from(format!("{other:?}")),
                };
                out.push(holder(p, file, Hold::Mapped));
            }
        }
    });
    out.sort_by(|a, b| (a.pid, a.how, &a.file).cmp(&(b.pid, b.how, &b.file)));
    out.dedup();
    out
}

fn strip_deleted(p: PathBuf) -> PathBuf {
    match p.as_os_str().as_bytes().strip_suffix(b" (deleted)") {
        Some(b) => PathBuf::from(std::ffi::OsStr::from_bytes(b)),
        None => p,
    }
}

#[cfg(test)]
mod tests;
