//! The entries of the file: absolute normalised paths, nothing under
//! `/nix` & co. or a persistence root, no duplicates, valid modes and
//! homes, sorted parent-first; every bad entry is reported, in file order.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::fields::{PATH_MAX, abs_path, perms};
use super::locate::Locator;
use super::partial::Held;
use super::raw::{EntryList, Lax, RawDirectory, RawRoot, Shorthand};
use super::validate::{Result, Root, noted};
use super::{ConfigError, Entry, FileMethod, Kind, Perms, forbidden};

/// Where an entry was declared, for "declared twice" messages.
struct Origin {
    kind: Kind,
    root: PathBuf,
    /// The entry's dotted name, e.g. `persistence[0].files[2]`.
    field: String,
    /// Where the declaration starts; its line is computed only for an error
    /// (eagerly it made loading quadratic in the number of entries).
    span: Range<usize>,
}

/// A block's entries before validation: kind, table, file method, span of
/// the entry, dotted name.
type RawEntry = (Kind, RawDirectory, Option<FileMethod>, Range<usize>, String);

/// The entries of block `i`, directories first, in file order.
fn block_entries(i: usize, block: RawRoot) -> impl Iterator<Item = RawEntry> {
    let dirs = items(block.directories, i, "directories", |d| &mut d.path);
    let dirs = dirs.map(|(span, d, field)| (Kind::Directory, d, None, span, field));
    let files = items(block.files, i, "files", |f| &mut f.path).map(|(span, f, field)| {
        // A file has no perms of its own.
        let d = RawDirectory {
            path: f.path,
            parent: f.parent,
            home: f.home,
            ..RawDirectory::default()
        };
        (Kind::File, d, f.method.0, span, field)
    });
    dirs.chain(files)
}

/// The items of block `i`'s list `name` as tables (a bare path: a default
/// table whose field `path` returns carries the string and its span), with
/// their spans and dotted names (bad items were reported by `raw::read` and
/// are skipped; indices stay).
fn items<T: Default>(
    list: EntryList<T>,
    i: usize,
    name: &str,
    path: fn(&mut T) -> &mut Lax<Spanned<String>>,
) -> impl Iterator<Item = (Range<usize>, T, String)> {
    let items = list.0.unwrap_or_default().into_iter().enumerate();
    items.filter_map(move |(j, item)| {
        let (item, field) = (item.0?, format!("persistence[{i}].{name}[{j}]"));
        let span = item.span();
        let table = match item.into_inner() {
            Shorthand::Table(t) => t,
            Shorthand::Path(p) => {
                let mut t = T::default();
                *path(&mut t) = Lax(Some(Spanned::new(span.clone(), p)));
                t
            }
        };
        Some((span, table, field))
    })
}

/// Every entry of every block; the bad ones go to `errors` (each of an
/// entry's errors: its path, home, owner, mode and parent are all checked)
/// and are held, as are the entries named in `skip` (errors found before
/// validation) and those of a block named there or whose root is `None`
/// (`roots` has one item per block), which are checked but not kept.
pub(super) fn validate_entries(
    blocks: Vec<Spanned<RawRoot>>,
    roots: &[Option<Root>],
    skip: &HashSet<String>,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
    places: &mut super::Places,
) -> (Vec<Entry>, Vec<Held>) {
    let (mut entries, mut held) = (Vec::new(), Vec::new());
    let mut seen: HashMap<PathBuf, Origin> = HashMap::new();
    let valid: Vec<&Root> = roots.iter().flatten().collect();
    for (i, block) in blocks.into_iter().enumerate() {
        let root = roots[i].as_ref().map(|(r, _)| r);
        let block_skipped = skip.contains(&super::partial::block(i));
        for (kind, d, method, span, field) in block_entries(i, block.into_inner()) {
            let before = errors.len();
            let (p, h) = (d.path.0.as_ref(), d.home.0.as_ref());
            let path = noted(entry_path(p, &span, &field, &valid, loc), errors);
            let sp = p.map_or(span, Spanned::span);
            let home = noted(home_dir(h, path.as_deref(), &field, loc), errors);
            let own = perms([&d.user, &d.group, &d.mode], &field, loc, errors);
            let parent = d.parent.0.as_ref().map_or_else(Perms::default, |p| {
                let f = format!("{field}.parent");
                perms([&p.user, &p.group, &p.mode], &f, loc, errors)
            });
            let mut ok = errors.len() == before && !skip.contains(&field) && !block_skipped;
            if let (Some(path), Some(root)) = (&path, root) {
                let origin = Origin {
                    kind,
                    root: root.path.clone(),
                    field: field.clone(),
                    span: sp.clone(),
                };
                let dup = check_duplicate(&mut seen, path, origin, loc);
                ok &= noted(dup, errors).is_some();
            }
            let (Some(path), Some(root), true) = (&path, root, ok) else {
                let at = loc.line_col(&sp);
                let (entry, block) = (field, i);
                held.push(Held {
                    entry,
                    block,
                    at,
                    path,
                    kind,
                });
                continue;
            };
            places.insert(path.clone(), loc.line_col(&sp));
            entries.push(Entry {
                kind,
                source: root.path.join(crate::root::rel(path)),
                path: path.clone(),
                root: root.path.clone(),
                perms: own,
                parent,
                home: home.flatten(),
                // A file has no hide or trash flag.
                hide: kind == Kind::Directory && d.hide_mount.0.unwrap_or(root.hide_mounts),
                trash: kind == Kind::Directory && d.allow_trash.0.unwrap_or(root.allow_trash),
                method: method.unwrap_or(FileMethod::Auto),
            });
        }
    }
    // Path's Ord compares components, so a parent sorts before its children.
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    (entries, held)
}

