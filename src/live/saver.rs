//! `impermctl sync --follow` (`impermctl-sync.service`): watches the
//! directories holding the `method = "copy"` files and saves a file into
//! persistence [`DEBOUNCE`] after its last change (write, rename over it,
//! delete and re-create, owner or mode change) or, deleted for good (a
//! compromised host key `rm`ed), moves its persistent copy aside as the
//! shutdown sync does (trial-s11 N23); on SIGTERM (at shutdown, after the
//! services stopped) it runs the full sync ([`super::sync`]) and exits. A
//! crash loses at most the changes (deletions included) of the last
//! `DEBOUNCE`.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::Signal;

use crate::config::{Entry, Settings};
use crate::root::Root;
use crate::sys::inotify::{Inotify, ReadFlags, WatchFlags};
use crate::sys::poll::{readable, signal_fd};

/// Time between the last change of a copy file and its save.
pub const DEBOUNCE: Duration = Duration::from_secs(1);
/// How often missing directories are looked for again (and every file
/// compared, in case an event was lost).
pub const RESCAN: Duration = Duration::from_secs(10);

const MASK: WatchFlags = WatchFlags::CLOSE_WRITE
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::CREATE)
    .union(WatchFlags::DELETE)
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::ONLYDIR)
    .union(WatchFlags::DONT_FOLLOW)
    .union(WatchFlags::EXCL_UNLINK);

struct Watches<'a> {
    ino: Inotify,
    entries: Vec<&'a Entry>,
    /// wd → indexes of the entries in that directory.
    by_wd: HashMap<i32, Vec<usize>>,
    /// Entries whose directory is watched.
    watched: Vec<bool>,
    /// Saves due: entry index → when.
    due: HashMap<usize, Instant>,
    /// Time between the last event for a file and its save.
    debounce: Duration,
}

impl Watches<'_> {
    /// Watch every entry's directory that exists and is not watched yet;
    /// a newly watched entry is due now (it may have changed unseen).
    fn rewatch(&mut self, root: &Root) {
        for (i, e) in self.entries.iter().enumerate() {
            if self.watched[i] {
                continue;
            }
            let Some(dir) = e.path.parent() else { continue };
            if let Ok(wd) = self.ino.add_watch(&root.host(dir), MASK) {
                self.by_wd.entry(wd).or_default().push(i);
                self.watched[i] = true;
                self.due.insert(i, Instant::now());
            }
        }
    }

    fn drain(&mut self, buf: &mut [std::mem::MaybeUninit<u8>]) -> anyhow::Result<()> {
        let mut events: Vec<(i32, ReadFlags, Vec<u8>)> = Vec::new();
        self.ino
            .drain(buf, |ev| events.push((ev.wd, ev.mask, ev.name.to_vec())))
            .context("reading inotify events")?;
        for (wd, mask, name) in events {
            if mask.contains(ReadFlags::QUEUE_OVERFLOW) {
                let all = Instant::now() + self.debounce;
                for i in 0..self.entries.len() {
                    self.due.insert(i, all);
                }
                continue;
            }
            let Some(ids) = self.by_wd.get(&wd).cloned() else {
                continue;
            };
            if mask.intersects(ReadFlags::IGNORED | ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF) {
                self.by_wd.remove(&wd);
                for i in ids {
                    self.watched[i] = false;
                }
                continue;
            }
            for i in ids {
                let own = self.entries[i].path.file_name().map(|n| n.as_bytes());
                if own == Some(name.as_slice()) {
                    // Due `debounce` after the first unsaved change: a file
                    // that changes all the time is still saved that often.
                    self.due.entry(i).or_insert(Instant::now() + self.debounce);
                }
            }
        }
        Ok(())
    }
}

/// Run until SIGTERM/SIGINT, then run the full sync. `debounce` overrides
/// [`DEBOUNCE`] (tests). The entries of roots `refused` refuses are not
/// followed (the final sync says so).
pub fn follow(
    root: &Root,
    settings: &Settings,
    refused: super::sync::Refused<'_>,
    debounce: Option<Duration>,
) -> anyhow::Result<()> {
    let debounce = debounce.unwrap_or(DEBOUNCE);
    let sfd = signal_fd(&[Signal::SIGTERM, Signal::SIGINT])
        .context("cannot read signals from a signalfd")?;
    let entries: Vec<&Entry> = (super::sync::copy_entries(settings))
        .filter(|e| refused(e).is_none())
        .collect();
    let mut w = Watches {
        ino: Inotify::init().context("inotify_init1")?,
        watched: vec![false; entries.len()],
        entries,
        by_wd: HashMap::new(),
        due: HashMap::new(),
        debounce,
    };
    w.rewatch(root);
    let n = w.entries.len();
    tracing::info!(
        "saving {n} copy files into persistence {} ms after each change, and everything at shutdown",
        debounce.as_millis()
    );
    let _ = crate::sys::notify::notify(&format!("READY=1\nSTATUS=following {n} copy files"));
    let mut buf = vec![std::mem::MaybeUninit::uninit(); 64 * 1024];
    let mut next_rescan = Instant::now() + RESCAN;
    loop {
        let next = w.due.values().fold(next_rescan, |a, &b| a.min(b));
        let wait = next.saturating_duration_since(Instant::now());
        let (ready_i, ready_s) = readable(w.ino.as_fd(), sfd.as_fd(), wait).context("poll")?;
        if ready_i {
            w.drain(&mut buf)?;
        }
        if ready_s && sfd.read_signal().ok().flatten().is_some() {
            break;
        }
        let now = Instant::now();
        if now >= next_rescan {
            next_rescan = now + RESCAN;
            w.rewatch(root);
            for i in 0..w.entries.len() {
                w.due.entry(i).or_insert(now);
            }
        }
        for (i, _) in w.due.extract_if(|_, t| *t <= now) {
            super::sync::save_copy(root, w.entries[i]);
        }
    }
    let _ = crate::sys::notify::notify("STOPPING=1\nSTATUS=final sync");
    let lines = super::sync::sync_all(root, settings, refused);
    let saved = (lines.iter())
        .filter(|l| matches!(l.outcome, super::sync::Outcome::Saved { .. }))
        .count();
    tracing::info!(
        saved,
        "shutdown sync done: {saved} of {} paths saved",
        lines.len()
    );
    Ok(())
}
