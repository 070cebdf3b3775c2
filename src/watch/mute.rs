//! Paying only for what matters: once a group is reported (its warning
//! logged), the watcher stops listening to its *hot* directories — those
//! that delivered [`HOT`] events since — and what is below them, until the
//! group's reminder is due: fanotify drops their events in the kernel
//! (ignore marks), inotify's watches on them are removed. A directory
//! written a few times stays heard, so its paths stay in the list `diff`
//! uses (a muted directory is one `diff` walks whole). `watch.ignore`
//! subtrees never cost an event. Directory events keep arriving, so new
//! and moved directories are handled. What a muted group holds is counted
//! again by a walk ([`Core::refresh_muted`]): now and then (at most a small
//! share of the time), when it is unmuted, and before the shutdown summary.
//!
//! Observe (an event's directory and the group its write went to) →
//! decide ([`mute_dir`], [`refresh_due`], pure) → apply (the backends).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::core::Core;
use super::tally::Change;

/// The muted groups and the refresh schedule.
#[derive(Debug, Default)]
pub struct Muting {
    /// The backend can mute (fanotify: the kernel has `FAN_MARK_IGNORE`).
    pub enabled: bool,
    /// Muted groups (logical paths) → when their reminder is due (daemon
    /// clock): then they are unmuted.
    pub groups: HashMap<PathBuf, Duration>,
    /// Directories (logical) muted since the backend last took them (to
    /// mute the directories below them at once).
    pub fresh: Vec<PathBuf>,
    /// Muted directories (logical) → their group. Everything below one is
    /// muted too.
    pub dirs: HashMap<PathBuf, PathBuf>,
    /// Events per directory (host) of a reported group, until it is hot.
    heat: HashMap<PathBuf, u32>,
    /// The last uniformity answer: (directory (host), group, answer). A
    /// burst asks the same question for every file of a directory.
    uniform: Option<(PathBuf, PathBuf, bool)>,
    last_refresh: Option<Duration>,
    cost: Duration,
}

/// What the decision knows about the group an event's write went to.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    /// The group is its own slot (not folded into its area by fairness).
    pub own_slot: bool,
    /// Until when the group stays reported (None: never warned).
    pub reported_until: Option<Duration>,
}

/// Stop listening to the directory an event came from? Yes when it is
/// ignored (`watch.ignore`, our run directory, outside the root), or when
/// the write went to a reported group whose reminder is not due, counted
/// under its own name, and every path below the directory belongs to that
/// group (`uniform`, asked last: it reads the catalog).
pub fn mute_dir(
    excluded: bool,
    seen: Option<Seen>,
    now: Duration,
    uniform: impl FnOnce() -> bool,
) -> bool {
    if excluded {
        return true;
    }
    let Some(s) = seen else { return false };
    s.own_slot && s.reported_until.is_some_and(|t| now < t) && uniform()
}

/// Events a directory of a reported group delivers before it is muted: a
/// burst is muted after a few dozen events, a directory written now and
/// then stays heard (and listed for `diff`).
pub const HOT: u32 = 32;

/// Most directories whose events are counted; past it the counts start
/// again (a directory is then muted a little later).
const HEAT_MAX: usize = 4096;

/// Has a directory delivered enough events since its group was reported
/// to be muted?
pub fn hot(events: u32) -> bool {
    events >= HOT
}

/// Background refreshes are at least this far apart (a burst into a group
/// just reported is not slowed by walking it).
pub const REFRESH_MIN: Duration = Duration::from_secs(5);

/// Is a refresh of the muted groups due? At most every `every` (the
/// `watch.json` interval) or [`REFRESH_MIN`], and at most 2% of the time
/// (50× what the last refresh took).
pub fn refresh_due(last: Option<Duration>, cost: Duration, now: Duration, every: Duration) -> bool {
    last.is_none_or(|l| now.saturating_sub(l) >= every.max(REFRESH_MIN).max(cost * 50))
}

