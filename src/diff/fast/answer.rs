//! The watcher's answer: asked for by a signal, read from the changes
//! file, with the baseline records it carries when they are of the file
//! `diff` opened.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{FileId, List};
use crate::baseline::Rec;
use crate::watch::changes;

/// How long `diff` waits for the watcher's answer.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// Ask the running watcher for its list: send it SIGUSR1 and wait (at most
/// [`ANSWER_WITHIN`]) for an answer to this process in `file`.
pub fn ask(file: &Path) -> Result<List, String> {
    let read = |what: &str| -> Result<Vec<u8>, String> {
        std::fs::read(file).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                "the watcher is not running (impermctl-watch.service)".into()
            }
            _ => format!("cannot read {} ({what}): {e}", file.display()),
        })
    };
    let bad = |e: anyhow::Error| format!("{} is damaged: {e:#}", file.display());
    // Only the header is read before the answer (the list may be megabytes).
    let head = |what: &str| -> Result<Vec<u8>, String> {
        use std::io::Read;
        let mut b = Vec::with_capacity(changes::HEADER);
        match std::fs::File::open(file) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err("the watcher is not running (impermctl-watch.service)".into())
            }
            f => f
                .and_then(|f| f.take(changes::HEADER as u64).read_to_end(&mut b))
                .map(|_| b)
                .map_err(|e| format!("cannot read {} ({what}): {e}", file.display())),
        }
    };
    let (pid, start, mut seq, _) = changes::header(&head("the watcher's list")?).map_err(bad)?;
    let alive = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .is_ok_and(|s| s.starttime == start);
    if !alive {
        return Err(format!(
            "the watcher that wrote {} (pid {pid}) is not running",
            file.display()
        ));
    }
    if crate::watch::refresh::is_stopped(pid) {
        return Err(format!(
            "the watcher (pid {pid}) is stopped (SIGSTOP or a debugger): it answers once it continues"
        ));
    }
    let me = std::process::id();
    let deadline = Instant::now() + ANSWER_WITHIN;
    let signal = || {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGUSR1,
        )
        .map_err(|e| format!("cannot ask the watcher (pid {pid}): {e}"))
    };
    signal()?;
    let mut nap = Duration::from_micros(200);
    loop {
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(5));
        let (p, s, mut n, for_pid) =
            changes::header(&head("the watcher's answer")?).map_err(bad)?;
        if (p, s) != (pid, start) {
            return Err("the watcher was restarted while diff asked".into());
        }
        if n > seq && for_pid == me {
            let bytes = read("the watcher's answer")?;
            let h = changes::header(&bytes).map_err(bad)?;
            if h == (p, s, n, for_pid) {
                return changes::decode(&bytes).map_err(bad);
            }
            // Another answer replaced it meanwhile.
            n = h.2;
        }
        if n > seq {
            // It answered someone else (signals to one process coalesce).
            seq = n;
            signal()?;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the watcher (pid {pid}) did not answer within {} s",
                ANSWER_WITHIN.as_secs()
            ));
        }
    }
}

/// The baseline file at `path` as the watcher names it ([`FileId`]).
pub fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    let t = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some((t.as_secs() as i64, t.subsec_nanos(), m.ino()))
}

/// The baseline records the watcher sent with `list`, if it looked them
/// up in the baseline file `diff` opened (`opened`, [`file_id`]).
pub fn known(list: &List, opened: Option<FileId>) -> Option<&[Option<Rec>]> {
    (list.baseline.is_some() && list.baseline == opened && list.recs.len() == list.paths.len())
        .then_some(list.recs.as_slice())
}
