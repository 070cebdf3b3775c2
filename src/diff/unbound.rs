//! Binds from a persistence root that are live now but that no config
//! entry declares (trial F11): made by `impermctl persist` before its entry
//! is added, left by `boot` after the entry left the config (`status` lists
//! these: [`recorded`]), or mounted by hand. The data is safe in
//! persistence, but the next boot binds nothing there: the path comes up
//! without it. `diff` names each with the config that keeps it (the
//! snippet `persist` printed, `suggest::to_add`) and counts it for the exit
//! code. Observe ([`find`]) → decide ([`decide`], pure).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Kind, Settings};
use crate::layout::State;
use crate::mountinfo::{Mount, MountTable};
use crate::names::show;

/// Who made the bind, as the records of this boot say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// `impermctl persist` (its record in `persisted.json`).
    Persist,
    /// `impermctl boot` for an entry since removed from the config (its
    /// record in `state.json`): left bound until the reboot (trial-s10
    /// F10), which does not bind it.
    Boot,
    /// Neither: mounted by hand or by another tool.
    Other,
}

/// A live bind from a persistence root at a path no entry declares (in
/// JSON `{path, path_hex?, source, root?, type, by, nix?}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UndeclaredBind {
    /// Where it is mounted (logical).
    #[serde(serialize_with = "crate::names::lossy")]
    pub path: PathBuf,
    /// The path's bytes in hex when they are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_hex: Option<String>,
    /// What is bound there (logical, under a persistence root).
    #[serde(serialize_with = "crate::names::lossy")]
    pub source: PathBuf,
    /// The persistence root when `source` is that root plus `path`: a
    /// config entry under it binds the same data there. `None`: no entry
    /// can (an entry binds ROOT + PATH at PATH).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    /// Directory or file.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Who made it.
    pub by: By,
    /// The Nix line that declares it (with `root`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nix: Option<String>,
}

impl UndeclaredBind {
    /// The config line it needs, if an entry can declare it.
    pub fn line(&self) -> Option<(&Path, crate::suggest::Line)> {
        let root = self.root.as_deref()?;
        Some((root, bind_line(&self.path, self.kind)))
    }

    /// What `diff` says of it (the fix follows the list: `to_add`).
    pub fn text(&self) -> String {
        let (p, s) = (show(&self.path), show(&self.source));
        let by = match self.by {
            By::Persist => " (bound by `impermctl persist`)",
            By::Boot => {
                " (its entry was removed from the config; `impermctl boot` leaves it bound until the reboot)"
            }
            By::Other => " (not bound by impermctl)",
        };
        let fix = match &self.root {
            Some(_) => String::new(),
            None => format!(
                "; no config entry can bind {s} at {p} (an entry binds its persistence root plus the path): move the data to that place and declare {p}"
            ),
        };
        format!(
            "{p} is bound from {s} now, but no config entry declares it{by}: the next boot does not bind it, so {p} comes up without what it holds (that stays in {s}){fix}"
        )
    }
}

/// Observe the records of this boot and decide ([`decide`]) from the
/// live mount table in `state`.
pub fn find(root: &crate::root::Root, settings: &Settings, state: &State) -> Vec<UndeclaredBind> {
    let persisted: Vec<Bound> = (crate::persist::records(root).unwrap_or_default())
        .into_iter()
        .filter(|r| !r.copy)
        .map(|r| (r.path, r.source, r.kind))
        .collect();
    let booted: Vec<Bound> = bound_records(root)
        .into_iter()
        .map(|r| (r.path, r.source, r.kind))
        .collect();
    let kind_of = |p: &Path| match std::fs::metadata(root.host(p)) {
        Ok(m) if !m.is_dir() => Kind::File,
        _ => Kind::Directory,
    };
    decide(settings, &state.mounts, &persisted, &booted, &kind_of)
}

/// A recorded bind: (path, source, kind).
pub type Bound = (PathBuf, PathBuf, Kind);

/// `boot`'s records of binds (`state.json`; none when missing or damaged).
fn bound_records(root: &crate::root::Root) -> Vec<crate::state::Recorded> {
    let Ok(Some(rec)) = crate::state::read(&root.state_file()) else {
        return Vec::new();
    };
    (rec.entries.into_iter())
        .filter(|r| r.how == crate::state::How::Bound)
        .collect()
}

