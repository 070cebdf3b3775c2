//! When the tally warns: the first write of a group, then a reminder every
//! `warn_every`, within a global budget of `per_minute` warnings (a token
//! bucket); what the budget held back is summarised once a minute. Pure:
//! time is injected as `Duration` since the daemon started.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Table;

/// A token bucket: `capacity` tokens, refilled at `capacity` per minute.
#[derive(Debug, Clone, Default)]
pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket of `per_minute` tokens at time `now`.
    pub fn new(per_minute: u32, now: Duration) -> TokenBucket {
        TokenBucket {
            capacity: f64::from(per_minute),
            tokens: f64::from(per_minute),
            last: now,
        }
    }

    /// Take one token if there is one.
    pub fn take(&mut self, now: Duration) -> bool {
        let dt = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + dt * self.capacity / 60.0).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the caller should do after [`Table::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to log.
    Quiet,
    /// Log a warning: the first for this group, or a reminder.
    Warn { reminder: bool },
}

/// Suppressed warnings, reported once per minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// How many warnings were held back.
    pub count: u64,
    /// Some of their groups.
    pub groups: Vec<PathBuf>,
}

impl Table {
    /// Groups an earlier instance of this boot announced (from its
    /// `watch.json`): counted again, warned about only as reminders.
    pub fn set_announced(&mut self, groups: HashSet<PathBuf>) {
        self.announced = groups;
    }

    pub(super) fn decide(&mut self, group: &Path, now: Duration) -> Decision {
        if self.counting_only {
            return Decision::Quiet;
        }
        let g = self.groups.get_mut(group).expect("group just recorded");
        let every = self.limits.warn_every;
        if g.warned_at.is_some_and(|t| now.saturating_sub(t) < every) {
            return Decision::Quiet;
        }
        if g.warned_at.is_none() && self.announced.contains(group) {
            // Announced before a restart: nothing is printed, so no token.
            g.warned_at = Some(now);
            return Decision::Quiet;
        }
        if self.bucket.take(now) {
            let reminder = g.warned_at.is_some();
            g.warned_at = Some(now);
            g.warnings += 1;
            g.suppressed = false;
            return Decision::Warn { reminder };
        }
        if !g.suppressed {
            g.suppressed = true;
            self.suppressed += 1;
            if self.suppressed_groups.len() < 5 {
                self.suppressed_groups.push(g.path.clone());
            }
            self.window_start.get_or_insert(now);
        }
        Decision::Quiet
    }

    /// Once a minute after the first suppression: what was held back.
    pub fn take_suppressed(&mut self, now: Duration, force: bool) -> Option<Suppressed> {
        let start = self.window_start?;
        if !force && now.saturating_sub(start) < Duration::from_secs(60) {
            return None;
        }
        self.window_start = None;
        for g in self.groups.values_mut() {
            g.suppressed = false;
        }
        let count = std::mem::take(&mut self.suppressed);
        (count > 0).then(|| Suppressed {
            count,
            groups: std::mem::take(&mut self.suppressed_groups),
        })
    }

    /// Until when `group` stays reported: its last warning plus the
    /// reminder interval (None: never warned, e.g. held back by the budget).
    pub fn reported_until(&self, group: &Path) -> Option<Duration> {
        let g = self.groups.get(group)?;
        Some(g.warned_at? + self.limits.warn_every)
    }
}
