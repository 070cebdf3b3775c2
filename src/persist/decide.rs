//! What `persist` does with one path, decided from observed facts without
//! touching anything: the refusals (each with its reason and fix), an
//! existing bind (done), or a move. Pure; table-tested below.

use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use crate::config::{Kind, Settings, forbidden};
use crate::mountinfo::MountTable;
use crate::names::show;
use crate::root;
use crate::sys::meta::Meta;

/// What is at a logical path, looked at beneath the root without following
/// symlinks: `Some` file, `None` when nothing is there, `Ok(Err(reason))`
/// for a symlink on the way (the refusal's reason), `Err` when it could not
/// be looked at (an error, reported in order).
pub type Probe = anyhow::Result<Result<Option<Meta>, String>>;

/// The facts about one path, gathered by `observe` (see `plan`).
#[derive(Debug)]
pub struct Seen {
    /// The live path.
    pub live: Probe,
    /// The persistence root.
    pub proot: Probe,
    /// The persistent copy's place (`proot` + path).
    pub existing: Probe,
    /// `st_dev` of the root `/`.
    pub root_dev: u64,
}

/// What the persistent copy's place holds, for a path to move.
#[derive(Debug, PartialEq, Eq)]
pub enum Existing {
    /// Nothing: copy.
    None,
    /// The same type as the live data: compare, then bind it.
    Same,
    /// A different type: refuse with this reason.
    Mismatch(String),
}

/// The decision for a path that is not refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Bound by an earlier run of `persist` (the record is renewed).
    Done(Kind),
    /// Move the live data (after the writers scan).
    Move(Kind, Existing),
}

/// The live path and the persistence root for `arg`, or the reason not to
/// persist it (a path outside the ephemeral root, no root, an overlap).
pub fn target(
    arg: &Path,
    settings: &Settings,
    to: Option<&Path>,
) -> Result<(PathBuf, PathBuf), String> {
    let Some(path) = root::normalize(arg).filter(|p| p != Path::new("/")) else {
        return Err("give an absolute path below / without `..`, e.g. /var/lib/foo".into());
    };
    let p = show(&path);
    if let Some(why) = crate::suggest::undeclarable(&path) {
        return Err(format!(
            "{p} {why}: the config cannot declare it, so it would be lost at the next boot; rename it first (e.g. with `mv`) and persist the new name"
        ));
    }
    if let Some(f) = forbidden(&path) {
        return Err(format!(
            "{p} is under {f}, which is not part of the ephemeral root: there is nothing to persist"
        ));
    }
    let proot = match (to, settings.roots.first()) {
        (Some(t), _) => root::normalize(t)
            .ok_or_else(|| format!("--to {}: give an absolute path without `..`", show(t)))?,
        (None, Some(r)) => r.path.clone(),
        (None, None) => {
            return Err(format!(
                "{} declares no persistence root: add `[[persistence]] path = \"/persistent\"` or pass --to",
                show(&settings.file)
            ));
        }
    };
    for r in settings.roots.iter().map(|r| &r.path).chain([&proot]) {
        if path.starts_with(r) || r.starts_with(&path) {
            let r = show(r);
            return Err(format!(
                "{p} overlaps the persistence root {r}: persist a path outside it"
            ));
        }
    }
    Ok((path, proot))
}

