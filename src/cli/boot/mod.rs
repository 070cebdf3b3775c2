//! `impermctl boot`: load the config, observe, verify (refuse on a fatal
//! finding), plan, apply, record `state.json` and the baseline, report.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tracing::{error, info, warn};

use crate::apply::{self, Applied, Handles};
use crate::exit::Exit;
use crate::layout::{self, Severity};
use crate::plan::{self, Plan};
use crate::state::{self, BootState};

mod dry_run;
use dry_run::dry_run;

/// Arguments of `impermctl boot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip quietly (exit 0) the entries whose declared owner does not
    /// exist yet (or whose /home/NAME no passwd entry and no directory
    /// knows yet); the NixOS module passes this on the activation pass
    /// before users and groups are created, the next pass applies them.
    #[arg(long)]
    pub defer_unknown_owners: bool,
    /// Print a versioned JSON document (the plan with --dry-run, else the result).
    #[arg(long)]
    pub json: bool,
}

/// The `BootResult` document of `--json` (not with `--dry-run`).
#[derive(Serialize)]
struct Report<'a> {
    outcome: &'static str,
    duration_ms: f64,
    findings: &'a [layout::Finding],
    #[serde(flatten)]
    applied: Option<&'a Applied>,
}

/// Run `impermctl boot`: observe the layout, decide what it refuses, take
/// the lock, gather the entries' facts, plan, apply, record, report.
pub fn run(g: &super::Global, a: Args) -> anyhow::Result<Exit> {
    let start = Instant::now();
    let root = g.root(None)?;
    if !a.dry_run {
        super::require_root("boot", "it bind-mounts the declared paths")?;
    }
    // A bad entry (or block) is refused alone (CRIT below); the others are bound.
    let c = g.partial_settings(true)?;
    let (settings, bad) = (&c.settings, &c.refused);
    // The layout checks need probes of /, /nix and the persistence roots
    // only: entries are judged by their mounts, and boot probes them itself
    // (fd-relative) below. Skipping the per-entry path probes keeps a rerun
    // over thousands of entries cheap.
    let roots_only = crate::config::Settings {
        entries: Vec::new(),
        ..settings.clone()
    };
    // The gate every writer of persistence passes (plan::gate).
    let (verdict, refused) = plan::gate(&root, settings)?;
    let report = |outcome, applied| {
        let (duration_ms, findings) = (ms(start.elapsed()), &verdict.findings[..]);
        let doc = Report {
            outcome,
            duration_ms,
            findings,
            applied,
        };
        (a.json && !a.dry_run)
            .then(|| c.print_json("BootResult", &doc))
            .transpose()
    };
    if verdict.rescue {
        info!("rescue mode: the VPS's own root is not active here, so impermctl mounts nothing");
        notify("STATUS=rescue mode: nothing mounted");
        report("rescue", None)?;
        return Ok(Exit::Ok);
    }
    log_findings(&verdict);
    // Said as every command says them; boot refusing an entry is a CRIT
    // refusal (a bad `[watch]` value is not, nor is a dry run).
    for e in &bad.errors {
        let crit = !a.dry_run && crate::config::entry_of(&e.field).is_some();
        super::say_refused(e, crit);
    }
    if !a.dry_run {
        // A dry run reports a refusal in its plan, not as CRIT log lines.
        for (check, msg) in &refused.crit {
            crate::logging::crit(check, msg);
        }
        if refused.everything {
            notify("STATUS=refused: the persistent storage layout is wrong (see the journal)");
            report("refused", None)?;
            return Ok(Exit::Error);
        }
    }
    // One boot at a time (activation and the unit may overlap); a dry run
    // changes nothing and takes no lock.
    let _lock = (!a.dry_run).then(|| lock(&root)).transpose()?;
    // A damaged record only costs the note of removed entries left in
    // place: warn, go on.
    let previous = state::read(&root.state_file()).unwrap_or_else(|e| {
        warn!("{e:#}; entries removed from the config since the last run stay mounted");
        None
    });
    // What another `boot` mounted while this one waited for the lock is
    // seen: the mount table is read after taking it.
    let state = layout::observe(&root, &roots_only)?;
    let handles = match Handles::open(&root, settings) {
        Ok(h) => h,
        // A refused layout may lack the persistence root: the dry run
        // still reports the refusal, with no steps.
        Err(e) if refused.everything => {
            let why = format!("{e:#}");
            let none = Plan { steps: Vec::new() };
            return dry_run(&a, &verdict, &refused, &none, None, Some(&why), bad);
        }
        Err(e) => return Err(e),
    };
    let (prev_entries, prev_pending) = previous
        .as_ref()
        .map(|s| (s.entries.clone(), s.pending.clone()))
        .unwrap_or_default();
    // What left the config stays in place until the next boot (trial-s10
    // F10): unbinding it on a running system would put the data from
    // before it was persisted back under the services that use it, their
    // next writes on the throwaway root. Nothing undoes a record, so none
    // is trusted for more: those still in place stay recorded and are
    // said; the rest are gone.
    let copied = crate::persist::copied(&root, &prev_entries);
    let (prev_entries, removed): (Vec<_>, Vec<_>) =
        (prev_entries.into_iter()).partition(|r| settings.entry(&r.path).is_some());
    // Copy files and binds that left the config: a directory declared over
    // them now is seeded around their sources (`apply::only_nested_at`).
    let left_nested =
        (removed.iter()).filter(|r| matches!(r.how, state::How::Copied | state::How::Bound));
    let left_nested: Vec<state::Recorded> = left_nested.cloned().collect();
    let kept: Vec<state::Recorded> = (removed.into_iter())
        .filter(|r| apply::in_place(&handles, &state.mounts, r))
        .collect();
    // A refused entry at the same path (mistyped) says its own error.
    let refused_path = |p: &std::path::Path| bad.paths.values().any(|(r, _)| r == p);
    let left: Vec<&state::Recorded> = kept.iter().filter(|r| !refused_path(&r.path)).collect();
    let left_warnings: Vec<String> = left.iter().map(|r| left_in_place(r)).collect();
    let mut prev_entries = [copied, prev_entries].concat();
    // Seeds a killed run began and never recorded: pending (`state::seeding`).
    for s in state::seeding(&root) {
        if !prev_entries.iter().any(|r| r.path == s.path) {
            prev_entries.push(s);
        }
    }
    let seen = [prev_entries.clone(), left_nested].concat();
    let obs = apply::gather(&handles, settings, &state.mounts, seen);
    let mut plan = plan::plan(settings, &obs);
    plan::refuse_roots(&mut plan, settings, &refused.roots);
    if a.dry_run {
        let exit = dry_run(&a, &verdict, &refused, &plan, Some(&obs), None, bad)?;
        return Ok(exit.max(Exit::findings_if(!bad.is_empty())));
    }
    let live = apply::LiveOptions {
        previous_pending: &prev_pending,
        defer_unknown_owners: a.defer_unknown_owners,
        places: Some(&c.places),
        mounts: Some(&state.mounts),
    };
    let mut applied = apply::apply(&root, settings, &handles, &plan, &prev_entries, live);
    applied.warnings.extend(left_warnings);
    let left: Vec<&std::path::Path> = left.iter().map(|r| r.path.as_path()).collect();
    applied.record.extend(kept.iter().cloned());
    applied.record.sort_by(|a, b| a.path.cmp(&b.path));
    let recorded = record(&root, settings, previous.as_ref(), &applied);
    let elapsed = ms(start.elapsed());
    let (outcome, exit) = finish(settings, &applied, elapsed, bad.errors.len(), &left);
    report(outcome, Some(&applied))?;
    // Without its record the next run cannot tell what it left in place.
    Ok(exit.max(Exit::findings_if(!recorded)))
}

