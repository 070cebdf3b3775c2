//! Which processes hold files under a path open for writing: every visible
//! `/proc/PID/fd/N` whose link points below the path and whose
//! `/proc/PID/fdinfo/N` `flags:` have `O_WRONLY` or `O_RDWR`.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A process writing below a path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Writer {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub comm: String,
    /// The file it has open for writing (host path).
    pub file: PathBuf,
}

impl std::fmt::Display for Writer {
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
pub fn writers_under(proc: &Path, dir: &Path) -> Vec<Writer> {
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir(proc) else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let file = strip_deleted(target);
            if !file.starts_with(dir) {
                continue;
            }
            let info = p.path().join("fdinfo").join(fd.file_name());
            if std::fs::read_to_string(info).is_ok_and(|s| writable(&s)) {
                let comm = std::fs::read_to_string(p.path().join("comm"))
                    .map(|c| c.trim_end().to_string())
                    .unwrap_or_else(|_| "?".into());
                out.push(Writer { pid, comm, file });
            }
        }
    }
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

/// Does an fdinfo text say the fd is open for writing?
fn writable(fdinfo: &str) -> bool {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| matches!(flags & 0o3, 1 | 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_access_mode_from_fdinfo() {
        assert!(writable("pos:\t0\nflags:\t0100001\nmnt_id:\t30\n"));
        assert!(writable("pos:\t0\nflags:\t02100002\n"));
        assert!(!writable("pos:\t0\nflags:\t0100000\n"));
        assert!(!writable("pos:\t0\n"));
    }

    #[test]
    fn finds_this_process_writing_from_a_child() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("held");
        let mut child = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "exec 3>>'{}'; exec 4<'{}'; sleep 30",
                f.display(),
                f.display()
            ))
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut found = Vec::new();
        for _ in 0..100 {
            found = writers_under(Path::new("/proc"), dir.path());
            if !found.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].pid, &found[0].file), (pid, &f));
        assert!(writers_under(Path::new("/proc"), &dir.path().join("other")).is_empty());
    }
}
