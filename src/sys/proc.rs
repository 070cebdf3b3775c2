//! What `/proc` says about processes, read with the `procfs` crate: who a
//! pid is (comm, command line, systemd unit from its cgroup), which process
//! holds a file open, and which processes hold files under a directory open
//! for writing (the mode bits of a `/proc/PID/fd/N` link are the access
//! mode it was opened with). `proc` is normally `/proc`.
//!
//! File names are taken from the `fd` links as raw bytes (procfs reads them
//! as UTF-8, lossily), so a name that is not UTF-8 still matches.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use procfs::ProcessCGroup;
use procfs::process::{FDPermissions, FDTarget, Process, all_processes_with_root};

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
fn open_files(proc: &Path, mut each: impl FnMut(&Process, PathBuf, bool) -> bool) {
    let me = std::process::id() as i32;
    let Ok(procs) = all_processes_with_root(proc) else {
        return;
    };
    for p in procs.flatten() {
        if p.pid == me {
            continue;
        }
        let Ok(fds) = p.fd() else {
            continue;
        };
        for fd in fds.flatten() {
            if !matches!(fd.target, FDTarget::Path(_)) {
                continue;
            }
            let link = proc
                .join(p.pid.to_string())
                .join("fd")
                .join(fd.fd.to_string());
            let writable = fd.mode().contains(FDPermissions::WRITE);
            if !each(&p, link, writable) {
                return;
            }
        }
    }
}

/// Find a process that has `file` open (same device and inode), by looking
/// through `/proc/*/fd`. Returns its attribution, or an empty one.
pub fn by_open_file(proc: &Path, file: &Path) -> Attribution {
    let Ok(meta) = std::fs::symlink_metadata(file) else {
        return Attribution::default();
    };
    let (dev, ino) = (meta.dev(), meta.ino());
    let mut found = None;
    open_files(proc, |p, link, _| {
        let same = std::fs::metadata(link).is_ok_and(|m| m.dev() == dev && m.ino() == ino);
        if same {
            found = Some(p.pid);
        }
        !same
    });
    found.map_or_else(Attribution::default, |pid| of_pid(proc, pid))
}

/// A process holding a file below a directory open for writing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpenWriter {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub comm: String,
    /// The file it has open for writing (host path).
    pub file: PathBuf,
}

impl std::fmt::Display for OpenWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} ({}) has {} open for writing",
            self.pid,
            self.comm,
            self.file.display()
        )
    }
}

/// Processes (other than this one) holding files at or below the host path
/// `dir` open for writing, as far as `/proc` lets us see.
pub fn writers_under(proc: &Path, dir: &Path) -> Vec<OpenWriter> {
    let mut out = Vec::new();
    open_files(proc, |p, link, writable| {
        if let (true, Ok(target)) = (writable, std::fs::read_link(&link)) {
            let file = strip_deleted(target);
            if file.starts_with(dir) {
                let comm = comm(p).unwrap_or_else(|| "?".into());
                out.push(OpenWriter {
                    pid: p.pid as u32,
                    comm,
                    file,
                });
            }
        }
        true
    });
    out.sort_by(|a, b| (a.pid, &a.file).cmp(&(b.pid, &b.file)));
    out.dedup();
    out
}

/// A process holding open (by fd) a file or directory of a given set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub comm: String,
    /// The target of its `fd` link, as `/proc` shows it (the path it was
    /// opened by, even when a mount now hides it).
    pub file: PathBuf,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} ({}) holds {} open",
            self.pid,
            self.comm,
            self.file.display()
        )
    }
}

/// Processes (other than this one) holding open, by
/// a file descriptor, one of the inodes `ids` (`(st_dev, st_ino)` pairs):
/// a regular file opened for writing, or a directory (through which new
/// files can be opened). Read-only holders of regular files cannot write
/// and are left out. Each fd link is `stat`ed, so files hidden under a
/// mount are found too. Sorted by pid, without duplicates.
pub fn holders_of(proc: &Path, ids: &std::collections::HashSet<(u64, u64)>) -> Vec<Holder> {
    let mut out = Vec::new();
    open_files(proc, |p, link, writable| {
        let Ok(m) = std::fs::metadata(&link) else {
            return true;
        };
        let counts = m.is_dir() || (writable && m.is_file());
        if counts && ids.contains(&(m.dev(), m.ino())) {
            out.push(Holder {
                pid: p.pid as u32,
                comm: comm(p).unwrap_or_else(|| "?".into()),
                file: std::fs::read_link(&link).map_or_else(|_| link, strip_deleted),
            });
        }
        true
    });
    out.sort_by(|a, b| (a.pid, &a.file).cmp(&(b.pid, &b.file)));
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
mod tests {
    use super::*;

    fn cg(text: &str) -> Vec<ProcessCGroup> {
        text.lines()
            .map(|l| {
                let mut f = l.splitn(3, ':');
                ProcessCGroup {
                    hierarchy: f.next().unwrap().parse().unwrap(),
                    controllers: f
                        .next()
                        .unwrap()
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                    pathname: f.next().unwrap().to_string(),
                }
            })
            .collect()
    }

    #[test]
    fn finds_the_unit_in_cgroup_files() {
        let unit = |t: &str| unit_of_cgroups(&cg(t));
        assert_eq!(
            unit("0::/system.slice/postgresql.service").as_deref(),
            Some("postgresql.service")
        );
        assert_eq!(
            unit("0::/user.slice/user-1000.slice/session-3.scope").as_deref(),
            Some("session-3.scope")
        );
        let hybrid =
            "12:pids:/system.slice/a.service\n1:name=systemd:/system.slice/cron.service\n0::/";
        assert_eq!(unit(hybrid).as_deref(), Some("cron.service"));
        assert_eq!(unit("0::/init.slice"), None);
    }

    #[test]
    fn reads_our_own_process() {
        let a = of_pid(Path::new("/proc"), std::process::id() as i32);
        assert!(a.comm.is_some());
        assert!(a.cmdline.is_some());
    }

    /// Poll `f` until it gives `Some`, for at most two seconds.
    fn poll<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            if let Some(v) = f() {
                return Some(v);
            }
            if std::time::Instant::now() > end {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn finds_a_process_holding_the_file_open() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("held");
        std::fs::write(&f, b"x").unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3<\"$0\"; exec sleep 5")
            .arg(&f)
            .spawn()
            .unwrap();
        let found = poll(|| by_open_file(Path::new("/proc"), &f).pid);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found, Some(child.id() as i32));
    }

    /// A writer of a file whose name is not UTF-8 is found; a reader is not.
    #[test]
    fn finds_writers_from_a_child_whatever_the_names() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(std::ffi::OsStr::from_bytes(b"held-\xff"));
        let r = dir.path().join("read-only");
        std::fs::write(&r, b"").unwrap();
        let mut child = std::process::Command::new("bash")
            .arg("-c")
            .arg("exec 3>>\"$0\"; exec 4<\"$0\"; exec 5<\"$1\"; sleep 30")
            .arg(&f)
            .arg(&r)
            .spawn()
            .unwrap();
        let pid = child.id();
        let found =
            poll(|| Some(writers_under(Path::new("/proc"), dir.path())).filter(|w| !w.is_empty()));
        child.kill().unwrap();
        child.wait().unwrap();
        let found = found.expect("the writer");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].pid, &found[0].file), (pid, &f));
        assert!(writers_under(Path::new("/proc"), &dir.path().join("other")).is_empty());
    }
}
