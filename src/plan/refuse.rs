//! Granular refusal: the entries of a persistence root that a fatal layout
//! finding makes unusable (missing, on the ephemeral root) fail, each with
//! the root's reason; every other entry keeps its plan. A fatal finding
//! about no single root, or every root refused, refuses everything.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Plan, What};
use crate::config::{OnFailure, Settings};
use crate::layout::{Finding, Severity, Verdict};

/// What the fatal layout findings refuse.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refused {
    /// The roots whose entries are refused, with the reason and its fix.
    pub roots: BTreeMap<PathBuf, String>,
    /// Nothing at all may be mounted.
    pub everything: bool,
    /// One CRIT line per fatal finding: `(check, message)`.
    pub crit: Vec<(&'static str, String)>,
}

impl Refused {
    /// The fatal findings behind a refusal (none when nothing is refused:
    /// `on_failure = "warn"` mounts anyway).
    pub fn findings<'a>(&self, verdict: &'a Verdict) -> Vec<&'a Finding> {
        let any = self.everything || !self.roots.is_empty();
        (verdict.findings.iter())
            .filter(|f| any && f.severity == Severity::Fatal)
            .collect()
    }
}

/// Decide what the fatal findings of `verdict` refuse: a fatal finding
/// about one persistence root refuses that root's entries only; one about
/// no single root, or every root refused, refuses all. `on_failure =
/// "warn"` refuses nothing (its lines say it mounts anyway).
pub fn refused(settings: &Settings, verdict: &Verdict) -> Refused {
    let mut out = Refused::default();
    if !verdict.is_fatal() {
        return out;
    }
    let refuse = settings.layout.on_failure == OnFailure::Refuse;
    let per_root = verdict.refused_roots(settings);
    let all_roots = (settings.roots.iter()).all(|r| per_root.iter().any(|(p, _)| *p == r.path));
    let fatal: Vec<&Finding> = (verdict.findings.iter())
        .filter(|f| f.severity == Severity::Fatal)
        .collect();
    // A fatal finding that concerns no single root: nothing is mounted.
    out.everything = refuse && (fatal.len() > per_root.len() || all_roots);
    for f in fatal {
        let root = per_root.iter().find(|(_, g)| std::ptr::eq(*g, f));
        let (m, c, r) = (&f.message, f.check, &f.remedy);
        let msg = match (refuse, root) {
            (false, _) => format!("{m} [{c}] (on_failure = \"warn\": mounting anyway); fix: {r}"),
            (true, _) if out.everything => {
                format!("refusing to mount anything: {m} [{c}]; fix: {r}")
            }
            (true, Some((p, _))) => {
                let n = settings.entries.iter().filter(|e| e.root == *p).count();
                let n = crate::human::count(n as u64, "entry", "entries");
                (out.roots.entry(p.clone())).or_insert_with(|| format!("{m}; fix: {r}"));
                let p = p.display();
                format!(
                    "refusing {n} of {p} (the other roots' entries are still bound): {m} [{c}]; fix: {r}"
                )
            }
            (true, None) => unreachable!("a fatal finding for no root refuses everything"),
        };
        out.crit.push((c, msg));
    }
    out
}

/// The layout gate of every command that writes into persistence (`boot`,
/// `persist`, `sync`, `sync --follow`): observe `/`, `/nix` and the
/// persistence roots, run the layout checks, decide what their fatal
/// findings refuse. No command writes into a root this refuses (trial-s10
/// F11: `sync` saved copy files onto the throwaway root). Errors: the mount
/// table cannot be read.
pub fn gate(root: &crate::root::Root, settings: &Settings) -> anyhow::Result<(Verdict, Refused)> {
    // The checks need probes of the roots only: entries are judged by their
    // mounts (a rerun over thousands of entries stays cheap).
    let roots_only = Settings {
        entries: Vec::new(),
        ..settings.clone()
    };
    let state = crate::layout::observe(root, &roots_only)?;
    let verdict = crate::layout::run_checks(&state, settings, &[]);
    let refused = refused(settings, &verdict);
    Ok((verdict, refused))
}

impl Refused {
    /// Why nothing may be written into the persistence root `proot`: every
    /// root refused (the fatal findings, each with its check and fix), or
    /// `proot`'s own; rescue mode refuses every root (the VPS's own root is
    /// not active). `None`: writing there is fine.
    pub fn why(&self, verdict: &Verdict, proot: &std::path::Path) -> Option<String> {
        let said = |f: &Finding| format!("{} [{}]; fix: {}", f.message, f.check, f.remedy);
        if verdict.rescue {
            let rescue = verdict.findings.iter().find(|f| f.check == "rescue-mode");
            return Some(rescue.map_or_else(|| "rescue mode".into(), said));
        }
        if self.everything {
            let fatal = verdict
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Fatal);
            return Some(fatal.map(said).collect::<Vec<_>>().join("; "));
        }
        self.roots.get(proot).cloned()
    }
}

