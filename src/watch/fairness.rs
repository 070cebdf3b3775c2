//! Fair use of the group table (issue 14.5): one user creating thousands of
//! directories must not take every slot, so a service's data written later
//! keeps its own name. Groups are counted per *area* (`/home/alice`,
//! `/var/lib`, `/tmp`, …); an area holds at most a quarter of the table,
//! and past its share (or when the table is full) a new group folds into
//! its area, never into `/` (which no configuration can persist).

use std::path::{Path, PathBuf};

use crate::classify::grouping::leading;

/// Top-level directories whose children belong to different owners or
/// services (`/home/alice` and `/home/bob` are separate areas).
const SPLIT: &[&str] = &["home", "var", "srv", "opt", "usr", "mnt", "media", "nix"];

/// The area of a (logical) group path: its first component, or its first
/// two under the directories of [`SPLIT`].
pub fn area(group: &Path) -> PathBuf {
    let top = leading(group, 1);
    leading(
        group,
        1 + usize::from(SPLIT.iter().any(|s| top.ends_with(s))),
    )
}

/// How many groups one area may hold in a table of `max` groups.
pub fn share(max: usize) -> usize {
    (max / 4).max(1)
}

/// Where a write to `group` is counted, given the table's state: the group
/// itself when it is already known or there is room (the table below
/// `max` and its area below its [`share`]), else its area.
pub fn slot(group: &Path, known: bool, len: usize, in_area: usize, max: usize) -> PathBuf {
    if known || (len < max && in_area < share(max)) {
        group.to_path_buf()
    } else {
        area(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_split_homes_and_var_but_not_tmp() {
        for (g, a) in [
            ("/home/alice/d17", "/home/alice"),
            ("/home/alice", "/home/alice"),
            ("/var/lib/postgresql", "/var/lib"),
            ("/tmp/x/y", "/tmp"),
            ("/root/.cache", "/root"),
            ("/etc/ssh", "/etc"),
            ("/srv", "/srv"),
        ] {
            assert_eq!(area(Path::new(g)), Path::new(a), "{g}");
        }
    }

    #[test]
    fn slots_fold_into_the_area_never_root() {
        let g = Path::new("/home/alice/d9");
        assert_eq!(slot(g, false, 10, 0, 4096), g);
        assert_eq!(slot(g, false, 10, 1024, 4096), Path::new("/home/alice"));
        assert_eq!(slot(g, false, 4096, 0, 4096), Path::new("/home/alice"));
        assert_eq!(slot(g, true, 4096, 5000, 4096), g);
        assert_eq!(slot(Path::new("/x"), false, 9, 9, 8), Path::new("/x"));
    }
}
