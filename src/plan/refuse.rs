//! Granular refusal: the entries of a persistence root that a fatal layout
//! finding makes unusable (missing, on the ephemeral root) fail, each with
//! the root's reason; every other entry keeps its plan.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Plan, What};
use crate::config::Settings;

/// Turn the steps of the entries of `refused` roots (root → why) into
/// failures. Undo steps (entries that left the config) are left alone.
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