/// Groups whose reminder is due at `now` (to unmute), sorted.
pub fn due(groups: &HashMap<PathBuf, Duration>, now: Duration) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = groups
        .iter()
        .filter(|(_, t)| now >= **t)
        .map(|(g, _)| g.clone())
        .collect();
    v.sort();
    v
}

impl Core {
    /// Record a change at `host`, seen in directory `dir` (host paths);
    /// true when the backend should stop listening to `dir`.
    pub fn record_from(
        &mut self,
        dir: &Path,
        host: &Path,
        change: Change,
        pid: Option<i32>,
    ) -> bool {
        let placed = self.record_placed(host, change, pid);
        self.heard_in(dir, placed)
    }

    /// A directory was made at `host` in `dir` (host paths): recorded.
    /// Returns whether to stop listening to `dir` ([`Core::record_from`]),
    /// and whether the new directory is muted at once: it is when its own
    /// group is reported and every path below it belongs to that group
    /// (`diff` walks a new directory whole anyway, and the group's walks
    /// count it), so a burst into a reported group does not pay until its
    /// directories are hot.
    pub fn dir_made(&mut self, dir: &Path, host: &Path, pid: Option<i32>) -> (bool, bool) {
        let placed = self.record_placed(host, Change::Dir, pid);
        let new = self.muting.enabled && self.mute_made(host, placed.as_ref());
        (self.heard_in(dir, placed), new)
    }

    /// Mute the new directory `host` at once ([`mute_dir`] without heat)?
    fn mute_made(&mut self, host: &Path, placed: Option<&(PathBuf, bool)>) -> bool {
        let (Some((group, own_slot)), Some(dir_l)) = (placed, self.scope.logical(host)) else {
            return false;
        };
        let seen = Seen {
            own_slot: *own_slot,
            reported_until: self.table.reported_until(group),
        };
        let judge = &self.judge;
        let mute = mute_dir(false, Some(seen), self.now(), || match judge {
            Some(j) => j.uniform(&dir_l, group),
            None => dir_l.starts_with(group),
        });
        match seen.reported_until.filter(|_| mute) {
            Some(until) => {
                self.mute_now(dir_l, group.clone(), until);
                true
            }
            None => false,
        }
    }

    /// Stop listening to `dir` (`Core::record_from`)? after a change there
    /// was counted in `placed` (its group, and whether that is its own
    /// slot).
    fn heard_in(&mut self, dir: &Path, placed: Option<(PathBuf, bool)>) -> bool {
        if !self.muting.enabled {
            return false;
        }
        let Some((group, own_slot)) = placed else {
            return false;
        };
        let now = self.now();
        let seen = Seen {
            own_slot,
            reported_until: self.table.reported_until(&group),
        };
        let (judge, scope, cache) = (&self.judge, &self.scope, &mut self.muting.uniform);
        let mute = mute_dir(false, Some(seen), now, || match cache {
            Some((d, g, answer)) if d == dir && *g == group => *answer,
            _ => {
                let answer = scope.logical(dir).is_some_and(|dir_l| match judge {
                    Some(j) => j.uniform(&dir_l, &group),
                    None => dir_l.starts_with(&group),
                });
                *cache = Some((dir.to_path_buf(), group.clone(), answer));
                answer
            }
        });
        let Some(until) = seen.reported_until.filter(|_| mute) else {
            return false;
        };
        if self.muted_dir(dir) {
            return true;
        }
        if self.muting.heat.len() >= HEAT_MAX {
            self.muting.heat.clear();
        }
        let events = match self.muting.heat.get_mut(dir) {
            Some(n) => n,
            None => self.muting.heat.entry(dir.to_path_buf()).or_insert(0),
        };
        *events += 1;
        let Some(dir_l) = self.scope.logical(dir).filter(|_| hot(*events)) else {
            return false;
        };
        self.muting.heat.remove(dir);
        self.mute_now(dir_l, group, until);
        true
    }

