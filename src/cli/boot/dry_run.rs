//! `impermctl boot --dry-run`: the plan boot would carry out, or why it
//! would refuse, as text or JSON; nothing is changed.

use std::io::Write;

use serde::Serialize;

use crate::exit::Exit;
use crate::layout;
use crate::plan::{self, Plan, What};

/// `boot --dry-run`: the plan, with the refusal when the layout is refused
/// (exit 2), else exit 1 when a step would fail, 0 otherwise; and the
/// config entries refused for their errors (`bad`: in the JSON; the caller
/// says them on stderr; never planned).
pub(super) fn dry_run(
    a: &super::Args,
    verdict: &layout::Verdict,
    refused: &plan::Refused,
    plan: &Plan,
    observed: Option<&plan::Observed>,
    unplanned: Option<&str>,
    bad: &crate::config::Refused,
) -> anyhow::Result<Exit> {
    let refusals = refused.findings(verdict);
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
            /// Config entries refused for their errors (boot binds the others).
            #[serde(skip_serializing_if = "Vec::is_empty")]
            refused_entries: Vec<crate::config::RefusedEntry<'a>>,
        }
        let doc = BootPlan {
            refused,
            refusals: &refusals,
            unplanned,
            steps: &plan.steps,
            observed,
            refused_entries: bad.json(),
        };
        crate::output::print_json("BootPlan", &doc)?;
    } else {
        let mut out = std::io::stdout().lock();
        if !refusals.is_empty() {
            for f in &refusals {
                let (message, check, fix) = (&f.message, f.check, &f.remedy);
                writeln!(out, "refused: {message} [{check}]\n  fix: {fix}")?;
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
            plan::print_plan(&mut out, plan)?;
        }
    }
    let failing = plan
        .steps
        .iter()
        .any(|s| matches!(s.what, What::Fail { .. }));
    Ok(match refused {
        true => Exit::Error,
        false => Exit::findings_if(failing),
    })
}
