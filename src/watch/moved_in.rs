//! A directory moved in (`mv /srv/g/a /srv/h/a`, or in from `/tmp`): its
//! files are found by the catch-up walk, with no writer of their own, and
//! the group's warning names the move (`directory moved to /srv/h/a by
//! mv[…]`), not whichever of its files settled first (trial s8 #8).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::core::Core;

/// How long after a move its files are taken as brought by it: their
/// warnings wait for `judge::SETTLE` and the next tick.
const NAMED_FOR: Duration = Duration::from_secs(10);
/// At most this many moves are remembered at once.
const MAX: usize = 64;

/// The directories moved in lately (host paths): when (daemon clock), by
/// whom (pid, when the backend says).
pub type Moves = HashMap<PathBuf, (Duration, Option<i32>)>;

impl Core {
    /// A directory was moved in at `host` by `pid`: before its catch-up.
    pub fn moved_in(&mut self, host: &Path, pid: Option<i32>) {
        let now = self.now();
        self.moves
            .retain(|_, (t, _)| now.saturating_sub(*t) < NAMED_FOR);
        if self.moves.len() < MAX {
            let pid = pid.filter(|&p| p > 0 && p as u32 != std::process::id());
            self.moves.insert(host.to_path_buf(), (now, pid));
        }
    }

    /// The recent move that brought `host` in: the directory moved (host
    /// path), and who moved it.
    pub(super) fn move_of(&self, host: &Path) -> Option<(PathBuf, Option<i32>)> {
        if self.moves.is_empty() {
            return None;
        }
        let now = self.now();
        host.ancestors().find_map(|a| {
            let (t, pid) = self.moves.get(a)?;
            (now.saturating_sub(*t) < NAMED_FOR).then(|| (a.to_path_buf(), *pid))
        })
    }
}
