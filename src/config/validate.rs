//! Stages two and three: fill in defaults and validate the raw file into
//! [`Settings`]: absolute normalised paths, nothing under `/nix` & co. or a
//! persistence root, no duplicates, valid modes, entries parent-first.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::fields::{abs_path, parent_perms, perms, watch};
use super::locate::Locator;
use super::raw::{RawConfig, RawRoot};
use super::{
    ConfigError, Entry, FORBIDDEN_PREFIXES, FileMethod, Kind, Layout, Perms, PersistenceRoot,
    Settings,
};

pub(super) type Result<T> = std::result::Result<T, ConfigError>;

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

/// Validate the whole file, collecting every error (in file order) rather
/// than stopping at the first: one bad entry never hides the others.
pub(super) fn validate(raw: RawConfig, loc: &Locator<'_>, file: &Path) -> Result<Settings> {
    let mut errors = Vec::new();
    if let Err(e) = check_version(&raw, loc) {
        errors.push(e);
    }
    let watch = watch(raw.watch, loc).map_err(|e| errors.push(e)).ok();
    let blocks = raw.persistence.unwrap_or_default();
    let roots = match validate_roots(&blocks, loc) {
        Ok(r) => r,
        Err(e) => {
            errors.push(e);
            return Err(ConfigError::combine(errors).expect("an error"));
        }
    };
    let defaults = Layout::default();
    let layout = raw.layout.map_or(defaults.clone(), |l| Layout {
        ephemeral_root: l.ephemeral_root.unwrap_or(defaults.ephemeral_root),
        persistent_must_differ: l
            .persistent_must_differ
            .unwrap_or(defaults.persistent_must_differ),
        on_failure: l.on_failure.unwrap_or(defaults.on_failure),
        skip_checks: l.skip_checks.unwrap_or_default(),
    });
    let entries = validate_entries(blocks, &roots, loc, &mut errors);
    if let Some(e) = ConfigError::combine(errors) {
        return Err(e);
    }
    Ok(Settings {
        file: file.to_path_buf(),
        layout,
        roots: roots.into_iter().map(|(r, _)| r).collect(),
        entries,
        watch: watch.expect("no error, so a watch section"),
    })
}

fn check_version(raw: &RawConfig, loc: &Locator<'_>) -> Result<()> {
    match &raw.version {
        None => {
            return Err(loc.error(
                Some(0..0),
                "version",
                "missing `version`",
                "add `version = 1` as the first line",
            ));
        }
        Some(v) if *v.get_ref() != 1 => {
            return Err(loc.error(
                Some(v.span()),
                "version",
                format!("unsupported version {}", v.get_ref()),
                "write `version = 1` (the only version this impermctl reads)",
            ));
        }
        Some(_) => {}
    }
    Ok(())
}

