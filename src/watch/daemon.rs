//! The daemon's I/O around the state machine (`machine`): set up the
//! backend and the core, then poll the backend's fd and a signalfd, turn
//! what arrived into inputs, and do the machine's actions. D-Bus is served
//! from its own thread.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::Signal as Sig;

use super::backend::{Backend, choose};
use super::core::Core;
use super::machine::{Action, Input, Machine, Signal, Timing, Why};
use super::report::{self, WatchState};
use super::{Options, changes, journal, judge, scan};
use crate::sys::notify::{notify, watchdog_interval};
use crate::sys::poll::{readable, signal_fd};

/// The daemon's state outside the machine: what it watches with and what it
/// found.
struct Daemon {
    opts: Options,
    /// One watcher per root (`lock`).
    _lock: super::lock::Lock,
    backend: Backend,
    core: Core,
    /// The daemon's facts for `watch.json` and D-Bus (groups left empty).
    info: WatchState,
    shared: Arc<Mutex<WatchState>>,
    #[cfg(feature = "dbus")]
    service: Option<super::dbus::Service>,
    json_file: PathBuf,
    changes_file: PathBuf,
    /// Mounts and unmounts since the last look (`remount`).
    mounts: Option<crate::mountinfo::Changes>,
    /// Files written through shared mappings (`mapped`).
    mapped: super::mapped::Mapped,
}

/// Run the daemon until SIGTERM/SIGINT.
pub fn run(opts: Options) -> anyhow::Result<()> {
    // SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 are read from a signalfd.
    let sfd = signal_fd(&[
        Sig::SIGTERM,
        Sig::SIGINT,
        Sig::SIGHUP,
        Sig::SIGUSR1,
        Sig::SIGUSR2,
    ])
    .context("cannot read signals from a signalfd")?;
    let (mut d, baseline) = Daemon::start(opts)?;
    let watchdog = watchdog_interval().map(|w| w / 2);
    let tick = watchdog.map_or(Duration::from_secs(1), |w| w.min(Duration::from_secs(1)));
    let mut machine = Machine::new(Timing {
        json_every: d.opts.json_every,
        rescan_every: d.opts.rescan_every,
        watchdog: watchdog.is_some(),
    });
    let mut inputs = VecDeque::from([Input::Started { baseline }]);
    let mut next_tick = Instant::now() + tick;
    loop {
        while let Some(input) = inputs.pop_front() {
            let mut found = Vec::new();
            for action in machine.step(d.core.now(), input) {
                if action == Action::Exit {
                    let _ = std::fs::remove_file(&d.changes_file);
                    return Ok(());
                }
                found.extend(d.apply(action)?);
            }
            // What an action found comes next, before anything newer.
            found.into_iter().rev().for_each(|i| inputs.push_front(i));
        }
        let wait = next_tick.saturating_duration_since(Instant::now());
        let (events, ready_s) = readable(d.backend.as_fd(), sfd.as_fd(), wait).context("poll")?;
        let signal = ready_s.then(|| sfd.read_signal().ok().flatten().and_then(signal_of));
        let signal = signal.flatten();
        if events || signal.is_some() {
            inputs.push_back(Input::Woke { events, signal });
        }
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + tick;
            let unwatched = d.info.unwatched_directories > 0;
            inputs.push_back(Input::Tick { unwatched });
        }
    }
}

fn signal_of(si: nix::sys::signalfd::siginfo) -> Option<Signal> {
    match Sig::try_from(si.ssi_signo as i32).ok()? {
        Sig::SIGUSR1 => Some(Signal::Ask(si.ssi_pid)),
        Sig::SIGHUP => Some(Signal::Recount),
        Sig::SIGUSR2 => Some(Signal::Refresh),
        _ => Some(Signal::Stop),
    }
}

