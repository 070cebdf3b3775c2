//! Whether a copy fits, asked before it starts: the destination
//! filesystem's free space and inodes (`statvfs`) against the measured
//! source, with a margin. `persist` and `boot` refuse up front, naming the
//! sizes, instead of failing with `ENOSPC` halfway through (trial-s10 F7:
//! a 120 MB directory onto a 100 MB `/persistent`).

use std::path::Path;

use crate::human::{count, size};
use crate::walk::Usage;

/// Headroom beyond the estimate: this, plus 2 % of the estimate.
const MARGIN: u64 = 1 << 20;

/// The most the copy of a tree measured as `need` takes on a filesystem of
/// `block`-byte blocks, in bytes: its data (a sparse file's holes left
/// out), its symlinks' targets and a block per entry (directory blocks,
/// inodes, the last block of each file), plus [`MARGIN`] and 2 %.
pub fn estimate(need: &Usage, block: u64) -> u64 {
    let raw = need.data_bytes + need.link_bytes + need.entries.saturating_mul(block);
    raw + raw / 50 + MARGIN
}

/// `Err` (the sizes, and what to do) when the copy of `need` (measured at
/// `from`, shown as is) to the host path `to` does not fit: the filesystem
/// of `to`'s nearest existing ancestor has fewer bytes free than
/// [`estimate`] (`f_bavail`: the root reserve of ext4 is left alone) or
/// fewer inodes than it has entries. `Ok` when `statvfs` fails: the copy
/// then says what is wrong. `again`: the command to run once there is room.
pub fn room(from: &Path, to: &Path, need: &Usage, again: &str) -> anyhow::Result<()> {
    let Some(fs) = to
        .ancestors()
        .find_map(|p| nix::sys::statvfs::statvfs(p).ok())
    else {
        return Ok(());
    };
    let block = fs.fragment_size().max(1);
    let free = fs.blocks_available().saturating_mul(block);
    let want = estimate(need, block);
    let entries = count(need.entries, "entry", "entries");
    let fix = format!(
        "free space there or enlarge it (on vpsFree, the dataset's quota in vpsAdmin), then run `{again}`"
    );
    if want > free {
        anyhow::bail!(
            "not enough free space for a copy of {}: it needs about {} ({} of data in {entries}, with a margin), and the filesystem of {} has {} free; nothing was copied: {fix}",
            from.display(),
            size(want),
            size(need.data_bytes + need.link_bytes),
            to.display(),
            size(free)
        );
    }
    // Filesystems without an inode limit (btrfs) report none at all.
    if fs.files() > 0 && need.entries > fs.files_available() {
        anyhow::bail!(
            "not enough free inodes for a copy of {}: it has {entries}, and the filesystem of {} has {} free; nothing was copied: {fix}",
            from.display(),
            to.display(),
            crate::human::thousands(fs.files_available())
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_data_links_a_block_per_entry_and_the_margin() {
        let u = Usage {
            entries: 10,
            file_bytes: 1 << 30,
            data_bytes: 100 << 20,
            link_bytes: 20,
            linked_out: Vec::new(),
        };
        let raw = (100 << 20) + 20 + 10 * 4096;
        assert_eq!(estimate(&u, 4096), raw + raw / 50 + MARGIN);
    }

    /// The file system this test runs on: what fits and what does not
    /// (no mount needed: the temporary directory's own free space).
    #[test]
    fn room_refuses_more_than_is_free_and_names_the_sizes() {
        let d = tempfile::tempdir().unwrap();
        let free = {
            let s = nix::sys::statvfs::statvfs(d.path()).unwrap();
            s.blocks_available() * s.fragment_size()
        };
        let small = Usage {
            entries: 1,
            data_bytes: 10,
            ..Usage::default()
        };
        let to = d.path().join("not/yet/there");
        room(Path::new("/srv/a"), &to, &small, "x").unwrap();
        let big = Usage {
            entries: 3,
            data_bytes: free,
            ..small
        };
        let e = format!(
            "{:#}",
            room(Path::new("/srv/a"), &to, &big, "x").unwrap_err()
        );
        assert!(
            e.starts_with("not enough free space for a copy of /srv/a: it needs about ")
                && e.contains(&format!("({} of data in 3 entries", size(free)))
                && e.contains("nothing was copied"),
            "{e}"
        );
    }
}