/// An entry's path: present, absolute, normalised, not `/`, not forbidden,
/// not inside (or containing) a persistence root.
fn entry_path(
    p: Option<&Spanned<String>>,
    block: &Range<usize>,
    field: &str,
    roots: &[&Root],
    loc: &Locator<'_>,
) -> Result<PathBuf> {
    let field = format!("{field}.path");
    let Some(p) = p else {
        return Err(loc.error(
            Some(block.clone()),
            field,
            "this entry has no `path`",
            "add path = \"/var/lib/foo\" (the absolute path to persist)",
        ));
    };
    let path = abs_path(p, &field, loc)?;
    let err =
        |message: String, fix: &str| Err(loc.error(Some(p.span()), field.clone(), message, fix));
    let shown = path.display();
    if path == Path::new("/") {
        return err(
            "`/` itself cannot be persisted".into(),
            "list the directories under / that hold state, e.g. /var/lib/foo",
        );
    }
    if let Some(bad) = forbidden(&path) {
        return err(
            format!("{shown} is under {bad}, which is never on the ephemeral root"),
            "remove this entry: /nix, /proc, /sys, /dev and /run are managed elsewhere",
        );
    }
    for (root, _) in roots.iter().copied() {
        let r = root.path.display();
        let source_len = root.path.as_os_str().len() + path.as_os_str().len();
        if source_len > PATH_MAX {
            return err(
                format!(
                    "its persistent copy {r}{shown} would be {source_len} bytes long; Linux allows at most {PATH_MAX} bytes per path"
                ),
                "persist a shorter path (a parent directory of it, for example)",
            );
        }
        if path.starts_with(&root.path) {
            let inside = path.strip_prefix(&root.path).unwrap_or(&path).display();
            return err(
                format!("{shown} is inside the persistence root {r}"),
                &format!("write the path as seen on /, e.g. /{inside} for {shown}"),
            );
        }
        if root.path.starts_with(&path) {
            return err(
                format!("{shown} contains the persistence root {r}; binding it would hide {r}"),
                "persist the directories under it instead, or move the persistence root elsewhere",
            );
        }
    }
    Ok(path)
}

/// `path` declared before (in `seen`)? Then an error at `here`, naming
/// both declarations (with their entries and columns when on one line).
fn check_duplicate(
    seen: &mut HashMap<PathBuf, Origin>,
    path: &Path,
    here: Origin,
    loc: &Locator<'_>,
) -> Result<()> {
    let Some(first) = seen.get(path) else {
        seen.insert(path.to_path_buf(), here);
        return Ok(());
    };
    let same_line = loc.line_col(&first.span).0 == loc.line_col(&here.span).0;
    // `as a directory in /persistent (line 4)`; on one line, the entry
    // and its column too.
    let describe = |o: &Origin| {
        let (kind, root, field) = (o.kind.word(), o.root.display(), &o.field);
        let (line, column) = loc.line_col(&o.span);
        match same_line {
            true => format!("as a {kind} in {root} ({field}, line {line} column {column})"),
            false => format!("as a {kind} in {root} (line {line})"),
        }
    };
    let (line, column) = loc.line_col(&here.span);
    let which = match same_line {
        true => format!("delete {}, line {line} column {column}", here.field),
        false => format!("delete the one on line {line}"),
    };
    let (p, first, again) = (path.display(), describe(first), describe(&here));
    Err(loc.error(
        Some(here.span.clone()),
        format!("{}.path", here.field),
        format!("{p} is declared twice: {first} and {again}"),
        format!("keep only one declaration of {p} ({which})"),
    ))
}

/// `home = "/home/alice"`: must be absolute and contain the entry (or be
/// it: the whole home persisted); `home = "/"` means no home boundary.
/// `path` is `None` when the entry's own path is bad (the home is still
/// checked on its own).
fn home_dir(
    home: Option<&Spanned<String>>,
    path: Option<&Path>,
    field: &str,
    loc: &Locator<'_>,
) -> Result<Option<PathBuf>> {
    let Some(h) = home else { return Ok(None) };
    let field = format!("{field}.home");
    let dir = abs_path(h, &field, loc)?;
    // A user whose home is `/` has no home boundary: plain system entries.
    if dir == Path::new("/") {
        return Ok(None);
    }
    // `path == dir`: the whole home (`users.<name>.directories = [ "/" ]`).
    let Some(path) = path else { return Ok(None) };
    if !path.starts_with(&dir) {
        let (p, home) = (path.display(), dir.display());
        return Err(loc.error(
            Some(h.span()),
            &field,
            format!("{p} is not inside the home directory {home}"),
            "set home to the user's home directory that contains the entry, or remove it",
        ));
    }
    Ok(Some(dir))
}
