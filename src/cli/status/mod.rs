//! `impermctl status`: the layout verdict and each declared path's state.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::Kind;
use crate::exit::Exit;
use crate::layout::{self, EntryState};

mod moved;
mod undeclared;
use moved::{Moved, moved_state, print_moved};

/// Arguments of `impermctl status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub report: super::ReportArgs,
}

#[derive(Serialize)]
struct EntryReport {
    path: PathBuf,
    #[serde(rename = "type")]
    kind: Kind,
    source: PathBuf,
    #[serde(flatten)]
    state: EntryState,
    /// `method = "copy"` files and pending entries.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    live: Option<crate::live::status::LiveState>,
    /// `method = "copy"` files on the ephemeral root: how the live file
    /// and its persistent copy compare now.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    copy: Option<CopyReport>,
    #[serde(skip)]
    facts: Option<crate::live::status::CopyFacts>,
    /// Filesystems its bind hides (their writes go into it instead).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hidden_mounts: Vec<layout::HiddenMount>,
    /// A symlink to elsewhere that its source stores (the same link text):
    /// the next boot makes it again, nothing is lost.
    #[serde(skip)]
    link_stored: bool,
}

/// `status --json`'s fields for a `method = "copy"` file.
#[derive(Serialize)]
struct CopyReport {
    /// `same`, `changed` (the sync saves it), `not_saved`, `missing`, `absent`.
    copy_state: crate::live::status::CopyState,
    /// When the persistent copy was last written (its ctime, seconds since
    /// the epoch), when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    saved: Option<i64>,
}

#[derive(Serialize)]
struct Report<'a> {
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    notice: Option<&'a str>,
    findings: &'a [layout::Finding],
    entries: &'a [EntryReport],
    /// The watcher's state (D-Bus, else watch.json); null when not running.
    watcher: Option<crate::watch::report::WatchState>,
    /// False when the watcher that wrote `watcher` is gone: its counts are
    /// its last record, what is unpersisted now is unknown (`impermctl diff`).
    #[serde(skip_serializing_if = "Option::is_none")]
    watcher_running: Option<bool>,
    /// Paths moved with `impermctl persist` during this boot; the next boot
    /// binds again only the declared ones.
    persisted: &'a [Moved],
    /// Data on the ephemeral root hidden under mount points, lost at the
    /// next reboot (`diff --shadowed` lists it). Absent when none.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    shadowed: &'a [crate::diff::shadowed::Shadowed],
}

