//! The changed entries grouped into the directories a user would persist
//! (`crate::classify::grouping`; counted by `diff::judge`), with writers,
//! and what `--suggest` persists of them (`crate::suggest` writes it).

use std::path::PathBuf;

use serde::Serialize;

use crate::config;
use crate::config::Settings;
use crate::suggest::Line;
use crate::watch::attribution::Writer;
use crate::watch::report::WatchState;

/// One group of changed entries.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The directory (or file) to persist (in JSON text, with `path_hex` when not UTF-8).
    #[serde(serialize_with = "crate::names::lossy")]
    pub path: PathBuf,
    /// Non-directory entries.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Bytes (hard links counted once).
    pub bytes: u64,
    /// Entries not in the baseline.
    pub new: u64,
    /// Entries changed since the baseline.
    pub modified: u64,
    /// How to persist it.
    #[serde(rename = "type")]
    pub persist: config::Kind,
    /// Who wrote there, when the watcher knows (`{comm, unit}` objects in
    /// JSON, as in every other document).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub writers: Vec<Writer>,
    /// `important`, `ordinary` or `regenerated` (see `crate::classify`).
    pub class: GroupClass,
    /// What losing it means (important groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consequence: Option<String>,
    /// Why it is not a loss (regenerated groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regenerated: Option<String>,
    /// The config declares it, but it is not persisted: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared: Option<String>,
    /// Files `impermctl persist` copied here that the config does not
    /// declare yet (`diff::copies`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undeclared_copies: Vec<crate::diff::copies::UndeclaredCopy>,
    /// A file replaced by rename since the baseline (its inode changed,
    /// [`crate::diff::Item::replaced`], or the watcher heard a rename land
    /// on it): persisted with `method = "copy"`, since a rename onto a
    /// bind-mounted file fails with `EBUSY`. JSON: only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replaced: bool,
}

/// Add what the watcher recorded (`state`) to the groups it shares with
/// `groups`: the writers, and a file it heard a rename land on (its
/// suggestion says `method = "copy"`: `Core::replaced`), which a walk
/// cannot tell from a file made new after the baseline.
pub fn add_writers(groups: &mut [Group], state: &WatchState) {
    for g in groups {
        if let Some(w) = state.groups.iter().find(|w| w.path == g.path) {
            g.writers = w.writers.clone();
            g.writers.sort();
            g.writers.dedup();
            let file = g.persist == config::Kind::File;
            g.replaced |= file
                && state.heard_replaced(&g.path)
                && !crate::suggest::needs_copy(&g.path, g.persist);
        }
    }
}

/// A group's class, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupClass {
    /// A loss with a consequence: listed first.
    Important,
    /// A loss.
    Ordinary,
    /// Not a loss (only with `--all`).
    Regenerated,
}

impl Group {
    /// An empty group at `path`.
    pub fn new(path: PathBuf, persist: config::Kind, class: GroupClass) -> Group {
        Group {
            path,
            files: 0,
            dirs: 0,
            bytes: 0,
            new: 0,
            modified: 0,
            persist,
            writers: Vec::new(),
            class,
            consequence: None,
            regenerated: None,
            declared: None,
            undeclared_copies: Vec::new(),
            replaced: false,
        }
    }

    /// Is it a loss?
    pub fn is_loss(&self) -> bool {
        self.class != GroupClass::Regenerated
    }

    /// Why it is not data to persist ([`crate::suggest::ATTRIBUTES_ONLY`]),
    /// if so: it holds only directories of the baseline whose own mode,
    /// owner or attributes changed, nothing new. `diff` says it under the
    /// group line, `--suggest` skips it with it ([`unpersistable`]).
    pub fn attributes_only(&self) -> Option<&'static str> {
        (self.files == 0 && self.new == 0 && self.dirs > 0)
            .then_some(crate::suggest::ATTRIBUTES_ONLY)
    }
}

pub use crate::names::path_of;

