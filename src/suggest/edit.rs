//! The TOML that adds entries to the config file as it is written (trial
//! s9 F13): a `[[persistence]]` block whose `directories` (or `files`) is
//! an array `directories = [ "/etc/nixos", … ]` gets the path added to that
//! array (another `[[persistence.directories]]` table there is a duplicate
//! key: the whole file stops parsing); a block written with tables gets
//! tables, inserted after its last line (not at the end of the file,
//! which may hold another block). Read from a span-keeping parse of the
//! file; each edit names lines of the file as it is now, printed bottom
//! first so that applying them in order keeps the numbers right.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Line, declarable, nix_string, quoted, toml_item, toml_snippet};
use crate::config::Kind;

/// One edit: replace lines `lines` (1-based, inclusive; an empty range
/// after line `start - 1` inserts) with `text` (whole lines).
#[derive(Debug, PartialEq, Eq)]
struct Edit {
    lines: Range<usize>,
    text: String,
}

/// The suggestion for adding `lines` to the `[[persistence]]` block of
/// `root` in the config `file` whose content is `text` (`None`: the file
/// does not exist): `#` comments say where (file, line numbers), the rest
/// is TOML to put there. A file that does not parse gets the plain tables
/// ([`toml_snippet`]).
pub fn toml_for(file: &Path, text: Option<&str>, root: &Path, lines: &[Line]) -> String {
    let lines = declarable(lines);
    let skipped: String = (lines.iter())
        .filter_map(|l| match l {
            Line::Skipped(why) => Some(format!("# skipped: {why}\n")),
            _ => None,
        })
        .collect();
    let items = |kind: Kind| -> Vec<(&Path, bool)> {
        (lines.iter())
            .filter_map(|l| match l {
                Line::Persist(p, k) if *k == kind => Some((p.as_path(), super::needs_copy(p, *k))),
                Line::Copy(p) if kind == Kind::File => Some((p.as_path(), true)),
                _ => None,
            })
            .collect()
    };
    let (dirs, files) = (items(Kind::Directory), items(Kind::File));
    let (f, r) = (file.display(), nix_string(root));
    let Some(text) = text else {
        let body = tables(&dirs, &files);
        return format!(
            "# {f} does not exist: write it as\nversion = 1\n[[persistence]]\npath = {r}\n{body}{skipped}"
        );
    };
    let parsed = DeTable::parse(text).ok();
    let block = parsed
        .as_ref()
        .and_then(|d| block_of(d.get_ref(), text, root));
    let edits = match block {
        // Only comments: the skipped notes, or "nothing would be lost".
        _ if dirs.is_empty() && files.is_empty() => return super::nix_snippet(root, &lines),
        Some(b) => edits(text, b, &dirs, &files),
        None if parsed.is_some() => {
            let n = text.lines().count();
            let body = format!("[[persistence]]\npath = {r}\n{}", tables(&dirs, &files));
            Some(vec![Edit {
                lines: n + 1..n + 1,
                text: body,
            }])
        }
        None => None,
    };
    let Some(edits) = edits else {
        return toml_snippet(root, &lines);
    };
    let mut s = match block {
        Some(_) => format!("# in {f}, for the [[persistence]] block with path = {r}:\n"),
        None => format!("# in {f} (it has no [[persistence]] block with path = {r} yet):\n"),
    };
    for e in edits.iter().rev() {
        s += &match e.lines.len() {
            0 => format!("# insert after line {}:\n", e.lines.start - 1),
            1 => format!("# replace line {} with:\n", e.lines.start),
            _ => format!(
                "# replace lines {}-{} with:\n",
                e.lines.start,
                e.lines.end - 1
            ),
        };
        s += &e.text;
    }
    s + &skipped
}

/// [`toml_for`] the config `file` as it is now (a file that cannot be
/// read, other than a missing one, gets [`toml_snippet`]).
pub fn toml_for_file(file: &Path, root: &Path, lines: &[Line]) -> String {
    match std::fs::read_to_string(file) {
        Ok(text) => toml_for(file, Some(&text), root, lines),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml_for(file, None, root, lines),
        Err(_) => toml_snippet(root, lines),
    }
}

/// `[[persistence.directories]]` then `[[persistence.files]]` tables.
fn tables(dirs: &[(&Path, bool)], files: &[(&Path, bool)]) -> String {
    let dirs = dirs
        .iter()
        .map(|(p, _)| toml_item(p, Kind::Directory, false));
    let files = files.iter().map(|(p, c)| toml_item(p, Kind::File, *c));
    dirs.chain(files).map(|t| t + "\n").collect()
}

