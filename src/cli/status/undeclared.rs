//! `status`'s list of binds no entry declares any more (trial-s9 F3): an
//! earlier `boot` bound them and recorded it in `state.json`; the entry
//! then left the config. The next `boot` undoes them, except while the
//! config has errors (a refused entry may be the same path mistyped).

use std::io::Write;
use std::path::PathBuf;

use crate::config::{Refused, Settings};
use crate::layout::{EntryState, State};

/// The recorded binds still in place (mounted from their recorded source)
/// whose path neither a usable nor a refused entry declares: (path,
/// source), in path order. Empty when `state.json` is missing or damaged.
pub(super) fn undeclared(
    root: &crate::root::Root,
    settings: &Settings,
    refused: &Refused,
    state: &State,
) -> Vec<(PathBuf, PathBuf)> {
    let Ok(Some(rec)) = crate::state::read(&root.state_file()) else {
        return Vec::new();
    };
    let refused = |p: &PathBuf| refused.paths.values().any(|(r, _)| r == p);
    (rec.entries.into_iter())
        .filter(|r| r.how == crate::state::How::Bound)
        .filter(|r| settings.entry(&r.path).is_none() && !refused(&r.path))
        .filter(|r| {
            crate::layout::mount_state(state, &r.path, &r.source) == Some(EntryState::Bound)
        })
        .map(|r| (r.path, r.source))
        .collect()
}

/// Print the list (nothing when empty); `errors`: the config has errors,
/// so `boot` keeps them bound until they are fixed.
pub(super) fn print(
    out: &mut impl Write,
    list: &[(PathBuf, PathBuf)],
    errors: bool,
) -> std::io::Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let todo = match errors {
        true => {
            "boot keeps them bound until the config errors above are fixed; fix them, then run `impermctl boot` to undo the binds"
        }
        false => "run `impermctl boot` to undo the binds",
    };
    writeln!(
        out,
        "\nbound but no longer declared ({}; {todo}, or declare them again):",
        list.len()
    )?;
    for (path, source) in list {
        let (p, s) = (crate::names::show(path), crate::names::show(source));
        writeln!(
            out,
            "  {p:<28} bound from {s}: written to {s}, which the next reboot does not bind at {p}"
        )?;
    }
    Ok(())
}
