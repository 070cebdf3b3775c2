//! What an apply run did: each step's outcome, the totals, the record for
//! `state.json` and the pending entries, tallied as the steps run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tracing::{error, warn};

use crate::config::{Entry, Kind};
use crate::names;
use crate::plan::{Op, Step, Why};
use crate::state::{How, Pending, Recorded, WriterInfo};

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Bind-mounted now.
    Bound,
    /// Symlinked now.
    Linked,
    /// `method = "copy"`: copied in (or saved) now.
    Copied,
    /// Seeded, but not bound: processes write there (see `crate::live::pending`).
    Pending {
        /// The processes found writing.
        writers: Vec<WriterInfo>,
    },
    /// Nothing to do.
    Skipped(Why),
    /// It failed; nothing after the failing operation ran.
    Failed {
        /// What went wrong and how to fix it.
        error: String,
    },
}

/// The report of one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The path on the ephemeral root.
    pub path: PathBuf,
    /// Directory or file.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Its persistent source.
    pub source: PathBuf,
    /// The operations that ran (complete ones only).
    pub done: Vec<Op>,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// How many paths [`named`] names.
pub const NAMED: usize = 3;

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Newly bound.
    pub bound: usize,
    /// Newly linked.
    pub linked: usize,
    /// Already in place, or a foreign mount left alone.
    pub skipped: usize,
    /// Failed.
    pub failed: usize,
    /// `method = "copy"` files copied in or saved.
    pub copied: usize,
    /// Seeded but left pending (processes write there).
    pub pending: usize,
    /// Bound, but with an error after the bind: what was written to the
    /// live data meanwhile could not all be carried into the bound copy
    /// (`crate::live::reconcile`; logged at ERROR with what is left where).
    pub errors: usize,
}
impl Counts {
    /// The one summary line of `boot` (logged, and the unit's `STATUS=`)
    /// for `settings`, which took `ms` milliseconds.
    pub fn summary(&self, settings: &crate::config::Settings, ms: f64) -> String {
        let c = self;
        let roots: Vec<String> = (settings.roots.iter())
            .map(|r| names::show(&r.path))
            .collect();
        // Every block refused for its config errors: no root is used.
        let roots = match roots.is_empty() {
            true => "no usable persistence root".into(),
            false => roots.join(", "),
        };
        let paths = crate::human::counted(settings.entries.len() as u64, "path");
        let mut line = format!(
            "persisted {paths} from {roots} in {ms:.1} ms: {} bound, {} linked, {} skipped",
            c.bound, c.linked, c.skipped
        );
        let pending = "PENDING (in use by running processes; bound at the next boot)";
        for (n, what) in [
            (c.copied, "copied"),
            (c.pending, pending),
            (c.failed, "FAILED"),
            (c.errors, "bound with ERRORS (above)"),
        ] {
            if n > 0 {
                line.push_str(&format!(", {n} {what}"));
            }
        }
        line
    }
}

/// The first [`NAMED`] of `paths`, then how many more: `/a, /b, /c, 2 more`.
pub fn named(paths: &[&Path]) -> String {
    let mut names: Vec<String> = paths.iter().take(NAMED).map(|p| names::show(p)).collect();
    if paths.len() > NAMED {
        names.push(format!("{} more", paths.len() - NAMED));
    }
    names.join(", ")
}

/// What an apply run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    /// Per step.
    pub steps: Vec<StepReport>,
    /// Totals.
    pub counts: Counts,
    /// Data hidden by new binds, and foreign mounts skipped.
    pub warnings: Vec<String>,
    /// What is in place now (for `state.json`).
    #[serde(skip)]
    pub record: Vec<Recorded>,
    /// Entries left pending (for `state.json`).
    pub pending: Vec<Pending>,
}

/// The report being built, step by step.
pub(super) struct Tally<'a> {
    /// The report so far (its warnings are the run's, added at the end).
    pub done: Applied,
    /// The record of the last run of this boot, by path (one lookup per
    /// step: a rerun of 2,000 entries scanned it 2,000 times).
    previous: HashMap<&'a Path, &'a Recorded>,
    /// The entries it left pending.
    previous_pending: &'a [Pending],
    /// The config file and where each entry is declared in it.
    pub places: Option<(&'a Path, &'a crate::config::Places)>,
}

impl<'a> Tally<'a> {
    pub fn new(n: usize, previous: &'a [Recorded], previous_pending: &'a [Pending]) -> Self {
        let mut done = Applied::default();
        done.steps.reserve(n);
        Tally {
            done,
            previous: previous.iter().map(|r| (r.path.as_path(), r)).collect(),
            previous_pending,
            places: None,
        }
    }

