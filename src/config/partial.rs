//! A config whose bad entries are refused one by one: an error located in
//! one `[[persistence.directories]]`/`[[persistence.files]]` item (its path,
//! mode, owner, an unknown key in it, a duplicate of another) costs that
//! entry only; any other error (TOML syntax, `version`, a root, `[layout]`,
//! `[watch]`, an unknown key outside an entry) makes the whole file unusable.

use std::collections::HashSet;

use super::{ConfigError, Settings};

/// A config with its usable entries, and the entries refused.
#[derive(Debug, Clone)]
pub struct Partial {
    /// The settings with every valid entry (the refused ones left out).
    pub settings: Settings,
    /// One error per problem of a refused entry, in file order (each names
    /// the file, line, field and fix).
    pub refused: Vec<ConfigError>,
}

/// One error of a refused entry, as `status --json` and `boot --json`
/// print it (`refused[]`).
#[derive(Debug, serde::Serialize)]
pub struct RefusedEntry<'a> {
    /// The entry, e.g. `persistence[0].directories[3]`.
    pub entry: &'a str,
    /// 1-based line and column in the config file.
    pub line: usize,
    pub column: usize,
    /// The field, e.g. `persistence[0].directories[3].mode`.
    pub field: &'a str,
    pub message: &'a str,
    pub fix: &'a str,
}

impl<'a> RefusedEntry<'a> {
    /// The JSON view of each error of `refused`.
    pub fn all(refused: &'a [ConfigError]) -> Vec<RefusedEntry<'a>> {
        let view = |e: &'a ConfigError| RefusedEntry {
            entry: entry_of(&e.field).unwrap_or(&e.field),
            line: e.line,
            column: e.column,
            field: &e.field,
            message: &e.message,
            fix: &e.fix,
        };
        refused.iter().map(view).collect()
    }
}

/// The entry an error's field belongs to: `persistence[0].directories[3]`
/// for `persistence[0].directories[3].mode`; `None` for any other field.
pub fn entry_of(field: &str) -> Option<&str> {
    let rest = field.strip_prefix("persistence[")?;
    let (root, rest) = rest.split_once(']')?;
    let rest = rest.strip_prefix('.')?;
    let rest = rest
        .strip_prefix("directories[")
        .or_else(|| rest.strip_prefix("files["))?;
    let (item, _) = rest.split_once(']')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(root) || !digits(item) {
        return None;
    }
    let end = field.len() - rest.len() + item.len() + 1;
    Some(&field[..end])
}

/// The entries whose errors are already known (unknown keys, values of the
/// wrong type): validation leaves them out.
pub(super) fn entries_of<'a>(errors: impl IntoIterator<Item = &'a ConfigError>) -> HashSet<String> {
    errors
        .into_iter()
        .filter_map(|e| entry_of(&e.field))
        .map(str::to_owned)
        .collect()
}

/// `settings` with its entry errors refused, or the whole file's errors
/// (in file order) when any of them is not about one entry.
pub(super) fn split(settings: Settings, errors: Vec<ConfigError>) -> Result<Partial, ConfigError> {
    if errors.iter().any(|e| entry_of(&e.field).is_none()) {
        return Err(ConfigError::combine(errors).expect("not empty"));
    }
    let mut refused = errors;
    refused.sort_by_key(|e| (e.line == 0, e.line, e.column));
    Ok(Partial { settings, refused })
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
            for e in &p.refused {
                assert_eq!(
                    entry_of(&e.field),
                    Some("persistence[0].directories[1]"),
                    "{e}"
                );
                assert!(e.line >= 8 && !e.fix.is_empty(), "{e}");
            }
        }
        for whole in [
            "[[persistence.directories]\n",
            "[watch]\nignore = 3\n",
            "[layout]\nbogus = 1\n",
        ] {
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
            ("persistence[0].path", None),
            ("persistence[0].users", None),
            ("persistence[0].directories", None),
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