/// Run `impermctl status`.
pub fn run(g: &super::Global, a: Args) -> anyhow::Result<Exit> {
    let root = g.root(a.report.mi.mountinfo.as_deref())?;
    let c = g.partial_settings(false)?;
    let (settings, refused) = (&c.settings, &c.refused);
    let state = layout::observe(&root, settings)?;
    let v = layout::run_checks(&state, settings, &[]);
    let advice = Advice::new(&root, settings, &state, &v);
    let mut live = crate::live::status::states(&root, settings);
    let hidden = layout::hidden_mounts(settings, &state.mounts);
    let entries: Vec<EntryReport> = settings
        .entries
        .iter()
        .map(|e| {
            let st = match settings.covered_by(e) {
                Some(d) => EntryState::Covered { by: d.path.clone() },
                None => layout::entry_state(&state, e),
            };
            let live = live.remove(&e.path);
            let in_place = matches!(st, EntryState::NotPersisted | EntryState::Missing);
            let facts = (in_place && live == Some(crate::live::status::LiveState::Copy))
                .then(|| crate::live::status::copy_facts(&root, e));
            EntryReport {
                path: e.path.clone(),
                kind: e.kind,
                source: e.source.clone(),
                live,
                copy: facts.map(|f| CopyReport {
                    copy_state: crate::live::status::copy_state(&f),
                    saved: f.saved,
                }),
                facts,
                hidden_mounts: (hidden.iter())
                    .filter(|h| h.under == e.path)
                    .cloned()
                    .collect(),
                link_stored: matches!(&st, EntryState::WrongLink { target }
                    if std::fs::read_link(root.host(&e.source)).is_ok_and(|t| t == *target)),
                state: st,
            }
        })
        .collect();
    let moved: Vec<Moved> = crate::persist::records(&root)
        .unwrap_or_else(|e| {
            tracing::warn!("{e:#}");
            Vec::new()
        })
        .into_iter()
        .map(|r| Moved {
            now: moved_state(&root, &state, &r),
            declared: settings.entries.iter().any(|e| e.path == r.path),
            copy: r.copy,
            path: r.path,
            kind: r.kind,
            root: r.root,
            source: r.source,
            since: r.since,
        })
        .collect();
    let stale = undeclared::left(crate::diff::unbound::find(&root, settings, &state));
    // Written into an original a bind hides (trial-s11 N2b): lost, on an
    // ephemeral root.
    let shadowed = match crate::diff::judge::not_ephemeral_by(&root, &v) {
        Some(_) => Vec::new(),
        None => crate::diff::shadowed::glance(&root).unwrap_or_default(),
    };
    let texts: Vec<(String, bool)> = entries
        .iter()
        .map(|e| entry_text(settings, &advice, e))
        .collect();
    let findings = moved
        .iter()
        .any(|m| !m.declared || (m.now != EntryState::Bound && !m.copy))
        || texts.iter().any(|(_, f)| *f)
        || !stale.is_empty()
        || !shadowed.is_empty();
    let (verdict, exit) = super::verify::judged(&v);
    let exit = exit.max(Exit::findings_if(findings));
    let human = |out: &mut std::io::StdoutLock<'static>| -> anyhow::Result<()> {
        if let Some(n) = &c.notice {
            eprintln!("impermctl: notice: {n}");
        }
        super::verify::print_findings(out, &v)?;
        if !entries.is_empty() {
            writeln!(out, "\npersisted paths ({}):", entries.len())?;
        }
        for (e, (state, _)) in entries.iter().zip(&texts) {
            let path = crate::names::show(&e.path);
            writeln!(out, "  {} {path:<28} {state}", kind_word(e.kind))?;
        }
        if !shadowed.is_empty() {
            writeln!(out)?;
        }
        for m in &shadowed {
            writeln!(out, "{}", crate::diff::shadowed::brief(m))?;
        }
        if !refused.is_empty() {
            let n = crate::human::counted(refused.errors.len() as u64, "error");
            writeln!(
                out,
                "\nrefused config entries (boot does not bind them; {n}):"
            )?;
            for e in &refused.errors {
                writeln!(out, "  {}", e.to_string().replace('\n', "\n  "))?;
            }
        }
        undeclared::print(out, &stale)?;
        print_moved(out, &moved)?;
        crate::services::section(out, &root, &state.mounts, settings)?;
        Ok(crate::watch::report::print_status(out, &root)?)
    };
    let watcher = (a.report.json)
        .then(|| crate::watch::report::read_state(&root).map(|(_, s)| s))
        .flatten();
    let doc = Report {
        watcher_running: watcher.as_ref().map(crate::watch::report::running),
        verdict,
        notice: c.notice.as_deref(),
        findings: &v.findings,
        entries: &entries,
        watcher,
        persisted: &moved,
        shadowed: &shadowed,
    };
    c.finish(a.report.json, "Status", &doc, exit, human)
}

