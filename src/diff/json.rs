//! The versioned JSON document of `diff --json` (kind `Diff`, schema
//! `schemas/diff.json`): every changed item with its class, the groups as
//! shown, what could not be read, and the `--shadowed`/`--orphans` sections.
//! Raw paths as text plus `path_hex` when they are not UTF-8.

use std::os::unix::ffi::OsStrExt;

use serde::Serialize;

use crate::classify::Class;
use crate::diff::grouped::Group;
use crate::diff::judge::Judged;
use crate::diff::orphans::Orphan;
use crate::diff::sections::Extras;
use crate::diff::shadowed::Shadowed;
use crate::diff::{Basis, Change, Diff};
use crate::sys::meta::Kind;

#[derive(Serialize)]
struct JsonItem {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_hex: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    change: Change,
    size: u64,
    /// `important`, `ordinary` or `regenerated`.
    class: &'static str,
}

/// The name of a kind in JSON.
pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::File => "file",
        Kind::Dir => "directory",
        Kind::Symlink => "symlink",
        Kind::Fifo => "fifo",
        Kind::Socket => "socket",
        Kind::Device => "device",
        Kind::Unknown => "unknown",
    }
}

/// A raw path for JSON: text, plus hex when it is not valid UTF-8
/// (`crate::names`).
pub fn json_path(b: &[u8]) -> (String, Option<String>) {
    let p = std::path::Path::new(std::ffi::OsStr::from_bytes(b));
    (p.to_string_lossy().into_owned(), crate::names::hex(p))
}

/// A JSON record with a path, plus the path's `path_hex` when needed.
#[derive(Serialize)]
struct WithHex<'a, T: Serialize> {
    #[serde(flatten)]
    inner: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_hex: Option<String>,
}

fn with_hex<'a, T: Serialize>(inner: &'a T, p: &std::path::Path) -> WithHex<'a, T> {
    WithHex {
        inner,
        path_hex: crate::names::hex(p),
    }
}

#[derive(Serialize)]
struct Unreadable {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_hex: Option<String>,
    error: String,
}

#[derive(Serialize)]
struct Summary {
    loses_data: bool,
    groups: usize,
    files: u64,
    bytes: u64,
    /// Entries looked at: walked, or named by the watcher's list
    /// (`source.method` says which; schema description).
    entries_walked: u64,
}

#[derive(Serialize)]
struct Doc<'a> {
    root: String,
    basis: Basis,
    source: &'a crate::diff::Source,
    summary: Summary,
    groups: Vec<WithHex<'a, Group>>,
    items: Vec<JsonItem>,
    unreadable: Vec<Unreadable>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shadowed: Option<&'a [Shadowed]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    orphans: Option<Vec<WithHex<'a, Orphan>>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    refused: &'a [crate::config::RefusedEntry<'a>],
    /// Left out under `watch.ignore` (absent with `--all`).
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored: Option<&'a crate::diff::ignored::Ignored>,
    /// Declared binds found at another path.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    moved_binds: &'a [crate::diff::moved::MovedBind],
    /// Binds from persistence that no entry declares.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    undeclared_binds: &'a [crate::diff::unbound::UndeclaredBind],
    /// `--shadowed`: filesystems hidden under a declared directory's bind.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    hidden_mounts: &'a [crate::layout::HiddenMount],
    /// `method = "copy"` files deleted since boot (the deletion is kept).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deleted_copies: Vec<&'a std::path::Path>,
}

/// The versioned JSON document (kind `Diff`): every changed item with its
/// class (regenerated ones too), the groups as shown.
pub fn json(root: &str, d: &Diff, j: &Judged, groups: &[Group], x: &Extras) -> anyhow::Result<()> {
    let items = d
        .items
        .iter()
        .enumerate()
        .filter(|(n, i)| {
            j.all || i.change != Change::Unchanged || j.visible.get(*n).copied().unwrap_or(false)
        })
        .map(|(n, i)| {
            let (path, path_hex) = json_path(&i.path);
            JsonItem {
                path,
                path_hex,
                kind: kind_name(i.kind),
                change: i.change,
                size: i.size,
                class: match j.classes.get(n) {
                    Some(Class::Important { .. }) => "important",
                    Some(Class::Regenerated { .. }) => "regenerated",
                    _ => "ordinary",
                },
            }
        })
        .collect();
    let losses: Vec<&Group> = groups.iter().filter(|g| g.is_loss()).collect();
    let doc = Doc {
        root: root.to_owned(),
        basis: d.basis,
        source: &d.source,
        summary: Summary {
            loses_data: j.loses_data(),
            groups: losses.len(),
            files: losses.iter().map(|g| g.files).sum(),
            bytes: losses.iter().map(|g| g.bytes).sum(),
            entries_walked: d.entries,
        },
        groups: groups.iter().map(|g| with_hex(g, &g.path)).collect(),
        items,
        unreadable: d
            .unreadable
            .iter()
            .map(|(p, e)| {
                let (path, path_hex) = json_path(p);
                Unreadable {
                    path,
                    path_hex,
                    error: e.clone(),
                }
            })
            .collect(),
        shadowed: x.shadowed.as_deref(),
        orphans: x
            .orphans
            .as_ref()
            .map(|o| o.iter().map(|g| with_hex(g, &g.path)).collect()),
        refused: &x.refused,
        ignored: x.ignored.as_ref(),
        moved_binds: &x.moved,
        undeclared_binds: &x.unbound,
        hidden_mounts: &x.hidden_mounts,
        deleted_copies: x.deleted_copies.iter().map(|e| e.path.as_path()).collect(),
    };
    crate::output::print_json("Diff", &doc)
}

/// The document for a root that is not ephemeral: nothing compared, nothing
/// lost, `why` as the basis's reason.
pub fn not_ephemeral(root: &str, why: &str) -> anyhow::Result<()> {
    crate::output::print_json(
        "Diff",
        &serde_json::json!({
            "root": root,
            "basis": { "method": "not_ephemeral", "reason": why },
            "summary": { "loses_data": false, "groups": 0, "files": 0, "bytes": 0, "entries_walked": 0 },
            "groups": [], "items": [], "unreadable": [],
        }),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn raw_paths_carry_hex() {
        assert_eq!(super::json_path(b"/\xff").1.as_deref(), Some("2fff"));
        assert_eq!(super::json_path(b"/a").1, None);
    }
}
