//! Turning TOML and serde errors into [`ConfigError`]s: byte offsets into
//! line:column, spans into dotted field names, and messages into fixes.

use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::ConfigError;

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Builds located errors for one file.
pub(super) struct Locator<'a> {
    pub text: &'a str,
    pub file: &'a Path,
}

impl Locator<'_> {
    /// An error at `span` (None: unknown location).
    pub fn error(
        &self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = span.map_or((0, 0), |s| line_col(self.text, s.start));
        ConfigError {
            file: self.file.into(),
            line,
            column,
            field: field.into(),
            message: message.into(),
            fix: fix.into(),
            also: Box::new([]),
        }
    }

    /// Line and column of `span`, for "declared at line N column M".
    pub fn line_col(&self, span: &Range<usize>) -> (usize, usize) {
        line_col(self.text, span.start)
    }

    /// A value that did not deserialize (`raw::read`'s errors): the field
    /// is found from `span`, the fix from the field.
    pub fn value_error(&self, span: Range<usize>, message: &str) -> ConfigError {
        let field = field_at(self.text, &span).unwrap_or_else(|| "(value)".to_owned());
        let (message, field, fix) = explain(message.trim_end(), field);
        self.error(Some(span), field, message, fix)
    }

    /// A TOML syntax error or a serde error from deserializing the raw structs.
    pub fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span();
        let field = span
            .as_ref()
            .and_then(|s| field_at(self.text, s))
            // The text does not parse at all: a syntax error.
            .unwrap_or_else(|| "TOML syntax".to_owned());
        let (mut message, field, mut fix) = explain(e.message().trim_end(), field);
        let earlier = span.as_ref().and_then(|s| earlier_definition(self.text, s));
        if let Some((key, first)) = earlier.filter(|_| message.contains("duplicate key")) {
            message = format!("duplicate key `{key}` (first defined on line {first})");
            if matches!(key, "directories" | "files") {
                fix = format!(
                    "write the {key} of one [[persistence]] block one way: all in `{key} = [ … ]`, or each as a [[persistence.{key}]] table, not both"
                );
            }
        }
        self.error(span, field, message, fix)
    }
}

/// For a "duplicate key" at `span` (the repeated key or table name): the
/// key and the line of its nearest earlier definition, `key = …` or a
/// `[…key]` / `[[…key]]` header (the file does not parse: this reads lines).
fn earlier_definition<'t>(text: &'t str, span: &Range<usize>) -> Option<(&'t str, usize)> {
    let key = text.get(span.clone())?.trim().trim_matches(['"', '\'']);
    let key = key.rsplit('.').next()?.trim();
    if key.is_empty() {
        return None;
    }
    let before = text.get(..span.start)?;
    let start_line = before.matches('\n').count();
    let lines: Vec<&str> = before.lines().collect();
    let defines = |l: &str| {
        let t = l.trim_start();
        if let Some(rest) = t.strip_prefix(key) {
            return rest.trim_start().starts_with('=');
        }
        let header = t.trim_start_matches('[').split(']').next().unwrap_or("");
        t.starts_with('[') && header.rsplit('.').next().map(str::trim) == Some(key)
    };
    // The line holding the repeated key itself is not an earlier definition.
    (0..lines.len().min(start_line))
        .rev()
        .find(|&i| defines(lines[i]))
        .map(|i| (key, i + 1))
}

/// The dotted field (`persistence[0].directories[1].mode`) whose key or
/// value span best contains `span`, from a span-keeping parse of `text`.
fn field_at(text: &str, span: &Range<usize>) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    let mut nodes = Vec::new();
    walk(&DeValue::Table(doc.into_inner()), "", &mut nodes);
    // The smallest enclosing node wins; on a tie, the deeper (longer) path,
    // then the first.
    let contains = |n: &Range<usize>| n.start <= span.start && span.end <= n.end.max(n.start + 1);
    nodes
        .into_iter()
        .filter(|(n, _)| contains(n))
        .min_by_key(|(n, path)| (n.end - n.start, std::cmp::Reverse(path.len())))
        .map(|(_, path)| path)
}

/// `prefix.name`, or `name` at the top level.
pub(super) fn dotted(prefix: &str, name: &str) -> String {
    match prefix {
        "" => name.to_owned(),
        _ => format!("{prefix}.{name}"),
    }
}

/// Every key and value below `v` (at dotted `path`): its span and field.
fn walk(v: &DeValue<'_>, path: &str, nodes: &mut Vec<(Range<usize>, String)>) {
    match v {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                let path = dotted(path, k.get_ref());
                nodes.push((k.span(), path.clone()));
                nodes.push((v.span(), path.clone()));
                walk(v.get_ref(), &path, nodes);
            }
        }
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                let path = format!("{path}[{i}]");
                nodes.push((item.span(), path.clone()));
                walk(item.get_ref(), &path, nodes);
            }
        }
        _ => {}
    }
}

