//! The daemon's decisions, as tables: each row is what happens (at a
//! time, in seconds) and what the daemon must do about it, in order.

use super::*;
use Action::*;

const TIMING: Timing = Timing {
    json_every: Duration::from_secs(3),
    rescan_every: Duration::from_secs(60),
    watchdog: false,
};

/// A daemon past its start (ready), at time 0.
fn running(timing: Timing) -> Machine {
    let mut m = Machine::new(timing);
    m.step(Duration::ZERO, Input::Started { baseline: false });
    m.step(Duration::ZERO, Input::Written);
    m.step(Duration::ZERO, Input::Status("s".into()));
    m
}

fn ask(pid: u32) -> Input {
    Input::Woke {
        events: false,
        signal: Some(Signal::Ask(pid)),
    }
}

fn signal(s: Signal) -> Input {
    Input::Woke {
        events: false,
        signal: Some(s),
    }
}

const EVENTS: Input = Input::Woke {
    events: true,
    signal: None,
};
const CLEAN: Input = Input::Drained { overflow: false };
const OVERFLOW: Input = Input::Drained { overflow: true };

fn publish(file: bool, if_changed: bool) -> Action {
    Publish { file, if_changed }
}

fn tick_work(file: bool) -> Vec<Action> {
    vec![
        Remounts { force: false },
        ReleaseHeld { all: false },
        Muting { force: false },
        Suppressed { force: false },
        Status,
        publish(file, true),
        SignalNewGroups,
    ]
}

/// What the shutdown does once the last drain is clean.
fn stop_work() -> Vec<Action> {
    vec![
        ReleaseHeld { all: true },
        Muting { force: true },
        Suppressed { force: true },
        Summary,
        publish(true, false),
        Exit,
    ]
}

/// What every answer starts with: the mount table and config as they are
/// now (a tick's look, not forced).
const LOOK: Action = Remounts { force: false };

fn stopping() -> Action {
    Notify("STOPPING=1\nSTATUS=stopping: writing the discard summary".into())
}

/// Run `rows` (seconds, input, expected actions) through `m`.
fn check(name: &str, mut m: Machine, rows: Vec<(u64, Input, Vec<Action>)>) {
    for (i, (t, input, want)) in rows.into_iter().enumerate() {
        let shown = format!("{input:?}");
        let got = m.step(Duration::from_secs(t), input);
        assert_eq!(got, want, "{name}, row {i}: {shown}");
    }
}

#[test]
fn ready_only_after_the_first_state_and_changes_file() {
    let first = vec![publish(true, false), Answer(0), Status];
    let ready = |s: &str| vec![Notify(format!("READY=1\nSTATUS={s}"))];
    check(
        "with a boot baseline: the rescan first",
        Machine::new(TIMING),
        vec![
            (
                0,
                Input::Started { baseline: true },
                vec![Rescan(Why::Start)],
            ),
            (2, Input::Rescanned, first.clone()),
            (2, Input::Written, vec![]),
            (
                2,
                Input::Status("inotify, 5 dirs".into()),
                ready("inotify, 5 dirs"),
            ),
            (3, Input::Status("inotify, 5 dirs".into()), vec![]),
        ],
    );
    check(
        "without a baseline",
        Machine::new(TIMING),
        vec![
            (0, Input::Started { baseline: false }, first),
            (0, Input::Status("x".into()), ready("x")),
        ],
    );
}

#[test]
fn diff_is_answered_after_a_clean_drain() {
    check(
        "SIGUSR1: drain, then the changes file answers the asking pid",
        running(TIMING),
        vec![
            (1, ask(42), vec![LOOK, Drain]),
            (1, CLEAN, vec![Answer(42)]),
            (1, EVENTS, vec![Drain]),
            (1, CLEAN, vec![]),
        ],
    );
    check(
        "overflow: rescan, drain again, and only then answer",
        running(TIMING),
        vec![
            (1, ask(42), vec![LOOK, Drain]),
            (
                1,
                OVERFLOW,
                vec![Overflowed { journal: true }, Rescan(Why::Overflow)],
            ),
            (2, Input::Rescanned, vec![Drain]),
            (
                2,
                OVERFLOW,
                vec![Overflowed { journal: false }, Rescan(Why::Overflow)],
            ),
            (3, Input::Rescanned, vec![Drain]),
            (3, CLEAN, vec![Answer(42)]),
            (3, Input::Rescanned, vec![]),
        ],
    );
    check(
        "two askers between drains are both answered",
        running(TIMING),
        vec![
            (1, ask(7), vec![LOOK, Drain]),
            (
                1,
                OVERFLOW,
                vec![Overflowed { journal: true }, Rescan(Why::Overflow)],
            ),
            (1, ask(8), vec![LOOK, Drain]),
            (1, CLEAN, vec![Answer(7), Answer(8)]),
        ],
    );
}

#[test]
fn overflows_are_warned_about_once_a_minute_and_always_rescanned() {
    let over = |journal| vec![Overflowed { journal }, Rescan(Why::Overflow)];
    check(
        "overflows",
        running(TIMING),
        vec![
            (10, OVERFLOW, over(true)),
            (10, Input::Rescanned, vec![Drain]),
            (10, CLEAN, vec![]),
            (69, OVERFLOW, over(false)),
            (69, Input::Rescanned, vec![Drain]),
            (69, CLEAN, vec![]),
            (70, OVERFLOW, over(true)),
        ],
    );
}

