//! A config whose bad entries are refused one by one: an error located in
//! one `[[persistence.directories]]`/`[[persistence.files]]` item (its path,
//! mode, owner, an unknown key in it, a duplicate of another) costs that
//! entry only; an error in a `[[persistence]]` block's `path`,
//! `directories` or `files` (not a list), or a root declared again, costs
//! that block's entries only, each refused with the block's error. A bad
//! value with no say in where data goes reads as its default and costs
//! nothing else: a `[watch]` value, a block's `hide_mounts`/`allow_trash`
//! (mount options for file managers only), an unknown key of a block (such
//! as impermanence's `users.<name>`: its entries are not read). Any other
//! error (TOML syntax, `version`, `[layout]`, whose values are the safety
//! policy, `persistence` not a list of blocks, an unknown key outside the
//! known tables) makes the whole file unusable.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::{ConfigError, Kind, Settings};

/// A config with its usable entries, and the entries refused.
#[derive(Debug, Clone)]
pub struct Partial {
    /// The settings with every valid entry (the refused ones, and the
    /// roots of refused blocks, left out).
    pub settings: Settings,
    /// What was refused.
    pub refused: Refused,
    /// Where each usable entry is declared (apply-time errors name it).
    pub places: super::Places,
}

/// The refused entries of a config.
#[derive(Debug, Clone, Default)]
pub struct Refused {
    /// One error per problem of a refused entry or block, in file order
    /// (each names the file, line, field and fix).
    pub errors: Vec<ConfigError>,
    /// The refused entries whose own path is valid: entry name (e.g.
    /// `persistence[0].directories[3]`) → path and kind (`diff` reports
    /// such a path as declared but not persisted).
    pub paths: BTreeMap<String, (PathBuf, Kind)>,
}

impl Refused {
    /// Nothing refused.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The JSON view (`refused[]`) of each error.
    pub fn json<'a>(&'a self) -> Vec<RefusedEntry<'a>> {
        let view = |e: &'a ConfigError| {
            let entry = entry_of(&e.field).unwrap_or(&e.field);
            RefusedEntry {
                entry,
                path: self.paths.get(entry).map(|(p, _)| p.as_path()),
                error: e,
            }
        };
        self.errors.iter().map(view).collect()
    }

    /// Each refused path as a declared entry that is not persisted: path,
    /// is a file, the reason with the error's place and fix (`diff` and the
    /// watcher count such a path's data as lost, and say why): the first
    /// error of its entry.
    pub fn losses(&self) -> Vec<(PathBuf, bool, String)> {
        let errors = &self.errors;
        let loss = |(entry, (p, k)): (&String, &(PathBuf, Kind))| {
            let e = errors.iter().find(|e| entry_of(&e.field) == Some(entry))?;
            let (file, line, column, field) = (e.file.display(), e.line, e.column, &e.field);
            let why = format!(
                "its entry is refused ({file}:{line}:{column}: {field}: {}; fix: {}), so `impermctl boot` does not bind it",
                e.message, e.fix
            );
            Some((p.clone(), *k == Kind::File, why))
        };
        self.paths.iter().filter_map(loss).collect()
    }
}

/// What refusing an error's entry or block means, for a log line:
/// `refusing the entry persistence[0].directories[3]: <error>`; for a
/// value read as its default (`[watch]`, a block's cosmetic field),
/// `ignoring the bad value watch.warn_every: …` (nothing else is refused).
pub fn refusing(e: &ConfigError) -> String {
    match entry_of(&e.field) {
        Some(b) if !b.contains('.') => {
            format!("refusing the [[persistence]] block {b} and its entries: {e}")
        }
        Some(entry) => format!("refusing the entry {entry}: {e}"),
        None => format!("ignoring the bad value {}: {e}", e.field),
    }
}