    /// Count how `st` ended, log and queue its warnings, record it.
    pub fn add(
        &mut self,
        warnings: &mut Vec<String>,
        entry: Option<&Entry>,
        st: &Step,
        (done, seeded): (Vec<Op>, Option<u64>),
        outcome: Outcome,
    ) {
        let c = &mut self.done.counts;
        let mut warning = None;
        match &outcome {
            Outcome::Bound => c.bound += 1,
            Outcome::Linked => c.linked += 1,
            Outcome::Copied => c.copied += 1,
            Outcome::Pending { writers } => {
                c.pending += 1;
                let earlier = self.previous_pending.iter().find(|p| p.path == st.path);
                let earlier = earlier.map(|p| p.since);
                if earlier.is_none() {
                    warning = entry.map(|e| crate::live::pending::warning(e, writers));
                }
                self.done.pending.push(Pending {
                    path: st.path.clone(),
                    kind: st.kind,
                    source: st.source.clone(),
                    writers: writers.clone(),
                    since: earlier.unwrap_or_else(crate::state::now),
                    saved: None,
                });
            }
            Outcome::Skipped(why) => {
                c.skipped += 1;
                warning = skip_warning(&st.path, &st.source, why);
            }
            Outcome::Failed { error } => {
                c.failed += 1;
                let at = (self.places)
                    .and_then(|(f, p)| Some((f, p.get(&st.path)?)))
                    .map(|(f, (l, c))| format!("{}:{l}:{c}: ", f.display()));
                error!(path = %st.path.display(), "{}{error}", at.unwrap_or_default());
            }
        }
        if let Some(msg) = warning {
            warn!(path = %st.path.display(), "{msg}");
            warnings.push(msg);
        }
        let before = self.previous.get(st.path.as_path()).copied();
        if let Some(how) = recorded_how(&outcome, before) {
            self.done.record.push(Recorded {
                path: st.path.clone(),
                kind: st.kind,
                source: st.source.clone(),
                how,
                // Seeded now, else as recorded while it stays in place.
                seeded_ns: seeded
                    .or_else(|| before.filter(|r| r.how == how).and_then(|r| r.seeded_ns)),
            });
        }
        self.done.steps.push(StepReport {
            path: st.path.clone(),
            kind: st.kind,
            source: st.source.clone(),
            done,
            outcome,
        });
    }
}

/// The warning for a skip that leaves something the user should know of.
fn skip_warning(path: &Path, source: &Path, why: &Why) -> Option<String> {
    let (path, source) = (names::show(path), names::show(source));
    match why {
        Why::Foreign { source: from, root } => Some(format!(
            "{path} is already mounted from {from} ({}), not from {source}: left alone, never stacked",
            names::show(root)
        )),
        _ => None,
    }
}

/// How `path` is in place after a step that ended with `outcome`, for
/// `state.json` (`None`: not ours). A failure keeps what the last run
/// recorded: it may still be in place.
fn recorded_how(outcome: &Outcome, before: Option<&Recorded>) -> Option<How> {
    match outcome {
        Outcome::Bound | Outcome::Skipped(Why::AlreadyBound) => Some(How::Bound),
        Outcome::Linked | Outcome::Skipped(Why::AlreadyLinked | Why::LinkInPlace) => {
            Some(How::Linked)
        }
        Outcome::Copied | Outcome::Skipped(Why::AlreadyCopied | Why::NothingToCopy) => {
            Some(How::Copied)
        }
        Outcome::Pending { .. } => Some(How::Pending),
        Outcome::Failed { .. } => before.map(|r| r.how),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_recorded_after_each_outcome() {
        let prev = [Recorded {
            path: "/a".into(),
            kind: Kind::Directory,
            source: "/persistent/a".into(),
            how: How::Bound,
            seeded_ns: None,
        }];
        let failed = || Outcome::Failed { error: "x".into() };
        let pending = Outcome::Pending { writers: vec![] };
        for (outcome, path, want) in [
            (Outcome::Bound, "/a", Some(How::Bound)),
            (Outcome::Skipped(Why::AlreadyBound), "/b", Some(How::Bound)),
            (Outcome::Linked, "/b", Some(How::Linked)),
            (Outcome::Skipped(Why::LinkInPlace), "/b", Some(How::Linked)),
            (
                Outcome::Skipped(Why::NothingToCopy),
                "/b",
                Some(How::Copied),
            ),
            (pending, "/b", Some(How::Pending)),
            (
                Outcome::Skipped(Why::Covered { by: "/".into() }),
                "/a",
                None,
            ),
            (failed(), "/a", Some(How::Bound)),
            (failed(), "/b", None),
        ] {
            let before = prev.iter().find(|r| r.path == Path::new(path));
            let got = recorded_how(&outcome, before);
            assert_eq!(got, want, "{outcome:?} {path}");
        }
    }

    #[test]
    fn skips_that_leave_something_behind_warn() {
        let (p, s) = (Path::new("/a"), Path::new("/persistent/a"));
        let foreign = Why::Foreign {
            source: "/dev/sdb".into(),
            root: "/x".into(),
        };
        let w = skip_warning(p, s, &foreign).unwrap();
        assert!(
            w.contains("/a is already mounted from /dev/sdb (/x), not from /persistent/a"),
            "{w}"
        );
        assert_eq!(skip_warning(p, s, &Why::AlreadyBound), None);
    }

    #[test]
    fn the_summary_names_every_count_that_is_not_zero() {
        let s = crate::config::parse(
            "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"/var/log\"\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        let mut c = Counts {
            bound: 1,
            ..Default::default()
        };
        let head = "persisted 1 path from /persistent in 2.5 ms: 1 bound, 0 linked, 0 skipped";
        assert_eq!(c.summary(&s, 2.5), head);
        (c.copied, c.pending, c.failed) = (2, 3, 4);
        assert_eq!(
            c.summary(&s, 2.5),
            format!(
                "{head}, 2 copied, 3 PENDING (in use by running processes; bound at the next boot), 4 FAILED"
            )
        );
        let gone = ["/a", "/b", "/c", "/d", "/e"].map(Path::new);
        assert_eq!(named(&gone), "/a, /b, /c, 2 more");
        assert_eq!(named(&gone[..1]), "/a");
    }
}
