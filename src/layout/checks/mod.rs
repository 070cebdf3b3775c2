//! The registry of named layout checks. Each check is a small function of
//! the observed [`State`] and the [`Settings`]; it returns findings (empty
//! when all is well). `verify` runs them all; `boot` refuses on a fatal one.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::observe::State;
use crate::config::Settings;
use crate::mountinfo::Mount;

mod entries;
mod host;
mod roots;

use entries::{binds_from_persistent, directory_links, recommended_paths, replaced_files};
use host::{
    impermanence_base, is_vpsadminos_dataset, nix_separate, rescue_mode, root_ephemeral,
    root_usage, vpsfree_datasets,
};

use roots::{
    persistent_root_exists, persistent_root_mounted, persistent_root_separate,
    persistent_root_writable,
};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Data may be lost or the setup is unusual.
    Warning,
    /// Persisted data would land on the throwaway root: `boot` refuses.
    Fatal,
}

/// One problem found by a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's name.
    pub check: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The path concerned, if any.
    pub path: Option<PathBuf>,
    /// What is wrong, in a sentence.
    pub message: String,
    /// How to fix it.
    pub remedy: String,
}

/// A named check (serialized for `verify --list --json`).
#[derive(Debug, serde::Serialize)]
pub struct Check {
    /// Stable name (`--skip NAME`).
    pub name: &'static str,
    /// Severity of its findings (a finding may be milder, never worse).
    pub severity: Severity,
    /// One line: what it checks.
    pub description: &'static str,
    #[serde(skip)]
    run: fn(&Ctx) -> Vec<Found>,
}

struct Ctx<'a> {
    state: &'a State,
    settings: &'a Settings,
    root: Option<&'a Mount>,
    base: Option<&'a str>,
    ephemeral: bool,
    /// The root is a vpsAdminOS dataset (`<pool>/ct/<id>…`): remedies may
    /// point at vpsAdmin and the vpsFree guide; elsewhere they stay generic.
    vpsfree: bool,
}

const GUIDE: &str = "https://kb.vpsfree.org/manuals/distributions/nixos/impermanence";

/// Every check, in the order they run.
pub static CHECKS: &[Check] = &[
    Check {
        name: "rescue-mode",
        severity: Severity::Warning,
        description: "the VPS is booted in rescue mode (root <base>.boot-<hex>, original root at /mnt/vps)",
        run: rescue_mode,
    },
    Check {
        name: "persistent-root-exists",
        severity: Severity::Fatal,
        description: "each persistence root exists and is a real directory (not a symlink or a file)",
        run: persistent_root_exists,
    },
    Check {
        name: "persistent-root-mounted",
        severity: Severity::Fatal,
        description: "each persistence root lives on a mounted filesystem, not on the ephemeral root (it need not be a mount point itself)",
        run: persistent_root_mounted,
    },
    Check {
        name: "persistent-root-separate",
        severity: Severity::Fatal,
        description: "each persistence root's filesystem is another one than / (device differs)",
        run: persistent_root_separate,
    },
    Check {
        name: "persistent-root-writable",
        severity: Severity::Warning,
        description: "each persistence root is writable (a read-only root's entries are bound read-only)",
        run: persistent_root_writable,
    },
    Check {
        name: "root-ephemeral",
        severity: Severity::Warning,
        description: "/ is ephemeral: tmpfs, or a ZFS dataset named <base>.impermanence-<6 hex>",
        run: root_ephemeral,
    },
    Check {
        name: "nix-separate",
        severity: Severity::Warning,
        description: "/nix is its own mount, not on the root filesystem",
        run: nix_separate,
    },
    Check {
        name: "vpsfree-datasets",
        severity: Severity::Info,
        description: "on vpsFree, /persistent comes from <base> and /nix from <base>/nix",
        run: vpsfree_datasets,
    },
    Check {
        name: "binds-from-persistent",
        severity: Severity::Warning,
        description: "every declared entry that is mounted comes from its persistence root's filesystem",
        run: binds_from_persistent,
    },
    Check {
        name: "directory-links",
        severity: Severity::Warning,
        description: "no declared directory is a symlink to data on the ephemeral root (systemd's DynamicUser= link /var/lib/NAME -> private/NAME: declare /var/lib/private/NAME)",
        run: directory_links,
    },
    Check {
        name: "covered-entries",
        severity: Severity::Info,
        description: "no declared entry is inside a declared directory that already persists it (redundant)",
        run: entries::covered_entries,
    },
    Check {
        name: "declared-perms",
        severity: Severity::Warning,
        description: "existing persistent directories have the owner and mode their entries declare",
        run: entries::declared_perms,
    },
    Check {
        name: "recommended-paths",
        severity: Severity::Warning,
        description: "the paths the vpsFree guide persists are declared",
        run: recommended_paths,
    },
    Check {
        name: "replaced-files",
        severity: Severity::Warning,
        description: "files that programs replace by rename (shadow, SSH host keys, shell history) use method = \"copy\"",
        run: replaced_files,
    },
    Check {
        name: "root-usage",
        severity: Severity::Warning,
        description: "the root filesystem is below 80% of its size",
        run: root_usage,
    },
];

