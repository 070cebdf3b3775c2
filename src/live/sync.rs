//! The sync (`impermctl sync`, run by `impermctl-sync.service` when it
//! stops at shutdown, after the services stopped): save every
//! `method = "copy"` file that changed, and save the live data of every
//! pending entry over its seed so that the next boot binds complete data.

use std::path::PathBuf;

use serde::Serialize;
use tracing::{error, info, warn};

use super::files;
use crate::config::{Entry, FileMethod, Kind, Settings};
use crate::root::Root;
use crate::state;

/// What happened to one path.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Saved into persistence.
    Saved {
        /// Bytes copied (the files' sizes, holes included).
        bytes: u64,
    },
    /// Persistence already had it.
    Unchanged,
    /// No live file to save (the persistent copy is kept).
    NoLiveFile,
    /// The live file was deleted after this boot put it in place: its
    /// persistent copy was moved aside (`files::keep_deleted`), so the next
    /// boot does not bring it back.
    Deleted {
        /// Where the persistent copy went (logical).
        kept: PathBuf,
    },
    /// Could not be saved.
    Failed {
        /// Why.
        error: String,
    },
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// The live path.
    pub path: PathBuf,
    /// A `copy` file or a pending entry.
    pub what: &'static str,
    /// How it went.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The `method = "copy"` entries of `settings`.
pub fn copy_entries(settings: &Settings) -> impl Iterator<Item = &Entry> {
    settings
        .entries
        .iter()
        .filter(|e| e.kind == Kind::File && e.method == FileMethod::Copy)
}

/// Save one copy file, logging what happened.
pub fn save_logged(root: &Root, e: &Entry) -> Outcome {
    match files::save(root, e) {
        Ok(Outcome::Saved { bytes }) => {
            info!(path = %e.path.display(), bytes, "saved {} to {}", crate::names::show(&e.path), crate::names::show(&e.source));
            Outcome::Saved { bytes }
        }
        Ok(o) => o,
        Err(err) => {
            let error = format!("{err:#}");
            error!(path = %e.path.display(), "cannot save {}: {error}", crate::names::show(&e.path));
            Outcome::Failed { error }
        }
    }
}

/// Why an entry's persistence root takes no writes (the layout gate,
/// `plan::gate`), or `None`.
pub type Refused<'a> = &'a dyn Fn(&Entry) -> Option<String>;

/// The outcome of a path whose persistence root the layout gate refuses,
/// logged (nothing is written).
pub fn refusal(e: &Entry, why: String) -> Outcome {
    let (p, r) = (crate::names::show(&e.path), crate::names::show(&e.root));
    let error = format!("refused: its persistence root {r} is unusable: {why}");
    error!(path = %e.path.display(), "not saving {p}: {error}");
    Outcome::Failed { error }
}

/// A copy file with no live file to save: deleted after this boot put it
/// in place (`copied`: `files::copied_this_boot`)? Then its persistent
/// copy is moved aside (logged), else kept where it is.
fn keep_deleted(root: &Root, e: &Entry, copied: &[(PathBuf, PathBuf)]) -> Outcome {
    if !files::deleted(root, e, copied) {
        return Outcome::NoLiveFile;
    }
    let (p, s) = (crate::names::show(&e.path), crate::names::show(&e.source));
    match files::keep_deleted(root, e) {
        Ok(kept) => {
            let k = crate::names::show(&kept);
            info!(path = %e.path.display(), kept = %kept.display(), "{p} was deleted since boot: its persistent copy {s} is moved aside to {k}, so the next boot does not bring it back");
            Outcome::Deleted { kept }
        }
        Err(err) => {
            let error = format!(
                "{err:#} ({p} was deleted since boot; {s} is kept, and the next boot copies it back)"
            );
            error!(path = %e.path.display(), "{error}");
            Outcome::Failed { error }
        }
    }
}

/// Save the copy file `e` ([`save_logged`]); deleted since this boot put
/// it in place: its persistent copy moved aside (`files::keep_deleted`,
/// logged), so that the next boot, even after a crash, does not bring it
/// back. What both the shutdown sync and `sync --follow` do on a change.
pub fn save_copy(root: &Root, e: &Entry) -> Outcome {
    match save_logged(root, e) {
        Outcome::NoLiveFile => keep_deleted(root, e, &files::copied_this_boot(root)),
        o => o,
    }
}

