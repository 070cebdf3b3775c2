//! The plan for people (`boot --dry-run`): one line per path.

use std::io::Write;

use super::{Op, Plan, What, Why};

/// The plan, one line per path.
pub fn print_plan(out: &mut dyn Write, plan: &Plan) -> std::io::Result<()> {
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
            What::Skip(Why::Covered { by }) => {
                format!("ok: covered by {}", crate::names::show(by))
            }
            What::Skip(Why::Foreign { source, root }) => {
                format!(
                    "skip: foreign mount {source} ({}) left alone",
                    crate::names::show(root)
                )
            }
            What::Fail { error } => format!("FAIL: {error}"),
            What::Do { ops } => {
                // Live data with nothing to keep: its bind hides nothing of worth.
                let spare = ops.iter().any(|o| matches!(o, Op::NothingToKeep { .. }));
                let words = ops.iter().map(|o| op_word(o, spare));
                words.collect::<Vec<_>>().join(", ")
            }
        };
        writeln!(out, "{:<32} {what}", crate::names::show(&s.path))?;
    }
    let n = plan.actions().count();
    let total = crate::human::counted(plan.steps.len() as u64, "path");
    let verb = if n == 1 { "needs" } else { "need" };
    writeln!(out, "{n} of {total} {verb} work")
}

fn op_word(op: &Op, spare: bool) -> String {
    match op {
        Op::CreateSource => "create source".into(),
        Op::Seed => "seed source from target".into(),
        Op::InitMachineId => "write \"uninitialized\" to source".into(),
        Op::CreateTarget => "create target".into(),
        Op::Mount { options, hides } => {
            let opts = (!options.is_empty()).then(|| format!(" ({})", options.join(",")));
            let hides = if *hides && !spare {
                " [hides data at target]"
            } else {
                ""
            };
            format!("bind{}{hides}", opts.unwrap_or_default())
        }
        Op::Link => "symlink to source".into(),
        Op::CopyIn => "copy source onto target".into(),
        Op::SaveCopy => "save target to source".into(),
        Op::KeepLive => "keep the live data in impermctl-kept/".into(),
        Op::NothingToKeep { why } => format!("nothing to keep at target ({})", why.words()),
        Op::CompletePending => "bind if no longer written (pending)".into(),
        Op::StoreLink => "store the symlink in persistence".into(),
        Op::Migrate { from } => format!(
            "migrate the data from {} (moved entry)",
            crate::names::show(from)
        ),
        Op::Detach { from } => format!("detach the bind of {}", crate::names::show(from)),
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
                    "/var",
                    Kind::Directory,
                    What::Do {
                        ops: vec![
                            Op::NothingToKeep {
                                why: crate::plan::Spare::OnlyDirectories,
                            },
                            Op::Mount {
                                options: vec!["x-gvfs-hide".into()],
                                hides: true,
                            },
                        ],
                    },
                ),
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
             /var                             nothing to keep at target (only directories, no files), bind (x-gvfs-hide)\n\
             /srv/x                           FAIL: /srv is a symlink\n\
             3 of 5 paths need work\n"
        );
    }
}