/// Every entry of every block; the bad ones go to `errors`.
fn validate_entries(
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
        for (j, d) in block
            .directories
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let field = format!("persistence[{i}].directories[{j}]");
            let span = d.span();
            let d = d.into_inner().into_table(span.clone());
            let one = |seen: &mut HashMap<PathBuf, Origin>| -> Result<Entry> {
                let path = entry_path(d.path.as_ref(), &span, &field, roots, loc)?;
                let sp = d.path.as_ref().map_or(span, Spanned::span);
                let home = home_dir(d.home.as_ref(), &path, &field, loc)?;
                check_duplicate(seen, &path, Kind::Directory, &root.path, &sp, &field, loc)?;
                Ok(Entry {
                    kind: Kind::Directory,
                    source: root.path.join(path.strip_prefix("/").unwrap_or(&path)),
                    path,
                    root: root.path.clone(),
                    perms: perms(
                        d.user.as_ref(),
                        d.group.as_ref(),
                        d.mode.as_ref(),
                        &field,
                        loc,
                    )?,
                    parent: parent_perms(d.parent.as_ref(), &field, loc)?,
                    home,
                    hide: d.hide_mount.unwrap_or(root.hide_mounts),
                    trash: d.allow_trash.unwrap_or(root.allow_trash),
                    method: FileMethod::Auto,
                })
            };
            match one(&mut seen) {
                Ok(e) => entries.push(e),
                Err(e) => errors.push(e),
            }
        }
        for (j, f) in block.files.unwrap_or_default().into_iter().enumerate() {
            let field = format!("persistence[{i}].files[{j}]");
            let span = f.span();
            let f = f.into_inner().into_table(span.clone());
            let one = |seen: &mut HashMap<PathBuf, Origin>| -> Result<Entry> {
                let path = entry_path(f.path.as_ref(), &span, &field, roots, loc)?;
                let sp = f.path.as_ref().map_or(span, Spanned::span);
                let home = home_dir(f.home.as_ref(), &path, &field, loc)?;
                check_duplicate(seen, &path, Kind::File, &root.path, &sp, &field, loc)?;
                Ok(Entry {
                    kind: Kind::File,
                    source: root.path.join(path.strip_prefix("/").unwrap_or(&path)),
                    path,
                    root: root.path.clone(),
                    perms: Perms::default(),
                    parent: parent_perms(f.parent.as_ref(), &field, loc)?,
                    home,
                    hide: false,
                    trash: false,
                    method: f.method.unwrap_or(FileMethod::Auto),
                })
            };
            match one(&mut seen) {
                Ok(e) => entries.push(e),
                Err(e) => errors.push(e),
            }
        }
    }
    // Path's Ord compares components, so a parent sorts before its children.
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries
}

/// The `[[persistence]]` roots with their path spans, checked against each other.
fn validate_roots(
    blocks: &[Spanned<RawRoot>],
    loc: &Locator<'_>,
) -> Result<Vec<(PersistenceRoot, Range<usize>)>> {
    let mut roots: Vec<(PersistenceRoot, Range<usize>)> = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let field = format!("persistence[{i}].path");
        let Some(p) = &block.get_ref().path else {
            return Err(loc.error(
                Some(block.span()),
                field,
                "this [[persistence]] block has no `path`",
                "add path = \"/persistent\" (where the persistent dataset is mounted)",
            ));
        };
        let path = abs_path(p, &field, loc)?;
        let sp = p.span();
        if path == Path::new("/") {
            return Err(loc.error(
                Some(sp),
                field,
                "a persistence root cannot be `/` (that is the ephemeral root)",
                "write the mount point of the persistent dataset, e.g. /persistent",
            ));
        }
        if let Some(bad) = root_forbidden(&path) {
            return Err(loc.error(
                Some(sp),
                field,
                format!(
                    "{} is under {bad}, a virtual filesystem that is never persistent storage",
                    path.display()
                ),
                "write the mount point of the persistent dataset (or a directory on it), e.g. /persistent or /nix/persist",
            ));
        }
        // Nested roots are legal (`/persist` next to `/persist/home`, an
        // entry whose own persistentStoragePath lies inside another root):
        // each root is judged by the filesystem it lives on at boot, and
        // entries that collide are caught as duplicates below.
        if let Some((other, osp)) = roots.iter().find(|(o, _)| o.path == path) {
            let lines = (loc.line(osp), loc.line(&sp));
            return Err(loc.error(
                Some(sp),
                field,
                format!(
                    "{} is declared twice as a persistence root (lines {} and {})",
                    other.path.display(),
                    lines.0,
                    lines.1
                ),
                "merge the two [[persistence]] blocks",
            ));
        }
        let raw = block.get_ref();
        roots.push((
            PersistenceRoot {
                path,
                hide_mounts: raw.hide_mounts.unwrap_or(false),
                allow_trash: raw.allow_trash.unwrap_or(false),
            },
            sp,
        ));
    }
    Ok(roots)
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

/// Where a persistence root can never be: virtual filesystems. `/nix` is
/// allowed (`/nix/persist` on machines where `/nix` is the only disk).
fn root_forbidden(path: &Path) -> Option<&'static str> {
    forbidden(path).filter(|p| *p != "/nix")
}

fn forbidden(path: &Path) -> Option<&'static str> {
    FORBIDDEN_PREFIXES
        .iter()
        .copied()
        .find(|f| path.starts_with(f))
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
