//! Stages two and three: fill in defaults and validate the raw file into
//! [`Settings`]: the version, the persistence roots, the layout defaults;
//! the entries are checked in `entries`.

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::entries::validate_entries;
use super::fields::{abs_path, watch};
use super::locate::Locator;
use super::partial::Held;
use super::raw::{RawConfig, RawRoot};
use super::{ConfigError, Layout, PersistenceRoot, Settings, forbidden};

pub(super) type Result<T> = std::result::Result<T, ConfigError>;

/// The value, or `None` with its error pushed to `errors`.
pub(super) fn noted<T>(r: Result<T>, errors: &mut Vec<ConfigError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

/// Validate the whole file, collecting every error rather than stopping
/// at the first: one bad entry never hides the others. The settings hold
/// every valid entry (none of `skip`, the entries and blocks whose errors
/// are known already); the entries not kept are held.
pub(super) fn validate(
    raw: RawConfig,
    loc: &Locator<'_>,
    file: &Path,
    skip: &HashSet<String>,
    places: &mut super::Places,
) -> (Settings, Vec<ConfigError>, Vec<Held>) {
    let mut errors = Vec::from_iter(check_version(&raw, loc));
    let watch = watch(raw.watch.0, loc, &mut errors);
    let blocks = raw.persistence.0.unwrap_or_default();
    let roots = validate_roots(&blocks, loc, &mut errors);
    let (l, d) = (raw.layout.0.unwrap_or_default(), Layout::default());
    let layout = Layout {
        ephemeral_root: l.ephemeral_root.0.unwrap_or(d.ephemeral_root),
        persistent_must_differ: l
            .persistent_must_differ
            .0
            .unwrap_or(d.persistent_must_differ),
        on_failure: l.on_failure.0.unwrap_or(d.on_failure),
        skip_checks: l.skip_checks.0.unwrap_or(d.skip_checks),
    };
    // A block with an error of its own is refused: its root and entries.
    let mut refused = skip.clone();
    refused.extend(super::partial::entries_of(&errors));
    let (entries, held) = validate_entries(blocks, &roots, &refused, loc, &mut errors, places);
    let roots = (roots.into_iter().enumerate())
        .filter(|(i, _)| !refused.contains(&super::partial::block(*i)))
        .filter_map(|(_, r)| r.map(|(r, _)| r));
    let settings = Settings {
        file: file.to_path_buf(),
        layout,
        roots: roots.collect(),
        entries,
        refused: Vec::new(),
        watch,
    };
    (settings, errors, held)
}

/// The missing or unsupported `version`, if so.
fn check_version(raw: &RawConfig, loc: &Locator<'_>) -> Option<ConfigError> {
    match &raw.version.0 {
        None => Some(loc.error(
            Some(0..0),
            "version",
            "missing `version`",
            "add `version = 1` as the first line",
        )),
        Some(v) if *v.get_ref() != 1 => Some(loc.error(
            Some(v.span()),
            "version",
            format!("unsupported version {}", v.get_ref()),
            "write `version = 1` (the only version this impermctl reads)",
        )),
        Some(_) => None,
    }
}

/// A persistence root with the span of its path.
pub(super) type Root = (PersistenceRoot, Range<usize>);

/// The `[[persistence]]` roots with their path spans, checked against each
/// other: one per block, `None` where the block's path is unusable (its
/// error in `errors`). A root declared again is an error of the later
/// block, which is refused (as the later declaration of an entry is): the
/// file cannot say which block's defaults and entries are meant, and the
/// first block's entries stay usable. It stays here, so the entries below
/// both are still checked against each other (every error in one run).
fn validate_roots(
    blocks: &[Spanned<RawRoot>],
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Option<Root>> {
    let mut roots: Vec<Option<Root>> = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let root = noted(one_root(i, block, loc), errors);
        // Nested roots are legal (`/persist` next to `/persist/home`, an
        // entry whose own persistentStoragePath lies inside another root):
        // each root is judged by the filesystem it lives on at boot, and
        // entries that collide are caught as duplicates.
        if let Some((root, sp)) = &root
            && let Some((other, osp)) = roots.iter().flatten().find(|(o, _)| o.path == root.path)
        {
            let (first, again) = (loc.line_col(osp).0, loc.line_col(sp).0);
            let p = other.path.display();
            errors.push(loc.error(
                Some(sp.clone()),
                format!("persistence[{i}].path"),
                format!("{p} is declared twice as a persistence root (lines {first} and {again})"),
                format!("move this block's entries into the first one (line {first}) and delete this block"),
            ));
        }
        roots.push(root);
    }
    roots
}

/// One block's root, its path checked on its own.
fn one_root(i: usize, block: &Spanned<RawRoot>, loc: &Locator<'_>) -> Result<Root> {
    let (field, raw) = (format!("persistence[{i}].path"), block.get_ref());
    let Some(p) = &raw.path.0 else {
        return Err(loc.error(
            Some(block.span()),
            field,
            "this [[persistence]] block has no `path`",
            "add path = \"/persistent\" (where the persistent dataset is mounted)",
        ));
    };
    let path = abs_path(p, &field, loc)?;
    let err = |message: String, fix: &str| Err(loc.error(Some(p.span()), &field, message, fix));
    if path == Path::new("/") {
        return err(
            "a persistence root cannot be `/` (that is the ephemeral root)".into(),
            "write the mount point of the persistent dataset, e.g. /persistent",
        );
    }
    // Virtual filesystems; `/nix` is allowed (`/nix/persist` on machines
    // where `/nix` is the only disk).
    if let Some(bad) = forbidden(&path).filter(|p| *p != "/nix") {
        let shown = path.display();
        return err(
            format!(
                "{shown} is under {bad}, a virtual filesystem that is never persistent storage"
            ),
            "write the mount point of the persistent dataset (or a directory on it), e.g. /persistent or /nix/persist",
        );
    }
    let root = PersistenceRoot {
        path,
        hide_mounts: raw.hide_mounts.0.unwrap_or(false),
        allow_trash: raw.allow_trash.0.unwrap_or(false),
    };
    Ok((root, p.span()))
}
