//! Who wrote a file, for a write whose pid the backend does not give
//! (inotify): one of the processes holding it open for writing. The kernel
//! keeps no record of which process wrote through an open file description
//! that several share (fork and `dup` share one: parent and child see the
//! same `pos` and flags in `/proc/PID/fdinfo`), so the writer is chosen
//! from what it does record ([`choose`]): whether a holder has made write
//! system calls at all (`syscw` in `/proc/PID/io`, task I/O accounting,
//! kept across `exec`) and when it started (`starttime` in
//! `/proc/PID/stat`), and whether the change is a creation (`open` makes
//! the file before any write). Readers are never named: they cannot have
//! written.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Attribution, of_pid, open_files};

/// A process holding the file open for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// Process id.
    pub pid: i32,
    /// `starttime` (clock ticks after boot).
    pub start: u64,
    /// Write system calls it has made (`syscw`), when `/proc/PID/io` is readable.
    pub syscw: Option<u64>,
}

/// The writer among `holders`: of those that have made write system
/// calls, the youngest (an fd passes down by fork, so a child that writes
/// is younger than the parent that opened the file for it). Else, for a
/// file just `created` (by `open`, before any write) or among holders whose
/// `/proc/PID/io` is unreadable, the oldest (the opener, whom the others
/// inherited it from). Else `None`: a change made by a write call was not
/// made by a holder that never made one (an idle child that only inherited
/// the fd, e.g. `sleep`, after the writer exited).
pub fn choose(holders: &[Holder], created: bool) -> Option<i32> {
    let key = |h: &&Holder| (h.start, h.pid);
    let wrote = holders.iter().filter(|h| h.syscw.is_some_and(|n| n > 0));
    let may = |h: &&Holder| created || h.syscw.is_none();
    let opener = || holders.iter().filter(may).min_by_key(key);
    wrote.max_by_key(key).or_else(opener).map(|h| h.pid)
}

/// Who wrote (or, `created`, made) `file`: [`choose`] among the processes
/// (but this one) that hold it (same device and inode) open for writing,
/// as `/proc/*/fd` shows them. An empty attribution when there is none.
pub fn by_open_file(proc: &Path, file: &Path, created: bool) -> Attribution {
    let Ok(meta) = std::fs::symlink_metadata(file) else {
        return Attribution::default();
    };
    let (dev, ino) = (meta.dev(), meta.ino());
    let mut holders = Vec::new();
    open_files(proc, |p, link, writable| {
        if writable && std::fs::metadata(link).is_ok_and(|m| (m.dev(), m.ino()) == (dev, ino)) {
            holders.push(Holder {
                pid: p.pid,
                start: p.stat().map_or(0, |s| s.starttime),
                syscw: p.io().ok().map(|io| io.syscw),
            });
        }
    });
    choose(&holders, created).map_or_else(Attribution::default, |pid| of_pid(proc, pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_is_a_holder_that_wrote_else_the_opener_else_nobody() {
        let h = |pid, start, syscw| Holder { pid, start, syscw };
        let table: &[(&[Holder], bool, Option<i32>)] = &[
            (&[], false, None),
            (&[], true, None),
            // `sh -c 'exec 3>f; sleep 100 & echo x >&3'`: the shell wrote.
            (&[h(10, 5, Some(3)), h(11, 6, Some(0))], false, Some(10)),
            // ... and exited: the idle child that inherited fd 3 is not named.
            (&[h(11, 6, Some(0))], false, None),
            // Just created, nothing written yet: the opener, not its child.
            (&[h(11, 6, Some(0)), h(10, 5, Some(0))], true, Some(10)),
            // A forked child writes; the parent that opened it wrote elsewhere.
            (
                &[h(10, 5, Some(9)), h(11, 6, Some(1)), h(12, 7, Some(0))],
                false,
                Some(11),
            ),
            (
                &[h(10, 5, Some(9)), h(11, 6, Some(1)), h(12, 7, Some(0))],
                true,
                Some(11),
            ),
            // `/proc/PID/io` unreadable: the opener (oldest), not its child.
            (&[h(11, 6, None), h(10, 5, None)], false, Some(10)),
            (&[h(11, 6, None), h(10, 5, Some(0))], false, Some(11)),
            // Started in the same tick: the later pid is the younger.
            (&[h(10, 5, Some(1)), h(11, 5, Some(1))], false, Some(11)),
        ];
        for (holders, created, want) in table {
            assert_eq!(choose(holders, *created), *want, "{holders:?} {created}");
        }
    }
}
