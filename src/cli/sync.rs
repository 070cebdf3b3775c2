//! `impermctl sync`: save every `method = "copy"` file that changed and
//! the live data of every pending entry into persistence (run at shutdown
//! by `impermctl-sync.service`, after the services stopped). `--follow`
//! keeps running, saving copy files shortly after each change, and syncs
//! everything on SIGTERM.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::exit::Exit;
use crate::live::sync::{self, Outcome};

/// Arguments of `impermctl sync`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep running: save each copy file shortly after it changes; sync
    /// everything on SIGTERM (how impermctl-sync.service runs it).
    #[arg(long)]
    pub follow: bool,
    /// With --follow: milliseconds between a change and its save (default 1000).
    #[arg(long, value_name = "MS", requires = "follow")]
    pub debounce_ms: Option<u64>,
    /// Print a versioned JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Run `impermctl sync`.
pub fn run(g: &super::Global, a: Args) -> anyhow::Result<Exit> {
    let root = g.root(None)?;
    // A bad entry elsewhere must not stop the copies from being saved.
    let c = g.settings(true)?;
    // The layout gate of boot and persist (trial-s10 F11): with /persistent
    // not mounted, a "saved" file would land on the throwaway root.
    let (verdict, refused) = crate::plan::gate(&root, &c.settings)?;
    let why = |proot: &Path| refused.why(&verdict, proot);
    // Every root refused: each path fails with the reason, nothing is
    // written, exit 2 as boot and persist.
    let all = verdict.rescue || refused.everything;
    if all {
        let why = why(Path::new("/")).unwrap_or_default();
        tracing::error!("refusing to save anything into persistence: {why}");
    }
    let refused = |e: &crate::config::Entry| why(&e.root);
    if a.follow && !all {
        let debounce = a.debounce_ms.map(Duration::from_millis);
        crate::live::saver::follow(&root, &c.settings, &refused, debounce)?;
        return Ok(Exit::Ok);
    }
    let lines = sync::sync_all(&root, &c.settings, &refused);
    let failed = lines
        .iter()
        .any(|l| matches!(l.outcome, Outcome::Failed { .. }));
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        paths: &'a [sync::Line],
    }
    let doc = Doc { paths: &lines };
    c.finish(
        a.json,
        "SyncResult",
        &doc,
        if all {
            Exit::Error
        } else {
            Exit::findings_if(failed)
        },
        |out| {
            for l in &lines {
                let what = match &l.outcome {
                    Outcome::Saved { bytes } => format!("saved ({})", crate::human::size(*bytes)),
                    Outcome::Unchanged => "unchanged".into(),
                    Outcome::NoLiveFile => "no live file (persistent copy kept)".into(),
                    Outcome::Deleted { kept } => format!(
                        "deleted since boot: its persistent copy was moved aside to {} (the next boot does not bring it back)",
                        crate::names::show(kept)
                    ),
                    Outcome::Failed { error } => format!("FAILED: {error}"),
                };
                let path = crate::names::show(&l.path);
                writeln!(out, "{:<8} {path:<32} {what}", l.what)?;
            }
            Ok(())
        },
    )
}
