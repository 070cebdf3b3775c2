//! The watcher daemon: one thread polls the backend's fd and a signalfd, a
//! timer keeps `STATUS=`, the watchdog and `watch.json` current; D-Bus is
//! served from its own thread.

pub mod attribution;
mod backend;
pub mod changes;
pub mod core;
#[cfg(feature = "dbus")]
pub mod dbus;
pub mod fairness;
pub mod fanotify;
pub mod inotify;
pub mod journal;
pub mod judge;
pub mod mute;
pub mod report;
pub mod scan;
pub mod tally;

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use self::backend::{Backend, choose, coverage, rescan};
use self::core::Core;
use self::report::BackendInfo;
use self::tally::Limits;
use crate::root::Root;
use crate::sys::notify::{notify, watchdog_interval};
use crate::sys::poll::readable;

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// fanotify if the kernel and privileges allow, else inotify.
    Auto,
    /// fanotify only (fail otherwise).
    Fanotify,
    /// inotify only.
    Inotify,
}

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The tree to watch.
    pub root: Root,
    /// Backend choice.
    pub backend: BackendChoice,
    /// Bounds and warning intervals.
    pub limits: Limits,
    /// The persistence root named in suggestions.
    pub persist_root: PathBuf,
    /// Minimum interval between `watch.json` writes.
    pub json_every: Duration,
    /// Serve D-Bus.
    pub dbus: bool,
    /// Logical paths never warned about (`watch.ignore`): not even watched.
    pub ignore: Vec<PathBuf>,
    /// Interval of the rescans while the inotify watch limit leaves
    /// directories unwatched.
    pub rescan_every: Duration,
}

fn status_line(b: &BackendInfo, groups: usize) -> String {
    let g = match groups {
        1 => "1 unpersisted group".to_string(),
        n => format!("{} unpersisted groups", crate::human::thousands(n as u64)),
    };
    match b.name {
        "inotify" if b.unwatched > 0 => format!(
            "inotify, {} dirs, {} NOT watched (watch limit), {g}",
            crate::human::thousands(b.watched as u64),
            crate::human::thousands(b.unwatched)
        ),
        "inotify" => format!(
            "inotify, {} dirs, {g}",
            crate::human::thousands(b.watched as u64)
        ),
        n => format!("{n}, filesystem mark, {g}"),
    }
}

