//! The observed layout of a system (mount table plus filesystem probes) and
//! the registry of named checks run by `verify` and `boot`.

mod checks;
mod drift;
mod hidden;
mod observe;

pub use checks::{CHECKS, Check, Finding, Severity, Verdict, run_checks};
pub use hidden::{HiddenMount, hidden_mounts};
pub use observe::{DirLink, EntryState, State, dir_link, entry_state, mount_state, observe};
