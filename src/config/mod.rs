//! `/etc/impermctl/config.toml`, read in three stages: raw serde structs
//! (spans kept; unknown keys all collected by `unknown`) → defaults → a validated [`Settings`].
//!
//! Every error names the file, line, column and field, and says how to fix it.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod covered;
mod entries;
mod error;
mod fields;
mod locate;
mod mode;
mod partial;
mod raw;
#[cfg(test)]
mod tests;
mod unknown;
mod validate;

pub use error::{ConfigError, utf8};
pub use partial::{Partial, Refused, RefusedEntry, entry_of, refusing};

/// Where the config lives unless `--config` or `IMPERMCTL_CONFIG` say otherwise.
pub const DEFAULT_PATH: &str = "/etc/impermctl/config.toml";

/// Paths no entry may be equal to or under.
pub const FORBIDDEN_PREFIXES: &[&str] = &["/nix", "/proc", "/sys", "/dev", "/run"];

/// The [`FORBIDDEN_PREFIXES`] entry `path` is equal to or under, if any.
pub fn forbidden(path: &Path) -> Option<&'static str> {
    FORBIDDEN_PREFIXES
        .iter()
        .copied()
        .find(|f| path.starts_with(f))
}

/// The validated configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The file it was read from (for messages).
    pub file: PathBuf,
    /// Layout expectations.
    pub layout: Layout,
    /// The persistence roots, in file order.
    pub roots: Vec<PersistenceRoot>,
    /// Every declared entry of every root, sorted parent-first (by path).
    pub entries: Vec<Entry>,
    /// The paths of entries refused for their errors (not in `entries`;
    /// the command reports the errors): checks say "fix its error", not
    /// "add it".
    pub refused: Vec<PathBuf>,
    /// Watcher settings.
    pub watch: Watch,
}

/// `[layout]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// What `/` must be for the root to count as ephemeral.
    pub ephemeral_root: EphemeralRoot,
    /// `/persistent` must not be on the root filesystem.
    pub persistent_must_differ: bool,
    /// What `boot` does on a fatal finding.
    pub on_failure: OnFailure,
    /// Checks not run by `verify`, `status` and `boot` (`layout.skip_checks`,
    /// for a deliberate layout; e.g. `recommended-paths`). The CLI rejects
    /// unknown names and checks that can be fatal.
    pub skip_checks: Vec<String>,
}

/// `layout.ephemeral_root`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EphemeralRoot {
    /// tmpfs, or a ZFS dataset named `<base>.impermanence-<6 hex>`.
    Auto,
    /// tmpfs only.
    Tmpfs,
    /// ZFS (any dataset name).
    Zfs,
    /// btrfs (rollback setups).
    Btrfs,
    /// Do not check.
    Any,
}

/// `layout.on_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Refuse the entries of an unusable persistence root (the others are
    /// bound) and fail.
    Refuse,
    /// Log and mount anyway.
    Warn,
}

/// One `[[persistence]]` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersistenceRoot {
    /// `persistentStoragePath`, normalised and absolute.
    pub path: PathBuf,
    /// Default `x-gvfs-hide` for directory binds.
    pub hide_mounts: bool,
    /// Default `x-gvfs-trash` for directory binds.
    pub allow_trash: bool,
}

/// Directory or file: a config entry, a record in `state.json`, a group
/// to persist (`directories = [ … ]` or `files = [ … ]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A bind-mounted directory.
    Directory,
    /// A bind-mounted or symlinked file.
    File,
}

impl Kind {
    /// `directory` or `file` (as in JSON and messages).
    pub fn word(self) -> &'static str {
        match self {
            Kind::Directory => "directory",
            Kind::File => "file",
        }
    }

    /// The config list it goes in: `directories` or `files`.
    pub fn list(self) -> &'static str {
        match self {
            Kind::Directory => "directories",
            Kind::File => "files",
        }
    }
}

/// `method` of a file entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileMethod {
    /// Bind if the persistent file exists, else symlink (machine-id: seed and bind).
    Auto,
    /// Always symlink.
    Symlink,
    /// No mount and no link: copied onto the ephemeral root at boot, saved
    /// back into persistence (atomically) when it changes and at shutdown.
    /// For files that programs replace by rename or delete-and-create
    /// (`/etc/shadow`, SSH host keys, shell history files).
    Copy,
}

/// Owner and mode applied when a directory is created. `user`/`group` are
/// names or numeric ids, resolved at run time (after users exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Perms {
    /// User name or uid.
    pub user: String,
    /// Group name or gid.
    pub group: String,
    /// Permission bits (octal or symbolic in the file, resolved here).
    pub mode: u32,
}

impl Default for Perms {
    fn default() -> Self {
        Perms {
            user: "root".into(),
            group: "root".into(),
            mode: 0o755,
        }
    }
}