/// The state text of one entry, and whether it is a finding (the README's
/// exit rule: something would be lost at the next boot → exit 1), which
/// its text then flags in capitals (`NOT PERSISTED`, `MISSING`…: trial s11
/// N15). A bind that hides a filesystem mounted below it is one; a symlink
/// to elsewhere stored as its source (symlinks as data) is not.
fn entry_text(
    settings: &crate::config::Settings,
    advice: &Advice,
    e: &EntryReport,
) -> (String, bool) {
    use crate::live::status::{LiveState, describe, describe_copy};
    use crate::names::{printable, show};
    use EntryState::*;
    let in_place = matches!(e.state, NotPersisted | Missing);
    match (&e.live, settings.entry(&e.path), &e.facts) {
        (Some(l @ LiveState::Unsaved { .. }), ..) if matches!(e.state, Bound | Symlinked) => {
            return (describe(l, &e.source), true);
        }
        (Some(LiveState::Unsaved { .. }), ..) => {}
        (Some(_), Some(entry), Some(f)) => {
            return describe_copy(f, entry, advice.unusable.get(&e.path).map(String::as_str));
        }
        (Some(l), _, _) if in_place => return (describe(l, &e.source), false),
        _ => {}
    }
    let specific = advice.said.get(&e.path);
    let said = specific.map_or(crate::plan::advice::RUN_BOOT, String::as_str);
    let advice = crate::plan::advice::mind_others(said, &e.path, &advice.rollbacks);
    let source = show(&e.source);
    let text = match &e.state {
        Bound => format!("bound from {source}"),
        Symlinked => format!("symlink to {source}"),
        Missing => format!("MISSING ({advice})"),
        NotPersisted => format!("NOT PERSISTED: on the ephemeral root ({advice})"),
        Foreign { source: from, root } => format!(
            "FOREIGN mount: {} {}, not the bind of {source}",
            printable(from),
            show(root)
        ),
        WrongLink { target } if e.link_stored => format!(
            "symlink to {}, stored as the symlink {source} (the next boot makes it again)",
            show(target)
        ),
        WrongLink { target } if specific.is_some() => {
            format!("NOT PERSISTED: symlink to {} ({advice})", show(target))
        }
        WrongLink { target } => format!(
            "NOT PERSISTED: symlink to {}, not to {source} ({advice})",
            show(target)
        ),
        Covered { by } => format!("covered by {}", show(by)),
    };
    let fine = matches!(e.state, Bound | Symlinked | Covered { .. }) || e.link_stored;
    let hides: Vec<String> = e.hidden_mounts.iter().map(|h| h.text()).collect();
    match hides.is_empty() {
        true => (text, !fine),
        false => (format!("{text}, but HIDES: {}", hides.join("; ")), true),
    }
}

pub(super) fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::Directory => "dir ",
        Kind::File => "file",
    }
}

/// What to tell the user about an entry that is not in place: run `boot`
/// only where that can help and keeps the live data
/// (`plan::advice::not_in_place`); else the reason it cannot (its root is
/// refused, or boot would fail the entry: planted symlink, wrong type…).
struct Advice {
    /// Per entry that needs more than [`crate::plan::advice::RUN_BOOT`].
    said: std::collections::BTreeMap<PathBuf, String>,
    /// The entries whose root is refused, why (`its root … is unusable,
    /// see [check] above`): nothing can be saved there.
    unusable: std::collections::BTreeMap<PathBuf, String>,
    /// The entries `boot` would roll back (`plan::advice::rolls_back`):
    /// every advice to run `boot` says so.
    rollbacks: Vec<PathBuf>,
}