/// Save everything: copy files ([`save_copy`]), then pending entries
/// (recorded in `state.json`, or begun by a killed `boot`, still
/// declared), except those of the roots `refused` refuses (failed,
/// nothing written). Returns one line per path.
pub fn sync_all(root: &Root, settings: &Settings, refused: Refused<'_>) -> Vec<Line> {
    let mut lines: Vec<Line> = copy_entries(settings)
        .map(|e| Line {
            path: e.path.clone(),
            what: "copy",
            outcome: match refused(e) {
                Some(why) => refusal(e, why),
                None => save_copy(root, e),
            },
        })
        .collect();
    let file = root.state_file();
    let mut st = state::read(&file).unwrap_or_else(|e| {
        warn!("{e:#}; pending entries cannot be completed");
        None
    });
    let recorded = st.as_ref().map(|s| s.entries.clone()).unwrap_or_default();
    // Seeds a `boot` began and was killed before it recorded them
    // (`state::seeding`): pending too, once the seed is there.
    let mut begun: Vec<state::Pending> = (state::seeding(root).into_iter())
        .filter(|s| {
            settings.entry(&s.path).is_some()
                && !recorded.iter().any(|r| r.path == s.path)
                && std::fs::symlink_metadata(root.host(&s.source)).is_ok()
                // Bound by it already: saving would replace the bound seed.
                && super::pending::mount_point(&root.host(&s.path)) == Some(false)
        })
        .map(|s| state::Pending {
            path: s.path,
            kind: s.kind,
            source: s.source,
            writers: Vec::new(),
            since: 0,
            saved: None,
        })
        .collect();
    let mut changed = false;
    let recorded_pending = (st.iter_mut())
        .flat_map(|s| s.pending.iter_mut())
        .filter(|p| super::pending::still_pending(&recorded, settings, &p.path));
    for p in recorded_pending.chain(begun.iter_mut()) {
        let why = settings.entry(&p.path).and_then(|e| Some((e, refused(e)?)));
        if let Some((e, why)) = why {
            let outcome = refusal(e, why);
            lines.push(Line {
                path: p.path.clone(),
                what: "pending",
                outcome,
            });
            continue;
        }
        // A process serving a socket there writes nothing through it: the
        // save is whole (systemd may still hold a socket unit's socket).
        let mut left = super::pending::writers(root, &p.path);
        left.retain(|w| !w.listening);
        if !left.is_empty() {
            let list: Vec<String> = left.iter().map(ToString::to_string).collect();
            warn!(path = %p.path.display(), "saving {} while processes still write there ({}): run `impermctl sync` again once they stopped (impermctl-sync.service does at shutdown)", crate::names::show(&p.path), list.join(", "));
        }
        let outcome = match super::pending::save_over_seed(root, p) {
            Ok(s) => {
                p.saved = Some(state::now());
                changed = true;
                // Complete only once nobody writes there: the mark stays
                // until then, saying when it was last saved.
                if let Some(e) = settings.entry(&p.path) {
                    if left.is_empty() {
                        super::unsaved::unmark_logged(root, e);
                    } else {
                        super::unsaved::saved_while_written(root, e, state::now());
                    }
                }
                info!(path = %p.path.display(), bytes = s.bytes, entries = s.entries, "saved the pending {} over its seed {}; the next boot binds it", crate::names::show(&p.path), crate::names::show(&p.source));
                Outcome::Saved { bytes: s.bytes }
            }
            Err(err) => {
                let error = format!("{err:#}");
                error!(path = %p.path.display(), "cannot save the pending {}: {error} (the seed {} is intact)", crate::names::show(&p.path), crate::names::show(&p.source));
                Outcome::Failed { error }
            }
        };
        lines.push(Line {
            path: p.path.clone(),
            what: "pending",
            outcome,
        });
    }
    if let (true, Some(st)) = (changed, &st)
        && let Err(e) = state::write(&file, st)
    {
        warn!("{e:#}");
    }
    lines
}