    /// Mute the directory `dir_l` (logical) of `group`, reported until
    /// `until`.
    fn mute_now(&mut self, dir_l: PathBuf, group: PathBuf, until: Duration) {
        tracing::debug!("muted {} (group {})", dir_l.display(), group.display());
        // `diff` walks it: its changes are no longer listed.
        self.changes.tree(&dir_l);
        self.muting.dirs.insert(dir_l.clone(), group.clone());
        self.muting.fresh.push(dir_l);
        self.muting.groups.entry(group).or_insert(until);
        let now = self.now();
        self.muting.last_refresh.get_or_insert(now);
    }

    /// Is the directory `dir` (host) at or below a muted directory, and
    /// may it be muted (every path below it belongs to that group)?
    pub fn muted_dir(&self, dir: &Path) -> bool {
        if self.muting.dirs.is_empty() {
            return false;
        }
        let Some(dir_l) = self.scope.logical(dir) else {
            return false;
        };
        dir_l.ancestors().any(|a| {
            self.muting
                .dirs
                .get(a)
                .is_some_and(|g| self.judge.as_ref().is_none_or(|j| j.uniform(&dir_l, g)))
        })
    }

    /// Muted groups whose reminder is due: no longer muted (the backend
    /// listens to them again; [`Core::refresh_group`] counts them).
    pub fn take_due(&mut self) -> Vec<PathBuf> {
        let v = due(&self.muting.groups, self.now());
        for g in &v {
            self.muting.groups.remove(g);
        }
        if !v.is_empty() {
            self.muting.dirs.retain(|_, g| !v.contains(g));
            self.muting.heat.clear();
        }
        v
    }

    /// Is a refresh of the muted groups due (`every`: the `watch.json`
    /// interval)?
    pub fn refresh_due(&self, every: Duration) -> bool {
        !self.muting.groups.is_empty()
            && refresh_due(
                self.muting.last_refresh,
                self.muting.cost,
                self.now(),
                every,
            )
    }

    /// Count every muted group again by a walk; `on_dir` sees each
    /// directory with whether it is muted (the backend re-places marks).
    /// Returns the groups whose counts changed.
    pub fn refresh_muted(&mut self, on_dir: &mut dyn FnMut(&Path, bool)) -> usize {
        let t0 = Instant::now();
        let mut groups: Vec<PathBuf> = self.muting.groups.keys().cloned().collect();
        groups.sort();
        let changed = groups
            .iter()
            .filter(|g| self.refresh_group(g, on_dir))
            .count();
        self.muting.cost = t0.elapsed();
        self.muting.last_refresh = Some(self.now());
        changed
    }

    /// Count `group` (logical) again: forget its files and record every
    /// file below it changed at or after `since`, as a rescan would.
    /// `on_dir` sees each directory (host) with whether it is muted.
    /// Returns whether the counts changed.
    pub fn refresh_group(&mut self, group: &Path, on_dir: &mut dyn FnMut(&Path, bool)) -> bool {
        let before = self.table.forget_counts(group);
        let last = self.table.get(group).map(|g| g.last_seen);
        let host = self
            .scope
            .root
            .join(group.strip_prefix("/").unwrap_or(group));
        let scope = self.scope.clone();
        let mut newest = None;
        // What the walk finds was counted or reported already: no warning.
        self.table.counting_only = true;
        let _ = super::scan::walk(&scope, &host, true, &mut |v| {
            match v {
                super::scan::Visit::Dir(p) => on_dir(p, self.muted_dir(p)),
                super::scan::Visit::File(p) => newest = newest.max(self.record_if_changed(p)),
            }
            Ok(true)
        });
        self.table.counting_only = false;
        // The last write is the newest change found, not the walk's time.
        if let (Some(last), Some(g)) = (last, self.table.get_mut(group)) {
            let found = newest
                .and_then(|t| t.duration_since(self.start_wall).ok())
                .unwrap_or_default();
            g.last_seen = last.max(found.min(g.last_seen));
        }
        let after = self.table.counts(group);
        if after != before {
            self.dirty = true;
        }
        after != before
    }
}

#[cfg(test)]
#[path = "mute_tests.rs"]
mod tests;
