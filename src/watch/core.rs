//! The backend-independent half of the daemon: a write at a host path
//! becomes a group record, maybe a journal warning with its writer.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::attribution::{self, Attribution};
use super::journal;
use super::judge::{Judge, Verdict};
use super::scan::Scope;
use super::tally::{Change, Decision, Limits, Table, TokenBucket};
use crate::classify::grouping::group_of;

/// A group's writers are looked for in the open files at most this often
/// (inotify: events carry no pid; a scan reads every process's fds).
pub const LOOK_EVERY: Duration = Duration::from_secs(1);

/// A newly seen group, for the D-Bus signal.
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// The group.
    pub group: PathBuf,
    /// The path whose write revealed it.
    pub path: PathBuf,
    /// The config line.
    pub suggest: String,
}

/// Daemon state shared by the backends.
#[derive(Debug)]
pub struct Core {
    /// What is watched.
    pub scope: Scope,
    /// The groups.
    pub table: Table,
    /// When the daemon started (monotonic).
    pub start: Instant,
    /// When the daemon started (wall clock), for reports.
    pub start_wall: SystemTime,
    /// Rescans record what changed at or after this time: the boot
    /// baseline's when there is one (so a restarted daemon finds again what
    /// was written before it started), else the daemon's start, read on
    /// `CLOCK_REALTIME_COARSE` (the clock ctimes come from) before its
    /// first watch: a write it could not hear is never older, one made
    /// before it started is (but for the same clock tick, a few ms).
    pub since: SystemTime,
    /// Groups an earlier instance of this boot already warned about (from
    /// its `watch.json`): counted again, not announced again.
    pub announced: HashSet<PathBuf>,
    /// The persistence root named in suggestions.
    pub persist_root: PathBuf,
    /// Something changed since the last snapshot.
    pub dirty: bool,
    /// Groups seen for the first time, not yet signalled.
    pub new_groups: Vec<NewGroup>,
    /// The shared classification (catalog, baseline, live links); `None`
    /// records every write under `group_of` (tests of the table alone).
    pub judge: Option<Judge>,
    /// Important groups and what losing them means.
    pub important: HashMap<PathBuf, String>,
    /// A rescan is running (its findings are held for the baseline).
    pub rescanning: bool,
    /// Reported groups the kernel no longer tells us about (`mute`).
    pub muting: super::mute::Muting,
    /// Every path changed since `since`, for `diff` (`changes`).
    pub changes: super::changes::Changes,
    /// Files (logical) a rename landed on: suggested with `method =
    /// "copy"` ([`Core::moved_onto`]).
    pub replaced: HashSet<PathBuf>,
    proc: PathBuf,
    open_file_scans: TokenBucket,
    /// Scans for the writers of groups already warned about (their own
    /// budget: a warning's scan never waits for them).
    writer_scans: TokenBucket,
    pids: attribution::Pids,
    /// Directories moved in lately ([`Core::moved_in`]).
    pub(super) moves: super::moved_in::Moves,
}

impl Core {
    /// A core for `scope`.
    pub fn new(scope: Scope, limits: Limits, persist_root: PathBuf) -> Core {
        Core {
            scope,
            table: Table::new(limits, Duration::ZERO),
            start: Instant::now(),
            start_wall: SystemTime::now(),
            since: crate::state::now_coarse(),
            announced: HashSet::new(),
            persist_root,
            dirty: true,
            new_groups: Vec::new(),
            judge: None,
            important: HashMap::new(),
            rescanning: false,
            muting: super::mute::Muting::default(),
            changes: super::changes::Changes::default(),
            replaced: HashSet::new(),
            proc: PathBuf::from("/proc"),
            open_file_scans: TokenBucket::new(30, Duration::ZERO),
            writer_scans: TokenBucket::new(20, Duration::ZERO),
            pids: attribution::Pids::default(),
            moves: Default::default(),
        }
    }

    /// Time since start: the table's clock.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// A change at `host` (a path on the root's filesystem), by `pid` if known.
    pub fn record(&mut self, host: &Path, change: Change, pid: Option<i32>) {
        self.record_placed(host, change, pid);
    }

