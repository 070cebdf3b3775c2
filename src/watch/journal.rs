//! The watcher's journal messages: fixed MESSAGE_IDs (explained in
//! `systemd/impermctl.catalog`) and `IMPERMCTL_*` fields.

use std::path::Path;

use super::attribution::Attribution;
use super::tally::{Group, Suppressed};
use crate::config::Kind;
use crate::human::{counted, size};
use crate::names::{printable, show};

/// A write to a path that is not persisted (first per group, or a reminder).
pub const UNPERSISTED_WRITE: &str = "5b1c89b3707540a98f833fa5a79113ce";
/// Warnings held back by the per-minute budget.
pub const SUPPRESSED: &str = "128b92a95a7446a9956e1b79421e16a1";
/// At shutdown: what the reboot will discard.
pub const DISCARD_SUMMARY: &str = "a9c923c46d0f482cb15ae6e3144b5ad2";
/// The kernel's event queue overflowed; a rescan follows.
pub const OVERFLOW: &str = "5f9b7bb70ea149768c6b022b9cfb8e71";
/// The watcher started (backend, scope, why a fallback was taken).
pub const STARTED: &str = "c7e3ddc2bd944583849b0685244fe761";

/// What a warning says happened to its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// A file written or made.
    Write,
    /// A directory moved in (its files were caught up).
    MovedIn,
    /// A baseline directory's mode, owner or attributes changed.
    Attrs,
}

/// Log a write to an unpersisted group (the first per group, or a
/// reminder): priority warning, or err for an important group, with what
/// losing it means (`consequence`, also in `IMPERMCTL_CONSEQUENCE`).
/// `MESSAGE` shows every name escaped (`crate::names`); `IMPERMCTL_PATH`
/// and `IMPERMCTL_GROUP` carry the path as text, with
/// `IMPERMCTL_PATH_HEX`/`IMPERMCTL_GROUP_HEX` holding the exact bytes when
/// they are not valid UTF-8. `how`: what happened to `path` (a write, a
/// directory moved in, a directory's mode, owner or attributes changed).
pub fn unpersisted(
    path: &Path,
    how: How,
    group: &Path,
    suggest: &str,
    who: &Attribution,
    reminder: bool,
    consequence: Option<&str>,
) {
    use crate::names::{hex, show_str};
    let by = match (&who.comm, who.pid, &who.unit) {
        (Some(c), Some(p), Some(u)) => format!(" by {}[{p}] in {}", show_str(c), show_str(u)),
        (Some(c), Some(p), None) => format!(" by {}[{p}]", show_str(c)),
        // Gone before its event was read (`sed -i` exits at once): its pid
        // names no one now.
        (None, Some(p), _) => format!(" by a process that had exited (was pid {p})"),
        _ => String::new(),
    };
    let again = if reminder { " (still)" } else { "" };
    let what = consequence.map_or(String::new(), |c| format!(": {}", printable(c)));
    let text = format!(
        "{} {}{by}{again}: {} is not persisted and will be lost at reboot{what}; to keep it: {}",
        match how {
            How::Write => "write to",
            How::MovedIn => "directory moved to",
            How::Attrs => "mode, owner or attributes changed of directory",
        },
        show(path),
        show(group),
        printable(suggest),
    );
    macro_rules! log {
        ($level:ident) => {
            tracing::$level!(
                MESSAGE_ID = UNPERSISTED_WRITE,
                IMPERMCTL_PATH = %path.to_string_lossy(),
                IMPERMCTL_PATH_HEX = hex(path),
                IMPERMCTL_GROUP = %group.to_string_lossy(),
                IMPERMCTL_GROUP_HEX = hex(group),
                IMPERMCTL_SUGGEST = suggest,
                IMPERMCTL_IMPORTANT = consequence.map(|_| true),
                IMPERMCTL_CONSEQUENCE = consequence,
                IMPERMCTL_COMM = who.comm.as_deref(),
                IMPERMCTL_PID = who.pid,
                IMPERMCTL_UNIT = who.unit.as_deref(),
                IMPERMCTL_CMDLINE = who.cmdline.as_deref(),
                "{text}"
            )
        };
    }
    match consequence {
        Some(_) => log!(error),
        None => log!(warn),
    }
}

/// Log the warnings the budget held back.
pub fn suppressed(s: &Suppressed, per_minute: u32) {
    let names: Vec<String> = s.groups.iter().map(|g| show(g)).collect();
    let more = if s.count as usize > names.len() {
        ", …"
    } else {
        ""
    };
    tracing::warn!(
        MESSAGE_ID = SUPPRESSED,
        IMPERMCTL_SUPPRESSED = s.count,
        "{} more unpersisted-write warnings suppressed (budget: {per_minute} per minute): {}{more}; see `impermctl status` or `impermctl diff`",
        s.count,
        names.join(", "),
    );
}