/// Rewrite a serde/TOML message into (message, field, fix).
fn explain(message: &str, field: String) -> (String, String, String) {
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let fix = format!("write one of {}", list(&expected));
        return (format!("unknown value `{name}`"), field, fix);
    }
    // An enum's value of another type (`backend = true`): toml says what
    // it wanted, not that the type is wrong.
    if message.starts_with("wanted string or table") {
        let fix = type_fix(&field);
        return ("invalid type: not a string".to_owned(), field, fix);
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        let fix = type_fix(&field);
        return (message.to_owned(), field, fix);
    }
    let fix = if message.contains("duplicate key") {
        "keep one of the two definitions (use [[…]] for a list of tables)".to_owned()
    } else {
        "correct the TOML syntax at this position (strings need double quotes, tables [name], lists of tables [[name]])".to_owned()
    };
    (message.to_owned(), field, fix)
}

/// (message, field, fix) for the unknown key `name` at dotted `field`;
/// `expected` are the keys valid there, `elsewhere` the tables where
/// `name` is a valid key (e.g. `directory entries`): then only a key that
/// is the same word (another case, a plural, impermanence's name) is
/// suggested, never a look-alike.
pub(super) fn unknown_key(
    name: &str,
    field: String,
    expected: &[&str],
    elsewhere: &[&str],
) -> (String, String, String) {
    let mut message = format!("unknown key `{name}`");
    if !elsewhere.is_empty() {
        message += &format!(" here (it is a key of {})", elsewhere.join(" and "));
    }
    let fix = match suggest(name, expected, !elsewhere.is_empty()) {
        Some(s) if name.chars().any(|c| c.is_ascii_uppercase()) => {
            format!("did you mean `{s}`? (impermctl uses snake_case)")
        }
        Some(s) => format!("did you mean `{s}`?"),
        None if elsewhere.contains(&"directory entries") && field.contains(".files[") => {
            "remove it: a file has no owner or mode of its own; the directories created above it take parent = { user = \"root\", group = \"root\", mode = \"0755\" }".to_owned()
        }
        None if !elsewhere.is_empty() => format!("move it to {}, or remove it", elsewhere[0]),
        None => format!("remove it; valid keys here: {}", list(expected)),
    };
    (message, field, fix)
}

/// What to write for a field that got the wrong type.
fn type_fix(field: &str) -> String {
    let last = field.rsplit('.').next().unwrap_or(field);
    let last = last.split('[').next().unwrap_or(last);
    let example = match last {
        "version" => "version = 1",
        "persistence" => "[[persistence]] (double brackets: one block per persistence root)",
        "directories" => "[[persistence.directories]] blocks, each with path = \"/var/lib/foo\"",
        "files" => "[[persistence.files]] blocks, each with path = \"/etc/foo\"",
        "layout" => "a [layout] table",
        "watch" => "a [watch] table",
        "path" => "path = \"/var/lib/foo\" (a quoted absolute path)",
        "mode" => "mode = \"0755\" (a quoted octal or symbolic mode)",
        "user" => "user = \"root\" (a quoted name or id)",
        "group" => "group = \"root\" (a quoted name or id)",
        "parent" => "parent = { user = \"root\", group = \"root\", mode = \"0755\" }",
        "hide_mounts" | "hide_mount" | "allow_trash" | "persistent_must_differ" => {
            return format!("write {last} = true or {last} = false (no quotes)");
        }
        "ignore" => "ignore = [\"/tmp\", \"/var/tmp\"]",
        "warn_every" => "warn_every = \"10m\" (or an integer number of seconds)",
        "max_warnings_per_minute" => "max_warnings_per_minute = 10",
        "backend" => "backend = \"inotify\" (or \"auto\", \"fanotify\")",
        "on_failure" => "on_failure = \"refuse\" (or \"warn\")",
        "ephemeral_root" => "ephemeral_root = \"auto\" (or \"tmpfs\", \"zfs\", \"btrfs\", \"any\")",
        "method" => "method = \"copy\" (or \"auto\", \"symlink\")",
        _ => return "check the value's type against the schema in DESIGN.md".to_owned(),
    };
    format!("write {example}")
}

fn list(items: &[impl AsRef<str>]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{}`", i.as_ref())).collect();
    quoted.join(", ")
}

/// The valid key closest to `name`: impermanence's name for it, the same
/// word in another case or number, or (unless `same_word_only`) the nearest
/// by edit distance, at most a third of its length away.
fn suggest(name: &str, pool: &[&str], same_word_only: bool) -> Option<String> {
    // impermanence's Nix option names and what impermctl calls them.
    let impermanence = match name {
        "persistentStoragePath" | "directory" | "file" | "dirPath" | "filePath" => "path",
        "parentDirectory" => "parent",
        "hideMounts" => "hide_mounts",
        "hideMount" => "hide_mount",
        "allowTrash" => "allow_trash",
        _ => "",
    };
    if pool.contains(&impermanence) {
        return Some(impermanence.to_owned());
    }
    let squash = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let n = squash(name);
    let plural =
        |a: &str, b: &str| a.strip_suffix('s') == Some(b) || b.strip_suffix('s') == Some(a);
    if let Some(k) = pool
        .iter()
        .find(|k| squash(k) == n || plural(&squash(k), &n))
    {
        return Some((*k).to_owned());
    }
    if same_word_only {
        return None;
    }
    pool.iter()
        .map(|k| (strsim::osa_distance(&n, &squash(k)), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_owned())
}
