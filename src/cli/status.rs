//! `impermctl status`: the layout verdict and each declared path's state.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::Kind;
use crate::exit::Exit;
use crate::layout::{self, EntryState};

/// Arguments of `impermctl status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a versioned JSON document.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub mi: super::MountinfoArg,
}

#[derive(Serialize)]
struct EntryReport {
    path: PathBuf,
    kind: Kind,
    source: PathBuf,
    #[serde(flatten)]
    state: EntryState,
}

#[derive(Serialize)]
struct Report<'a> {
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    notice: Option<&'a str>,
    findings: &'a [layout::Finding],
    entries: Vec<EntryReport>,
    /// The watcher's state (D-Bus, else watch.json); null when not running.
    watcher: Option<crate::watch::report::WatchState>,
}

/// Run `impermctl status`.
pub fn run(g: &super::Global, a: Args) -> anyhow::Result<Exit> {
    let root = g.root(a.mi.mountinfo.as_deref())?;
    let (settings, notice) = g.settings(false)?;
    let state = layout::observe(&root, &settings)?;
    let v = layout::run_checks(&state, &settings, &[]);
    let entries: Vec<EntryReport> = settings
        .entries
        .iter()
        .map(|e| EntryReport {
            path: e.path.clone(),
            kind: e.kind,
            source: e.source.clone(),
            state: layout::entry_state(&state, e),
        })
        .collect();
    if a.json {
        crate::output::print_json(
            "Status",
            &Report {
                verdict: super::verify::summary_word(&v),
                notice: notice.as_deref(),
                findings: &v.findings,
                entries,
                watcher: crate::watch::report::read_state(&root).map(|(_, s)| s),
            },
        )?;
        return Ok(super::verify::exit_for(&v));
    }
    if let Some(n) = &notice {
        eprintln!("impermctl: notice: {n}");
    }
    let mut out = std::io::stdout().lock();
    super::verify::print_findings(&mut out, &v)?;
    if !entries.is_empty() {
        writeln!(out, "\npersisted paths ({}):", entries.len())?;
    }
    for e in &entries {
        let state = match &e.state {
            EntryState::Bound => format!("bound from {}", e.source.display()),
            EntryState::Symlinked => format!("symlink to {}", e.source.display()),
            EntryState::Missing => "missing (run `impermctl boot`)".into(),
            EntryState::NotPersisted => {
                "NOT PERSISTED: on the ephemeral root (run `impermctl boot`)".into()
            }
            EntryState::Foreign { source, root } => {
                format!("foreign mount: {source} {}", root.display())
            }
            EntryState::WrongLink { target } => format!(
                "symlink to {} (expected {})",
                target.display(),
                e.source.display()
            ),
        };
        let kind = match e.kind {
            Kind::Directory => "dir ",
            Kind::File => "file",
        };
        writeln!(out, "  {kind} {:<28} {state}", e.path.display())?;
    }
    crate::watch::report::print_status(&mut out, &root)?;
    Ok(super::verify::exit_for(&v))
}
