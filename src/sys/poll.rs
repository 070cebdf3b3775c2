//! Waiting for the first of two descriptors to become readable: the
//! watcher's and the sync follower's event loops (their events, their
//! signalfd, [`signal_fd`]).

use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Block `signals` in this thread and read them from a signalfd instead
/// (non-blocking, close-on-exec).
///
/// Errors: sigprocmask(2)'s and signalfd(2)'s.
pub fn signal_fd(signals: &[Signal]) -> std::io::Result<SignalFd> {
    let sigs: SigSet = signals.iter().copied().collect();
    sigs.thread_block()?;
    let flags = SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC;
    Ok(SignalFd::with_flags(&sigs, flags)?)
}

/// Wait up to `wait` (poll(2) counts whole milliseconds; a wait longer than
/// poll can express waits forever) until `a` or `b` is readable, and say
/// which are, as `(a, b)`. A signal interrupting the wait (`EINTR`) returns
/// early with neither ready.
///
/// Errors: poll(2)'s, other than `EINTR`.
pub fn readable(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    wait: Duration,
) -> std::io::Result<(bool, bool)> {
    let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
    let mut fds = [
        PollFd::new(a, PollFlags::POLLIN),
        PollFd::new(b, PollFlags::POLLIN),
    ];
    match poll(&mut fds, timeout) {
        Ok(_) | Err(Errno::EINTR) => {}
        Err(e) => return Err(e.into()),
    }
    let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
    Ok((ready(&fds[0]), ready(&fds[1])))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

    #[test]
    fn says_which_descriptor_is_readable_and_times_out_with_neither() {
        let (ra, wa) = std::io::pipe().unwrap();
        let (rb, mut wb) = std::io::pipe().unwrap();
        let t = Instant::now();
        let got = super::readable(ra.as_fd(), rb.as_fd(), Duration::from_millis(20)).unwrap();
        assert_eq!(got, (false, false));
        assert!(
            t.elapsed() >= Duration::from_millis(20),
            "{:?}",
            t.elapsed()
        );
        wb.write_all(b"x").unwrap();
        let got = super::readable(ra.as_fd(), rb.as_fd(), Duration::from_secs(10)).unwrap();
        assert_eq!(got, (false, true));
        drop(wa); // a closed writer makes the reader readable (EOF)
        let got = super::readable(ra.as_fd(), rb.as_fd(), Duration::ZERO).unwrap();
        assert_eq!(got, (true, true));
    }
}