impl Advice {
    fn new(
        root: &crate::root::Root,
        settings: &crate::config::Settings,
        state: &layout::State,
        v: &layout::Verdict,
    ) -> Advice {
        use crate::names::show;
        let refused = v.refused_roots(settings);
        let failed = crate::state::failed(root);
        // The planner's verdict needs the tree open (live; else the generic advice stands).
        let handles = (state.live)
            .then(|| crate::apply::Handles::open(root, settings).ok())
            .flatten();
        let unusable = |e: &crate::config::Entry| {
            let (r, f) = refused.iter().find(|(r, _)| *r == e.root)?;
            let (r, check) = (show(r), f.check);
            Some(format!("its root {r} is unusable, see [{check}] above"))
        };
        let why_not = |e: &crate::config::Entry| {
            if let Some(why) = unusable(e) {
                return Some(format!("refused: {why}"));
            }
            if let Some(l) = layout::dir_link(state, settings, e) {
                return Some(format!("`impermctl boot` refuses it: {}", l.refusal(e)));
            }
            // A persistent copy that does not exist cannot be created on a
            // read-only root: `boot` cannot help until it is remounted.
            if state.live
                && std::fs::symlink_metadata(root.host(&e.source)).is_err()
                && crate::live::status::read_only(&root.host(&e.root))
            {
                let fix = crate::live::status::remount_fix(&e.root, "impermctl boot");
                let source = show(&e.source);
                return Some(format!(
                    "its persistent copy {source} does not exist and {fix}"
                ));
            }
            let in_place = layout::entry_state(state, e);
            let not_in_place = matches!(
                in_place,
                EntryState::Missing | EntryState::NotPersisted | EntryState::WrongLink { .. }
            );
            if !not_in_place {
                return None;
            }
            // Its cause, not a rerun that fails the same way (trial-s10 F7).
            if let Some(error) = failed.get(&e.path) {
                return Some(format!("the last `impermctl boot` failed on it: {error}"));
            }
            let said = crate::apply::advice(handles.as_ref()?, settings, &state.mounts, e, false);
            if said != crate::plan::advice::RUN_BOOT {
                return Some(said);
            }
            // What boot fails on when it creates it (trial s5 finding 8).
            let err = [&e.perms, &e.parent]
                .map(|p| crate::ids::Ids::default().owner(root, p))
                .into_iter()
                .find_map(Result::err)?;
            Some(format!("`impermctl boot` cannot fix it: {err:#}"))
        };
        let entries = settings.entries.iter();
        let said: std::collections::BTreeMap<PathBuf, String> = (entries.clone())
            .filter_map(|e| Some((e.path.clone(), why_not(e)?)))
            .collect();
        let rollbacks = (said.iter())
            .filter(|(_, a)| crate::plan::advice::rolls_back(a))
            .map(|(p, _)| p.clone())
            .collect();
        Advice {
            said,
            unusable: entries
                .filter_map(|e| Some((e.path.clone(), unusable(e)?)))
                .collect(),
            rollbacks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::status::tests::flagged;

    /// Trial s11 N15: every state that makes `status` exit 1 says so on
    /// its line; a hand-made link stored as the entry's source (symlinks
    /// as data: the next boot makes it again) is no finding.
    #[test]
    fn every_finding_is_flagged_on_its_line() {
        let settings = crate::config::parse(
            "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [\"/var/lib/app\"]\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        let advice = Advice {
            said: Default::default(),
            unusable: Default::default(),
            rollbacks: Vec::new(),
        };
        let hidden = layout::HiddenMount {
            path: "/var/lib/app/sub".into(),
            under: "/var/lib/app".into(),
            instead: "/persistent/var/lib/app/sub".into(),
            what: "tmpfs".into(),
        };
        let target = PathBuf::from("/persistent/data/app");
        let states = [
            EntryState::Bound,
            EntryState::Symlinked,
            EntryState::Missing,
            EntryState::NotPersisted,
            EntryState::Foreign {
                source: "tank".into(),
                root: "/".into(),
            },
            EntryState::Covered { by: "/var".into() },
            EntryState::WrongLink { target },
        ];
        for state in states {
            for (link_stored, hides) in [(false, false), (true, false), (false, true)] {
                let e = EntryReport {
                    path: "/var/lib/app".into(),
                    kind: Kind::Directory,
                    source: "/persistent/var/lib/app".into(),
                    state: state.clone(),
                    live: None,
                    copy: None,
                    facts: None,
                    hidden_mounts: hides.then(|| hidden.clone()).into_iter().collect(),
                    link_stored: link_stored && matches!(state, EntryState::WrongLink { .. }),
                };
                let (text, finding) = entry_text(&settings, &advice, &e);
                assert!(!finding || flagged(&text), "{state:?}: {text}");
                if e.link_stored && !hides {
                    assert!(!finding, "{text}");
                    assert!(
                        text.contains("stored as the symlink /persistent/var/lib/app"),
                        "{text}"
                    );
                }
            }
        }
    }
}