/// Turn the steps of the entries of `refused` roots (root → why) into
/// failures.
pub fn refuse_roots(plan: &mut Plan, settings: &Settings, refused: &BTreeMap<PathBuf, String>) {
    if refused.is_empty() {
        return;
    }
    for step in &mut plan.steps {
        let Some(e) = settings.entry(&step.path) else {
            continue;
        };
        if let Some(why) = refused.get(&e.root) {
            step.what = What::Fail {
                error: format!(
                    "refused: its persistence root {} is unusable: {why}",
                    e.root.display()
                ),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Op, Step};

    fn settings() -> Settings {
        crate::config::parse(
            "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.files]]\npath = \"/etc/machine-id\"\n[[persistence]]\npath = \"/data\"\n[[persistence.directories]]\npath = \"/srv/www\"\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap()
    }

    fn fatal(check: &'static str, path: Option<&str>) -> Finding {
        Finding {
            check,
            severity: Severity::Fatal,
            path: path.map(PathBuf::from),
            message: format!("{check} is wrong"),
            remedy: "fix it".into(),
        }
    }

    #[test]
    fn fatal_findings_refuse_their_root_or_everything() {
        let warn = {
            let mut s = settings();
            s.layout.on_failure = OnFailure::Warn;
            s
        };
        let data = || fatal("root-persistent", Some("/data"));
        let both = || [data(), fatal("root-persistent", Some("/persistent"))];
        for (s, findings, everything, roots, crit) in [
            (&settings(), vec![], false, "", vec![]),
            (
                &settings(),
                vec![data()],
                false,
                "/data",
                vec![
                    "refusing 1 entry of /data (the other roots' entries are still bound): root-persistent is wrong [root-persistent]; fix: fix it",
                ],
            ),
            (
                &settings(),
                both().to_vec(),
                true,
                "",
                vec!["refusing to mount anything: root-persistent is wrong"; 2],
            ),
            (
                &settings(),
                vec![data(), fatal("root-ephemeral", None)],
                true,
                "",
                vec!["refusing to mount anything"; 2],
            ),
            (
                &warn,
                vec![data()],
                false,
                "",
                vec![
                    "root-persistent is wrong [root-persistent] (on_failure = \"warn\": mounting anyway); fix: fix it",
                ],
            ),
        ] {
            let v = Verdict {
                findings,
                ran: vec![],
                skipped: vec![],
                rescue: false,
            };
            let r = refused(s, &v);
            assert_eq!(r.everything, everything, "{r:?}");
            let got: Vec<_> = r.roots.keys().map(|p| p.display().to_string()).collect();
            assert_eq!(got.join(" "), roots, "{r:?}");
            assert_eq!(r.crit.len(), crit.len(), "{r:?}");
            for ((_, msg), want) in r.crit.iter().zip(&crit) {
                assert!(msg.starts_with(want), "{msg}");
            }
            let behind = r.findings(&v).len();
            assert_eq!(
                behind,
                if everything || !roots.is_empty() {
                    v.findings.len()
                } else {
                    0
                }
            );
        }
    }

    #[test]
    fn only_the_refused_roots_entries_fail() {
        let s = settings();
        let do_ = What::Do {
            ops: vec![Op::CreateSource],
        };
        let mut plan = Plan {
            steps: s
                .entries
                .iter()
                .map(|e| Step {
                    path: e.path.clone(),
                    kind: e.kind,
                    source: e.source.clone(),
                    what: do_.clone(),
                })
                .collect(),
        };
        let untouched = plan.clone();
        refuse_roots(&mut plan, &s, &BTreeMap::new());
        assert_eq!(plan, untouched);
        let refused = BTreeMap::from([(PathBuf::from("/data"), "it does not exist".to_string())]);
        refuse_roots(&mut plan, &s, &refused);
        let by = |p: &str| {
            &plan
                .steps
                .iter()
                .find(|s| s.path == std::path::Path::new(p))
                .unwrap()
                .what
        };
        assert_eq!(by("/etc/machine-id"), &do_);
        match by("/srv/www") {
            What::Fail { error } => {
                assert!(
                    error.contains("/data is unusable: it does not exist"),
                    "{error}"
                )
            }
            w => panic!("{w:?}"),
        }
    }
}
