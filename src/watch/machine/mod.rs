//! The daemon's decisions as a state machine (pure, table-tested): what
//! woke it (kernel events, a signal, the timer) and what its own actions
//! found (a drain's overflow, a rescan's end, the status line) go in; what
//! to do comes out, in order. `daemon` observes and does; time is the
//! daemon's clock (`Duration` since start).
//!
//! The rules a reader needs: the watcher is ready (`READY=1`) only after
//! its first `watch.json` and changes file, so `diff` right after the unit
//! is active finds the list; `diff`'s question (SIGUSR1) is answered after
//! a drain that ended without an overflow, so an overflow's rescan
//! completes first; at stop, what is held back for the baseline is judged
//! and the muted groups recounted before the summary, which is exact.
//! Every answer (to `diff`, to `status`, the summary) first takes the
//! mounts and declared entries as they are now: a path `boot` bound a
//! moment ago is not counted as lost (trial-s10 F5).

use std::time::Duration;

/// Overflows are warned about in the journal at most this often (the
/// others are logged at debug level; every one is rescanned).
pub const OVERFLOW_WARN_EVERY: Duration = Duration::from_secs(60);

/// A signal, as the daemon reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGUSR1 from `diff` (its pid): the changed paths, please.
    Ask(u32),
    /// SIGHUP: read the config and the mount table again, recount the
    /// muted groups and rewrite `watch.json`.
    Recount,
    /// SIGUSR2 from `status`: recount now what events do not cover (muted
    /// groups, directories inotify cannot watch), then rewrite
    /// `watch.json`, so its counts are exact when `status` reads them.
    Refresh,
    /// SIGTERM or SIGINT: the shutdown summary, then exit.
    Stop,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Watches are in place; `baseline`: a boot baseline exists (what was
    /// written between it and now is to be found by a rescan).
    Started { baseline: bool },
    /// The poll returned: the backend has `events` queued, and/or a signal.
    Woke {
        events: bool,
        signal: Option<Signal>,
    },
    /// The timer (every second, or half the watchdog interval);
    /// `unwatched`: the inotify watch limit leaves directories unwatched.
    Tick { unwatched: bool },
    /// A drain ended; `overflow`: the kernel's queue overflowed.
    Drained { overflow: bool },
    /// A rescan ended.
    Rescanned,
    /// The status line, as the daemon's state reads now.
    Status(String),
    /// `watch.json` was written.
    Written,
    /// The declared entries that are not persisted, or the mount points,
    /// changed ([`Action::Remounts`]): a rescan finds what they now hold.
    Redeclared,
}

/// Why a rescan runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// At start, with a boot baseline.
    Start,
    /// The queue overflowed: events were lost.
    Overflow,
    /// The watch limit leaves directories unwatched (every `rescan_every`).
    WatchLimit,
    /// A path was bound or unbound, or the config changed (`Input::Redeclared`).
    Mounts,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Read and handle every queued event (→ [`Input::Drained`]).
    Drain,
    /// Walk the root for what changed (→ [`Input::Rescanned`]).
    Rescan(Why),
    /// Count an overflow; say so in the journal (`journal`) or at debug.
    Overflowed { journal: bool },
    /// If the mount table changed (or `force`: SIGHUP, which also reads
    /// the config again), take the new mount points and declared entries
    /// that are not persisted (→ [`Input::Redeclared`] when they changed).
    Remounts { force: bool },
    /// Write the changes file answering this pid (0: no one).
    Answer(u32),
    /// Judge again what waits for the baseline: what waited long enough,
    /// or everything (`all`, at stop).
    ReleaseHeld { all: bool },
    /// Unmute the groups whose reminder is due; recount the muted groups
    /// when due, or now (`force`).
    Muting { force: bool },
    /// Log the warnings the budget held back: once a minute, or now.
    Suppressed { force: bool },
    /// Read the status line (→ [`Input::Status`]).
    Status,
    /// Send this to systemd (`sd_notify`).
    Notify(String),
    /// Refresh the D-Bus view, and `watch.json` when `file` (→
    /// [`Input::Written`]); `if_changed`: only if a group changed.
    Publish { file: bool, if_changed: bool },
    /// Emit D-Bus signals for the groups seen for the first time.
    SignalNewGroups,
    /// Log the shutdown summary.
    Summary,
    /// Remove the changes file and exit.
    Exit,
}

/// Write `watch.json` and refresh the D-Bus view now.
const PUBLISH: Action = Action::Publish {
    file: true,
    if_changed: false,
};

/// The daemon's intervals.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Least interval between `watch.json` writes.
    pub json_every: Duration,
    /// Interval of the rescans while the watch limit leaves directories
    /// unwatched.
    pub rescan_every: Duration,
    /// systemd watches us (`WATCHDOG_USEC`): ping on every tick.
    pub watchdog: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Running,
    Stopping,
}

/// The state the decisions need.
#[derive(Debug, Clone)]
pub struct Machine {
    timing: Timing,
    phase: Phase,
    /// Pids waiting for an answer (after a clean drain).
    asked: Vec<u32>,
    /// A drain overflowed: drain and rescan until a drain ends clean.
    overflowed: bool,
    last_overflow_warning: Option<Duration>,
    last_rescan: Duration,
    last_json: Option<Duration>,
    last_status: Option<String>,
    /// `status` asked (SIGUSR2): recount and write `watch.json` after the
    /// next clean drain.
    refresh: bool,
}

