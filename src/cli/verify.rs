//! `impermctl verify`: run the layout checks and print the findings.

use std::io::Write;

use serde::Serialize;

use crate::exit::Exit;
use crate::layout::{self, CHECKS, Finding, Severity, Verdict};

/// Arguments of `impermctl verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub report: super::ReportArgs,
    /// List the checks and exit.
    #[arg(long)]
    pub list: bool,
    /// Do not run the check NAME (repeatable; see --list).
    #[arg(long, value_name = "NAME")]
    pub skip: Vec<String>,
}

/// A verdict's word and exit code: `healthy` 0 (info findings only),
/// `warnings` 1, `fatal` 2; the word is `rescue` in rescue mode.
pub fn judged(v: &Verdict) -> (&'static str, Exit) {
    let (word, exit) = match v.worst() {
        None | Some(Severity::Info) => ("healthy", Exit::Ok),
        Some(Severity::Warning) => ("warnings", Exit::Findings),
        Some(Severity::Fatal) => ("fatal", Exit::Error),
    };
    (if v.rescue { "rescue" } else { word }, exit)
}

#[derive(Serialize)]
struct Report<'a> {
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    notice: Option<&'a str>,
    findings: &'a [Finding],
    ran: &'a [&'static str],
    skipped: &'a [&'static str],
}

/// Run `impermctl verify`.
pub fn run(g: &super::Global, a: Args) -> anyhow::Result<Exit> {
    let root = g.root(a.report.mi.mountinfo.as_deref())?;
    if a.list {
        if a.report.json {
            #[derive(Serialize)]
            struct CheckList {
                checks: &'static [layout::Check],
            }
            crate::output::print_json("CheckList", &CheckList { checks: CHECKS })?;
        } else {
            let mut out = std::io::stdout().lock();
            for c in CHECKS.iter() {
                let (name, label) = (c.name, label(c.severity));
                writeln!(out, "{name:<26} {label:<8} {}", c.description)?;
            }
        }
        return Ok(Exit::Ok);
    }
    if let Some(unknown) = a
        .skip
        .iter()
        .find(|s| !CHECKS.iter().any(|c| c.name == s.as_str()))
    {
        anyhow::bail!("--skip {unknown}: no such check (see `impermctl verify --list`)");
    }
    let c = g.settings(false)?;
    let state = layout::observe(&root, &c.settings)?;
    let v = layout::run_checks(&state, &c.settings, &a.skip);
    let doc = Report {
        verdict: judged(&v).0,
        notice: c.notice.as_deref(),
        findings: &v.findings,
        ran: &v.ran,
        skipped: &v.skipped,
    };
    c.finish(a.report.json, "Verification", &doc, judged(&v).1, |out| {
        print_findings(out, &v)?;
        crate::services::section(out, &root, &state.mounts, &c.settings)?;
        Ok(())
    })
}

/// The label of a severity in human output.
pub fn label(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Fatal => "FATAL",
    }
}

/// Human rendering of a verdict.
pub fn print_findings(out: &mut impl Write, v: &Verdict) -> std::io::Result<()> {
    use crate::names::printable;
    let count = |s| v.findings.iter().filter(|f| f.severity == s).count() as u64;
    let (word, ran) = (judged(v).0, v.ran.len());
    if v.findings.is_empty() {
        writeln!(out, "layout: {word} ({ran} checks passed)")?;
    } else {
        let (fatal, info) = (count(Severity::Fatal), count(Severity::Info));
        let warnings = crate::human::counted(count(Severity::Warning), "warning");
        let skipped = match v.skipped.len() {
            0 => String::new(),
            n => format!(", {n} skipped"),
        };
        writeln!(
            out,
            "layout: {word}: {fatal} fatal, {warnings}, {info} info ({ran} checks run{skipped})"
        )?;
    }
    for f in &v.findings {
        let (label, check) = (label(f.severity), f.check);
        writeln!(out, "  {label:<7} [{check}] {}", printable(&f.message))?;
        writeln!(out, "          fix: {}", printable(&f.remedy))?;
    }
    Ok(())
}
