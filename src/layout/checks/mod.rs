//! The registry of named layout checks. Each check is a small function of
//! the observed [`State`] and the [`Settings`]; it returns findings (empty
//! when all is well). `verify` runs them all; `boot` refuses on a fatal one.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::observe::{EntryState, State, entry_state};
use crate::config::{EphemeralRoot, Kind, Settings};
use crate::mountinfo::Mount;

mod entries;
mod roots;

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

/// A named check.
#[derive(Debug)]
pub struct Check {
    /// Stable name (`--skip NAME`).
    pub name: &'static str,
    /// Severity of its findings (a finding may be milder, never worse).
    pub severity: Severity,
    /// One line: what it checks.
    pub description: &'static str,
    run: fn(&Ctx) -> Vec<Finding>,
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
#[derive(Debug, Clone, Serialize)]
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
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Fatal)
            .filter_map(|f| {
                let p = f.path.as_ref()?;
                settings
                    .roots
                    .iter()
                    .any(|r| r.path == *p)
                    .then(|| (p.clone(), f))
            })
            .collect()
    }

    /// A fatal finding that concerns no single root (then nothing is mounted).
    pub fn fatal_for_all(&self, settings: &Settings) -> bool {
        let per_root = self.refused_roots(settings).len();
        let fatal = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Fatal)
            .count();
        fatal > per_root
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
    let mut v = Verdict {
        findings: Vec::new(),
        ran: Vec::new(),
        skipped: Vec::new(),
        rescue: false,
    };
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
        debug_assert!(found.iter().all(|f| f.severity <= c.severity));
        if c.name == "rescue-mode" && !found.is_empty() {
            v.rescue = true;
        }
        v.ran.push(c.name);
        v.findings.extend(found);
    }
    v
}

fn finding(
    check: &'static str,
    severity: Severity,
    path: Option<&Path>,
    message: String,
    remedy: String,
) -> Finding {
    Finding {
        check,
        severity,
        path: path.map(Path::to_path_buf),
        message,
        remedy,
    }
}

/// Whether a mount source names a vpsAdminOS container dataset:
/// `tank/ct/101`, `tank/ct/101.impermanence-c5a8b7`, `tank/ct/101.boot-1a2b3c`,
/// optionally with a `[/subdir]` suffix (the layout vpsFree VPSes see; see
/// docs/target-environment.md).
fn is_vpsadminos_dataset(source: &str) -> bool {
    let dataset = source.split('[').next().unwrap_or(source);
    let mut parts = dataset.rsplit('/');
    let (Some(last), Some(parent)) = (parts.next(), parts.next()) else {
        return false;
    };
    let id = last.split('.').next().unwrap_or(last);
    let id = id.strip_prefix("ct-").unwrap_or(id);
    parent == "ct" && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

/// `tank/ct/101.impermanence-c5a8b7` → `tank/ct/101`.
fn impermanence_base(source: &str) -> Option<&str> {
    suffixed(source, ".impermanence-")
}

fn suffixed<'a>(source: &'a str, marker: &str) -> Option<&'a str> {
    let (base, hex) = source.rsplit_once(marker)?;
    (hex.len() == 6
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && !base.is_empty())
    .then_some(base)
}

fn rescue_mode(c: &Ctx) -> Vec<Finding> {
    let boot_name = c.root.and_then(|m| suffixed(&m.source, ".boot-"));
    let mnt_vps = c.state.mounts.is_mount_point(Path::new("/mnt/vps"));
    if boot_name.is_none() && !mnt_vps {
        return vec![];
    }
    let why = match (boot_name, mnt_vps) {
        (Some(b), true) => {
            format!("the root is the rescue dataset of {b} and the VPS's own root is at /mnt/vps")
        }
        (Some(b), false) => format!("the root is the rescue dataset of {b}"),
        _ => "the VPS's own root is mounted at /mnt/vps".into(),
    };
    vec![finding(
        "rescue-mode",
        Severity::Warning,
        None,
        format!("rescue mode: {why}; impermanence is not active and impermctl mounts nothing"),
        format!(
            "reboot the VPS normally from vpsAdmin to leave rescue mode; your data is in /mnt/vps ({GUIDE})"
        ),
    )]
}

fn root_ephemeral(c: &Ctx) -> Vec<Finding> {
    let Some(root) = c.root else {
        return vec![finding(
            "root-ephemeral",
            Severity::Warning,
            Some(Path::new("/")),
            "the mount table has no / line".into(),
            "check that /proc/self/mountinfo is readable".into(),
        )];
    };
    let ok = match c.settings.layout.ephemeral_root {
        EphemeralRoot::Any => true,
        EphemeralRoot::Tmpfs => root.fstype == "tmpfs",
        EphemeralRoot::Zfs => root.fstype == "zfs",
        EphemeralRoot::Btrfs => root.fstype == "btrfs",
        EphemeralRoot::Auto => root.fstype == "tmpfs" || c.base.is_some(),
    };
    if ok {
        return vec![];
    }
    vec![finding(
        "root-ephemeral",
        Severity::Warning,
        Some(Path::new("/")),
        format!(
            "/ ({} {}) is not an ephemeral root: the impermanence feature looks switched off, so nothing is discarded at reboot",
            root.fstype, root.source
        ),
        if c.vpsfree {
            "enable \"NixOS Impermanence\" in the VPS features in vpsAdmin, or set layout.ephemeral_root (tmpfs, zfs, btrfs, any) to describe your root".into()
        } else {
            "make / ephemeral (a tmpfs /, or a ZFS/btrfs rollback to an empty snapshot at boot), or set layout.ephemeral_root (tmpfs, zfs, btrfs, any) to describe your root".into()
        },
    )]
}

