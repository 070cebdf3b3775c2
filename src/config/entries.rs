//! The entries of the file: absolute normalised paths, nothing under
//! `/nix` & co. or a persistence root, no duplicates, valid modes and
//! homes, sorted parent-first; every bad entry is reported, in file order.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::fields::{abs_path, parent_perms, perms};
use super::locate::Locator;
use super::raw::{RawDirectory, RawFile, RawRoot};
use super::validate::Result;
use super::{ConfigError, Entry, FORBIDDEN_PREFIXES, FileMethod, Kind, PersistenceRoot};

/// Where an entry was declared, for "declared twice" messages.
struct Origin {
    kind: Kind,
    root: PathBuf,
    /// Where the declaration starts; its line is computed only for an error
    /// (eagerly it made loading quadratic in the number of entries).
    span: Range<usize>,
}

impl Origin {
    fn describe(&self, loc: &Locator<'_>) -> String {
        let kind = match self.kind {
            Kind::Directory => "a directory",
            Kind::File => "a file",
        };
        format!(
            "as {kind} in {} (line {})",
            self.root.display(),
            loc.line(&self.span)
        )
    }
}

/// Every entry of every block; the bad ones go to `errors`.
pub(super) fn validate_entries(
    blocks: Vec<Spanned<RawRoot>>,
    roots: &[(PersistenceRoot, Range<usize>)],
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut seen: HashMap<PathBuf, Origin> = HashMap::new();
    for (i, block) in blocks.into_iter().enumerate() {
        let (root, _) = &roots[i];
        let block = block.into_inner();
        let dirs = block.directories.unwrap_or_default().into_iter();
        let dirs = dirs.enumerate().map(|(j, d)| {
            let span = d.span();
            let field = format!("persistence[{i}].directories[{j}]");
            (
                Kind::Directory,
                d.into_inner().into_table(span.clone()),
                None,
                span,
                field,
            )
        });
        let files = block.files.unwrap_or_default().into_iter().enumerate();
        let files = files.map(|(j, f)| {
            let span = f.span();
            let f: RawFile = f.into_inner().into_table(span.clone());
            // A file has no perms of its own, no hide or trash flag.
            let d = RawDirectory {
                path: f.path,
                parent: f.parent,
                home: f.home,
                hide_mount: Some(false),
                allow_trash: Some(false),
                ..RawDirectory::default()
            };
            (
                Kind::File,
                d,
                f.method,
                span,
                format!("persistence[{i}].files[{j}]"),
            )
        });
        for (kind, d, method, span, field) in dirs.chain(files) {
            let one = || -> Result<Entry> {
                let path = entry_path(d.path.as_ref(), &span, &field, roots, loc)?;
                let sp = d.path.as_ref().map_or(span, Spanned::span);
                let home = home_dir(d.home.as_ref(), &path, &field, loc)?;
                check_duplicate(&mut seen, &path, kind, &root.path, &sp, &field, loc)?;
                let (user, group, mode) = (d.user.as_ref(), d.group.as_ref(), d.mode.as_ref());
                Ok(Entry {
                    kind,
                    source: root.path.join(path.strip_prefix("/").unwrap_or(&path)),
                    path,
                    root: root.path.clone(),
                    perms: perms(user, group, mode, &field, loc)?,
                    parent: parent_perms(d.parent.as_ref(), &field, loc)?,
                    home,
                    hide: d.hide_mount.unwrap_or(root.hide_mounts),
                    trash: d.allow_trash.unwrap_or(root.allow_trash),
                    method: method.unwrap_or(FileMethod::Auto),
                })
            };
            match one() {
                Ok(e) => entries.push(e),
                Err(e) => errors.push(e),
            }
        }
    }
    // Path's Ord compares components, so a parent sorts before its children.
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries
}

/// An entry's path: present, absolute, normalised, not `/`, not forbidden,
/// not inside (or containing) a persistence root.
fn entry_path(
    p: Option<&Spanned<String>>,
    block: &Range<usize>,
    field: &str,
    roots: &[(PersistenceRoot, Range<usize>)],
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
    if path == Path::new("/") {
        return err(
            "`/` itself cannot be persisted".into(),
            "list the directories under / that hold state, e.g. /var/lib/foo",
        );
    }
    if let Some(bad) = forbidden(&path) {
        return err(
            format!(
                "{} is under {bad}, which is never on the ephemeral root",
                path.display()
            ),
            "remove this entry: /nix, /proc, /sys, /dev and /run are managed elsewhere",
        );
    }
    for (root, _) in roots {
        let r = root.path.display();
        let source_len = root.path.as_os_str().len() + path.as_os_str().len();
        if source_len > super::fields::PATH_MAX {
            return err(
                format!(
                    "its persistent copy {r}{} would be {source_len} bytes long; Linux allows at most {} bytes per path",
                    path.display(),
                    super::fields::PATH_MAX
                ),
                "persist a shorter path (a parent directory of it, for example)",
            );
        }
        if path.starts_with(&root.path) {
            return err(
                format!("{} is inside the persistence root {r}", path.display()),
                &format!(
                    "write the path as seen on /, e.g. /{} for {}",
                    path.strip_prefix(&root.path).unwrap_or(&path).display(),
                    path.display()
                ),
            );
        }
        if root.path.starts_with(&path) {
            return err(
                format!(
                    "{} contains the persistence root {r}; binding it would hide {r}",
                    path.display()
                ),
                "persist the directories under it instead, or move the persistence root elsewhere",
            );
        }
    }
    Ok(path)
}

fn check_duplicate(
    seen: &mut HashMap<PathBuf, Origin>,
    path: &Path,
    kind: Kind,
    root: &Path,
    span: &Range<usize>,
    field: &str,
    loc: &Locator<'_>,
) -> Result<()> {
    let here = Origin {
        kind,
        root: root.to_path_buf(),
        span: span.clone(),
    };
    if let Some(first) = seen.get(path) {
        return Err(loc.error(
            Some(span.clone()),
            format!("{field}.path"),
            format!(
                "{} is declared twice: {} and {}",
                path.display(),
                first.describe(loc),
                here.describe(loc)
            ),
            format!(
                "keep only one declaration of {} (delete the one on line {})",
                path.display(),
                loc.line(&here.span)
            ),
        ));
    }
    seen.insert(path.to_path_buf(), here);
    Ok(())
}

/// `home = "/home/alice"`: must be absolute and contain the entry (or be
/// it: the whole home persisted); `home = "/"` means no home boundary.
fn home_dir(
    home: Option<&Spanned<String>>,
    path: &Path,
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
    if !path.starts_with(&dir) {
        return Err(loc.error(
            Some(h.span()),
            &field,
            format!(
                "{} is not inside the home directory {}",
                path.display(),
                dir.display()
            ),
            "set home to the user's home directory that contains the entry, or remove it",
        ));
    }
    Ok(Some(dir))
}

/// The forbidden prefix `path` is under, if any.
pub(super) fn forbidden(path: &Path) -> Option<&'static str> {
    FORBIDDEN_PREFIXES
        .iter()
        .copied()
        .find(|f| path.starts_with(f))
}