/// Log and notify the summary line (`elapsed` ms); the outcome, and exit 1
/// when a step failed, a bound entry had an error after its bind
/// (`Counts::errors`) or the config had `bad` refused entry errors;
/// `left`: the removed entries left in place until the next boot.
fn finish(
    settings: &crate::config::Settings,
    applied: &Applied,
    elapsed: f64,
    bad: usize,
    left: &[&std::path::Path],
) -> (&'static str, Exit) {
    let c = &applied.counts;
    let mut line = c.summary(settings, elapsed);
    if bad > 0 {
        let n = crate::human::counted(bad as u64, "config error");
        line.push_str(&format!(
            "; {n} (above; fix them, then run impermctl boot again)"
        ));
    }
    if !left.is_empty() {
        let n = crate::human::count(left.len() as u64, "removed entry", "removed entries");
        let names = apply::named(left);
        line.push_str(&format!(
            "; {n} left in place until the next boot ({names})"
        ));
    }
    info!(
        bound = c.bound,
        linked = c.linked,
        skipped = c.skipped,
        failed = c.failed,
        errors = c.errors,
        left = left.len(),
        duration_ms = elapsed,
        "{line}"
    );
    notify(&format!("STATUS={line}"));
    // An error after a bind (writes that raced the seed not carried over)
    // fails the unit like a failed entry: systemd shows it.
    match c.failed + c.errors + bad {
        0 => ("ok", Exit::Ok),
        _ => ("partial", Exit::Findings),
    }
}