/// One declared directory or file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Directory or file.
    pub kind: Kind,
    /// The path on the ephemeral root (absolute, normalised).
    pub path: PathBuf,
    /// The persistence root it belongs to.
    pub root: PathBuf,
    /// Where the data lives: `root` joined with `path`.
    pub source: PathBuf,
    /// Directories: the directory's own perms on creation. Files: unused (root defaults).
    pub perms: Perms,
    /// Perms of missing parent directories (files: `parent = {…}`).
    pub parent: Perms,
    /// `users.<name>` entries: the user's home. Missing directories above it
    /// are created root:root 0755, the home itself with `parent`'s owner and
    /// mode 0700, directories between the home and the entry with `parent`.
    pub home: Option<PathBuf>,
    /// `x-gvfs-hide` (directories only; always false for files).
    pub hide: bool,
    /// `x-gvfs-trash` (directories only; always false for files).
    pub trash: bool,
    /// Files only (directories: `Auto`).
    pub method: FileMethod,
}

/// `[watch]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    /// Never warned about (still listed by `diff --all`).
    pub ignore: Vec<PathBuf>,
    /// Reminder interval per group.
    pub warn_every: Duration,
    /// Global budget of warnings per minute.
    pub max_warnings_per_minute: u32,
    /// The kernel interface the watcher uses (read when it starts;
    /// `impermctl watch --backend` overrides it).
    pub backend: Backend,
}

/// `watch.backend`: how the watcher hears writes (README, "impermctl
/// watch").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// fanotify if the kernel and privileges allow, else inotify (the log
    /// and `status` say why).
    #[default]
    Auto,
    /// fanotify only: the watcher fails to start where it is not allowed
    /// (unprivileged containers such as a vpsFree VPS).
    Fanotify,
    /// inotify only: a watch per directory.
    Inotify,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            ignore: vec!["/tmp".into(), "/var/tmp".into()],
            warn_every: Duration::from_secs(600),
            max_warnings_per_minute: 10,
            backend: Backend::Auto,
        }
    }
}

/// Parse and validate config text; `file` is only used in messages.
/// Every error of the file comes out at once: unknown keys, values of the
/// wrong type, and what validation finds in the rest.
pub fn parse(text: &str, file: &Path) -> Result<Settings, ConfigError> {
    let p = parse_partial(text, file)?;
    ConfigError::combine(p.refused.errors).map_or(Ok(p.settings), Err)
}

/// Read and validate the config at `path`, refusing bad entries one by one
/// (`boot` binds the rest): see [`parse_partial`].
pub fn load_partial(path: &Path) -> anyhow::Result<Partial> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| {
        let p = path.display();
        format!("cannot read the config {p} (set --config or IMPERMCTL_CONFIG to use another file)")
    })?;
    let text = utf8(bytes, path)?;
    Ok(parse_partial(&text, path)?)
}

/// Parse and validate config text, keeping every valid entry: the errors
/// located in one entry refuse that entry only, those in a
/// `[[persistence]]` block's own fields that block's entries only
/// ([`Partial::refused`]); any other error (TOML syntax, version,
/// `[layout]`, `[watch]`) is the `Err`, with every error of the file, in
/// file order.
pub fn parse_partial(text: &str, file: &Path) -> Result<Partial, ConfigError> {
    let loc = locate::Locator { text, file };
    let mut all = unknown::unknown_keys(&loc);
    let Ok((raw, caught)) = raw::read(text).map_err(|e| all.push(loc.toml_error(&e))) else {
        return Err(ConfigError::combine(all).expect("not empty"));
    };
    let caught: Vec<ConfigError> = caught
        .into_iter()
        .map(|(span, message)| loc.value_error(span, &message))
        .collect();
    let skip = partial::entries_of(all.iter().chain(&caught));
    let mut places = Places::new();
    let (settings, mut errors, held) = validate::validate(raw, &loc, file, &skip, &mut places);
    // A value of the wrong type reads as absent: its type error says more
    // than "missing" for the same field.
    errors.retain(|e| !caught.iter().any(|c| c.field == e.field));
    all.extend(errors.into_iter().chain(caught));
    let mut p = partial::split(settings, all, held)?;
    p.places = places;
    Ok(p)
}

/// Where each usable entry is declared: its path → the line and column
/// (1-based) of its `path` in the config file.
pub type Places = std::collections::BTreeMap<PathBuf, (usize, usize)>;

impl Settings {
    /// The settings used by `verify`/`status` when no config file exists:
    /// one persistence root at `/persistent`, no entries, default layout.
    pub fn fallback(file: &Path) -> Settings {
        let root = PersistenceRoot {
            path: PathBuf::from("/persistent"),
            ..PersistenceRoot::default()
        };
        Settings {
            file: file.to_path_buf(),
            roots: vec![root],
            ..Settings::default()
        }
    }

    /// The persistence root that holds `path`'s data, if `path` is declared.
    pub fn entry(&self, path: &Path) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Is `path` persisted: a declared entry, or under a declared directory?
    pub fn is_persisted(&self, path: &Path) -> bool {
        self.entries.iter().any(|e| match e.kind {
            Kind::Directory => path.starts_with(&e.path),
            Kind::File => path == e.path,
        })
    }
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            ephemeral_root: EphemeralRoot::Auto,
            persistent_must_differ: true,
            on_failure: OnFailure::Refuse,
            skip_checks: Vec::new(),
        }
    }
}