/// The result of running the checks.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Every finding, in check order.
    pub findings: Vec<Finding>,
    /// Checks that ran.
    pub ran: Vec<&'static str>,
    /// Checks that were skipped (by `--skip`, or because rescue mode makes them moot).
    pub skipped: Vec<&'static str>,
    /// The system is in rescue mode: nothing is to be mounted.
    pub rescue: bool,
}

impl Verdict {
    /// The worst severity found.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Any fatal finding?
    pub fn is_fatal(&self) -> bool {
        self.worst() == Some(Severity::Fatal)
    }

    /// The fatal findings that concern a persistence root of `settings`, by
    /// root: those roots' entries are refused, the others proceed.
    pub fn refused_roots<'a>(&'a self, settings: &Settings) -> Vec<(PathBuf, &'a Finding)> {
        let fatal = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Fatal);
        let root = |p: &PathBuf| settings.roots.iter().any(|r| r.path == *p);
        let on_root = fatal.filter_map(|f| Some((f.path.clone().filter(root)?, f)));
        on_root.collect()
    }
}

/// Run every check not in `skip`.
pub fn run_checks(state: &State, settings: &Settings, skip: &[String]) -> Verdict {
    let root = state.mounts.root();
    let base = root.and_then(|m| impermanence_base(&m.source));
    let ctx = Ctx {
        state,
        settings,
        root,
        base,
        ephemeral: false,
        vpsfree: root.is_some_and(|m| is_vpsadminos_dataset(&m.source)),
    };
    let ephemeral = root_ephemeral(&ctx).is_empty();
    let ctx = Ctx { ephemeral, ..ctx };
    let mut v = Verdict::default();
    for c in CHECKS {
        let skipped = skip
            .iter()
            .chain(&settings.layout.skip_checks)
            .any(|s| s == c.name);
        if skipped || (v.rescue && c.name != "root-usage") {
            v.skipped.push(c.name);
            continue;
        }
        let found = (c.run)(&ctx);
        if c.name == "rescue-mode" && !found.is_empty() {
            v.rescue = true;
        }
        v.ran.push(c.name);
        v.findings.extend(found.into_iter().map(|f| Finding {
            check: c.name,
            severity: f.milder.map_or(c.severity, |s| s.min(c.severity)),
            path: f.path,
            message: f.message,
            remedy: f.remedy,
        }));
    }
    v
}

/// What a check found; [`run_checks`] adds the check's name and severity.
struct Found {
    path: Option<PathBuf>,
    message: String,
    remedy: String,
    /// A severity milder than the check's (a finding is never worse).
    milder: Option<Severity>,
}

fn found(path: Option<&Path>, message: String, remedy: String) -> Found {
    Found {
        path: path.map(Path::to_path_buf),
        message,
        remedy,
        milder: None,
    }
}