/// Drop the groups of directories only that hold another group: they add
/// nothing (e.g. `/var` created to hold `/var/lib/foo`, a new `/etc/ssh`
/// holding the host keys, each its own group).
pub fn drop_holders(groups: &mut Vec<Group>) {
    let holders: Vec<bool> = groups
        .iter()
        .map(|g| {
            g.files == 0
                && groups
                    .iter()
                    .any(|o| o.path != g.path && o.path.starts_with(&g.path))
        })
        .collect();
    let mut holders = holders.into_iter();
    groups.retain(|_| !holders.next().unwrap_or(false));
}

/// Why a group cannot be persisted by adding it to the config, if so.
pub fn unpersistable(g: &Group, settings: &Settings) -> Option<String> {
    if let Some(why) = &g.declared {
        return Some(format!(
            "{} is already declared, but not persisted: {why}",
            g.path.display()
        ));
    }
    if let Some(why) = g.attributes_only() {
        return Some(format!("{}: {why}", g.path.display()));
    }
    if crate::classify::grouping::never(&g.path) {
        return Some(format!(
            "{} is a system directory: persisting it whole would break the system",
            g.path.display()
        ));
    }
    settings
        .roots
        .iter()
        .find(|r| g.path.starts_with(&r.path) || r.path.starts_with(&g.path))
        .map(|r| {
            format!(
                "{} holds the persistence root {}: it is not mounted (run `impermctl verify`)",
                g.path.display(),
                r.path.display()
            )
        })
}

/// What `--suggest` prints for the lost groups: each persisted as a
/// directory or a file under the first persistence root, or skipped with
/// the reason ([`unpersistable`]).
pub fn snippet(groups: &[Group], settings: &Settings) -> (PathBuf, Vec<Line>) {
    let root = settings
        .roots
        .first()
        .map_or_else(|| PathBuf::from("/persistent"), |r| r.path.clone());
    let lines = groups
        .iter()
        .filter(|g| g.is_loss())
        .map(|g| match unpersistable(g, settings) {
            Some(why) => Line::Skipped(why),
            None if g.replaced && g.persist == config::Kind::File => Line::Copy(g.path.clone()),
            None => Line::Persist(g.path.clone(), g.persist),
        })
        .collect();
    let declared: Vec<_> = settings
        .entries
        .iter()
        .map(|e| (e.path.clone(), e.kind))
        .collect();
    (root, crate::suggest::prune(lines, &declared))
}

