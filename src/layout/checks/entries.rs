//! Checks about declared entries: redundant entries covered by a declared
//! directory, declared owner/mode that the existing persistent directory
//! does not have, mounts not from their persistence root, files replaced by
//! rename, and the paths the vpsFree guide persists.

use std::path::Path;

use super::{Ctx, Found, found};
use crate::config::Kind;
use crate::layout::observe::{EntryState, entry_state};

pub(super) fn covered_entries(c: &Ctx) -> Vec<Found> {
    c.settings
        .covered()
        .into_iter()
        .map(|(e, d)| {
            let (p, d) = (e.path.display(), d.path.display());
            found(
                Some(&e.path),
                format!(
                    "{p} is redundant: it is inside the declared directory {d}, whose bind already persists it (covered; impermctl does nothing for it)"
                ),
                format!("remove {p} from the config"),
            )
        })
        .collect()
}

pub(super) fn declared_perms(c: &Ctx) -> Vec<Found> {
    let mut out = Vec::new();
    for d in &c.state.drift {
        let (p, s, (u, g, m)) = (d.path.display(), d.source.display(), d.actual);
        let (user, group, mode) = (&d.declared.user, &d.declared.group, d.declared.mode);
        // Each problem of the entry on its own: one never hides another.
        if let Some(e) = &d.owner_error {
            out.push(found(
                Some(&d.path),
                format!("{p} is declared {user}:{group}, but {e}"),
                format!("create it, or declare an existing owner (or numeric ids) for {p}"),
            ));
        }
        let owner_differs = d.declared_ids.is_some_and(|ids| ids != (u, g));
        if owner_differs || m != mode {
            out.push(found(
                Some(&d.path),
                format!(
                    "{p} is declared {user}:{group} {mode:04o}, but its persistent directory {s} is {u}:{g} {m:04o} (owner and mode are applied only when impermctl creates the directory; nothing was changed)",
                ),
                match d.owner_error {
                    // Not the unknown owner: the chown would fail too.
                    Some(_) => format!("chmod {mode:04o} {s}; or change the declaration to match"),
                    None => format!("chown {user}:{group} {s} && chmod {mode:04o} {s}; or change the declaration to match"),
                },
            ));
        }
    }
    out
}

pub(super) fn binds_from_persistent(c: &Ctx) -> Vec<Found> {
    let mounts = &c.state.mounts;
    (c.settings.entries.iter())
        .filter_map(|e| {
            let root_m = mounts.at(&e.root)?;
            if entry_state(c.state, e) == EntryState::Bound {
                return None;
            }
            let m = mounts.at(&e.path).filter(|m| m.dev() != root_m.dev())?;
            let (p, s) = (e.path.display(), e.source.display());
            Some(found(
                Some(&e.path),
                format!(
                    "{p} is mounted from {} ({}), not from {s}",
                    m.source,
                    m.root.display()
                ),
                format!("unmount it and run `impermctl boot`, or remove {p} from the config"),
            ))
        })
        .collect()
}

/// Declared directories whose symlink leads to data on the ephemeral root
/// (`layout::dir_link`): `boot` refuses them; the remedy declares the data.
pub(super) fn directory_links(c: &Ctx) -> Vec<Found> {
    (c.settings.entries.iter())
        .filter_map(|e| {
            let l = crate::layout::dir_link(c.state, c.settings, e)?;
            let line = crate::suggest::nix_line(&e.root, &l.data, Kind::Directory);
            let (p, d) = (e.path.display(), l.data.display());
            let fix = format!("declare {d} in place of {p}: {line}");
            Some(found(Some(&e.path), l.refusal(e), fix))
        })
        .collect()
}

pub(super) fn replaced_files(c: &Ctx) -> Vec<Found> {
    crate::live::checks::method_warnings(c.settings)
        .into_iter()
        .map(|(p, msg, fix)| found(Some(&p), msg, fix))
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

pub(super) fn recommended_paths(c: &Ctx) -> Vec<Found> {
    let root = c.settings.roots.first().map(|r| r.path.as_path());
    let root = root.unwrap_or(Path::new("/persistent"));
    RECOMMENDED
        .iter()
        .filter(|(p, _, _)| !c.settings.is_persisted(Path::new(p)))
        .map(|(p, kind, lost)| {
            let fix = match c.settings.refused.iter().any(|r| r == Path::new(p)) {
                true => {
                    "fix the error of its config entry (listed with the refused entries)".into()
                }
                false => format!(
                    "add it: {}",
                    crate::suggest::nix_line(root, Path::new(p), *kind)
                ),
            };
            found(
                Some(Path::new(p)),
                format!("{p} is not persisted: {lost}"),
                fix,
            )
        })
        .collect()
}
