//! `impermctl baseline`: make the baseline say "what the system itself
//! produces". Run at the end of NixOS activation (at boot and after every
//! `nixos-rebuild switch`), it adopts into the baseline every entry that
//! changed since activation began (its ctime is at or after `since`),
//! and keeps the old record of everything else, so a loss that happened
//! before the activation is still reported afterwards.

use anyhow::Context;

use crate::baseline::{Baseline, Rec};
use crate::config::Settings;
use crate::root::Root;

/// When adopted changes begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Everything as it is now (a fresh capture).
    Everything,
    /// Changes at or after this time (Unix seconds, nanoseconds).
    Time(i64, u32),
}

/// The window of changes to adopt: from `since` up to (not including)
/// `until` (`None`: up to now). What changed after `until` keeps its old
/// record: at boot, `until` is when activation finished (the
/// `/run/current-system` link it writes last), so what services wrote
/// after it (host keys, databases) is still reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start.
    pub since: Since,
    /// End (Unix seconds, nanoseconds), if any.
    pub until: Option<(i64, u32)>,
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Refreshed {
    /// Entries in the new baseline.
    pub entries: usize,
    /// Entries taken as they are now (changed since `since`, or all on a fresh capture).
    pub adopted: usize,
    /// There was no baseline before.
    pub fresh: bool,
}

/// The new records: an entry changed since `since` is taken as it is now;
/// any other keeps its old record, or stays out (still new) if it had none.
/// Pure: `old` looks a path up in the previous baseline.
pub fn merge(
    current: Vec<(Vec<u8>, Rec)>,
    old: &dyn Fn(&[u8]) -> Option<Rec>,
    w: Window,
) -> (Vec<(Vec<u8>, Rec)>, usize) {
    let mut adopted = 0;
    let out = current
        .into_iter()
        .filter_map(|(p, now)| {
            let after_start = match w.since {
                Since::Everything => true,
                Since::Time(s, ns) => now.ctime >= (s, ns),
            };
            // Inclusive: activation's last writes and the link that ends it
            // can share a tick of the coarse clock file times come from.
            let changed_since = after_start && w.until.is_none_or(|u| now.ctime <= u);
            if changed_since {
                if old(&p) != Some(now) {
                    adopted += 1;
                }
                return Some((p, now));
            }
            old(&p).map(|rec| (p, rec))
        })
        .collect();
    (out, adopted)
}

/// The lstat ctime of `path` (Unix seconds, nanoseconds): when a link such
/// as `/run/current-system` was last replaced.
pub fn changed_at(path: &std::path::Path) -> anyhow::Result<(i64, u32)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot stat {}", path.display()))?;
    Ok((m.ctime(), m.ctime_nsec().clamp(0, 999_999_999) as u32))
}

/// Refresh the baseline of `root` (see the module docs). Without a
/// previous baseline and without an end, everything is taken as it is.
pub fn refresh(root: &Root, settings: &Settings, mut w: Window) -> anyhow::Result<Refreshed> {
    let prev = Baseline::load(root)?;
    if prev.is_none() && w.until.is_none() {
        w.since = Since::Everything;
    }
    let crate::baseline::Captured {
        entries: current,
        origin,
        mounts,
    } = crate::baseline::capture_framed(root, settings)?;
    // Records kept from the previous baseline are as old as its origin;
    // the mount points either walk left out are both remembered (none is
    // kept when everything is adopted: a fresh capture).
    let (origin, mounts) = match &prev {
        _ if w.since == Since::Everything && w.until.is_none() => (Some(origin), mounts),
        None => (Some(origin), mounts),
        Some(p) => (
            p.origin.map(|o| o.min(origin)),
            p.mounts
                .iter()
                .chain(&mounts)
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        ),
    };
    let lookup = |p: &[u8]| prev.as_ref().and_then(|b| b.get(p));
    let (mut entries, adopted) = merge(current, &lookup, w);
    let n = entries.len();
    crate::baseline::write(root, origin, &mounts, &mut entries)?;
    Ok(Refreshed {
        entries: n,
        adopted,
        fresh: prev.is_none(),
    })
}