/// Decide for the live `path` and the persistence root `proot` (from
/// [`target`]). `Err` when a probe failed; `Ok(Err(reason))` for a refusal.
pub fn decide(
    path: &Path,
    proot: &Path,
    settings: &Settings,
    table: &MountTable,
    seen: Seen,
) -> anyhow::Result<Result<Verdict, String>> {
    let (p, r) = (show(path), show(proot));
    let (ltype, ldev, lino) = match seen.live? {
        Ok(Some(l)) => (l.file_type, l.dev, l.ino),
        Ok(None) => {
            return Ok(Err(format!(
                "{p} does not exist: there is no data to move (to persist a path that does not exist yet, add it to the config)"
            )));
        }
        Err(reason) => return Ok(Err(reason)),
    };
    let kind = match ltype {
        FileType::Directory => Kind::Directory,
        FileType::RegularFile => Kind::File,
        k => {
            return Ok(Err(format!(
                "{p} is a {}: only directories and regular files can be persisted",
                type_word(k)
            )));
        }
    };
    let pdev = match seen.proot? {
        Ok(Some(d)) if d.file_type == FileType::Directory => d.dev,
        Ok(Some(_)) => return Ok(Err(format!("the persistence root {r} is not a directory"))),
        Ok(None) => {
            return Ok(Err(format!(
                "the persistence root {r} does not exist: mount the persistent dataset there first"
            )));
        }
        Err(reason) => return Ok(Err(reason)),
    };
    if pdev == seen.root_dev {
        return Ok(Err(format!(
            "the persistence root {r} is on the same filesystem as /: is the persistent dataset mounted? Data moved there would be lost at the next reboot"
        )));
    }
    let source = proot.join(root::rel(path));
    let existing = match seen.existing? {
        Ok(e) => e,
        Err(reason) => return Ok(Err(reason)),
    };
    if existing.is_some_and(|e| (e.dev, e.ino) == (ldev, lino)) {
        return Ok(
            bound_already(path, proot, &source, settings, table).map(|()| Verdict::Done(kind))
        );
    }
    if ldev == pdev {
        return Ok(Err(format!(
            "{p} is already on the persistent filesystem of {r} (persisted through a parent directory?)"
        )));
    }
    if let Some(reason) = mounts_in_the_way(path, settings, table) {
        return Ok(Err(reason));
    }
    let existing = match existing {
        None => Existing::None,
        Some(e) if e.file_type == ltype => Existing::Same,
        Some(e) => Existing::Mismatch(format!(
            "{} already exists as a {}, but {p} is a {}: move it away and rerun",
            show(&source),
            type_word(e.file_type),
            type_word(ltype)
        )),
    };
    Ok(Ok(Verdict::Move(kind, existing)))
}

/// A file type in words, as `ls -l` users say it (never Rust's `Symlink`).
fn type_word(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "FIFO (named pipe)",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

/// A mount on `path` or below it: a bind over it would stack on it or hide
/// them. The binds of entries declared below it are not in the way: they
/// are mounted again on top of it (`carry`, as `boot` does; trial s11 N20).
fn mounts_in_the_way(path: &Path, settings: &Settings, table: &MountTable) -> Option<String> {
    let p = show(path);
    if let Some(m) = table.at(path) {
        return Some(format!(
            "{p} is a mount point ({} from {}): persisting it would stack a mount on it; unmount it first",
            m.fstype, m.source
        ));
    }
    let declared = |m: &&crate::mountinfo::Mount| {
        (settings.entry(&m.mount_point)).is_some_and(|e| table.is_bind_of(m, &e.source))
    };
    let below = table.below(path).filter(|m| !declared(m));
    let below: Vec<String> = below.map(|m| show(&m.mount_point)).collect();
    (!below.is_empty()).then(|| format!(
        "{p} has filesystems mounted below it ({}): binding a copy over it would hide them; unmount them first",
        below.join(", ")
    ))
}

/// The persistent copy is bound over `path` already: done when `persist`
/// bound it, refused when the config or a parent's bind did.
fn bound_already(
    path: &Path,
    proot: &Path,
    source: &Path,
    settings: &Settings,
    table: &MountTable,
) -> Result<(), String> {
    let p = show(path);
    if settings.is_persisted(path) {
        // Declared itself, or only inside a declared directory.
        let inside = (settings.entries.iter())
            .filter(|e| e.kind == Kind::Directory && e.path != path && path.starts_with(&e.path))
            .max_by_key(|e| e.path.as_os_str().len());
        let how = match inside {
            Some(d) => format!("it is inside {}, declared in", show(&d.path)),
            None => "declared in".into(),
        };
        let (file, source) = (show(&settings.file), show(source));
        return Err(format!(
            "{p} is already persisted: {how} {file} and bound from {source}"
        ));
    }
    if table.at(path).is_none() {
        let parent = table
            .containing(path)
            .map_or_else(|| "a parent".into(), |m| show(&m.mount_point));
        let r = show(proot);
        return Err(format!(
            "{p} is already persisted: it is inside {parent}, which is bound from {r}"
        ));
    }
    Ok(())
}

/// The refusal for writers found below `path` (without `--force`).
pub fn writers_reason(path: &Path, writers: &[impl std::fmt::Display]) -> String {
    let list: Vec<String> = writers.iter().map(|w| w.to_string()).collect();
    format!(
        "processes are writing below {}: {}. Stop them (e.g. `systemctl stop` their unit) and rerun, or pass --force to copy anyway (what they write during the copy is not in it, and until restarted they keep writing to the hidden live files, which the next reboot discards)",
        show(path),
        list.join("; ")
    )
}
