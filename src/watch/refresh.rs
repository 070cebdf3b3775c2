//! `status` asks the running watcher to count now what no event covers —
//! the muted groups (trial-s8 finding 6: their counts lagged by thousands
//! of files until the periodic recount) and what inotify cannot watch
//! (finding 5) — and waits for it to rewrite `watch.json`, so the counts
//! it prints are exact. Root only (the watcher's files are 0600); anyone
//! else reads the state as last published.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::root::Root;
use crate::watch::changes;

/// How long `status` waits for the watcher's recount.
pub const REFRESH_WITHIN: Duration = Duration::from_secs(5);

/// How asking went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// `watch.json` was rewritten after the recount.
    Refreshed,
    /// Not asked: no watcher, or not ours to signal.
    NotAsked,
    /// Asked, but no rewrite within [`REFRESH_WITHIN`].
    Late,
    /// Not asked: the watcher (this pid) is stopped (`SIGSTOP`, a
    /// debugger), so it answers nothing, over D-Bus neither, until it
    /// continues.
    Stopped(u32),
}

/// Ask the watcher of `root` (SIGUSR2) and wait for its `watch.json`.
/// The watcher is the process named in its changes file, if it still runs
/// (same start time: a reused pid is never signalled).
pub fn ask(root: &Root) -> Asked {
    let Some(pid) = running_watcher(&changes::file(root)) else {
        return Asked::NotAsked;
    };
    if is_stopped(pid) {
        return Asked::Stopped(pid);
    }
    // An older watcher does not read SIGUSR2 (its default action ends the
    // process): only one that blocks it for its signalfd is asked.
    if !has_bit(pid, |s| s.sigblk) {
        return Asked::NotAsked;
    }
    let file = root.watch_file();
    let mut before = stamp(&file);
    let sent = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGUSR2,
    );
    if sent.is_err() {
        return Asked::NotAsked;
    }
    // A write while the signal is pending is not the answer (a periodic
    // one): the answer is the first write after the watcher took it.
    let deadline = Instant::now() + REFRESH_WITHIN;
    let mut nap = Duration::from_millis(1);
    while Instant::now() < deadline {
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
        let now = stamp(&file);
        if pending(pid) {
            before = now;
        } else if now != before {
            return Asked::Refreshed;
        }
    }
    Asked::Late
}

/// The watcher of `root` when it runs but is stopped (`SIGSTOP`, a
/// debugger): it cannot answer, so nobody waits for it.
pub fn stopped_watcher(root: &Root) -> Option<u32> {
    running_watcher(&changes::file(root)).filter(|p| is_stopped(*p))
}

/// Is process `pid` stopped (state `T` or `t` in `/proc/PID/stat`), or
/// frozen (`systemctl freeze`: its cgroup's `cgroup.events` says
/// `frozen 1`)? It then answers no signal and no D-Bus call until it
/// goes on.
pub fn is_stopped(pid: u32) -> bool {
    use procfs::process::ProcState::{Stopped, Tracing};
    let Ok(p) = procfs::process::Process::new(pid as i32) else {
        return false;
    };
    p.stat()
        .is_ok_and(|s| matches!(s.state(), Ok(Stopped | Tracing)))
        || frozen(&p).is_some()
}

/// `Some` when the cgroup (v2) of `p` is frozen.
fn frozen(p: &procfs::process::Process) -> Option<()> {
    let cgroups = p.cgroups().ok()?.0;
    let cg = cgroups.iter().find(|c| c.hierarchy == 0)?;
    let mounts = procfs::process::Process::myself().ok()?.mountinfo().ok()?;
    let m = mounts.0.iter().find(|m| m.fs_type == "cgroup2")?;
    let rel = Path::new(&cg.pathname).strip_prefix(&m.root).ok()?;
    let events = std::fs::read_to_string(m.mount_point.join(rel).join("cgroup.events")).ok()?;
    events.lines().any(|l| l == "frozen 1").then_some(())
}

/// Is SIGUSR2 pending for process `pid` (not yet read from its signalfd)?
fn pending(pid: u32) -> bool {
    has_bit(pid, |s| s.shdpnd | s.sigpnd)
}

/// Does the signal mask `mask` picks from `/proc/PID/status` (procfs'
/// `Status`) hold SIGUSR2? False when the process is gone.
fn has_bit(pid: u32, mask: impl Fn(&procfs::process::Status) -> u64) -> bool {
    let bit = 1u64 << (nix::libc::SIGUSR2 - 1);
    procfs::process::Process::new(pid as i32)
        .and_then(|p| p.status())
        .is_ok_and(|st| mask(&st) & bit != 0)
}

/// The pid of the watcher that wrote the changes file `file`, if it runs.
fn running_watcher(file: &Path) -> Option<u32> {
    use std::io::Read;
    let mut head = Vec::with_capacity(changes::HEADER);
    std::fs::File::open(file)
        .ok()?
        .take(changes::HEADER as u64)
        .read_to_end(&mut head)
        .ok()?;
    let (pid, start, _, _) = changes::header(&head).ok()?;
    let alive = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .is_ok_and(|s| s.starttime == start);
    alive.then_some(pid)
}

/// `watch.json`'s identity now (mtime with nanoseconds, inode): it is
/// replaced by a rename at each write.
fn stamp(file: &Path) -> Option<(std::time::SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(file).ok()?;
    Some((m.modified().ok()?, m.ino()))
}

#[cfg(test)]
mod tests {
    use super::has_bit;

    /// Only a process that blocks SIGUSR2 (for its signalfd, as the
    /// watcher does) is asked: an older watcher, which does not, would be
    /// ended by it.
    #[test]
    fn only_a_process_blocking_sigusr2_is_asked() {
        let spawn = |code: &str| {
            std::process::Command::new("python3")
                .args(["-c", code])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let block = "import signal,sys,time\nsignal.pthread_sigmask(signal.SIG_BLOCK,[signal.SIGUSR2])\nprint(1,flush=True)\ntime.sleep(30)";
        let plain = "import sys,time\nprint(1,flush=True)\ntime.sleep(30)";
        for (code, want) in [(block, true), (plain, false)] {
            let mut c = spawn(code);
            let mut line = String::new();
            use std::io::BufRead;
            std::io::BufReader::new(c.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(has_bit(c.id(), |s| s.sigblk), want, "{code}");
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}