/// The start of process `pid` (Unix seconds, nanoseconds): `/proc/PID/stat`
/// gives it in clock ticks since boot (`CLOCK_BOOTTIME`, as `/proc/uptime`);
/// the wall clock minus the boot clock's distance to it, minus a little slack
/// (file times come from the coarse clock, a tick behind; uptime has two
/// decimals).
pub fn process_start(pid: i32) -> anyhow::Result<(i64, u32)> {
    let stat = procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    let tps = procfs::ticks_per_second().max(1) as i128;
    let (boot_now, real_now) = clocks()?;
    let started = stat.starttime as i128 * 1_000_000_000 / tps;
    let slack = 20_000_000;
    let t = real_now - (boot_now - started) - slack;
    Ok((
        t.div_euclid(1_000_000_000) as i64,
        t.rem_euclid(1_000_000_000) as u32,
    ))
}

/// The boot clock (`/proc/uptime`: `CLOCK_BOOTTIME`, two decimals) and the
/// wall clock, in nanoseconds, read together: uptime between two wall-clock
/// reads, again while those are over 5 ms apart (a stall between the reads,
/// e.g. a preemption, moved the start later by its length: activation's
/// first writes were not adopted); the closest of 20 tries otherwise. The
/// later wall-clock read: an error errs late (a write reported), not early.
fn clocks() -> anyhow::Result<(i128, i128)> {
    let wall = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128)
    };
    let mut best = (i128::MAX, 0, 0);
    for _ in 0..20 {
        let before = wall();
        let up =
            <procfs::Uptime as procfs::Current>::current().context("cannot read /proc/uptime")?;
        let after = wall();
        if after - before < best.0 {
            best = (after - before, (up.uptime * 1e9) as i128, after);
        }
        if best.0 <= 5_000_000 {
            break;
        }
    }
    Ok((best.1, best.2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::meta::Kind;

    fn rec(ino: u64, ctime: i64) -> Rec {
        Rec {
            kind: Kind::File,
            ino,
            size: 1,
            mtime: (ctime, 0),
            ctime: (ctime, 0),
        }
    }

    #[test]
    fn adopts_what_changed_since_and_keeps_earlier_losses() {
        let old = |p: &[u8]| match p {
            b"/etc/passwd" => Some(rec(1, 100)),
            b"/var/lib/demo/db" => Some(rec(2, 100)),
            _ => None,
        };
        let current = vec![
            // Rewritten by activation (rename: new inode, new ctime).
            (b"/etc/passwd".to_vec(), rec(11, 500)),
            // Written by a service before activation: stays a loss.
            (b"/var/lib/demo/db".to_vec(), rec(2, 300)),
            (b"/var/lib/demo/new".to_vec(), rec(3, 300)),
            // Written by activation: adopted.
            (b"/etc/ssh/sshd_config".to_vec(), rec(4, 450)),
        ];
        let w = |since, until| Window { since, until };
        let (out, adopted) = merge(current.clone(), &old, w(Since::Time(400, 0), None));
        assert_eq!(adopted, 2);
        let get = |p: &[u8]| out.iter().find(|(q, _)| q == p).map(|(_, r)| *r);
        assert_eq!(get(b"/etc/passwd"), Some(rec(11, 500)));
        assert_eq!(
            get(b"/var/lib/demo/db"),
            Some(rec(2, 100)),
            "the old record"
        );
        assert_eq!(get(b"/var/lib/demo/new"), None, "still new");
        assert_eq!(get(b"/etc/ssh/sshd_config"), Some(rec(4, 450)));
        let (all, n) = merge(
            vec![(b"/x".to_vec(), rec(5, 1))],
            &old,
            w(Since::Everything, None),
        );
        assert_eq!((all.len(), n), (1, 1));
        // Activation ended at 460: what changed after it is not adopted.
        let (out, adopted) = merge(current, &old, w(Since::Everything, Some((460, 0))));
        let get = |p: &[u8]| out.iter().find(|(q, _)| q == p).map(|(_, r)| *r);
        assert_eq!(adopted, 3);
        assert_eq!(
            get(b"/etc/passwd"),
            Some(rec(1, 100)),
            "changed after the end"
        );
        assert_eq!(get(b"/var/lib/demo/new"), Some(rec(3, 300)));
        assert_eq!(get(b"/etc/ssh/sshd_config"), Some(rec(4, 450)));
    }

    #[test]
    fn our_own_start_is_before_now() {
        let (s, _) = process_start(std::process::id() as i32).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(s <= now && s > now - 3600, "{s} {now}");
    }
}