/// The `[[persistence]]` table whose `path` is `root`, if written as a
/// table (not inline).
fn block_of<'a>(doc: &'a DeTable<'a>, text: &str, root: &Path) -> Option<&'a DeTable<'a>> {
    let blocks = doc.get("persistence")?.get_ref().as_array()?;
    let block = blocks.iter().find(|b| {
        let path = b.get_ref().as_table().and_then(|t| t.get("path"));
        path.and_then(|p| p.get_ref().as_str()).map(Path::new) == Some(root)
    })?;
    let header = text.get(block.span())?.starts_with("[[");
    header.then(|| block.get_ref().as_table()).flatten()
}

/// The edits that add `dirs` and `files` to `block`: into its arrays,
/// or as tables after its last line.
fn edits(
    text: &str,
    block: &DeTable<'_>,
    dirs: &[(&Path, bool)],
    files: &[(&Path, bool)],
) -> Option<Vec<Edit>> {
    let mut out = Vec::new();
    let (mut tab_dirs, mut tab_files): (&[_], &[_]) = (&[], &[]);
    for (key, items, tab) in [
        ("directories", dirs, &mut tab_dirs),
        ("files", files, &mut tab_files),
    ] {
        let inline = block.get(key).filter(|v| !text[v.span()].starts_with("[["));
        match inline {
            _ if items.is_empty() => {}
            Some(v) => out.push(into_array(text, block, key, v, items)?),
            None => *tab = items,
        }
    }
    if !(tab_dirs.is_empty() && tab_files.is_empty()) {
        let last = line_of(text, table_end(block).saturating_sub(1));
        out.push(Edit {
            lines: last + 1..last + 1,
            text: tables(tab_dirs, tab_files),
        });
    }
    out.sort_by_key(|e| e.lines.start);
    Some(out)
}

/// The edit that adds `items` to the array `key = [ … ]` (value `v`) of
/// `block`: the lines from the key to the `]`, with the items after the
/// last one (each on a line of its own if the array is one per line).
fn into_array(
    text: &str,
    block: &DeTable<'_>,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    items: &[(&Path, bool)],
) -> Option<Edit> {
    let (k, _) = block.get_key_value(key)?;
    let written = |(p, copy): &(&Path, bool)| {
        let p = quoted(&p.to_string_lossy(), false);
        match copy {
            true => format!("{{ path = {p}, method = \"copy\" }}"),
            false => p,
        }
    };
    let new: Vec<String> = items.iter().map(written).collect();
    let close = v.span().end - 1;
    let last = v.get_ref().as_array()?.last().map(|l| l.span().end);
    let inserts = match last {
        None => vec![(close, new.join(", "))],
        Some(end) if line_of(text, end) == line_of(text, close) => {
            vec![(end, format!(", {}", new.join(", ")))]
        }
        Some(end) => {
            let line = &text[text[..end].rfind('\n').map_or(0, |i| i + 1)..];
            let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
            let eol = text[end..].find('\n').map_or(text.len(), |i| end + i);
            let comma = text[end..eol].trim_start().starts_with(',');
            let added: String = new.iter().map(|n| format!("\n{indent}{n},")).collect();
            vec![(end, if comma { "" } else { "," }.into()), (eol, added)]
        }
    };
    Some(edit_lines(text, k.span().start, v.span().end, &inserts))
}

/// The edit that replaces the lines of `text` holding bytes `from` to
/// `to` with themselves plus `inserts` (byte offset, text; in order).
fn edit_lines(text: &str, from: usize, to: usize, inserts: &[(usize, String)]) -> Edit {
    let start = text[..from].rfind('\n').map_or(0, |i| i + 1);
    let end = text[to..].find('\n').map_or(text.len(), |i| to + i);
    let (mut body, mut pos) = (String::new(), start);
    for (at, s) in inserts {
        body += &text[pos..*at];
        body += s;
        pos = *at;
    }
    body += &text[pos..end];
    let lines = line_of(text, start)..line_of(text, end) + 1;
    Edit {
        lines,
        text: body + "\n",
    }
}

/// 1-based line of byte `at`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The largest span end in `t` (its keys, values, and theirs).
fn table_end(t: &DeTable<'_>) -> usize {
    fn end(v: &Spanned<DeValue<'_>>) -> usize {
        let inner = match v.get_ref() {
            DeValue::Table(t) => table_end(t),
            DeValue::Array(a) => a.iter().map(end).max().unwrap_or(0),
            _ => 0,
        };
        v.span().end.max(inner)
    }
    t.iter()
        .map(|(k, v)| k.span().end.max(end(v)))
        .max()
        .unwrap_or(0)
}
