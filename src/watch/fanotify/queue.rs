//! Reading the queue: everything queued is read and handled before the
//! slow work (catch-up walks, fresh mutes), and those walks read on now and
//! then, so that a burst does not fill the 16,384-event queue meanwhile.

use super::{Core, FanotifyWatcher, sys};

/// At most this many reads of events before the slow work is done (the
/// queue holds 16,384 events, a read up to 1 MiB: about 10,000).
const READS: usize = 8;

/// The slow work's walks read the queued events every this many
/// directories ([`FanotifyWatcher::keep_up`]).
const KEEP_UP: u32 = 256;

impl FanotifyWatcher {
    /// Read and handle the queued events until none is left (or
    /// [`READS`] reads); an overflow is kept for `Watcher::drain`.
    pub(super) fn read_queued(&mut self, core: &mut Core) -> anyhow::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let mut r = Ok(());
        for _ in 0..READS {
            let len = match self.marks.fan.read(&mut buf) {
                Ok(0) => break,
                Ok(len) => len,
                Err(e) => {
                    r = Err(anyhow::anyhow!("reading fanotify events: {e}"));
                    break;
                }
            };
            for ev in sys::events(&buf[..len]) {
                self.events += 1;
                self.lost |= self.handle(ev, core);
            }
        }
        self.buf = buf;
        r
    }

    /// Called at each directory of a long walk (`visits` counts them): now
    /// and then the queued events are read, so that the queue does not
    /// fill meanwhile. What they bring is caught up after the walk; a read
    /// error is met again by the next read.
    pub(super) fn keep_up(&mut self, core: &mut Core, visits: &mut u32) {
        *visits += 1;
        if visits.is_multiple_of(KEEP_UP) {
            let _ = self.read_queued(core);
        }
    }
}
