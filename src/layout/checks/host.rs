//! Checks of the host around the declared entries: rescue mode, an
//! ephemeral `/`, a separate `/nix`, the vpsFree datasets, and how full the
//! root filesystem is. The mount sources are read as vpsAdminOS names
//! (`<pool>/ct/<id>`, `.impermanence-<hex>`, `.boot-<hex>`).

use std::path::Path;

use super::{Ctx, Found, GUIDE, found};
use crate::config::EphemeralRoot;
use crate::mountinfo::Mount;

/// Whether a mount source names a vpsAdminOS container dataset:
/// `tank/ct/101`, `tank/ct/101.impermanence-c5a8b7`, `tank/ct/101.boot-1a2b3c`,
/// optionally with a `[/subdir]` suffix (the layout vpsFree VPSes see; see
/// docs/target-environment.md).
pub(super) fn is_vpsadminos_dataset(source: &str) -> bool {
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
pub(super) fn impermanence_base(source: &str) -> Option<&str> {
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

pub(super) fn rescue_mode(c: &Ctx) -> Vec<Found> {
    let boot_name = c.root.and_then(|m| suffixed(&m.source, ".boot-"));
    let mnt_vps = c.state.mounts.is_mount_point(Path::new("/mnt/vps"));
    let why = match (boot_name, mnt_vps) {
        (None, false) => return vec![],
        (Some(b), true) => {
            format!("the root is the rescue dataset of {b} and the VPS's own root is at /mnt/vps")
        }
        (Some(b), false) => format!("the root is the rescue dataset of {b}"),
        (None, true) => "the VPS's own root is mounted at /mnt/vps".into(),
    };
    vec![found(
        None,
        format!("rescue mode: {why}; impermanence is not active and impermctl mounts nothing"),
        format!(
            "reboot the VPS normally from vpsAdmin to leave rescue mode; your data is in /mnt/vps ({GUIDE})"
        ),
    )]
}

pub(super) fn root_ephemeral(c: &Ctx) -> Vec<Found> {
    let Some(root) = c.root else {
        return vec![found(
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
    vec![found(
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

pub(super) fn nix_separate(c: &Ctx) -> Vec<Found> {
    let nix = Path::new("/nix");
    let Some(m) = c.state.mounts.at(nix) else {
        return vec![found(
            Some(nix),
            "/nix is not a mount point: the Nix store lives on the root filesystem".into(),
            format!(
                "give /nix its own dataset (the guide's conversion steps create <dataset>/nix mounted at /nix, {GUIDE})"
            ),
        )];
    };
    if Some(m.dev()) == c.root.map(Mount::dev) {
        return vec![found(
            Some(nix),
            "/nix is mounted from the root filesystem".into(),
            "mount a separate filesystem at /nix".into(),
        )];
    }
    vec![]
}

pub(super) fn vpsfree_datasets(c: &Ctx) -> Vec<Found> {
    let Some(base) = c.base else { return vec![] };
    let mut out = vec![];
    let first = c.settings.roots.first().map(|r| r.path.as_path());
    let expect = [
        (first, base.to_string()),
        (Some(Path::new("/nix")), format!("{base}/nix")),
    ];
    for (p, want) in expect {
        let Some(p) = p else { continue };
        let Some(m) = c.state.mounts.at(p) else {
            continue;
        };
        if m.fstype == "zfs" && m.source != want {
            out.push(found(
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

pub(super) fn root_usage(c: &Ctx) -> Vec<Found> {
    let Some(u) = c.state.root_usage else {
        return vec![];
    };
    let pct = u.used as f64 * 100.0 / u.size as f64;
    if pct <= 80.0 {
        return vec![];
    }
    vec![found(
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
