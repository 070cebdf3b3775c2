//! `impermctl boot`: load the config, observe, verify (refuse on a fatal
//! finding), plan, apply, record `state.json` and the baseline, report.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tracing::{error, info, warn};

use crate::apply::{self, Applied, Handles};
use crate::config::OnFailure;
use crate::exit::Exit;
use crate::layout::{self, Severity};
use crate::plan::{self, Op, Plan, What, Why};
use crate::state::{self, BootState};

/// Arguments of `impermctl boot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip quietly (exit 0) the entries whose declared owner does not
    /// exist yet; the NixOS module passes this on the activation pass
    /// before users and groups are created, the next pass applies them.
    #[arg(long)]
    pub defer_unknown_owners: bool,
    /// Print a versioned JSON document (the plan with --dry-run, else the result).
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Result<'a> {
    outcome: &'static str,
    duration_ms: f64,
    findings: &'a [layout::Finding],
    #[serde(flatten)]
    applied: Option<&'a Applied>,
}

/// Run `impermctl boot`.
pub fn run(g: &super::Global, a: Args) -> anyhow::Result<Exit> {
    let start = Instant::now();
    let root = g.root(None)?;
    if !a.dry_run {
        super::require_root("boot", "it bind-mounts the declared paths")?;
    }
    let (settings, _) = g.settings(true)?;
    // The layout checks need probes of /, /nix and the persistence roots
    // only: entries are judged by their mounts, and boot probes them itself
    // (fd-relative) below. Skipping the per-entry path probes keeps a rerun
    // over thousands of entries cheap.
    let roots_only = crate::config::Settings {
        entries: Vec::new(),
        ..settings.clone()
    };
    let state = layout::observe(&root, &roots_only)?;
    let verdict = layout::run_checks(&state, &settings, &[]);
    let json_result = |outcome, applied: Option<&Applied>| -> anyhow::Result<()> {
        if a.json && !a.dry_run {
            let r = Result {
                outcome,
                duration_ms: ms(start.elapsed()),
                findings: &verdict.findings,
                applied,
            };
            crate::output::print_json("BootResult", &r)?;
        }
        Ok(())
    };
    if verdict.rescue {
        info!("rescue mode: the VPS's own root is not active here, so impermctl mounts nothing");
        notify("STATUS=rescue mode: nothing mounted");
        json_result("rescue", None)?;
        return Ok(Exit::Ok);
    }
    for f in &verdict.findings {
        match f.severity {
            Severity::Fatal => {}
            Severity::Warning => warn!(
                check = f.check,
                "{} [{}] (fix: {})", f.message, f.check, f.remedy
            ),
            Severity::Info => info!(
                check = f.check,
                "{} [{}] ({})", f.message, f.check, f.remedy
            ),
        }
    }
    // A dry run reports a refusal in its plan, not as CRIT log lines.
    let refused = refused_roots(&settings, &verdict, !a.dry_run);
    if refused.everything && !a.dry_run {
        notify("STATUS=refused: the persistent storage layout is wrong (see the journal)");
        json_result("refused", None)?;
        return Ok(Exit::Error);
    }
    // One boot at a time (activation and the unit may overlap); a dry run
    // changes nothing and takes no lock.
    let _lock = if a.dry_run {
        None
    } else {
        let lock = root.run_dir().join("boot.lock");
        std::fs::create_dir_all(root.run_dir())
            .with_context(|| format!("cannot create {}", root.run_dir().display()))?;
        Some(
            crate::sys::fs::lock_file(&lock)
                .with_context(|| format!("cannot lock {}", lock.display()))?,
        )
    };
    // A damaged record only costs the undo of removed entries: warn, go on.
    let previous = state::read(&root.state_file()).unwrap_or_else(|e| {
        warn!("{e:#}; entries removed from the config since the last run stay mounted");
        None
    });
    // What another `boot` mounted while this one waited for the lock is
    // seen: the mount table is read after taking it.
    let state = layout::observe(&root, &roots_only)?;
    let handles = match Handles::open(&root, &settings) {
        Ok(h) => h,
        // A refused layout may lack the persistence root: the dry run
        // still reports the refusal, with no steps.
        Err(e) if refused.everything => {
            let why = format!("{e:#}");
            let none = Plan { steps: Vec::new() };
            return dry_run(&a, &verdict, &refused, &none, None, Some(&why));
        }
        Err(e) => return Err(e),
    };
    let prev_entries = previous
        .as_ref()
        .map(|s| s.entries.clone())
        .unwrap_or_default();
    let obs = apply::observe(&handles, &settings, &state.mounts, prev_entries.clone());
    let mut plan = plan::plan(&settings, &obs);
    plan::refuse_roots(&mut plan, &settings, &refused.roots);
    if a.dry_run {
        return dry_run(&a, &verdict, &refused, &plan, Some(&obs), None);
    }
    let prev_pending = previous
        .as_ref()
        .map(|s| s.pending.clone())
        .unwrap_or_default();
    let applied = apply::apply_with_pending(
        &root,
        &settings,
        &handles,
        &plan,
        &prev_entries,
        apply::LiveOptions {
            previous_pending: &prev_pending,
            defer_unknown_owners: a.defer_unknown_owners,
        },
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let record = BootState {
        config: settings.file.clone(),
        time: now,
        runs: previous.as_ref().map_or(0, |s| s.runs) + 1,
        entries: state::with_mount_ids(applied.record.clone(), root.dir()),
        pending: applied.pending.clone(),
    };
    if let Err(e) = state::write(&root.state_file(), &record) {
        error!("{e:#}");
    }
    match crate::baseline::capture_if_missing(&root, &settings) {
        Ok(true) => info!(
            "baseline of the ephemeral root written to {}",
            root.baseline_file().display()
        ),
        Ok(false) => {}
        Err(e) => warn!("cannot write the baseline for `impermctl diff`: {e:#}"),
    }
    let c = applied.counts;
    let roots: Vec<String> = settings
        .roots
        .iter()
        .map(|r| r.path.display().to_string())
        .collect();
    let elapsed = start.elapsed();
    let mut line = format!(
        "persisted {} paths from {} in {:.1} ms: {} bound, {} linked, {} skipped",
        settings.entries.len(),
        roots.join(", "),
        ms(elapsed),
        c.bound,
        c.linked,
        c.skipped
    );
    if c.copied > 0 {
        line.push_str(&format!(", {} copied", c.copied));
    }
    if c.pending > 0 {
        line.push_str(&format!(
            ", {} PENDING (written by running processes; bound at the next boot)",
            c.pending
        ));
    }
    if c.failed > 0 {
        line.push_str(&format!(", {} FAILED", c.failed));
    }
    if c.undone > 0 {
        line.push_str(&format!(", {} removed entries undone", c.undone));
    }
    info!(
        bound = c.bound,
        linked = c.linked,
        skipped = c.skipped,
        failed = c.failed,
        undone = c.undone,
        duration_ms = ms(elapsed),
        "{line}"
    );
    notify(&format!("STATUS={line}"));
    json_result(if c.failed > 0 { "partial" } else { "ok" }, Some(&applied))?;
    Ok(if c.failed > 0 {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

/// The roots whose entries are refused (with the reason), and whether
/// nothing at all may be mounted.
struct Refused {
    roots: std::collections::BTreeMap<std::path::PathBuf, String>,
    everything: bool,
}

/// Log the fatal findings at CRIT and decide what they refuse: a fatal
/// finding about one persistence root refuses that root's entries only; a
/// fatal finding about no single root, or every root refused, refuses all.
/// `on_failure = "warn"` refuses nothing.
fn refused_roots(
    settings: &crate::config::Settings,
    verdict: &layout::Verdict,
    log: bool,
) -> Refused {
    let mut out = Refused {
        roots: Default::default(),
        everything: false,
    };
    if !verdict.is_fatal() {
        return out;
    }
    let refuse = settings.layout.on_failure == OnFailure::Refuse;
    let per_root = verdict.refused_roots(settings);
    let all_roots = settings
        .roots
        .iter()
        .all(|r| per_root.iter().any(|(p, _)| *p == r.path));
    out.everything = refuse && (verdict.fatal_for_all(settings) || all_roots);
    for f in verdict
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Fatal)
    {
        let root = per_root.iter().find(|(_, g)| std::ptr::eq(*g, f));
        let msg = match (refuse, root) {
            (false, _) => format!(
                "{} [{}] (on_failure = \"warn\": mounting anyway); fix: {}",
                f.message, f.check, f.remedy
            ),
            (true, _) if out.everything => format!(
                "refusing to mount anything: {} [{}]; fix: {}",
                f.message, f.check, f.remedy
            ),
            (true, Some((p, _))) => {
                let n = settings.entries.iter().filter(|e| e.root == *p).count();
                format!(
                    "refusing {} of {} (the other roots' entries are still bound): {} [{}]; fix: {}",
                    crate::human::count(n as u64, "entry", "entries"),
                    p.display(),
                    f.message,
                    f.check,
                    f.remedy
                )
            }
            (true, None) => unreachable!("a fatal finding for no root refuses everything"),
        };
        if log {
            crit(f.check, &msg);
        }
        if refuse
            && !out.everything
            && let Some((p, _)) = root
        {
            out.roots
                .entry(p.clone())
                .or_insert_with(|| format!("{}; fix: {}", f.message, f.remedy));
        }
    }
    out
}

/// `boot --dry-run`: the plan, with the refusal when the layout is refused
/// (exit 2), else exit 1 when a step would fail, 0 otherwise.
fn dry_run(
    a: &Args,
    verdict: &layout::Verdict,
    refused: &Refused,
    plan: &Plan,
    observed: Option<&plan::Observed>,
    unplanned: Option<&str>,
) -> anyhow::Result<Exit> {
    // on_failure = "warn" mounts anyway: its fatal findings are no refusal.
    let refusals: Vec<&layout::Finding> = if refused.everything || !refused.roots.is_empty() {
        verdict
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Fatal)
            .collect()
    } else {
        Vec::new()
    };
    let refused = refused.everything;
    if a.json {
        #[derive(Serialize)]
        struct BootPlan<'a> {
            /// Nothing would be mounted.
            refused: bool,
            /// The fatal findings behind a refusal (of everything, or of one
            /// root's entries).
            refusals: &'a [&'a layout::Finding],
            /// Why no plan could be made (a refused layout), if so.
            #[serde(skip_serializing_if = "Option::is_none")]
            unplanned: Option<&'a str>,
            steps: &'a [plan::Step],
            /// What the plan was made from, per path.
            #[serde(skip_serializing_if = "Option::is_none")]
            observed: Option<&'a plan::Observed>,
        }
        let doc = BootPlan {
            refused,
            refusals: &refusals,
            unplanned,
            steps: &plan.steps,
            observed,
        };
        crate::output::print_json("BootPlan", &doc)?;
    } else {
        let mut out = std::io::stdout().lock();
        if !refusals.is_empty() {
            for f in &refusals {
                writeln!(
                    out,
                    "refused: {} [{}]\n  fix: {}",
                    f.message, f.check, f.remedy
                )?;
            }
            match unplanned {
                Some(why) => writeln!(out, "no plan: {why}")?,
                None => writeln!(
                    out,
                    "boot would mount nothing; once the layout is fixed it would do:"
                )?,
            }
        }
        if unplanned.is_none() {
            print_plan(&mut out, plan)?;
        }
    }
    let failing = plan
        .steps
        .iter()
        .any(|s| matches!(s.what, What::Fail { .. }));
    Ok(if refused {
        Exit::Error
    } else if failing {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

fn notify(state: &str) {
    if let Err(e) = crate::sys::notify::notify(state) {
        warn!("sd_notify failed: {e}");
    }
}

/// Log a refusal at CRIT (`PRIORITY=2`, `BOOT_REFUSED`, the check in
/// `IMPERMCTL_CHECK`). In the journal it is also printed on a terminal or
/// log file (activation, switch-to-configuration), unless stderr itself is
/// connected to the journal.
fn crit(check: &str, msg: &str) {
    error!(
        MESSAGE_ID = crate::logging::BOOT_REFUSED,
        IMPERMCTL_CHECK = check,
        priority = "crit",
        "{msg}"
    );
    if crate::logging::sink() == crate::logging::Sink::Journal
        && std::env::var_os("JOURNAL_STREAM").is_none()
    {
        eprintln!("impermctl: CRIT: {msg}");
    }
}

/// The plan, one line per path.
fn print_plan(out: &mut dyn Write, plan: &Plan) -> std::io::Result<()> {
    if plan.steps.is_empty() {
        return writeln!(out, "nothing is declared: nothing to do");
    }
    for s in &plan.steps {
        let what = match &s.what {
            What::Skip(Why::AlreadyBound) => "ok: already bound".into(),
            What::Skip(Why::AlreadyLinked) => "ok: already linked".into(),
            What::Skip(Why::DeferredOwner { owner }) => {
                format!("deferred: owner {owner} does not exist yet")
            }
            What::Skip(Why::AlreadyCopied) => {
                "ok: already copied (saved back by impermctl sync)".into()
            }
            What::Skip(Why::NothingToCopy) => "ok: nothing to copy yet (saved when created)".into(),
            What::Skip(Why::LinkInPlace) => "ok: the stored symlink is in place".into(),
            What::Skip(Why::Covered { by }) => format!("ok: covered by {}", by.display()),
            What::Skip(Why::Foreign { source, root }) => {
                format!(
                    "skip: foreign mount {source} ({}) left alone",
                    root.display()
                )
            }
            What::Skip(Why::NotOurs { reason }) => {
                format!("skip: removed entry left mounted: {reason}")
            }
            What::Fail { error } => format!("FAIL: {error}"),
            What::Do { ops } => ops.iter().map(op_word).collect::<Vec<_>>().join(", "),
        };
        writeln!(out, "{:<32} {what}", s.path.display())?;
    }
    let n = plan.actions().count();
    writeln!(out, "{n} of {} paths need work", plan.steps.len())
}

fn op_word(op: &Op) -> String {
    match op {
        Op::CreateSource => "create source".into(),
        Op::Seed => "seed source from target".into(),
        Op::InitMachineId => "write \"uninitialized\" to source".into(),
        Op::CreateTarget => "create target".into(),
        Op::Mount { options, hides } => {
            let mut s = "bind".to_string();
            if !options.is_empty() {
                s.push_str(&format!(" ({})", options.join(",")));
            }
            if *hides {
                s.push_str(" [hides data at target]");
            }
            s
        }
        Op::Link => "symlink to source".into(),
        Op::Unmount => "unmount (removed from config)".into(),
        Op::RemoveLink => "remove symlink (removed from config)".into(),
        Op::CopyIn => "copy source onto target".into(),
        Op::SaveCopy => "save target to source".into(),
        Op::KeepLive => "keep the live data in impermctl-kept/".into(),
        Op::CompletePending => "bind if no longer written (pending)".into(),
        Op::StoreLink => "store the symlink in persistence".into(),
        Op::Migrate { from } => format!("migrate the data from {} (moved entry)", from.display()),
        Op::Detach { from } => format!("detach the bind of {}", from.display()),
        Op::RestoreLink => "recreate the stored symlink".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;
    use crate::plan::Step;

    fn step(path: &str, kind: Kind, what: What) -> Step {
        Step {
            path: path.into(),
            kind,
            source: std::path::Path::new("/persistent").join(path.trim_start_matches('/')),
            what,
        }
    }

    #[test]
    fn the_plan_reads_as_one_line_per_path() {
        let plan = Plan {
            steps: vec![
                step(
                    "/etc/machine-id",
                    Kind::File,
                    What::Do {
                        ops: vec![
                            Op::InitMachineId,
                            Op::CreateTarget,
                            Op::Mount {
                                options: vec![],
                                hides: false,
                            },
                        ],
                    },
                ),
                step(
                    "/etc/nixos",
                    Kind::Directory,
                    What::Do {
                        ops: vec![
                            Op::Seed,
                            Op::Mount {
                                options: vec!["x-gvfs-hide".into()],
                                hides: true,
                            },
                        ],
                    },
                ),
                step("/var/log", Kind::Directory, What::Skip(Why::AlreadyBound)),
                step(
                    "/srv/x",
                    Kind::Directory,
                    What::Fail {
                        error: "/srv is a symlink".into(),
                    },
                ),
            ],
        };
        let mut out = Vec::new();
        print_plan(&mut out, &plan).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "/etc/machine-id                  write \"uninitialized\" to source, create target, bind\n\
             /etc/nixos                       seed source from target, bind (x-gvfs-hide) [hides data at target]\n\
             /var/log                         ok: already bound\n\
             /srv/x                           FAIL: /srv is a symlink\n\
             2 of 4 paths need work\n"
        );
    }
}
