//! `impermctl persist PATH…`: plan every path, refuse them all if one must
//! be refused, else copy, bind and record each, with progress on a
//! terminal, then print the configuration that keeps them persisted.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::copy::CopyStats;
use crate::exit::Exit;
use crate::names::show;
use crate::persist::{self, Action, Method, Options, Refusal, Step};
use crate::suggest::{self, Line};

/// Arguments of `impermctl persist`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The paths to persist, as the system sees them (e.g. /var/lib/foo).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The persistence root to move the data to (default: the config's first).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Print what would be done and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Proceed even when processes have files there open for writing.
    #[arg(long)]
    pub force: bool,
    /// Print a versioned JSON document.
    #[arg(long)]
    pub json: bool,
    /// Keep a file by a bind mount, or by a copy the shutdown sync saves
    /// (`method = "copy"`). Default: copy a file `diff` says programs
    /// replace by rename (a rename onto a bind-mounted file fails with
    /// EBUSY), else bind.
    #[arg(long, value_enum, value_name = "METHOD")]
    pub method: Option<Method>,
}

#[derive(Serialize)]
struct Report<'a> {
    dry_run: bool,
    paths: Vec<PathReport<'a>>,
    refused: Vec<&'a Refusal>,
    /// Config entries refused for their errors (the others are used).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    refused_entries: Vec<crate::config::RefusedEntry<'a>>,
}

#[derive(Serialize)]
struct PathReport<'a> {
    #[serde(flatten)]
    step: &'a Step,
    /// What the copy did (when it ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    copied: Option<CopyStats>,
    nix: String,
    toml: String,
}

/// Run `impermctl persist`.
pub fn run(g: &super::Global, a: Args) -> anyhow::Result<Exit> {
    let root = g.root(None)?;
    if !a.dry_run {
        let why = "it copies data into persistence and bind-mounts it";
        super::require_root("persist", why)?;
    }
    let c = g.settings(false)?;
    let (settings, bad) = (&c.settings, &c.refused);
    let opts = Options {
        to: a.to.as_deref(),
        force: a.force,
        proc: Path::new("/proc"),
        method: a.method,
    };
    // The layout gate of every writer of persistence (plan::gate): a root
    // it refuses takes nothing, whatever else is said of the paths.
    let (verdict, gate) = crate::plan::gate(&root, settings)?;
    let proot = (a.to.clone()).or_else(|| settings.roots.first().map(|r| r.path.clone()));
    let planned = match proot.and_then(|p| Some((gate.why(&verdict, &p)?, p))) {
        Some((why, p)) => (a.paths.iter())
            .map(|path| {
                Err(Refusal {
                    path: path.clone(),
                    reason: format!("its persistence root {} is unusable: {why}", show(&p)),
                    writers: Vec::new(),
                })
            })
            .collect(),
        None => persist::prepare(&root, settings, opts, &a.paths)?,
    };
    let (steps, refused): (Vec<_>, Vec<_>) = planned.into_iter().partition(Result::is_ok);
    let steps: Vec<Step> = steps.into_iter().filter_map(Result::ok).collect();
    let refused: Vec<Refusal> = refused.into_iter().filter_map(Result::err).collect();
    let report = |paths| Report {
        dry_run: a.dry_run,
        paths,
        refused: refused.iter().collect(),
        refused_entries: bad.json(),
    };
    if !refused.is_empty() {
        if a.json {
            crate::output::print_json("Persist", &report(Vec::new()))?;
        }
        for r in &refused {
            let (path, reason) = (show(&r.path), &r.reason);
            eprintln!("impermctl: refusing to persist {path}: {reason}");
        }
        if steps.len() + refused.len() > 1 {
            eprintln!("impermctl: nothing was changed");
        }
        return Ok(Exit::Error);
    }
    let mut out = std::io::stdout().lock();
    let mut reports = Vec::new();
    for step in &steps {
        let stats = (!a.dry_run).then(|| apply_with_progress(&root, step, !a.json));
        let copied = stats.transpose()?.filter(|_| step.action == Action::Copy);
        describe(&mut out, step, a.json, a.dry_run)?;
        reports.push(PathReport {
            step,
            copied,
            nix: line(step).nix(&step.root),
            toml: line(step).toml(),
        });
    }
    match a.json {
        true => crate::output::print_json("Persist", &report(reports))?,
        false => {
            scratch_notes(&mut out, &steps, &settings.watch.ignore)?;
            config_hint(&mut out, &steps, settings, a.dry_run)?
        }
    }
    Ok(Exit::findings_if(!bad.is_empty()))
}