#[test]
fn the_stop_drains_judges_what_is_held_recounts_then_summarises() {
    check(
        "SIGTERM",
        running(TIMING),
        vec![
            (5, signal(Signal::Stop), vec![stopping(), LOOK, Drain]),
            (5, CLEAN, stop_work()),
        ],
    );
    check(
        "SIGTERM with events queued: one drain",
        running(TIMING),
        vec![
            (
                5,
                Input::Woke {
                    events: true,
                    signal: Some(Signal::Stop),
                },
                vec![stopping(), LOOK, Drain],
            ),
            (
                5,
                OVERFLOW,
                vec![Overflowed { journal: true }, Rescan(Why::Overflow)],
            ),
            (5, Input::Rescanned, vec![Drain]),
            (5, CLEAN, stop_work()),
        ],
    );
}

/// `status` asks (SIGUSR2): the queue is read, what events do not cover
/// is counted, and `watch.json` written now, changed or not (`status`
/// waits for it: trial-s8 findings 5 and 6).
#[test]
fn sigusr2_drains_recounts_and_writes_the_file_now() {
    check(
        "SIGUSR2",
        running(TIMING),
        vec![
            (1, Input::Tick { unwatched: false }, tick_work(false)),
            (1, signal(Signal::Refresh), vec![LOOK, Drain]),
            (1, CLEAN, vec![Muting { force: true }, publish(true, false)]),
            (1, Input::Written, vec![]),
            (2, Input::Tick { unwatched: false }, tick_work(false)),
        ],
    );
}

/// Trial-s10 F5: `boot` bound a path a moment before `status` asked, or
/// before the stop (`nixos-rebuild switch && reboot`): the look finds the
/// new mount, and its rescan ends before the file is written, the changes
/// answered or the summary said, however long ago the last tick was.
#[test]
fn a_bind_since_the_last_tick_is_taken_before_any_answer() {
    let rescan = |t| {
        [
            (t, Input::Redeclared, vec![Rescan(Why::Mounts)]),
            (t, Input::Rescanned, vec![]),
        ]
    };
    let mut rows = vec![(1, signal(Signal::Refresh), vec![LOOK, Drain])];
    rows.extend(rescan(1));
    rows.push((1, CLEAN, vec![Muting { force: true }, publish(true, false)]));
    rows.push((1, ask(9), vec![LOOK, Drain]));
    rows.extend(rescan(1));
    rows.push((1, CLEAN, vec![Answer(9)]));
    rows.push((1, signal(Signal::Stop), vec![stopping(), LOOK, Drain]));
    rows.extend(rescan(1));
    rows.push((1, CLEAN, stop_work()));
    check("status, diff, then the stop", running(TIMING), rows);
}

#[test]
fn sighup_recounts_now_and_the_next_tick_writes_the_file() {
    check(
        "SIGHUP",
        running(TIMING),
        vec![
            (1, Input::Tick { unwatched: false }, tick_work(false)),
            (
                1,
                signal(Signal::Recount),
                vec![Remounts { force: true }, Muting { force: true }],
            ),
            (1, Input::Redeclared, vec![Rescan(Why::Mounts)]),
            (1, Input::Rescanned, vec![]),
            (2, Input::Tick { unwatched: false }, tick_work(true)),
            (2, Input::Written, vec![]),
            (3, Input::Tick { unwatched: false }, tick_work(false)),
        ],
    );
}

#[test]
fn ticks_keep_timers_and_write_the_file_at_most_every_json_every() {
    let mut rescan_first = vec![Rescan(Why::WatchLimit)];
    rescan_first.extend(tick_work(true));
    check(
        "timers",
        running(TIMING),
        vec![
            (1, Input::Tick { unwatched: false }, tick_work(false)),
            (3, Input::Tick { unwatched: false }, tick_work(true)),
            (3, Input::Written, vec![]),
            (5, Input::Tick { unwatched: true }, tick_work(false)),
            (60, Input::Tick { unwatched: true }, rescan_first),
            (60, Input::Rescanned, vec![]),
            (61, Input::Tick { unwatched: true }, tick_work(true)),
        ],
    );
}

#[test]
fn the_watchdog_is_pinged_every_tick_and_the_status_sent_when_it_changes() {
    let dog = Timing {
        watchdog: true,
        ..TIMING
    };
    check(
        "with a watchdog",
        running(dog),
        vec![
            (
                1,
                Input::Status("s".into()),
                vec![Notify("WATCHDOG=1".into())],
            ),
            (
                2,
                Input::Status("1 group".into()),
                vec![Notify("WATCHDOG=1\nSTATUS=1 group".into())],
            ),
        ],
    );
    check(
        "without",
        running(TIMING),
        vec![
            (1, Input::Status("s".into()), vec![]),
            (
                2,
                Input::Status("t".into()),
                vec![Notify("STATUS=t".into())],
            ),
        ],
    );
}