/// Run the daemon until SIGTERM/SIGINT.
pub fn run(opts: Options) -> anyhow::Result<()> {
    let mut sigs = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
    ] {
        sigs.add(s);
    }
    sigs.thread_block().context("cannot block signals")?;
    let sfd = SignalFd::with_flags(&sigs, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .context("cannot create a signalfd")?;

    // Our own state directory exists before any watch does, so creating it
    // is never reported as a write.
    let run_dir = opts.root.run_dir();
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let mut scope = scan::Scope::new(&opts.root)?;
    scope
        .skip
        .extend(opts.ignore.iter().map(|p| opts.root.host(p)));
    let t0 = Instant::now();
    let (mut backend, fallback) = choose(opts.backend, &scope)?;
    let mut core = Core::new(scope, opts.limits.clone(), opts.persist_root.clone());
    core.muting.enabled = backend.can_mute();
    core.judge = Some(judge::Judge::new(
        &opts.root,
        vec![opts.persist_root.clone()],
    ));
    let json_file = opts.root.watch_file();
    let baseline = std::fs::metadata(opts.root.baseline_file()).and_then(|m| m.modified());
    if let Ok(t) = baseline {
        // The baseline's origin when it has one: no record is older.
        core.since = crate::baseline::origin_of(&opts.root.baseline_file()).unwrap_or(t);
    }
    // A restart within the same boot (crash, `kill -9`): what the previous
    // instance announced is not announced again.
    if let Some(prev) = std::fs::read_to_string(&json_file)
        .ok()
        .and_then(|t| serde_json::from_str::<report::WatchState>(&t).ok())
    {
        core.announced = prev
            .groups
            .into_iter()
            .map(|g| crate::names::from_json(&g.path, g.path_hex.as_deref()))
            .collect();
        core.table.set_announced(core.announced.clone());
    }
    let mut info = BackendInfo {
        name: backend.name(),
        fallback,
        watched: backend.watched(),
        overflows: 0,
        unwatched: coverage(&backend).0,
        coverage: coverage(&backend).1,
    };
    let status = status_line(&info, 0);
    journal::started(info.name, &status, info.fallback.as_deref());
    tracing::debug!("watches in place after {:?}", t0.elapsed());

    let shared = Arc::new(Mutex::new(report::snapshot(&core, &info, false)));
    #[cfg(feature = "dbus")]
    let service = if opts.dbus {
        dbus::serve(shared.clone())
    } else {
        None
    };
    let _ = notify(&format!("READY=1\nSTATUS={status}"));
    if baseline.is_ok() {
        // Watches are in place: now find what was written between the
        // boot baseline and this start (nothing after it is missed).
        let n = rescan(&mut backend, &mut core)?;
        tracing::info!("start-up rescan: {n} entries changed since the boot baseline");
    }
    if let Err(e) = report::write_file(&json_file, &report::snapshot(&core, &info, true)) {
        tracing::warn!("{e:#}");
    }
    let changes_file = changes::file(&opts.root);
    changes::answer(&mut core, &changes_file, 0, info.unwatched);

    let watchdog = watchdog_interval().map(|w| w / 2);
    let tick = watchdog
        .unwrap_or(Duration::from_secs(1))
        .min(Duration::from_secs(1));
    let mut next_tick = Instant::now() + tick;
    let mut last_json = Instant::now();
    let mut last_status = status;
    let mut last_overflow_warning: Option<Instant> = None;
    let mut last_rescan = Instant::now();
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        let (ready_b, ready_s) = readable(backend.fd(), sfd.as_fd(), wait).context("poll")?;
        let signal = match ready_s {
            true => sfd.read_signal().ok().flatten(),
            false => None,
        };
        let sig = signal.map(|si| (Signal::try_from(si.ssi_signo as i32).ok(), si.ssi_pid));
        // `diff` asks what changed (SIGUSR1): the queue is read after the
        // signal, so everything queued before it asked is in the answer.
        if ready_b || matches!(sig, Some((Some(Signal::SIGUSR1), _))) {
            drain(
                &mut backend,
                &mut core,
                &mut info,
                &mut last_overflow_warning,
            )?;
        }
        match sig {
            None => {}
            Some((Some(Signal::SIGUSR1), pid)) => {
                (info.unwatched, info.coverage) = coverage(&backend);
                changes::answer(&mut core, &changes_file, pid, info.unwatched);
            }
            Some((Some(Signal::SIGHUP), _)) => {
                // SIGHUP: count the muted groups and rewrite watch.json now.
                backend.muting(&mut core, opts.json_every, true);
                last_json = Instant::now() - opts.json_every;
            }
            Some(_) => break,
        }
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + tick;
            info.watched = backend.watched();
            // Partial coverage (inotify's watch limit): rescan now and then,
            // so writes in unwatched directories are found, and watches
            // freed meanwhile are used.
            if info.unwatched > 0 && last_rescan.elapsed() >= opts.rescan_every {
                last_rescan = Instant::now();
                let n = rescan(&mut backend, &mut core)?;
                tracing::info!("periodic rescan (watch limit): {n} entries changed");
            }
            (info.unwatched, info.coverage) = coverage(&backend);
            core.release_held();
            backend.muting(&mut core, opts.json_every, false);
            if let Some(s) = core.table.take_suppressed(core.now(), false) {
                journal::suppressed(&s, opts.limits.per_minute);
            }
            let status = status_line(&info, core.table.len());
            let mut msg = String::new();
            if watchdog.is_some() {
                msg.push_str("WATCHDOG=1\n");
            }
            if status != last_status {
                msg.push_str(&format!("STATUS={status}\n"));
                last_status = status;
            }
            if !msg.is_empty() {
                let _ = notify(msg.trim_end());
            }
            // The D-Bus view follows every tick with changes; watch.json
            // is rewritten at most every `json_every`.
            if core.dirty {
                let file_due = last_json.elapsed() >= opts.json_every;
                publish(&core, &info, &shared, file_due.then_some(&*json_file));
                if file_due {
                    core.dirty = false;
                    last_json = Instant::now();
                }
            }
            #[cfg(feature = "dbus")]
            for g in std::mem::take(&mut core.new_groups) {
                if let Some(s) = &service {
                    s.signal(&g);
                }
            }
            #[cfg(not(feature = "dbus"))]
            core.new_groups.clear();
        }
    }
    let _ = notify("STOPPING=1\nSTATUS=stopping: writing the discard summary");
    drain(
        &mut backend,
        &mut core,
        &mut info,
        &mut last_overflow_warning,
    )?;
    // What the kernel no longer told us about: counted by a walk.
    backend.muting(&mut core, opts.json_every, true);
    let (events, muted) = backend.counts();
    tracing::info!("{events} events read from the kernel; {muted} directories muted");
    if let Some(s) = core.table.take_suppressed(core.now(), true) {
        journal::suppressed(&s, opts.limits.per_minute);
    }
    let mut groups = core.table.groups();
    // Important groups first (stable: biggest first within each).
    groups.sort_by_key(|g| !core.important.contains_key(&g.path));
    journal::discard_summary(&groups, &core.important);
    publish(&core, &info, &shared, Some(&*json_file));
    let _ = std::fs::remove_file(&changes_file);
    Ok(())
}

fn publish(
    core: &Core,
    info: &BackendInfo,
    shared: &Arc<Mutex<report::WatchState>>,
    file: Option<&std::path::Path>,
) {
    let full = report::snapshot(core, info, true);
    if let Some(file) = file
        && let Err(e) = report::write_file(file, &full)
    {
        tracing::warn!("{e:#}");
    }
    if let Ok(mut s) = shared.lock() {
        *s = full;
    }
}

/// Handle every queued event; after an overflow, warn (at most once a
/// minute) and rescan, until a drain ends without one.
fn drain(
    backend: &mut Backend,
    core: &mut Core,
    info: &mut BackendInfo,
    last_warning: &mut Option<Instant>,
) -> anyhow::Result<()> {
    while backend.drain(core)? {
        info.overflows += 1;
        if last_warning.is_some_and(|t| t.elapsed() < Duration::from_secs(60)) {
            tracing::debug!("{} queue overflowed again; rescanning", info.name);
        } else {
            journal::overflow(info.name);
            *last_warning = Some(Instant::now());
        }
        let n = rescan(backend, core)?;
        tracing::info!("rescan after overflow: {n} entries changed since start");
    }
    Ok(())
}
