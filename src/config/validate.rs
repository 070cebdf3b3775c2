//! Stages two and three: fill in defaults and validate the raw file into
//! [`Settings`]: absolute normalised paths, nothing under `/nix` & co. or a
//! persistence root, no duplicates, valid modes, entries parent-first.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::locate::Locator;
use super::mode::{parse_duration, parse_mode};
use super::raw::{RawConfig, RawDuration, RawPerms, RawWatch};
use super::{
    ConfigError, Entry, FORBIDDEN_PREFIXES, FileMethod, Kind, Layout, Perms, PersistenceRoot,
    Settings, Watch,
};

type Result<T> = std::result::Result<T, ConfigError>;

/// Where an entry was declared, for "declared twice" messages.
struct Origin {
    kind: Kind,
    root: PathBuf,
    line: usize,
}

impl Origin {
    fn describe(&self) -> String {
        let kind = match self.kind {
            Kind::Directory => "a directory",
            Kind::File => "a file",
        };
        format!("as {kind} in {} (line {})", self.root.display(), self.line)
    }
}

pub(super) fn validate(raw: RawConfig, loc: &Locator<'_>, file: &Path) -> Result<Settings> {
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
    let defaults = Layout::default();
    let layout = raw.layout.map_or(defaults.clone(), |l| Layout {
        ephemeral_root: l.ephemeral_root.unwrap_or(defaults.ephemeral_root),
        persistent_must_differ: l
            .persistent_must_differ
            .unwrap_or(defaults.persistent_must_differ),
        on_failure: l.on_failure.unwrap_or(defaults.on_failure),
    });

    let blocks = raw.persistence.unwrap_or_default();
    let roots = validate_roots(&blocks, loc)?;

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
            let d = d.into_inner();
            let path = entry_path(d.path.as_ref(), &span, &field, &roots, loc)?;
            let sp = d.path.as_ref().map_or(span, Spanned::span);
            check_duplicate(
                &mut seen,
                &path,
                Kind::Directory,
                &root.path,
                &sp,
                &field,
                loc,
            )?;
            entries.push(Entry {
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
                hide: d.hide_mount.unwrap_or(root.hide_mounts),
                trash: d.allow_trash.unwrap_or(root.allow_trash),
                method: FileMethod::Auto,
            });
        }
        for (j, f) in block.files.unwrap_or_default().into_iter().enumerate() {
            let field = format!("persistence[{i}].files[{j}]");
            let span = f.span();
            let f = f.into_inner();
            let path = entry_path(f.path.as_ref(), &span, &field, &roots, loc)?;
            let sp = f.path.as_ref().map_or(span, Spanned::span);
            check_duplicate(&mut seen, &path, Kind::File, &root.path, &sp, &field, loc)?;
            entries.push(Entry {
                kind: Kind::File,
                source: root.path.join(path.strip_prefix("/").unwrap_or(&path)),
                path,
                root: root.path.clone(),
                perms: Perms::default(),
                parent: parent_perms(f.parent.as_ref(), &field, loc)?,
                hide: false,
                trash: false,
                method: f.method.unwrap_or(FileMethod::Auto),
            });
        }
    }
    // Path's Ord compares components, so a parent sorts before its children.
    entries.sort_by(|a, b| a.path.cmp(&b.path));

    Ok(Settings {
        file: file.to_path_buf(),
        layout,
        roots: roots.into_iter().map(|(r, _)| r).collect(),
        entries,
        watch: watch(raw.watch, loc)?,
    })
}

/// The `[[persistence]]` roots with their path spans, checked against each other.
fn validate_roots(
    blocks: &[Spanned<super::raw::RawRoot>],
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
        if let Some(bad) = forbidden(&path) {
            return Err(loc.error(
                Some(sp),
                field,
                format!(
                    "{} is under {bad}, which is not persistent storage",
                    path.display()
                ),
                "write the mount point of the persistent dataset, e.g. /persistent",
            ));
        }
        for (other, osp) in &roots {
            let line = loc.line(osp);
            let o = other.path.display();
            let message = if other.path == path {
                format!(
                    "{o} is declared twice as a persistence root (lines {line} and {})",
                    loc.line(&sp)
                )
            } else if path.starts_with(&other.path) || other.path.starts_with(&path) {
                format!(
                    "{} and {o} (line {line}) are nested persistence roots",
                    path.display()
                )
            } else {
                continue;
            };
            return Err(loc.error(
                Some(sp),
                field,
                message,
                "merge the two [[persistence]] blocks, or use roots that are not inside each other",
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
        line: loc.line(span),
    };
    if let Some(first) = seen.get(path) {
        return Err(loc.error(
            Some(span.clone()),
            format!("{field}.path"),
            format!(
                "{} is declared twice: {} and {}",
                path.display(),
                first.describe(),
                here.describe()
            ),
            format!(
                "keep only one declaration of {} (delete the one on line {})",
                path.display(),
                here.line
            ),
        ));
    }
    seen.insert(path.to_path_buf(), here);
    Ok(())
}

/// An absolute path, lexically normalised.
fn abs_path(p: &Spanned<String>, field: &str, loc: &Locator<'_>) -> Result<PathBuf> {
    let s = p.get_ref();
    let err = |message: String, fix: String| Err(loc.error(Some(p.span()), field, message, fix));
    if s.is_empty() {
        return err(
            "empty path".into(),
            "write an absolute path, e.g. /var/lib/foo".into(),
        );
    }
    if s.contains('\0') {
        return err(
            "the path contains a NUL byte".into(),
            "remove the \\u0000 from the path".into(),
        );
    }
    if !s.starts_with('/') {
        let example = format!("/{}", s.trim_start_matches("./"));
        return err(
            format!("`{s}` is a relative path"),
            format!("write it as an absolute path, e.g. {example}"),
        );
    }
    match crate::root::normalize(Path::new(s)) {
        Some(p) => Ok(p),
        None => err(
            format!("`{s}` contains `..`"),
            match resolve_dotdot(s) {
                Some(r) => format!("write the path without `..`, e.g. {}", r.display()),
                None => "write the path without `..`".into(),
            },
        ),
    }
}

/// `/a/b/../c` → `/a/c`, for the fix text only.
fn resolve_dotdot(s: &str) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for c in Path::new(s).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => {}
        }
    }
    Some(out)
}

