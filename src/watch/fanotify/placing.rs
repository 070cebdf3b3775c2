//! The start-up walk that gives every directory of the root's filesystem
//! its content mark (`marks`), on a thread of its own so that the watcher
//! is ready at once: until it is done the filesystem mark carries the
//! content events too, and then hands them over
//! (`FanotifyWatcher::settle`). `watch.ignore` directories and mount points
//! are not walked (the scope prunes them).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::marks::ON_DIR;
use super::sys::Fanotify;
use crate::watch::scan::{self, Scope};

/// How the walk ended.
#[derive(Debug)]
pub enum Walked {
    /// Every directory it met is marked (this many, in this long).
    Done(usize, std::time::Duration),
    /// It stopped: a mark could not be placed (why, for the log).
    Spent(String),
}

/// Start the walk of `scope` (at most `budget` marks).
pub fn spawn(
    fan: Arc<Fanotify>,
    scope: Scope,
    budget: usize,
) -> std::io::Result<JoinHandle<Walked>> {
    std::thread::Builder::new()
        .name("fanotify-marks".into())
        .spawn(move || walk(&fan, &scope, budget))
}

/// Mark every directory of `scope`, one thread (the writers share the
/// cores; the watcher misses nothing meanwhile).
pub fn walk(fan: &Fanotify, scope: &Scope, budget: usize) -> Walked {
    let t0 = std::time::Instant::now();
    let placed = AtomicUsize::new(0);
    let spent: Mutex<Option<String>> = Mutex::new(None);
    let stop = |why: String| {
        let mut s = spent.lock().unwrap_or_else(|e| e.into_inner());
        s.get_or_insert(why);
    };
    let watch = |p: PathBuf| -> Option<()> {
        if spent.lock().map_or(true, |s| s.is_some()) {
            return None;
        }
        // Looked at first: a mark on another filesystem (mounted after the
        // scope was read) would bring events whose handles do not resolve.
        let m = crate::sys::meta::lstat_path(&p).ok()?;
        if m.dev != scope.dev {
            return None;
        }
        if placed.load(Ordering::Relaxed) >= budget {
            stop(format!(
                "more than {budget} directories, the budget ({})",
                super::marks::BUDGET
            ));
            return None;
        }
        match super::marks::placed(fan.mark_dir(&p, ON_DIR), &p) {
            Ok(true) => {
                placed.fetch_add(1, Ordering::Relaxed);
                Some(())
            }
            Ok(false) => None,
            Err(why) => {
                stop(why);
                None
            }
        }
    };
    scan::walk_dirs_parallel(scope, 1, &watch, &|()| {});
    match spent.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(why) => Walked::Spent(why),
        None => Walked::Done(placed.into_inner(), t0.elapsed()),
    }
}

impl super::FanotifyWatcher {
    /// Hand the content events over to the directories' marks once the
    /// walk is done (the filesystem mark keeps directory-entry events), or
    /// keep them on the filesystem mark when it could not mark them all.
    /// After either, or a fall-back, the muted directories are muted again
    /// with the masks that fit (the walk may have marked some of them).
    pub(super) fn settle(&mut self, core: &mut crate::watch::core::Core) {
        use super::marks::{CONTENT, Source};
        if self.placing.as_ref().is_some_and(|h| h.is_finished()) {
            let walked = self.placing.take().map(|h| h.join());
            let m = &self.marks;
            match walked {
                Some(Ok(Walked::Done(n, took))) if m.source.get() == Source::Placing => {
                    m.placed.set(m.placed.get().max(n));
                    match m.fan.unmark_filesystem(&m.root, CONTENT) {
                        Ok(()) => {
                            m.source.set(Source::Dirs);
                            m.remute.set(true);
                            tracing::info!(
                                "fanotify: {} marked in {} ms; content events come from their marks",
                                crate::human::count(n as u64, "directory", "directories"),
                                took.as_millis()
                            );
                        }
                        Err(e) => m.fall_back(&format!("the filesystem mark keeps them: {e}")),
                    }
                }
                Some(Ok(Walked::Done(..))) => {}
                Some(Ok(Walked::Spent(why))) => m.fall_back(&why),
                _ => m.fall_back("the walk that marks them failed"),
            }
        }
        if self.marks.remute.take() {
            self.cache.clear();
            let dirs: Vec<_> = core.muting.dirs.keys().cloned().collect();
            core.muting.fresh.extend(dirs);
            self.mute_fresh(core, &[]);
        }
    }
}
