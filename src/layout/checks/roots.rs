//! The persistence-root checks: each root exists, lives on a mounted
//! filesystem other than the ephemeral root's (judged by filesystem, not by
//! being a mount point), and is writable. A fatal finding here refuses only
//! that root's entries (see `Verdict::refused_roots`).

use std::path::Path;

use super::{Ctx, Found, GUIDE, Severity, found};
use crate::layout::observe::State;
use crate::mountinfo::Mount;
use crate::sys::meta::Kind;

pub(super) fn persistent_root_exists(c: &Ctx) -> Vec<Found> {
    let mut out = vec![];
    for r in &c.settings.roots {
        let what = match c.state.probe(&r.path).map(|p| (p.kind, p)) {
            None | Some((Some(Kind::Dir), _)) => continue,
            Some((None, _)) => "does not exist".to_string(),
            Some((Some(Kind::Symlink), p)) => format!(
                "is a symlink (to {}), which impermctl never follows",
                p.link.as_deref().unwrap_or(Path::new("?")).display()
            ),
            Some((Some(Kind::File), _)) => "is a regular file, not a directory".into(),
            Some(_) => "is not a directory".into(),
        };
        out.push(found(
            Some(&r.path),
            format!("persistence root {} {what}", r.path.display()),
            mount_remedy(c, &r.path),
        ));
    }
    out
}

pub(super) fn mount_remedy(c: &Ctx, p: &Path) -> String {
    if c.vpsfree && p == Path::new("/persistent") {
        format!(
            "mount the VPS's dataset at /persistent in the VPS details in vpsAdmin (Mounts), step 5 of the guide ({GUIDE}), then restart the VPS"
        )
    } else {
        let p = p.display();
        format!(
            "mount the persistent filesystem at {p} before impermctl runs (fileSystems.\"{p}\".neededForBoot = true on NixOS)"
        )
    }
}

/// The filesystem holding `p`, for messages: "tank/ct/101 (zfs, mounted at /persist)".
pub(super) fn filesystem_of(state: &State, p: &Path) -> String {
    match state.mounts.containing(p) {
        Some(m) => format!(
            "{} ({}, mounted at {})",
            m.source,
            m.fstype,
            m.mount_point.display()
        ),
        None => "an unknown filesystem (not in the mount table)".into(),
    }
}

/// Is the filesystem holding `p` the ephemeral root's own mount?
pub(super) fn persistent_root_mounted(c: &Ctx) -> Vec<Found> {
    c.settings
        .roots
        .iter()
        .filter(|r| c.state.mounts.on_root(&r.path))
        .filter(|r| c.state.probe(&r.path).is_none_or(|p| p.kind == Some(Kind::Dir)))
        .map(|r| {
            found(
                Some(&r.path),
                format!(
                    "{} is on the ephemeral root's filesystem {}, not on a mounted persistent filesystem: everything \"persisted\" there would be lost at the next reboot; its entries are refused",
                    r.path.display(),
                    filesystem_of(c.state, &r.path)
                ),
                mount_remedy(c, &r.path),
            )
        })
        .collect()
}

pub(super) fn persistent_root_separate(c: &Ctx) -> Vec<Found> {
    if !c.settings.layout.persistent_must_differ {
        return vec![];
    }
    let Some(root_dev) = c.state.dev_of(Path::new("/")) else {
        return vec![];
    };
    let mut out = vec![];
    for r in &c.settings.roots {
        // On the root's mount: reported by persistent-root-mounted.
        if c.state.mounts.on_root(&r.path) || c.state.dev_of(&r.path) != Some(root_dev) {
            continue;
        }
        let refused = if c.ephemeral {
            "; its entries are refused"
        } else {
            ""
        };
        let f = found(
            Some(&r.path),
            format!(
                "{} is on {}, the same filesystem as / (device {}:{}){refused}",
                r.path.display(),
                filesystem_of(c.state, &r.path),
                root_dev.0,
                root_dev.1,
            ),
            if c.ephemeral {
                mount_remedy(c, &r.path)
            } else if c.vpsfree {
                "expected while the impermanence feature is off; enable it in vpsAdmin (VPS features) to get a fresh root at every start".into()
            } else {
                "expected while / is not wiped at boot; with a tmpfs / or a ZFS/btrfs rollback, keep persistent data on its own filesystem".into()
            },
        );
        // With the root not ephemeral (impermanence off), sharing / loses nothing.
        let milder = (!c.ephemeral).then_some(Severity::Warning);
        out.push(Found { milder, ..f });
    }
    out
}

pub(super) fn persistent_root_writable(c: &Ctx) -> Vec<Found> {
    let read_only = |p: &Path| {
        let probe = c.state.probe(p);
        // A missing root is reported as missing (persistent-root-exists) only.
        let dir = probe.is_none_or(|p| p.kind == Some(Kind::Dir));
        let ro_mount = c
            .state
            .mounts
            .containing(p)
            .is_some_and(Mount::is_read_only);
        dir && (ro_mount || probe.and_then(|p| p.writable) == Some(false))
    };
    let conf = if c.vpsfree {
        "vpsAdmin or fileSystems"
    } else {
        "fileSystems or /etc/fstab"
    };
    (c.settings.roots.iter())
        .filter(|r| read_only(&r.path))
        .map(|r| {
            let p = r.path.display();
            found(
                Some(&r.path),
                format!(
                    "persistence root {p} is read-only ({}): its existing entries are bound read-only, and entries with no persistent copy yet cannot be created",
                    filesystem_of(c.state, &r.path)
                ),
                format!(
                    "nothing to do if the filesystem is read-only on purpose; else remount {p} read-write (check the mount's options in {conf})"
                ),
            )
        })
        .collect()
}