    /// [`Core::record`], returning the group the change was counted in and
    /// whether that group is its own slot (not folded into its area).
    pub fn record_placed(
        &mut self,
        host: &Path,
        change: Change,
        pid: Option<i32>,
    ) -> Option<(PathBuf, bool)> {
        if self.scope.skip.iter().any(|s| host.starts_with(s)) {
            return None;
        }
        let logical = self.scope.logical(host)?;
        self.changes.note(&logical);
        // A rescan lists every file whose ctime is newer, the other names
        // of a link included: only events need the link check.
        if let Change::Write { created: true, .. } = change
            && !self.rescanning
        {
            self.changes.created(host, &logical);
        }
        if change == Change::GoneDir {
            // Whatever its class: nothing below it is there any more.
            self.table.gone_below(&logical);
            self.dirty = true;
            return None;
        }
        let now = self.now();
        let verdict = match (&mut self.judge, change) {
            (None, _) => return self.apply(&logical, host, group_of(&logical), change, pid),
            (Some(j), Change::Gone | Change::GoneDir) => j.gone(&logical),
            (Some(j), Change::Dir | Change::DirAttrs) => {
                j.judge(&logical, host, (true, self.rescanning, false))
            }
            (Some(j), Change::Write { created, .. }) => {
                j.judge(&logical, host, (false, self.rescanning, created))
            }
        };
        // A baseline directory judged a loss: its attributes changed.
        let change = match (&self.judge, change) {
            (Some(j), Change::Dir)
                if !matches!(verdict, Verdict::Drop) && j.changed_dir(&logical, host) =>
            {
                Change::DirAttrs
            }
            (_, c) => c,
        };
        match verdict {
            Verdict::Drop => None,
            Verdict::Hold { place, consequence } => {
                let pid = pid.or_else(|| self.holder(&place.group, host, change, now));
                // Named now: the warning comes when the writer may be gone.
                if let Some(p) = pid.filter(|&p| p > 0) {
                    self.pid_info(p);
                }
                if let Some(j) = &mut self.judge {
                    j.hold(host, now, pid);
                }
                self.count_held(&logical, host, place, consequence, change, pid)
            }
            Verdict::Record { place, consequence } => {
                if let Some(c) = consequence {
                    self.important.insert(place.group.clone(), c);
                }
                let change = change.sized(self.judge.as_ref().and_then(|j| j.size));
                self.apply(&logical, host, place.group, change, pid)
            }
        }
    }

    /// Judge again what was held for the baseline: all of it when the
    /// baseline was retaken or `all` (at stop: the summary counts what is
    /// lost then), else what waited longer than `judge::HOLD`, and the new
    /// names that settled (`judge::SETTLE`).
    pub fn release_held(&mut self, all: bool) {
        self.poll_links();
        let now = self.now();
        let Some(j) = &mut self.judge else { return };
        let reloaded = j.reload();
        let all = reloaded | all;
        let due = j.due(now, all);
        for (host, pid) in due {
            let Some(logical) = self.scope.logical(&host) else {
                continue;
            };
            let Some(j) = &mut self.judge else { return };
            if let Verdict::Record { place, consequence } = j.rejudge(&logical, &host) {
                if let Some(c) = consequence {
                    self.important.insert(place.group.clone(), c);
                }
                let m = crate::sys::meta::lstat_path(&host).ok();
                let change = match m {
                    Some(m) if m.kind() == crate::sys::meta::Kind::Dir => Change::DirAttrs,
                    m => Change::found(m.map(|m| m.size)),
                };
                self.apply(&logical, &host, place.group, change, pid);
            } else if self.table.forget_path(&logical) {
                self.dirty = true;
            }
        }
        if reloaded {
            let n = self.retally();
            tracing::debug!("the retaken baseline adopted {n} counted paths");
        }
        self.recount_queued();
    }