/// What `--suggest` prints, per persistence root: [`snippet`]'s lines,
/// plus the binds no entry declares (`diff::unbound`) under their roots,
/// pruned together (`suggest::prune`: a bind inside a proposed directory
/// is kept by it). A root with nothing to add is left out, unless none
/// has anything (then the first root's, which says so).
pub fn snippets(
    groups: &[Group],
    settings: &Settings,
    binds: &[crate::diff::unbound::UndeclaredBind],
) -> std::collections::BTreeMap<PathBuf, Vec<Line>> {
    let (to, lines) = snippet(groups, settings);
    let mut out = std::collections::BTreeMap::from([(to, lines)]);
    for (root, line) in binds.iter().filter_map(|b| b.line()) {
        out.entry(root.to_path_buf()).or_default().push(line);
    }
    let declared: Vec<_> = (settings.entries.iter())
        .map(|e| (e.path.clone(), e.kind))
        .collect();
    let mut out: std::collections::BTreeMap<_, _> = (out.into_iter())
        .map(|(r, l)| (r, crate::suggest::prune(l, &declared)))
        .collect();
    if out.values().any(|l| !l.is_empty()) {
        out.retain(|_, l| !l.is_empty());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lost group of `files` files at `path`, persisted as `how`.
    fn lost(path: &str, how: config::Kind) -> Group {
        Group::new(path.into(), how, GroupClass::Ordinary)
    }

    #[test]
    fn suggest_persists_the_lost_groups_and_skips_system_directories() {
        let g = [
            lost("/var/lib/foo", config::Kind::Directory),
            lost("/etc/adjtime", config::Kind::File),
            lost("/etc", config::Kind::Directory),
            Group::new(
                "/var/cache/x".into(),
                config::Kind::Directory,
                GroupClass::Regenerated,
            ),
        ];
        let s = crate::config::Settings::fallback(std::path::Path::new("/x"));
        let (root, lines) = snippet(&g, &s);
        let nix = crate::suggest::nix_snippet(&root, &lines);
        assert!(
            nix.starts_with("# skipped: /etc is a system directory: persisting it whole would break the system\n# add to environment.persistence.\"/persistent\" in your NixOS configuration"),
            "{nix}"
        );
        assert!(
            nix.ends_with("# into directories = [ … ]:\n  \"/var/lib/foo\"\n# into files = [ … ]:\n  \"/etc/adjtime\"\n"),
            "{nix}"
        );
        assert_eq!(
            crate::suggest::toml_snippet(&root, &lines),
            "# append after the [[persistence]] block with path = \"/persistent\"\n[[persistence.directories]]\npath = \"/var/lib/foo\"\n[[persistence.files]]\npath = \"/etc/adjtime\"\n# skipped: /etc is a system directory: persisting it whole would break the system\n"
        );
    }

    /// Trial s10 F4: a group of baseline directories whose own mode,
    /// owner or attributes changed is skipped with the reason, wherever
    /// it is; one that holds a file or a new entry is suggested.
    #[test]
    fn a_directory_whose_only_change_is_its_attributes_is_not_suggested() {
        let dir = |p: &str, (files, dirs, new, modified)| {
            let mut g = lost(p, config::Kind::Directory);
            (g.files, g.dirs, g.new, g.modified) = (files, dirs, new, modified);
            g
        };
        let g = [
            dir("/etc/ssh", (0, 1, 0, 1)),
            dir("/srv/data", (0, 3, 0, 3)),
            dir("/var/lib/app", (0, 1, 0, 1)),
            dir("/var/lib/written", (1, 1, 0, 2)),
            dir("/var/lib/new", (0, 2, 1, 1)),
        ];
        let s = crate::config::Settings::fallback(std::path::Path::new("/x"));
        let (_, lines) = snippet(&g, &s);
        let why = g[0].attributes_only().unwrap();
        let skipped = |p: &str| Line::Skipped(format!("{p}: {why}"));
        assert_eq!(
            lines,
            [
                skipped("/etc/ssh"),
                skipped("/srv/data"),
                skipped("/var/lib/app"),
                Line::Persist("/var/lib/written".into(), config::Kind::Directory),
                Line::Persist("/var/lib/new".into(), config::Kind::Directory),
            ]
        );
    }

    #[test]
    fn writers_come_from_the_watchers_typed_state() {
        let mut g = [lost("/var/lib/foo", config::Kind::Directory)];
        let w = |c: &str, u: Option<&str>| Writer {
            comm: c.into(),
            unit: u.map(Into::into),
        };
        let group = |p: &str, writers| crate::watch::report::GroupReport {
            path: p.into(),
            path_hex: None,
            kind: "directory".into(),
            suggest: String::new(),
            files: 1,
            bytes: 1,
            first_seen: 0,
            last_seen: 0,
            writers,
            approximate: false,
            paths: Vec::new(),
            dirs: 0,
        };
        let state = WatchState {
            backend: "inotify".into(),
            fallback: None,
            pid: 1,
            since: 0,
            watched_directories: 1,
            overflows: 0,
            unwatched_directories: 0,
            coverage: None,
            groups: vec![
                group("/etc/x", vec![w("other", None)]),
                group(
                    "/var/lib/foo",
                    vec![
                        w("foo (1)", Some("foo.service")),
                        w("bar", None),
                        w("bar", None),
                    ],
                ),
            ],
        };
        add_writers(&mut g, &state);
        let v = serde_json::to_value(&g[0]).unwrap();
        assert_eq!(
            v["writers"],
            serde_json::json!([
                {"comm": "bar", "unit": null},
                {"comm": "foo (1)", "unit": "foo.service"}
            ])
        );
    }
}
