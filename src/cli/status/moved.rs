//! Paths `impermctl persist` moved: where each stands now (from the live
//! mount table, never the record's word), in words and as JSON.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::kind_word;
use crate::config::Kind;
use crate::layout::{self, EntryState};

/// A path `persist` moved, as `status` reports it.
#[derive(Serialize)]
pub(super) struct Moved {
    pub(super) path: PathBuf,
    #[serde(rename = "type")]
    pub(super) kind: Kind,
    pub(super) root: PathBuf,
    pub(super) source: PathBuf,
    pub(super) since: u64,
    pub(super) declared: bool,
    /// Copied, not bound (`method = "copy"`).
    pub(super) copy: bool,
    /// What the live mount table says is at `path` now (never the record's
    /// word): `bound`, `foreign`, `not_persisted` or `missing`.
    #[serde(rename = "state", serialize_with = "state_word")]
    pub(super) now: EntryState,
}

/// Where a path `persist` moved stands now: from the live mount table (a
/// bind removed since, by hand or by a stopped unit, is not "bound") and,
/// when nothing is mounted there, from the tree (offline: from the kind).
pub(super) fn moved_state(
    root: &crate::root::Root,
    state: &layout::State,
    r: &crate::persist::Record,
) -> EntryState {
    if let Some(s) = layout::mount_state(state, &r.path, &r.source) {
        return s;
    }
    let exists = match state.live {
        true => std::fs::symlink_metadata(root.host(&r.path)).is_ok(),
        false => r.kind == Kind::Directory,
    };
    match exists {
        true => EntryState::NotPersisted,
        false => EntryState::Missing,
    }
}

/// The JSON word of a moved path's state (`EntryState`'s tag).
fn state_word<S: serde::Serializer>(s: &EntryState, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_str(match s {
        EntryState::Bound => "bound",
        EntryState::Foreign { .. } => "foreign",
        EntryState::Missing => "missing",
        _ => "not_persisted",
    })
}

/// What `status` says of a moved path in state `m.now` (human output).
fn moved_text(m: &Moved) -> String {
    use crate::names::{printable, show};
    let (path, source) = (show(&m.path), show(&m.source));
    let rebind = format!(
        "to bind it again, add it to the config and run `impermctl boot` (it keeps what is at {path} now in {}/impermctl-kept/)",
        show(&m.root)
    );
    match &m.now {
        _ if m.copy => format!(
            "copied to {source} (method = \"copy\": programs replace it by rename, so it is not bound); not in the config yet: what is written to {path} now is lost at the next boot unless added"
        ),
        EntryState::Bound => format!(
            "bound from {source}; not in the config yet: lost at the next boot unless added"
        ),
        EntryState::Foreign { source: s, root } => {
            let (s, r) = (printable(s), show(root));
            format!("NOT MOUNTED from {source}: {s} {r} is mounted there instead")
        }
        EntryState::Missing => format!(
            "NOT MOUNTED: {source} is not bound here any more and {path} is gone (the data is still in {source}); {rebind}"
        ),
        _ => format!(
            "NOT MOUNTED: {source} is not bound here any more; what is written to {path} now is lost at the next boot; {rebind}"
        ),
    }
}

/// Paths `persist` bound that the config does not declare: each with its
/// state (from the mount table) and the line that keeps it.
pub(super) fn print_moved(out: &mut impl Write, moved: &[Moved]) -> std::io::Result<()> {
    use crate::names::show;
    let undeclared: Vec<&Moved> = moved.iter().filter(|m| !m.declared).collect();
    if !undeclared.is_empty() {
        let n = undeclared.len();
        writeln!(out, "\nmoved with `impermctl persist` ({n}):")?;
    }
    for r in undeclared {
        let (kind, path, text) = (kind_word(r.kind), show(&r.path), moved_text(r));
        let line = crate::suggest::Line::recorded(&r.path, r.kind, r.copy).nix(&r.root);
        writeln!(out, "  {kind} {path:<28} {text}:\n       {line}")?;
    }
    Ok(())
}
