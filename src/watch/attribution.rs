//! Who wrote: pid → comm, cmdline and systemd unit (from `/proc/PID/cgroup`);
//! without a pid, best effort by finding the file among open descriptors.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::groups::Writer;

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

impl Attribution {
    /// As a group writer, when the command is known.
    pub fn writer(&self) -> Option<Writer> {
        Some(Writer {
            comm: self.comm.clone()?,
            unit: self.unit.clone(),
        })
    }
}

/// Read what `/proc/PID` says (`proc` is normally `/proc`).
pub fn of_pid(proc: &Path, pid: i32) -> Attribution {
    let dir = proc.join(pid.to_string());
    let comm = std::fs::read_to_string(dir.join("comm"))
        .ok()
        .map(|s| s.trim_end().to_string());
    let cmdline = std::fs::read(dir.join("cmdline")).ok().map(|b| {
        let mut s: String = String::from_utf8_lossy(&b)
            .trim_end_matches('\0')
            .replace('\0', " ");
        if s.len() > 200 {
            let mut cut = 200;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push('…');
        }
        s
    });
    let unit = std::fs::read_to_string(dir.join("cgroup"))
        .ok()
        .and_then(|c| unit_of_cgroup(&c));
    Attribution {
        pid: Some(pid),
        comm,
        cmdline: cmdline.filter(|c| !c.is_empty()),
        unit,
    }
}

/// The systemd unit in a `/proc/PID/cgroup` text: the last path component
/// that names a unit (`foo.service`, `session-3.scope`), from the unified
/// hierarchy (`0::`) or else the `name=systemd` one.
pub fn unit_of_cgroup(text: &str) -> Option<String> {
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .filter(|p| *p != "/")
        .or_else(|| {
            text.lines()
                .find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p))
        })?;
    const KINDS: [&str; 6] = [".service", ".scope", ".socket", ".mount", ".swap", ".timer"];
    path.rsplit('/')
        .find(|c| KINDS.iter().any(|k| c.ends_with(k)))
        .map(str::to_string)
}

/// Find a process that has `file` open (same device and inode), by looking
/// through `/proc/*/fd`. Returns its attribution, or an empty one.
pub fn by_open_file(proc: &Path, file: &Path) -> Attribution {
    let Ok(meta) = std::fs::symlink_metadata(file) else {
        return Attribution::default();
    };
    let (dev, ino) = (meta.dev(), meta.ino());
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir(proc) else {
        return Attribution::default();
    };
    for p in procs.flatten() {
        let name = p.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if name == me.as_str() {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(m) = std::fs::metadata(fd.path())
                && m.dev() == dev
                && m.ino() == ino
            {
                return of_pid(proc, pid);
            }
        }
    }
    Attribution::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_unit_in_cgroup_files() {
        assert_eq!(
            unit_of_cgroup("0::/system.slice/postgresql.service\n").as_deref(),
            Some("postgresql.service")
        );
        assert_eq!(
            unit_of_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n").as_deref(),
            Some("session-3.scope")
        );
        let hybrid =
            "12:pids:/system.slice/a.service\n1:name=systemd:/system.slice/cron.service\n0::/\n";
        assert_eq!(unit_of_cgroup(hybrid).as_deref(), Some("cron.service"));
        assert_eq!(unit_of_cgroup("0::/init.slice\n"), None);
    }

    #[test]
    fn reads_our_own_process() {
        let a = of_pid(Path::new("/proc"), std::process::id() as i32);
        assert!(a.comm.is_some());
        assert!(a.cmdline.is_some());
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
        let mut found = None;
        for _ in 0..50 {
            let a = by_open_file(Path::new("/proc"), &f);
            if a.pid.is_some() {
                found = a.pid;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found, Some(child.id() as i32));
    }
}