/// Log a queue overflow.
pub fn overflow(backend: &str) {
    tracing::warn!(
        MESSAGE_ID = OVERFLOW,
        IMPERMCTL_BACKEND = backend,
        "{backend} event queue overflowed: events were lost; rescanning the root filesystem for files changed since the watcher started"
    );
}

/// Log the start: `status` is the daemon's status line, which begins with
/// the backend's name (`inotify, 920 dirs, 0 unpersisted groups`).
pub fn started(backend: &str, status: &str, fallback: Option<&str>) {
    let why = fallback.map_or(String::new(), |w| format!("; fanotify not used: {w}"));
    tracing::info!(
        MESSAGE_ID = STARTED,
        IMPERMCTL_BACKEND = backend,
        IMPERMCTL_FALLBACK = fallback,
        "watching with {status}{why}"
    );
}

/// The shutdown summary text for `groups` (biggest first), and totals.
pub fn summary_text(groups: &[&Group]) -> (String, u64, u64) {
    let files: u64 = groups.iter().map(|g| g.files).sum();
    let bytes: u64 = groups.iter().map(|g| g.bytes).sum();
    if groups.is_empty() {
        let text = "the reboot will discard nothing the watcher saw written";
        return (text.into(), 0, 0);
    }
    let all_dirs = groups.iter().all(|g| g.kind == Kind::Directory);
    let what = if all_dirs {
        ("directory", "directories")
    } else {
        ("place", "places")
    };
    let list: Vec<String> = (groups.iter().take(10))
        .map(|g| {
            let (files, bytes) = (counted(g.files, "file"), size(g.bytes));
            format!("{} ({files}, {bytes}{})", show(&g.path), attrs(g.dirs()))
        })
        .collect();
    let more = if groups.len() > 10 { ", …" } else { "" };
    let dirs: u64 = groups.iter().map(|g| g.dirs()).sum();
    let text = format!(
        "the reboot will discard {}, {}{}, in {}: {}{more}",
        counted(files, "file"),
        size(bytes),
        attrs(dirs),
        crate::human::count(groups.len() as u64, what.0, what.1),
        list.join(", ")
    );
    (text, files, bytes)
}

/// `, the mode, owner or attributes of N dirs` (`diff`'s words), or
/// nothing for 0.
fn attrs(dirs: u64) -> String {
    match dirs {
        0 => String::new(),
        n => format!(", the mode, owner or attributes of {}", counted(n, "dir")),
    }
}

/// Log the shutdown summary (`groups` biggest first, important ones
/// first): priority info when nothing is lost, warning otherwise, err with
/// what losing them means when important groups are among them.
pub fn discard_summary(
    groups: &[&Group],
    important: &std::collections::HashMap<std::path::PathBuf, String>,
) {
    let (text, files, bytes) = summary_text(groups);
    let notes: Vec<String> = (groups.iter())
        .filter_map(|g| {
            let why = printable(important.get(&g.path)?);
            Some(format!("{}: {why}", show(&g.path)))
        })
        .collect();
    macro_rules! log {
        ($level:ident, $($text:tt)*) => {
            tracing::$level!(
                MESSAGE_ID = DISCARD_SUMMARY,
                IMPERMCTL_FILES = files,
                IMPERMCTL_BYTES = bytes,
                IMPERMCTL_GROUPS = groups.len(),
                IMPERMCTL_IMPORTANT = (!notes.is_empty()).then_some(notes.len()),
                $($text)*
            )
        };
    }
    match (groups.is_empty(), notes.is_empty()) {
        (true, _) => log!(info, "{text}"),
        (false, true) => log!(warn, "{text}"),
        (false, false) => log!(error, "{text}; important: {}", notes.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::tally::{Change, Limits, Table};
    use std::time::Duration;

    #[test]
    fn ids_are_128_bit_hex_and_distinct() {
        let ids = [
            UNPERSISTED_WRITE,
            SUPPRESSED,
            DISCARD_SUMMARY,
            OVERFLOW,
            STARTED,
        ];
        for id in ids {
            assert_eq!(id.len(), 32);
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
        let set: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(set.len(), ids.len());
    }

    #[test]
    fn summary_lists_biggest_first() {
        let mut t = Table::new(Limits::default(), Duration::ZERO);
        let w = |n| Change::Write {
            size: Some(n),
            created: true,
        };
        for i in 0..300 {
            let p = format!("/var/lib/demo/f{i}");
            t.record(
                Path::new("/var/lib/demo"),
                Path::new(&p),
                w(140_000),
                Duration::ZERO,
            );
        }
        t.record(
            Path::new("/etc/foo"),
            Path::new("/etc/foo/a"),
            w(10),
            Duration::ZERO,
        );
        let (text, files, _) = summary_text(&t.groups());
        assert_eq!(files, 301);
        assert_eq!(
            text,
            "the reboot will discard 301 files, 40 MiB, in 2 directories: /var/lib/demo (300 files, 40 MiB), /etc/foo (1 file, 10 B)"
        );
    }
}