/// The WARNING (logged, and returned for `--json`'s warnings) for a
/// removed entry left bound or linked (trial-s10 F10): its current data is
/// in its source, and the next boot does not bind it; what is hidden under
/// the bind is what was there before it was persisted.
fn left_in_place(r: &state::Recorded) -> String {
    let (p, s) = (crate::names::show(&r.path), crate::names::show(&r.source));
    let (how, verb) = match r.how {
        state::How::Linked => ("linked", "link"),
        _ => ("bound", "bind"),
    };
    let msg = format!(
        "{p} is no longer declared: left {how} from {s} until the next boot, which does not {verb} it; \
         undoing it now would put the data from before it was persisted back under what runs there \
         (its current data stays in {s}: declare it again to keep it, or copy what you need before the reboot)"
    );
    warn!(path = %r.path.display(), "{msg}");
    msg
}

/// Log the warnings and notes of the layout checks (the fatal ones are
/// logged as refusals).
fn log_findings(verdict: &layout::Verdict) {
    for f in &verdict.findings {
        let (msg, check, fix) = (&f.message, f.check, &f.remedy);
        match f.severity {
            Severity::Fatal => {}
            Severity::Warning => warn!(check, "{msg} [{check}] (fix: {fix})"),
            Severity::Info => info!(check, "{msg} [{check}] ({fix})"),
        }
    }
}

/// Take `/run/impermctl/boot.lock` (waiting for another `boot`).
fn lock(root: &crate::root::Root) -> anyhow::Result<std::os::fd::OwnedFd> {
    let lock = root.run_dir().join("boot.lock");
    std::fs::create_dir_all(root.run_dir())
        .with_context(|| format!("cannot create {}", crate::names::show(&root.run_dir())))?;
    crate::sys::fs::lock_file(&lock)
        .with_context(|| format!("cannot lock {}", crate::names::show(&lock)))
}

/// Record what is in place in `state.json` and capture the baseline for
/// `diff` once; failures are logged (the mounts are in place either way).
/// False when `state.json` could not be written (logged at ERROR).
fn record(
    root: &crate::root::Root,
    settings: &crate::config::Settings,
    previous: Option<&BootState>,
    applied: &Applied,
) -> bool {
    let record = BootState {
        config: settings.file.clone(),
        time: state::now(),
        runs: previous.map_or(0, |s| s.runs) + 1,
        entries: applied.record.clone(),
        pending: applied.pending.clone(),
        failed: (applied.steps.iter())
            .filter_map(|s| match &s.outcome {
                apply::Outcome::Failed { error } => Some(state::Failed {
                    path: s.path.clone(),
                    error: error.clone(),
                }),
                _ => None,
            })
            .collect(),
    };
    let written = state::write(&root.state_file(), &record);
    match &written {
        Ok(()) => state::clear_seeding(root, &record.entries),
        Err(e) => error!("{e:#}"),
    }
    let file = crate::names::show(&root.baseline_file());
    match crate::baseline::capture_if_missing(root, settings) {
        Ok(true) => info!("baseline of the ephemeral root written to {file}"),
        Ok(false) => {}
        Err(e) => warn!("cannot write the baseline for `impermctl diff`: {e:#}"),
    }
    written.is_ok()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

fn notify(state: &str) {
    if let Err(e) = crate::sys::notify::notify(state) {
        warn!("sd_notify failed: {e}");
    }
}
