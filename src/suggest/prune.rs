//! What `--suggest` may propose: never a path twice, never a path inside
//! another proposed directory, never one inside (or holding) a declared
//! entry — pasted, those are the config's "declared twice" error or an
//! entry another one already covers. Pure, table-tested.

use std::path::{Path, PathBuf};

use super::Line;
use crate::config::Kind;

/// `lines` without duplicates and nested proposals (dropped: the outer
/// one keeps them); a proposal at, inside or around a `declared` entry
/// (path, kind) becomes a `Skipped` line saying which.
pub fn prune(lines: Vec<Line>, declared: &[(PathBuf, Kind)]) -> Vec<Line> {
    let dirs: Vec<PathBuf> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Persist(p, Kind::Directory) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let inside_proposed = |p: &Path| dirs.iter().any(|q| p != q && p.starts_with(q));
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut out = Vec::new();
    for l in lines {
        let p = match &l {
            Line::Persist(p, _) | Line::Copy(p) => p.clone(),
            Line::Skipped(_) => {
                out.push(l);
                continue;
            }
        };
        if seen.contains(&p) || inside_proposed(&p) {
            continue;
        }
        out.push(clash(&p, declared).map_or(l, Line::Skipped));
        seen.push(p);
    }
    out
}

/// Why `p` cannot be proposed next to the declared entries, if so.
fn clash(p: &Path, declared: &[(PathBuf, Kind)]) -> Option<String> {
    declared.iter().find_map(|(d, k)| {
        let (ps, ds) = (p.display(), d.display());
        Some(if d == p {
            format!("{ps} is already declared")
        } else if *k == Kind::Directory && p.starts_with(d) {
            format!("{ps} is inside the declared directory {ds}")
        } else if d.starts_with(p) {
            format!(
                "{ps} holds the declared {ds}: declare what else it holds one by one, or replace {ds} by {ps}"
            )
        } else {
            return None;
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn persist(p: &str, k: Kind) -> Line {
        Line::Persist(p.into(), k)
    }

    #[test]
    fn no_duplicates_nor_nested_proposals() {
        use Kind::{Directory as D, File as F};
        let declared = [
            (PathBuf::from("/etc/nixos"), D),
            (PathBuf::from("/etc/machine-id"), F),
            (PathBuf::from("/var/lib/app/keys"), D),
        ];
        let skipped = |s: &str| Line::Skipped(s.into());
        // (proposed in order, what is printed)
        let table: Vec<(Vec<Line>, Vec<Line>)> = vec![
            (
                vec![persist("/root/.ssh", D), persist("/root/.ssh", D)],
                vec![persist("/root/.ssh", D)],
            ),
            (
                vec![persist("/root/.ssh/id", F), persist("/root/.ssh", D)],
                vec![persist("/root/.ssh", D)],
            ),
            (
                vec![persist("/srv/a", D), persist("/srv/ab", D)],
                vec![persist("/srv/a", D), persist("/srv/ab", D)],
            ),
            (
                vec![persist("/etc/adjtime", F), persist("/etc/adjtime", F)],
                vec![persist("/etc/adjtime", F)],
            ),
            (
                vec![persist("/etc/machine-id", F)],
                vec![skipped("/etc/machine-id is already declared")],
            ),
            (
                vec![persist("/etc/nixos/hardware.nix", F)],
                vec![skipped(
                    "/etc/nixos/hardware.nix is inside the declared directory /etc/nixos",
                )],
            ),
            (
                vec![persist("/var/lib/app", D)],
                vec![skipped(
                    "/var/lib/app holds the declared /var/lib/app/keys: declare what else it holds one by one, or replace /var/lib/app/keys by /var/lib/app",
                )],
            ),
            (
                vec![
                    Line::Copy("/etc/machine-id".into()),
                    Line::Copy("/etc/a".into()),
                ],
                vec![
                    skipped("/etc/machine-id is already declared"),
                    Line::Copy("/etc/a".into()),
                ],
            ),
            (
                vec![skipped("x"), persist("/etc/machine-id2", F)],
                vec![skipped("x"), persist("/etc/machine-id2", F)],
            ),
        ];
        for (input, want) in table {
            assert_eq!(prune(input.clone(), &declared), want, "{input:?}");
        }
    }
}