/// Is `field`'s error local to it (the value reads as its default, no
/// entry is refused)? `[watch]` values, and a `[[persistence]]` block's
/// fields other than `path`, `directories` and `files`.
fn ignored(field: &str) -> bool {
    let in_block = |rest: &str| {
        let key = rest.strip_prefix('.').unwrap_or_default();
        let key = key.split(['.', '[']).next().unwrap_or_default();
        !(rest.is_empty() || ["path", "directories", "files"].contains(&key))
    };
    let block_rest = field
        .strip_prefix("persistence[")
        .and_then(|s| s.split_once(']'))
        .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    field == "watch"
        || field.starts_with("watch.")
        || block_rest.is_some_and(|(_, rest)| rest.starts_with('.') && in_block(rest))
}

/// One error of a refused entry, as `status --json`, `boot --json` and the
/// other commands' documents print it (`refused[]`).
#[derive(Debug, serde::Serialize)]
pub struct RefusedEntry<'a> {
    /// The entry, e.g. `persistence[0].directories[3]`, or the block, e.g.
    /// `persistence[1]`, for an error in a block's own fields.
    pub entry: &'a str,
    /// The entry's path, when it is valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a Path>,
    /// The error: `file` (as given: `--config`, `IMPERMCTL_CONFIG`),
    /// `line`, `column` (1-based), `field` (e.g.
    /// `persistence[0].directories[3].mode`), `message`, `fix`.
    #[serde(flatten)]
    pub error: &'a ConfigError,
}

/// The entry an error's field belongs to: `persistence[0].directories[3]`
/// for `persistence[0].directories[3].mode`; the block `persistence[1]`
/// for one of the block's own fields (`persistence[1].path`,
/// `persistence[1].directories` not a list); `None` for any other field,
/// and for an [`ignored`] one.
pub fn entry_of(field: &str) -> Option<&str> {
    if ignored(field) {
        return None;
    }
    /// What follows `N]`, for a non-empty decimal index N.
    fn index(s: &str) -> Option<&str> {
        let (n, rest) = s.split_once(']')?;
        (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
    }
    let upto = |rest: &str| Some(&field[..field.len() - rest.len()]);
    let rest = index(field.strip_prefix("persistence[")?)?;
    if !(rest.is_empty() || rest.starts_with('.')) {
        return None;
    }
    let list = rest
        .strip_prefix(".directories[")
        .or_else(|| rest.strip_prefix(".files["));
    match list {
        None => upto(rest),
        Some(list) => upto(index(list)?),
    }
}

/// The name of block `i`'s unit: `persistence[i]`.
pub(super) fn block(i: usize) -> String {
    format!("persistence[{i}]")
}

/// The entries and blocks whose errors are already known (unknown keys,
/// values of the wrong type): validation leaves them out.
pub(super) fn entries_of<'a>(errors: impl IntoIterator<Item = &'a ConfigError>) -> HashSet<String> {
    errors
        .into_iter()
        .filter_map(|e| entry_of(&e.field))
        .map(str::to_owned)
        .collect()
}

/// An entry validation did not keep: its name, block, where it starts
/// (line, column), its path when valid, its kind.
pub(super) struct Held {
    pub entry: String,
    pub block: usize,
    pub at: (usize, usize),
    pub path: Option<PathBuf>,
    pub kind: Kind,
}

