//! One watcher per root: an exclusive `flock` on
//! `/run/impermctl/watch.lock`, held for the daemon's life (the kernel
//! drops it with the process, `kill -9` included). The file holds the
//! holder's pid, for the second watcher's error. Two watchers on one root
//! would overwrite each other's `watch.json` and `changes`: `status` would
//! show the one that exited, `diff` would say none is running.

use std::io::{Seek, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct Lock {
    _fd: OwnedFd,
}

/// The lock file of the run directory `run_dir`.
pub fn file(run_dir: &Path) -> PathBuf {
    run_dir.join("watch.lock")
}

/// Take the watcher's lock in `run_dir` (created if missing, root-only),
/// without waiting, and write our pid into it. Errors: another process
/// holds it (naming its pid and how to stop it), or the file cannot be
/// opened.
pub fn take(run_dir: &Path) -> anyhow::Result<Lock> {
    let path = file(run_dir);
    let fd = rustix::fs::open(
        &path,
        OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    )
    .with_context(|| format!("cannot open the watcher's lock {}", path.display()))?;
    let mut f = std::fs::File::from(fd);
    match rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            let text = std::io::read_to_string(&f).unwrap_or_default();
            let who = (text.trim().parse::<u32>())
                .map_or("another process".into(), |pid| format!("pid {pid}"));
            anyhow::bail!(
                "another watcher is already running on this root ({who} holds {}); only one may run at a time: stop it first (systemctl stop impermctl-watch, or kill that pid)",
                path.display()
            );
        }
        Err(e) => return Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
    f.set_len(0)?;
    f.rewind()?;
    writeln!(f, "{}", std::process::id())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Lock { _fd: f.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_naming_the_holder_and_a_dropped_one_is_free_again() {
        let d = tempfile::tempdir().unwrap();
        let first = take(d.path()).unwrap();
        let held = std::fs::read_to_string(file(d.path())).unwrap();
        assert_eq!(held.trim(), std::process::id().to_string());
        // flock locks belong to the open file description: a second open
        // in the same process conflicts like another process would.
        let err = format!("{:#}", take(d.path()).unwrap_err());
        assert!(
            err.contains(&format!("pid {}", std::process::id())) && err.contains("already running"),
            "{err}"
        );
        drop(first);
        take(d.path()).unwrap();
    }
}
