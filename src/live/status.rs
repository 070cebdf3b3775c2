//! What `status` says about `method = "copy"` files and pending entries
//! (from the config and `state.json`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::{FileMethod, Kind, Settings};
use crate::root::Root;

/// The live-change state of one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "live", rename_all = "snake_case")]
pub enum LiveState {
    /// `method = "copy"`: a plain file, saved back on change and at shutdown.
    Copy,
    /// Seeded, not bound: processes write there; saved at shutdown, bound next boot.
    Pending {
        /// The writers seen when it became pending.
        writers: Vec<crate::state::WriterInfo>,
        /// Since when (seconds since the epoch).
        since: u64,
    },
}

/// Per declared path that has one.
pub fn states(root: &Root, settings: &Settings) -> BTreeMap<PathBuf, LiveState> {
    let mut m = BTreeMap::new();
    for e in &settings.entries {
        if e.kind == Kind::File && e.method == FileMethod::Copy {
            m.insert(e.path.clone(), LiveState::Copy);
        }
    }
    if let Ok(Some(st)) = crate::state::read(&root.state_file()) {
        for p in st.pending {
            let still = st
                .entries
                .iter()
                .any(|r| r.path == p.path && r.how == crate::state::How::Pending);
            if still && settings.entry(&p.path).is_some() {
                m.insert(
                    p.path.clone(),
                    LiveState::Pending {
                        writers: p.writers,
                        since: p.since,
                    },
                );
            }
        }
    }
    m
}

/// The text `status` prints for an entry in state `s` (source shown as `source`).
pub fn describe(s: &LiveState, source: &std::path::Path) -> String {
    match s {
        LiveState::Copy => format!(
            "copy of {} (saved back on change and at shutdown)",
            crate::names::show(source)
        ),
        LiveState::Pending { writers, .. } => {
            let list: Vec<String> = writers.iter().map(ToString::to_string).collect();
            format!(
                "PENDING: seeded to {}, not bound while written by {}; saved at shutdown, bound at the next boot",
                crate::names::show(source),
                list.join(", ")
            )
        }
    }
}