    /// Record a judged change of `logical` in `group`; warn when due.
    /// Returns the slot it was counted in, and whether that is `group`.
    pub(super) fn apply(
        &mut self,
        logical: &Path,
        host: &Path,
        group: PathBuf,
        change: Change,
        pid: Option<i32>,
    ) -> Option<(PathBuf, bool)> {
        let logical = logical.to_path_buf();
        // Fairness: past its area's share, a group is counted in its area.
        let slot = self.table.slot_of(&group);
        let own = slot == group;
        let group = slot;
        let now = self.now();
        let decision = self.table.record(&group, &logical, change, now);
        self.dirty = true;
        let moved = pid.is_none().then(|| self.move_of(host)).flatten();
        let pid = pid.filter(|&p| p > 0 && p as u32 != std::process::id());
        let pid = pid.or(moved.as_ref().and_then(|m| m.1));
        // A process that only deleted or renamed away wrote nothing lost.
        if let Some(pid) = pid.filter(|_| change != Change::Gone)
            && !self.table.writers_full(&group)
            && let Some(w) = attribution::writer(&self.pid_info(pid))
        {
            self.table.add_writer(&group, w);
        }
        let Decision::Warn { reminder } = decision else {
            if pid.is_none() {
                self.look_for_writer(&group, host, change, now);
            }
            return Some((group, own));
        };
        self.table.look_for_writers(&group, now, Duration::ZERO);
        if !reminder && self.announced.contains(&group) {
            return Some((group, own));
        }
        let who = match pid {
            Some(p) => self.pid_info(p),
            None if self.open_file_scans.take(now) => {
                let created = matches!(change, Change::Write { created: true, .. });
                let a = attribution::by_open_file(&self.proc, host, created);
                if let Some(w) = attribution::writer(&a) {
                    self.table.add_writer(&group, w);
                }
                a
            }
            None => Attribution::default(),
        };
        let kind = self.table.get(&group).map(|g| g.kind);
        let suggest = self.suggestion(&group, kind.unwrap_or(crate::config::Kind::Directory));
        let consequence = self.important.get(&group).map(String::as_str);
        // A directory moved in is named, not the file of it that came first.
        let moved = moved.and_then(|(d, _)| self.scope.logical(&d));
        let path = moved.clone().unwrap_or(logical);
        let how = match (moved.is_some(), change) {
            (true, _) => journal::How::MovedIn,
            (false, Change::DirAttrs) => journal::How::Attrs,
            _ => journal::How::Write,
        };
        journal::unpersisted(&path, how, &group, &suggest, &who, reminder, consequence);
        if !reminder {
            self.new_groups.push(NewGroup {
                group: group.clone(),
                path,
                suggest,
            });
        }
        Some((group, own))
    }

    /// A write without a pid (inotify) to `group`, not warned about: who
    /// holds `host` open for writing is one of the group's writers, looked
    /// for at most every [`LOOK_EVERY`] per group (and 20 scans a minute
    /// over all groups).
    fn look_for_writer(&mut self, group: &Path, host: &Path, change: Change, now: Duration) {
        // Judged writes carry a size (the judge stats them), so a close is
        // not told apart: it may find no holder; the interval bounds that.
        let Change::Write { created, .. } = change else {
            return;
        };
        if !self.table.look_for_writers(group, now, LOOK_EVERY) || !self.writer_scans.take(now) {
            return;
        }
        let a = attribution::by_open_file(&self.proc, host, created);
        if let Some(w) = attribution::writer(&a) {
            self.table.add_writer(group, w);
        }
    }

    /// Who holds `host` open for writing (`attribution::by_open_file`), for
    /// a group not counted yet: its warning waits (`judge::Verdict::Hold`),
    /// and the writer may have closed the file by then.
    fn holder(&mut self, group: &Path, host: &Path, change: Change, now: Duration) -> Option<i32> {
        if self.table.get(group).is_some() || !self.open_file_scans.take(now) {
            return None;
        }
        let created = matches!(change, Change::Write { created: true, .. });
        attribution::by_open_file(&self.proc, host, created).pid
    }

    fn pid_info(&mut self, pid: i32) -> Attribution {
        let now = self.now();
        self.pids.get(&self.proc, pid, now)
    }
}