/// `settings` with its entry and block errors refused (and its bad
/// `[watch]` values at their defaults), or the whole file's errors (in
/// file order) when any of them is about none of these. Each
/// held entry of a refused block without an error of its own is refused
/// with the block's first error (at the entry's line, with its fix).
pub(super) fn split(
    mut settings: Settings,
    mut errors: Vec<ConfigError>,
    held: Vec<Held>,
) -> Result<Partial, ConfigError> {
    // An ignored field's error is local, the value reads as its default.
    if errors
        .iter()
        .any(|e| entry_of(&e.field).is_none() && !ignored(&e.field))
    {
        return Err(ConfigError::combine(errors).expect("not empty"));
    }
    errors.sort_by_key(|e| (e.line == 0, e.line, e.column));
    let own = entries_of(&errors);
    let mut more = Vec::new();
    for h in held.iter().filter(|h| !own.contains(&h.entry)) {
        let b = block(h.block);
        let Some(e) = errors
            .iter()
            .find(|e| entry_of(&e.field) == Some(b.as_str()))
        else {
            continue;
        };
        let path = h.path.as_ref().map_or("this entry".into(), |p| {
            crate::names::printable(&p.to_string_lossy())
        });
        more.push(ConfigError {
            line: h.at.0,
            column: h.at.1,
            field: h.entry.clone(),
            message: format!(
                "{path} is refused with its [[persistence]] block {b} (line {}): {}: {}",
                e.line, e.field, e.message
            ),
            ..e.clone()
        });
    }
    errors.extend(more);
    errors.sort_by_key(|e| (e.line == 0, e.line, e.column));
    let paths: BTreeMap<_, _> = held
        .into_iter()
        .filter_map(|h| Some((h.entry, (h.path?, h.kind))))
        .collect();
    settings.refused = paths.values().map(|(p, _)| p.clone()).collect();
    Ok(Partial {
        settings,
        refused: Refused { errors, paths },
        places: super::Places::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::entry_of;

    /// The finding-1 inputs: each refuses its entry only; the others stay.
    #[test]
    fn bad_entries_are_refused_alone_and_file_errors_refuse_all() {
        use std::path::{Path, PathBuf};
        let seed = "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"/etc/nixos\"\n[[persistence.files]]\npath = \"/etc/machine-id\"\n";
        let long = format!("path = \"/var/lib/{}\"", "n".repeat(300));
        for bad in [
            "path = \"/var/lib/x\"\nmode = \"999\"",
            "path = \"/var/lib/nl\\nx\"",
            "path = \"/var/lib/x\"\nmode = \"u=rwx,g=rx,o=,x\"",
            "path = \"/var/lib/x\"\nuser = \"\"",
            &long,
            "path = \"/var/lib/x\"\nmode = 700",
            "path = \"/var/lib/x\"\nmod = \"0700\"",
            "path = \"/etc/nixos/\"",
            "path = \"/etc/./nixos\"",
        ] {
            let text = format!("{seed}[[persistence.directories]]\n{bad}\n");
            let p = crate::config::parse_partial(&text, Path::new("c.toml"))
                .unwrap_or_else(|e| panic!("{bad}: the whole file refused: {e}"));
            let paths: Vec<&PathBuf> = p.settings.entries.iter().map(|e| &e.path).collect();
            assert_eq!(paths, ["/etc/machine-id", "/etc/nixos"], "{bad}");
            assert!(!p.refused.is_empty(), "{bad}");
            for e in &p.refused.errors {
                assert_eq!(
                    entry_of(&e.field),
                    Some("persistence[0].directories[1]"),
                    "{e}"
                );
                assert!(e.line >= 8 && !e.fix.is_empty(), "{e}");
            }
        }
        for whole in ["[[persistence.directories]\n", "[layout]\nbogus = 1\n"] {
            let text = format!("{seed}{whole}");
            assert!(
                crate::config::parse_partial(&text, Path::new("c.toml")).is_err(),
                "{whole}"
            );
        }
    }

    #[test]
    fn entry_fields_are_recognised() {
        for (field, entry) in [
            (
                "persistence[0].directories[3].mode",
                Some("persistence[0].directories[3]"),
            ),
            (
                "persistence[12].files[0].path",
                Some("persistence[12].files[0]"),
            ),
            ("persistence[1].files[2]", Some("persistence[1].files[2]")),
            (
                "persistence[0].directories[1].parent.user",
                Some("persistence[0].directories[1]"),
            ),
            ("persistence[0].path", Some("persistence[0]")),
            ("persistence[3].users", None),
            ("persistence[3].hide_mounts", None),
            ("persistence[3].files", Some("persistence[3]")),
            ("persistence[0].directories", Some("persistence[0]")),
            ("persistence[1]", Some("persistence[1]")),
            ("persistence[1]x", None),
            ("persistence", None),
            ("persistence[x].files[0]", None),
            ("persistence[0].files[]", None),
            ("watch.ignore[0]", None),
            ("TOML syntax", None),
            ("version", None),
        ] {
            assert_eq!(entry_of(field), entry, "{field}");
        }
    }
}