fn nix_separate(c: &Ctx) -> Vec<Finding> {
    let nix = Path::new("/nix");
    let Some(m) = c.state.mounts.at(nix) else {
        return vec![finding(
            "nix-separate",
            Severity::Warning,
            Some(nix),
            "/nix is not a mount point: the Nix store lives on the root filesystem".into(),
            format!(
                "give /nix its own dataset (the guide's conversion steps create <dataset>/nix mounted at /nix, {GUIDE})"
            ),
        )];
    };
    if Some(m.dev()) == c.root.map(Mount::dev) {
        return vec![finding(
            "nix-separate",
            Severity::Warning,
            Some(nix),
            "/nix is mounted from the root filesystem".into(),
            "mount a separate filesystem at /nix".into(),
        )];
    }
    vec![]
}

fn vpsfree_datasets(c: &Ctx) -> Vec<Finding> {
    let Some(base) = c.base else { return vec![] };
    let mut out = vec![];
    let expect = [
        (
            c.settings.roots.first().map(|r| r.path.as_path()),
            base.to_string(),
        ),
        (Some(Path::new("/nix")), format!("{base}/nix")),
    ];
    for (p, want) in expect {
        let Some(p) = p else { continue };
        let Some(m) = c.state.mounts.at(p) else {
            continue;
        };
        if m.fstype == "zfs" && m.source != want {
            out.push(finding(
                "vpsfree-datasets",
                Severity::Info,
                Some(p),
                format!(
                    "{} comes from dataset {}, not {want} as on a standard vpsFree VPS",
                    p.display(),
                    m.source
                ),
                "nothing to do if you chose that dataset on purpose".into(),
            ));
        }
    }
    out
}

fn binds_from_persistent(c: &Ctx) -> Vec<Finding> {
    let mut out = vec![];
    for e in &c.settings.entries {
        let Some(root_m) = c.state.mounts.at(&e.root) else {
            continue;
        };
        if let EntryState::Bound = entry_state(c.state, e) {
            continue;
        }
        if let Some(m) = c.state.mounts.at(&e.path)
            && m.dev() != root_m.dev()
        {
            out.push(finding(
                "binds-from-persistent",
                Severity::Warning,
                Some(&e.path),
                format!(
                    "{} is mounted from {} ({}), not from {}",
                    e.path.display(),
                    m.source,
                    m.root.display(),
                    e.source.display()
                ),
                format!(
                    "unmount it and run `impermctl boot`, or remove {} from the config",
                    e.path.display()
                ),
            ));
        }
    }
    out
}

fn replaced_files(c: &Ctx) -> Vec<Finding> {
    crate::live::checks::method_warnings(c.settings)
        .into_iter()
        .map(|(p, msg, fix)| finding("replaced-files", Severity::Warning, Some(&p), msg, fix))
        .collect()
}

/// The paths the vpsFree guide persists, and what is lost without each.
const RECOMMENDED: &[(&str, Kind, &str)] = &[
    (
        "/etc/nixos",
        Kind::Directory,
        "your NixOS configuration (the flake in /etc/nixos) is lost at every reboot",
    ),
    (
        "/var/log",
        Kind::Directory,
        "the journal and logs of every previous boot are lost",
    ),
    (
        "/var/lib/nixos",
        Kind::Directory,
        "uid/gid assignments change between boots, so files in /persistent can end up owned by the wrong users",
    ),
    (
        "/etc/machine-id",
        Kind::File,
        "the machine ID changes at every boot (journal history, DHCP client IDs and licences keyed on it break)",
    ),
];

fn recommended_paths(c: &Ctx) -> Vec<Finding> {
    let root = c
        .settings
        .roots
        .first()
        .map(|r| r.path.clone())
        .unwrap_or_else(|| "/persistent".into());
    RECOMMENDED
        .iter()
        .filter(|(p, _, _)| !c.settings.is_persisted(Path::new(p)))
        .map(|(p, kind, lost)| {
            let how = *kind;
            finding(
                "recommended-paths",
                Severity::Warning,
                Some(Path::new(p)),
                format!("{p} is not persisted: {lost}"),
                format!(
                    "add it: {}",
                    crate::group::suggest_nix(&root, Path::new(p), how)
                ),
            )
        })
        .collect()
}

fn root_usage(c: &Ctx) -> Vec<Finding> {
    let Some(u) = c.state.root_usage else {
        return vec![];
    };
    let pct = u.used as f64 * 100.0 / u.size as f64;
    if pct <= 80.0 {
        return vec![];
    }
    vec![finding(
        "root-usage",
        Severity::Warning,
        Some(Path::new("/")),
        format!(
            "the root filesystem is {pct:.0}% full ({} of {} MiB); on vpsFree the root dataset has a 10 GiB quota",
            u.used >> 20,
            u.size >> 20
        ),
        "run `impermctl diff` to see what fills it; persist what you need, delete the rest".into(),
    )]
}

#[cfg(test)]
mod tests {
    use super::is_vpsadminos_dataset;

    #[test]
    fn vpsadminos_datasets_are_recognised() {
        for yes in [
            "tank/ct/101",
            "tank/ct/11327.impermanence-c5a8b7",
            "tank/ct/11327.boot-1a2b3c",
            "tank/ct/101.impermanence-5c1c1e[/private]",
            "tank/ct/ct-11327.impermanence-c5a8b7",
        ] {
            assert!(is_vpsadminos_dataset(yes), "{yes}");
        }
        for no in [
            "none",
            "/dev/vda1",
            "rpool/local/root",
            "tank/ct/abc",
            "ct/101x",
            "",
        ] {
            assert!(!is_vpsadminos_dataset(no), "{no}");
        }
    }
}