fn forbidden(path: &Path) -> Option<&'static str> {
    FORBIDDEN_PREFIXES
        .iter()
        .copied()
        .find(|f| path.starts_with(f))
}

fn perms(
    user: Option<&Spanned<String>>,
    group: Option<&Spanned<String>>,
    mode: Option<&Spanned<String>>,
    field: &str,
    loc: &Locator<'_>,
) -> Result<Perms> {
    let d = Perms::default();
    Ok(Perms {
        user: owner(user, &format!("{field}.user"), loc)?.unwrap_or(d.user),
        group: owner(group, &format!("{field}.group"), loc)?.unwrap_or(d.group),
        mode: match mode {
            None => d.mode,
            Some(m) => parse_mode(m.get_ref()).ok_or_else(|| {
                loc.error(
                    Some(m.span()),
                    format!("{field}.mode"),
                    format!("`{}` is not a mode", m.get_ref()),
                    "write an octal mode such as \"0750\" or a symbolic one such as \"u=rwx,g=rx,o=\"",
                )
            })?,
        },
    })
}

fn parent_perms(p: Option<&RawPerms>, field: &str, loc: &Locator<'_>) -> Result<Perms> {
    match p {
        None => Ok(Perms::default()),
        Some(p) => perms(
            p.user.as_ref(),
            p.group.as_ref(),
            p.mode.as_ref(),
            &format!("{field}.parent"),
            loc,
        ),
    }
}

/// A user or group: a name or numeric id, checked for shape only (the
/// account may not exist until activation creates it).
fn owner(v: Option<&Spanned<String>>, field: &str, loc: &Locator<'_>) -> Result<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    let s = v.get_ref();
    if s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c == ':' || c == '/' || c.is_control())
    {
        return Err(loc.error(
            Some(v.span()),
            field,
            format!("`{s}` is not a user or group name"),
            "write a name such as \"postgres\" or a numeric id such as \"1000\"",
        ));
    }
    Ok(Some(s.clone()))
}

fn watch(raw: Option<RawWatch>, loc: &Locator<'_>) -> Result<Watch> {
    let d = Watch::default();
    let Some(raw) = raw else { return Ok(d) };
    let ignore = match raw.ignore {
        None => d.ignore,
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, p)| abs_path(p, &format!("watch.ignore[{i}]"), loc))
            .collect::<Result<_>>()?,
    };
    let bad_duration = |span: Range<usize>, what: String| {
        loc.error(
            Some(span),
            "watch.warn_every",
            what,
            "write a duration such as \"30s\", \"10m\" or \"1h30m\", or a positive integer number of seconds",
        )
    };
    let warn_every = match raw.warn_every {
        None => d.warn_every,
        Some(w) => match w.get_ref() {
            RawDuration::Seconds(n) if *n >= 1 => Duration::from_secs(*n as u64),
            RawDuration::Seconds(n) => {
                return Err(bad_duration(
                    w.span(),
                    format!("{n} seconds is not a positive interval"),
                ));
            }
            RawDuration::Text(t) => parse_duration(t)
                .ok_or_else(|| bad_duration(w.span(), format!("`{t}` is not a duration")))?,
        },
    };
    let max_warnings_per_minute = match raw.max_warnings_per_minute {
        None => d.max_warnings_per_minute,
        Some(m) => u32::try_from(*m.get_ref())
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                loc.error(
                    Some(m.span()),
                    "watch.max_warnings_per_minute",
                    format!("{} is out of range", m.get_ref()),
                    "write a whole number of at least 1, e.g. max_warnings_per_minute = 10",
                )
            })?,
    };
    Ok(Watch {
        ignore,
        warn_every,
        max_warnings_per_minute,
    })
}
