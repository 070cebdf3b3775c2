//! Who wrote: what `/proc` says about a pid (comm, cmdline, systemd unit:
//! [`crate::sys::proc`]), as a writer of a group.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

pub use crate::sys::proc::{Attribution, by_open_file, of_pid};

/// A writer of a group, when the command is known.
pub fn writer(a: &Attribution) -> Option<Writer> {
    Some(Writer {
        comm: a.comm.clone()?,
        unit: a.unit.clone(),
    })
}

/// What `/proc` said about each pid that wrote, read when its first event
/// was read (a short-lived writer such as `sed -i` is gone by the time its
/// write is warned about, after [`super::judge::SETTLE`] and a tick).
/// An answer is reused for [`Pids::FRESH`] only: a pid is reused after
/// `kernel.pid_max` forks (32,768 on some systems), and a process gone
/// when its event was read stays unnamed rather than named after whoever
/// has its pid later. At most [`Pids::MAX`] pids are kept.
#[derive(Debug, Default)]
pub struct Pids {
    seen: HashMap<i32, (Duration, Attribution)>,
}

impl Pids {
    /// How long an answer is reused (daemon clock).
    pub const FRESH: Duration = Duration::from_secs(10);
    /// How many pids are kept.
    pub const MAX: usize = 4096;

    /// Who `pid` is at `now` (daemon clock): read from `proc` unless read
    /// within [`Pids::FRESH`].
    pub fn get(&mut self, proc: &Path, pid: i32, now: Duration) -> Attribution {
        let fresh = |t: &Duration| now.saturating_sub(*t) < Self::FRESH;
        if let Some((t, a)) = self.seen.get(&pid)
            && fresh(t)
        {
            return a.clone();
        }
        if self.seen.len() >= Self::MAX {
            self.seen.retain(|_, (t, _)| fresh(t));
            if self.seen.len() >= Self::MAX {
                self.seen.clear();
            }
        }
        let a = of_pid(proc, pid);
        self.seen.insert(pid, (now, a.clone()));
        a
    }
}

/// A process seen writing to a group: in `watch.json`, on D-Bus and in
/// `diff`'s groups. Displayed as `comm (unit)`, or `comm` without a unit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "dbus", derive(zbus::zvariant::Type))]
pub struct Writer {
    /// `/proc/PID/comm`.
    pub comm: String,
    /// The systemd unit from `/proc/PID/cgroup`, if any.
    pub unit: Option<String>,
}

impl std::fmt::Display for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.unit {
            Some(u) => write!(f, "{} ({u})", self.comm),
            None => f.write_str(&self.comm),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/proc` with `pid` named `comm`, or without it.
    fn proc_with(dir: &Path, pid: i32, comm: Option<&str>) {
        let p = dir.join(pid.to_string());
        let _ = std::fs::remove_dir_all(&p);
        if let Some(c) = comm {
            std::fs::create_dir_all(&p).unwrap();
            let stat = format!("{pid} ({c}) S{}", " 1".repeat(49));
            std::fs::write(p.join("stat"), stat).unwrap();
        }
    }

    #[test]
    fn a_pid_is_named_as_read_and_read_again_once_stale() {
        let dir = tempfile::tempdir().unwrap();
        let mut pids = Pids::default();
        let s = Duration::from_secs;
        proc_with(dir.path(), 42, Some("sed"));
        assert_eq!(pids.get(dir.path(), 42, s(0)).comm.as_deref(), Some("sed"));
        // Gone (or its pid taken by another): the answer read stands a while.
        proc_with(dir.path(), 42, Some("nginx"));
        assert_eq!(pids.get(dir.path(), 42, s(9)).comm.as_deref(), Some("sed"));
        assert_eq!(
            pids.get(dir.path(), 42, s(10)).comm.as_deref(),
            Some("nginx")
        );
        proc_with(dir.path(), 42, None);
        assert_eq!(
            pids.get(dir.path(), 42, s(15)).comm.as_deref(),
            Some("nginx")
        );
        let gone = pids.get(dir.path(), 42, s(21));
        assert_eq!((gone.pid, gone.comm), (Some(42), None));
    }

    #[test]
    fn at_most_max_pids_are_kept_the_stale_dropped_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut pids = Pids::default();
        for pid in 0..Pids::MAX as i32 {
            pids.get(dir.path(), pid, Duration::ZERO);
        }
        pids.get(dir.path(), -1, Pids::FRESH);
        assert_eq!(pids.seen.len(), 1, "all stale: dropped");
        for pid in 0..Pids::MAX as i32 {
            pids.get(dir.path(), pid, Pids::FRESH);
        }
        assert!(pids.seen.len() <= Pids::MAX);
    }
}