impl Machine {
    /// A daemon about to start.
    pub fn new(timing: Timing) -> Machine {
        Machine {
            timing,
            phase: Phase::Starting,
            asked: Vec::new(),
            overflowed: false,
            last_overflow_warning: None,
            last_rescan: Duration::ZERO,
            last_json: None,
            last_status: None,
            refresh: false,
        }
    }

    /// What to do about `input` at `now`.
    pub fn step(&mut self, now: Duration, input: Input) -> Vec<Action> {
        use Action::*;
        match input {
            Input::Started { baseline } => {
                self.last_rescan = now;
                match baseline {
                    true => vec![Rescan(Why::Start)],
                    false => self.first_answer(),
                }
            }
            Input::Woke { events, signal } => self.woke(events, signal),
            Input::Drained { overflow: true } => {
                self.overflowed = true;
                let journal = self
                    .last_overflow_warning
                    .is_none_or(|t| now.saturating_sub(t) >= OVERFLOW_WARN_EVERY);
                if journal {
                    self.last_overflow_warning = Some(now);
                }
                vec![Overflowed { journal }, Rescan(Why::Overflow)]
            }
            Input::Drained { overflow: false } => self.drained(),
            // Drain again until a drain ends without an overflow (only
            // then is an answer complete).
            Input::Rescanned if self.overflowed => vec![Drain],
            Input::Rescanned if self.phase == Phase::Starting => self.first_answer(),
            Input::Rescanned => Vec::new(),
            Input::Redeclared => vec![Rescan(Why::Mounts)],
            Input::Tick { unwatched } => self.tick(now, unwatched),
            Input::Status(line) => self.status(line),
            Input::Written => {
                self.last_json = Some(now);
                Vec::new()
            }
        }
    }

    /// A drain ended clean: answer who asked, or finish the stop.
    fn drained(&mut self) -> Vec<Action> {
        use Action::*;
        self.overflowed = false;
        if self.phase != Phase::Stopping {
            let mut v: Vec<Action> = self.asked.drain(..).map(Answer).collect();
            if std::mem::take(&mut self.refresh) {
                v.extend([Muting { force: true }, PUBLISH]);
            }
            return v;
        }
        vec![
            ReleaseHeld { all: true },
            Muting { force: true },
            Suppressed { force: true },
            Summary,
            PUBLISH,
            Exit,
        ]
    }

    /// After the start-up rescan: the state and the changes file are
    /// written before systemd hears we are ready.
    fn first_answer(&mut self) -> Vec<Action> {
        vec![PUBLISH, Action::Answer(0), Action::Status]
    }

    /// A signal and/or events. The queue is read after the signal: what
    /// was queued before `diff` asked is in the answer. A signal that asks
    /// for an answer (`diff`, `status`, the stop) first looks at the mount
    /// table and the config, as a tick does: their rescan (after
    /// [`Input::Redeclared`]) comes before the drain's answer, so a path
    /// bound or unbound since the last tick is counted as it is now.
    fn woke(&mut self, events: bool, signal: Option<Signal>) -> Vec<Action> {
        let mut v = Vec::new();
        if signal == Some(Signal::Stop) {
            self.phase = Phase::Stopping;
            v.push(Action::Notify(
                "STOPPING=1\nSTATUS=stopping: writing the discard summary".into(),
            ));
        }
        let answer = matches!(
            signal,
            Some(Signal::Ask(_) | Signal::Stop | Signal::Refresh)
        );
        if answer {
            v.push(Action::Remounts { force: false });
        }
        if events || answer {
            v.push(Action::Drain);
        }
        match signal {
            Some(Signal::Ask(pid)) => self.asked.push(pid),
            Some(Signal::Recount) => {
                v.push(Action::Remounts { force: true });
                v.push(Action::Muting { force: true });
                self.last_json = None;
            }
            Some(Signal::Refresh) => self.refresh = true,
            _ => {}
        }
        v
    }

    fn tick(&mut self, now: Duration, unwatched: bool) -> Vec<Action> {
        let mut v = Vec::new();
        if unwatched && now.saturating_sub(self.last_rescan) >= self.timing.rescan_every {
            self.last_rescan = now;
            v.push(Action::Rescan(Why::WatchLimit));
        }
        let file = self
            .last_json
            .is_none_or(|t| now.saturating_sub(t) >= self.timing.json_every);
        v.extend([
            Action::Remounts { force: false },
            Action::ReleaseHeld { all: false },
            Action::Muting { force: false },
            Action::Suppressed { force: false },
            Action::Status,
            Action::Publish {
                file,
                if_changed: true,
            },
            Action::SignalNewGroups,
        ]);
        v
    }

    /// Tell systemd: ready with the first status line; then the watchdog
    /// ping on every tick, and the status line when it changed.
    fn status(&mut self, line: String) -> Vec<Action> {
        let mut msg = String::new();
        if self.phase == Phase::Starting {
            self.phase = Phase::Running;
            msg.push_str("READY=1\n");
        } else if self.timing.watchdog {
            msg.push_str("WATCHDOG=1\n");
        }
        if self.last_status.as_ref() != Some(&line) {
            msg.push_str(&format!("STATUS={line}\n"));
            self.last_status = Some(line);
        }
        let msg = (!msg.is_empty()).then(|| Action::Notify(msg.trim_end().into()));
        msg.into_iter().collect()
    }
}

#[cfg(test)]
mod tests;