impl Daemon {
    /// Watches in place, the core set up (what an earlier instance of this
    /// boot announced is not announced again), D-Bus served. Returns
    /// whether a boot baseline exists.
    fn start(opts: Options) -> anyhow::Result<(Daemon, bool)> {
        // Our own state directory exists before any watch does, so creating
        // it is never reported as a write.
        let run_dir = opts.root.run_dir();
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("cannot create {}", run_dir.display()))?;
        let lock = super::lock::take(&run_dir)?;
        // Opened before the scope reads the table: no change falls between.
        let mounts = crate::mountinfo::Changes::open().ok();
        let mut scope = scan::Scope::new(&opts.root)?;
        let ignored = opts.ignore.iter().map(|p| opts.root.host(p));
        scope.skip.extend(ignored);
        let t0 = Instant::now();
        // The start, before the first watch: what a rescan finds without a
        // baseline. A second of slack here once had a rescan after an
        // overflow report the files written just before the start.
        let since = crate::state::now_coarse();
        let (mut backend, fallback) = choose(opts.backend, &scope)?;
        let mut core = Core::new(scope, opts.limits.clone(), opts.persist_root.clone());
        core.since = since;
        core.muting.enabled = backend.can_mute();
        backend.watch_ignored(&mut core);
        let mut j = judge::Judge::new(&opts.root, vec![opts.persist_root.clone()]);
        j.declare(opts.declared.clone());
        core.judge = Some(j);
        core.count_declared();
        let baseline_file = opts.root.baseline_file();
        let baseline = std::fs::metadata(&baseline_file).and_then(|m| m.modified());
        if let Ok(t) = baseline {
            // The baseline's origin when it has one: no record is older.
            core.since = crate::baseline::origin_of(&baseline_file).unwrap_or(t);
        }
        let json_file = opts.root.watch_file();
        // A restart within the same boot (crash, `kill -9`).
        if let Some(prev) = report::read_file(&json_file) {
            core.announced = prev.groups.into_iter().map(|g| g.path).collect();
            core.table.set_announced(core.announced.clone());
        }
        let (unwatched_directories, coverage) = backend.coverage();
        let info = WatchState {
            backend: backend.name().into(),
            fallback,
            pid: std::process::id(),
            since: report::unix(core.start_wall),
            watched_directories: backend.watched() as u64,
            overflows: 0,
            unwatched_directories,
            coverage,
            groups: Vec::new(),
        };
        let line = status_line(&info, 0);
        journal::started(&info.backend, &line, info.fallback.as_deref());
        tracing::debug!("watches in place after {:?}", t0.elapsed());
        let shared = Arc::new(Mutex::new(report::snapshot(&core, &info, false)));
        let d = Daemon {
            _lock: lock,
            #[cfg(feature = "dbus")]
            service: opts
                .dbus
                .then(|| super::dbus::serve(shared.clone()))
                .flatten(),
            changes_file: changes::file(&opts.root),
            mounts,
            mapped: super::mapped::Mapped::default(),
            opts,
            backend,
            core,
            info,
            shared,
            json_file,
        };
        Ok((d, baseline.is_ok()))
    }

    /// Do `action`; what it found, for the machine.
    fn apply(&mut self, action: Action) -> anyhow::Result<Option<Input>> {
        let (core, backend) = (&mut self.core, &mut self.backend);
        match action {
            Action::Drain => {
                let overflow = backend.drain(core)?;
                return Ok(Some(Input::Drained { overflow }));
            }
            Action::Rescan(why) => {
                let n = backend.rescan(core)?;
                if why == Why::Overflow {
                    // Creations in ignored directories may be lost too.
                    backend.watch_ignored(core);
                }
                (self.info.unwatched_directories, self.info.coverage) = backend.coverage();
                let (what, since) = match why {
                    Why::Start => ("start-up rescan", " since the boot baseline"),
                    Why::Overflow => ("rescan after overflow", " since start"),
                    Why::WatchLimit => ("periodic rescan (watch limit)", ""),
                    Why::Mounts => ("rescan after a mount or config change", ""),
                };
                tracing::info!("{what}: {n} entries changed{since}");
                return Ok(Some(Input::Rescanned));
            }
            Action::Overflowed { journal: warn } => {
                self.info.overflows += 1;
                match warn {
                    true => journal::overflow(&self.info.backend),
                    false => {
                        tracing::debug!("{} queue overflowed again; rescanning", self.info.backend)
                    }
                }
            }
            Action::Answer(pid) => {
                (self.info.unwatched_directories, self.info.coverage) = backend.coverage();
                // `diff` reads who wrote each group from watch.json once
                // answered: bring it up to date first, so that the list and
                // a walk attribute the same writes alike.
                let written = self.publish(true, true);
                let unwatched = self.info.unwatched_directories;
                changes::answer(&mut self.core, &self.changes_file, pid, unwatched);
                return Ok(written);
            }
            Action::ReleaseHeld { all } => {
                self.mapped.poll(core, &self.opts.root, all);
                core.release_held(all)
            }
            Action::Remounts { force } => return Ok(self.remounts(force)),
            Action::Muting { force } => {
                if force {
                    // SIGUSR2, SIGHUP and the stop recount mapped files too.
                    self.mapped.poll(core, &self.opts.root, true);
                }
                backend.muting(core, self.opts.json_every, force)
            }
            Action::Suppressed { force } => {
                if let Some(s) = core.table.take_suppressed(core.now(), force) {
                    journal::suppressed(&s, self.opts.limits.per_minute);
                }
            }
            Action::Status => {
                self.info.watched_directories = backend.watched() as u64;
                (self.info.unwatched_directories, self.info.coverage) = backend.coverage();
                let line = status_line(&self.info, core.table.len());
                return Ok(Some(Input::Status(line)));
            }
            Action::Notify(msg) => _ = notify(&msg),
            Action::Publish { file, if_changed } => return Ok(self.publish(file, if_changed)),
            Action::SignalNewGroups => self.signal_new_groups(),
            Action::Summary => self.summary(),
            Action::Exit => {}
        }
        Ok(None)
    }

    /// When the mount table changed since the last look, or `force`
    /// (SIGHUP): the new mount points and declared entries (`remount`).
    fn remounts(&mut self, force: bool) -> Option<Input> {
        let changed = self.mounts.as_ref().is_none_or(|m| m.changed());
        let edited = self.opts.config.as_mut().is_some_and(|c| c.changed());
        if !force && !changed && !edited {
            return None;
        }
        if changed {
            // Looked at afresh: the kernel flags the open file until re-read.
            self.mounts = crate::mountinfo::Changes::open().ok();
        }
        let prune = match scan::Scope::new(&self.opts.root) {
            Ok(s) => s.prune,
            Err(e) => {
                tracing::warn!("cannot read the mount table again: {e:#}");
                return None;
            }
        };
        let declared = self.opts.redeclare.as_ref().and_then(|r| (r.0)());
        self.core
            .remount(prune, declared)
            .then_some(Input::Redeclared)
    }

    /// Refresh the D-Bus view, and `watch.json` when `file`.
    fn publish(&mut self, file: bool, if_changed: bool) -> Option<Input> {
        if let Some(why) =
            (self.backend.fell_back()).filter(|w| self.info.fallback.as_deref() != Some(*w))
        {
            self.info.fallback = Some(why.to_string());
            self.core.dirty = true;
        }
        if if_changed && !self.core.dirty {
            return None;
        }
        let full = report::snapshot(&self.core, &self.info, true);
        if file && let Err(e) = report::write_file(&self.json_file, &full) {
            tracing::warn!("{e:#}");
        }
        if let Ok(mut s) = self.shared.lock() {
            *s = full;
        }
        file.then(|| {
            self.core.dirty = false;
            Input::Written
        })
    }

    fn signal_new_groups(&mut self) {
        let new = std::mem::take(&mut self.core.new_groups);
        #[cfg(feature = "dbus")]
        if let Some(s) = &self.service {
            new.iter().for_each(|g| s.signal(g));
        }
        drop(new);
    }

    /// The shutdown summary: important groups first (stable: biggest first
    /// within each).
    fn summary(&self) {
        let (events, muted) = self.backend.counts();
        tracing::info!(
            "{} read from the kernel; {} muted",
            crate::human::counted(events, "event"),
            crate::human::count(muted, "directory", "directories")
        );
        let mut groups = self.core.table.groups();
        groups.sort_by_key(|g| !self.core.important.contains_key(&g.path));
        journal::discard_summary(&groups, &self.core.important);
    }
}

/// The `STATUS=` line: backend, coverage, groups.
fn status_line(b: &WatchState, groups: usize) -> String {
    let g = crate::human::counted(groups as u64, "unpersisted group");
    let dirs = crate::human::thousands(b.watched_directories);
    match b.backend.as_str() {
        "inotify" if b.unwatched_directories > 0 => format!(
            "inotify, {dirs} dirs, {} NOT watched, {g}",
            crate::human::thousands(b.unwatched_directories)
        ),
        "inotify" => format!("inotify, {dirs} dirs, {g}"),
        n if b.fallback.is_some() => format!("{n}, content events from the filesystem mark, {g}"),
        n => format!("{n}, filesystem mark, {g}"),
    }
}
