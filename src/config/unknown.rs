//! Unknown keys, all of them: a walk of the span-keeping parse against the
//! schema of `raw`, so that every misspelt key is reported in one run next
//! to the file's other errors (serde's `deny_unknown_fields` stops at the
//! first one).

use toml::de::{DeTable, DeValue};

use super::ConfigError;
use super::locate::{Locator, dotted, unknown_key};

/// Keys of the top level, in schema order (the suggestions' pool).
const TOP: &[&str] = &["version", "layout", "persistence", "watch"];
/// `[layout]`.
const LAYOUT: &[&str] = &[
    "ephemeral_root",
    "persistent_must_differ",
    "on_failure",
    "skip_checks",
];
/// `[[persistence]]`.
const ROOT: &[&str] = &["path", "hide_mounts", "allow_trash", "directories", "files"];
/// A directory entry.
const DIRECTORY: &[&str] = &[
    "path",
    "user",
    "group",
    "mode",
    "hide_mount",
    "allow_trash",
    "parent",
    "home",
];
/// A file entry.
const FILE: &[&str] = &["path", "method", "parent", "home"];
/// `parent = { … }`.
const PERMS: &[&str] = &["user", "group", "mode"];
/// `[watch]`.
const WATCH: &[&str] = &["ignore", "warn_every", "max_warnings_per_minute", "backend"];
/// The keys that hold tables: (the table's schema, key, the schema of the
/// table or list of tables it holds).
const CHILDREN: &[(&[&str], &str, &[&str])] = &[
    (TOP, "layout", LAYOUT),
    (TOP, "watch", WATCH),
    (TOP, "persistence", ROOT),
    (ROOT, "directories", DIRECTORY),
    (ROOT, "files", FILE),
    (DIRECTORY, "parent", PERMS),
    (FILE, "parent", PERMS),
];

/// One error per key of `text` that the schema does not know, in file
/// order. Empty when the text is not TOML (the syntax error is reported
/// by the typed parse). Values of the wrong shape are skipped here: the
/// typed parse reports them.
pub(super) fn unknown_keys(loc: &Locator<'_>) -> Vec<ConfigError> {
    let Ok(doc) = DeTable::parse(loc.text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    Walk { loc, out: &mut out }.table(doc.get_ref(), "", TOP);
    out.sort_by_key(|e| (e.line, e.column));
    out
}

struct Walk<'a, 'b> {
    loc: &'a Locator<'a>,
    out: &'b mut Vec<ConfigError>,
}

impl Walk<'_, '_> {
    /// Check the keys of `t` (at dotted `prefix`) against `known`, then
    /// descend into the known keys that hold a table or a list of tables
    /// (strings and other shapes skipped).
    fn table(&mut self, t: &DeTable<'_>, prefix: &str, known: &[&str]) {
        for (k, v) in t.iter() {
            let name = k.get_ref().as_ref();
            let path = dotted(prefix, name);
            if !known.contains(&name) {
                let (message, field, mut fix) = unknown_key(name, path, known, &elsewhere(name));
                if name == "users" && known == ROOT {
                    fix = users_fix(v.get_ref());
                }
                self.out
                    .push(self.loc.error(Some(k.span()), field, message, fix));
                continue;
            }
            let Some((.., child)) = CHILDREN.iter().find(|(t, k, _)| *t == known && *k == name)
            else {
                continue;
            };
            match v.get_ref() {
                DeValue::Table(t) => self.table(t, &path, child),
                DeValue::Array(a) => {
                    for (i, item) in a.iter().enumerate() {
                        if let DeValue::Table(t) = item.get_ref() {
                            self.table(t, &format!("{path}[{i}]"), child);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The fix for impermanence's `users.<name>` written in TOML
/// (`[persistence.users.alice]`): each path in full, with its owner and home.
fn users_fix(v: &DeValue<'_>) -> String {
    let user = match v {
        DeValue::Table(t) => t.iter().next().map(|(k, _)| k.get_ref().to_string()),
        _ => None,
    };
    let u = user.as_deref().unwrap_or("alice");
    format!(
        "the config file has no per-user lists (impermanence's users.<name> is the NixOS module's): declare each path in full with its owner, e.g. [[persistence.directories]] path = \"/home/{u}/.ssh\", user = \"{u}\", group = \"users\", home = \"/home/{u}\""
    )
}

/// The tables where `name` is a valid key, as people call them.
fn elsewhere(name: &str) -> Vec<&'static str> {
    [
        (TOP, "the top level"),
        (LAYOUT, "[layout]"),
        (ROOT, "[[persistence]]"),
        (DIRECTORY, "directory entries"),
        (FILE, "file entries"),
        (PERMS, "parent = { … }"),
        (WATCH, "[watch]"),
    ]
    .into_iter()
    .filter_map(|(keys, table)| keys.contains(&name).then_some(table))
    .collect()
}