fn describe(out: &mut impl Write, s: &Step, json: bool, dry: bool) -> anyhow::Result<()> {
    if json {
        return Ok(());
    }
    let (p, src) = (show(&s.path), show(&s.source));
    let size = format!(
        "{}, {}",
        crate::human::count(s.entries, "entry", "entries"),
        crate::human::size(s.bytes)
    );
    let copy = "method = \"copy\": not bind-mounted, programs replace this file by rename; the shutdown sync saves it once declared";
    let line = match (s.action, dry) {
        (Action::Done, _) => format!("{p}: already persisted ({src} is bound over it)"),
        (Action::Copy, _) if s.method == Method::Copy => {
            let did = match dry {
                true => "would copy",
                false => "persisted: copied",
            };
            format!("{did} {p} ({size}) to {src} ({copy})")
        }
        (Action::Bind, _) if s.method == Method::Copy => {
            format!("{p}: {src} already holds the same file ({copy})")
        }
        (Action::Copy, true) => {
            format!("would copy {p} ({size}) to {src}, then bind-mount it over {p}")
        }
        (Action::Bind, true) => {
            format!("would bind-mount the finished copy {src} ({size}) over {p}")
        }
        (Action::Copy, false) => {
            format!("persisted {p}: copied {size} to {src} and bind-mounted it over {p}")
        }
        (Action::Bind, false) => {
            format!("persisted {p}: bind-mounted the finished copy {src} over it")
        }
    };
    writeln!(out, "{line}")?;
    if s.stale_tmp {
        let verb = if dry { "would remove" } else { "removed" };
        writeln!(
            out,
            "  ({verb} a partial copy left by an interrupted run first)"
        )?;
    }
    for w in &s.writers {
        writeln!(out, "  warning (--force): {w}")?;
    }
    for l in &s.separated {
        writeln!(out, "  warning: {}", l.message(&s.path, &s.source))?;
    }
    Ok(())
}

/// What to add to the config for the paths not declared yet
/// ([`suggest::to_add`], which `diff` says too while they are not). A path whose entry is `refused` is declared already: its error is what to fix.
fn config_hint(
    out: &mut impl Write,
    steps: &[Step],
    settings: &crate::config::Settings,
    dry: bool,
) -> anyhow::Result<()> {
    let refused = &settings.refused;
    let (bad, new): (Vec<&Step>, Vec<&Step>) = (steps.iter())
        .filter(|s| !s.declared)
        .partition(|s| refused.contains(&s.path));
    for s in bad {
        let p = show(&s.path);
        writeln!(
            out,
            "\n{p} is declared, but its config entry is refused (see the errors): fix it so that it stays persisted after a reboot"
        )?;
    }
    if new.is_empty() {
        return Ok(());
    }
    let mut by_root: BTreeMap<&Path, Vec<Line>> = BTreeMap::new();
    for s in &new {
        by_root.entry(&s.root).or_default().push(line(s));
    }
    let when = if dry { "After that, add" } else { "Add" };
    Ok(write!(
        out,
        "{}",
        suggest::to_add(&settings.file, &by_root, when)
    )?)
}

/// A note for each step in or below a `watch.ignore` path (`/tmp`,
/// `/var/tmp`: scratch space, cleared at boot on any system): persisted as
/// asked (some keep `/tmp` on disk for big builds), but said, in case one
/// file of it was meant (trial s8 #14).
fn scratch_notes(out: &mut impl Write, steps: &[Step], ignore: &[PathBuf]) -> anyhow::Result<()> {
    for s in steps.iter().filter(|s| s.action != Action::Done) {
        if let Some(i) = ignore.iter().find(|i| s.path.starts_with(i)) {
            writeln!(
                out,
                "
note: {} is in watch.ignore ({}): scratch space, which the watcher and `diff` leave out and any system empties at boot; persisted as asked. To keep one file from it instead, move the file elsewhere (e.g. /var/lib/NAME) and persist that.",
                show(&s.path),
                show(i)
            )?;
        }
    }
    Ok(())
}

/// The config line that declares `s` as persisted (`method = "copy"`
/// when copied): [`Line::recorded`], as `status` and `diff` say it.
fn line(s: &Step) -> Line {
    Line::recorded(&s.path, s.kind, s.method == Method::Copy)
}

fn apply_with_progress(
    root: &crate::root::Root,
    step: &Step,
    allow: bool,
) -> anyhow::Result<CopyStats> {
    let tty = allow && std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut shown = false;
    let mut progress = |st: CopyStats| {
        if !tty || start.elapsed().as_millis() < 500 {
            return;
        }
        shown = true;
        let line = progress_line(step, st, start.elapsed().as_secs_f64());
        eprint!("\r\x1b[K{line}");
    };
    let r = persist::carry_out(root, step, &mut progress);
    if shown {
        eprintln!();
    }
    r
}

/// "copying /var/lib/foo: 1,204/2,000 entries, 12.0 MiB/20.0 MiB, 40.0 MiB/s, ETA 1s"
fn progress_line(step: &Step, st: CopyStats, secs: f64) -> String {
    let rate = st.bytes as f64 / secs.max(0.001);
    let left = step.bytes.saturating_sub(st.bytes) as f64;
    let eta = if rate > 0.0 {
        format!("ETA {:.0}s", left / rate)
    } else {
        "ETA ?".into()
    };
    let size = crate::human::size;
    let (path, done, all) = (show(&step.path), st.entries, step.entries);
    let (copied, total, rate) = (size(st.bytes), size(step.bytes), size(rate as u64));
    format!("copying {path}: {done}/{all} entries, {copied}/{total}, {rate}/s, {eta}")
}