/// The visible mounts of `mounts` outside the persistence roots that bind
/// something below one of them and that no entry of `settings` keeps
/// ([`kept`]), in path order. The roots: the config's, and those of the
/// records (`persisted` by `persist`, `booted` by `boot`; a root whose
/// block left the config still holds the data); the records also say who
/// made each bind and its kind (else `kind_of` the path).
pub fn decide(
    settings: &Settings,
    mounts: &MountTable,
    persisted: &[Bound],
    booted: &[Bound],
    kind_of: &dyn Fn(&Path) -> Kind,
) -> Vec<UndeclaredBind> {
    let mut roots: Vec<PathBuf> = settings.roots.iter().map(|r| r.path.clone()).collect();
    let recs = persisted.iter().chain(booted);
    roots.extend(recs.filter_map(|(p, s, _)| root_of(s, p)));
    roots.sort();
    roots.dedup();
    let visible = |m: &&Mount| mounts.at(&m.mount_point).map(|v| v.id) == Some(m.id);
    let outside = |m: &&Mount| {
        m.mount_point != Path::new("/") && !roots.iter().any(|r| m.mount_point.starts_with(r))
    };
    let mut out: Vec<UndeclaredBind> = (mounts.mounts().iter())
        .filter(visible)
        .filter(outside)
        .filter_map(|m| Some((m.mount_point.clone(), source_of(mounts, m, &roots)?)))
        .filter(|(path, source)| !kept(settings, path, source))
        .map(|(path, source)| {
            let rec = |list: &[Bound]| {
                (list.iter())
                    .find(|(p, s, _)| *p == path && *s == source)
                    .map(|r| r.2)
            };
            let (by, kind) = match (rec(persisted), rec(booted)) {
                (Some(k), _) => (By::Persist, k),
                (_, Some(k)) => (By::Boot, k),
                _ => (By::Other, kind_of(&path)),
            };
            let root = root_of(&source, &path).filter(|r| roots.contains(r));
            let nix = (root.as_deref()).map(|r| bind_line(&path, kind).nix(r));
            UndeclaredBind {
                path_hex: crate::names::hex(&path),
                path,
                source,
                root,
                kind,
                by,
                nix,
            }
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The config line of a bind at `path` ([`crate::suggest::Line::recorded`]:
/// `persist`'s copies are not binds, `diff::copies` says those).
fn bind_line(path: &Path, kind: Kind) -> crate::suggest::Line {
    crate::suggest::Line::recorded(path, kind, false)
}

/// The persistence root `r` when `source` is `r` plus `path`.
fn root_of(source: &Path, path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix("/").ok()?;
    let n = rel.components().count();
    (n > 0 && source.ends_with(rel))
        .then(|| source.ancestors().nth(n).map(Path::to_path_buf))
        .flatten()
}

/// What `m` binds below one of `roots` (logical), if it does: it is on the
/// filesystem holding the root and its root lies below the root's place
/// in it. A bind of a whole root is a view of the store, not a path's
/// persistence: `None`.
fn source_of(mounts: &MountTable, m: &Mount, roots: &[PathBuf]) -> Option<PathBuf> {
    roots.iter().find_map(|r| {
        let holder = mounts.containing(r)?;
        let base = match r.strip_prefix(&holder.mount_point).ok()? {
            rel if rel.as_os_str().is_empty() => holder.root.clone(),
            rel => holder.root.join(rel),
        };
        let below = m.root.strip_prefix(&base).ok()?;
        (holder.dev() == m.dev() && !below.as_os_str().is_empty()).then(|| r.join(below))
    })
}

/// Does the config keep what is bound at `path` from `source`? An entry
/// declares `path` (a refused one too: its error is reported), or a
/// declared directory holds `path` and binds `source` there (nested), or
/// `source` is a declared entry's own (bound elsewhere: `diff::moved`).
fn kept(settings: &Settings, path: &Path, source: &Path) -> bool {
    let nested = |e: &crate::config::Entry| {
        e.kind == Kind::Directory
            && (path.strip_prefix(&e.path)).is_ok_and(|rel| e.source.join(rel) == source)
    };
    settings.refused.iter().any(|p| p == path)
        || (settings.entries.iter()).any(|e| e.path == path || e.source == source || nested(e))
}

#[cfg(test)]
mod tests;
