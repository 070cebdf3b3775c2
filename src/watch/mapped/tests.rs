use super::*;
use crate::sys::proc::maps::Mapping;

const ROOT_DEV: u64 = 0x2d;
const OTHER_DEV: u64 = 0x33;

fn m(dev: u64, ino: u64, path: &str, deleted: bool) -> Mapping {
    Mapping {
        pid: 9,
        dev,
        ino,
        path: path.as_bytes().to_vec(),
        deleted,
    }
}

/// Every way a mapping can go: on the root or another filesystem, found
/// where its path says or not, left out by diff or not, unlinked.
#[test]
fn each_mapping_is_added_skipped_or_unresolved() {
    // (dev, ino) at each host path of the fake tree.
    let tree: &[(&str, (u64, u64))] = &[
        ("/r/var/lib/lmdb/data.mdb", (ROOT_DEV, 10)),
        ("/r/var/lib/keep/db", (OTHER_DEV, 11)),
        ("/r/tmp/x", (ROOT_DEV, 12)),
        ("/r/srv/replaced", (ROOT_DEV, 99)),
        ("/r/srv/sub/f", (0x44, 14)),
    ];
    let stat = |p: &[u8]| {
        tree.iter()
            .find(|(q, _)| q.as_bytes() == p)
            .map(|(_, d)| *d)
    };
    let left_out = |p: &[u8]| p.starts_with(b"/var/lib/keep") || p.starts_with(b"/tmp");
    let devs = Devs {
        stat: ROOT_DEV,
        sb: Some(ROOT_DEV),
    };
    let add = |p: &str| Place::Add(p.as_bytes().to_vec());
    let table: Vec<(Mapping, Devs, Place)> = vec![
        // The reproducer: a database on the root.
        (
            m(ROOT_DEV, 10, "/r/var/lib/lmdb/data.mdb", false),
            devs,
            add("/var/lib/lmdb/data.mdb"),
        ),
        // In a persisted directory (another filesystem): skipped, no stat.
        (
            m(OTHER_DEV, 11, "/r/var/lib/keep/db", false),
            devs,
            Place::Skip,
        ),
        // A file of the root's filesystem diff leaves out (/tmp on the root).
        (m(ROOT_DEV, 12, "/r/tmp/x", false), devs, Place::Skip),
        // Unlinked: no longer on the tree.
        (m(ROOT_DEV, 13, "/r/srv/gone", true), devs, Place::Skip),
        // Another inode under that name now: another namespace's view.
        (
            m(ROOT_DEV, 14, "/r/srv/replaced", false),
            devs,
            Place::Unresolved,
        ),
        // Not found at all, or outside the root.
        (
            m(ROOT_DEV, 15, "/r/srv/nowhere", false),
            devs,
            Place::Unresolved,
        ),
        (
            m(ROOT_DEV, 16, "/elsewhere/f", false),
            devs,
            Place::Unresolved,
        ),
        (m(ROOT_DEV, 17, "/rx/f", false), devs, Place::Unresolved),
        (m(ROOT_DEV, 18, "", false), devs, Place::Unresolved),
        // Another filesystem, path outside the root: not ours.
        (m(OTHER_DEV, 19, "/elsewhere/f", false), devs, Place::Skip),
        // btrfs: /proc gives the superblock's device, stat the subvolume's.
        (
            m(0x20, 10, "/r/var/lib/lmdb/data.mdb", false),
            Devs {
                stat: ROOT_DEV,
                sb: Some(0x20),
            },
            add("/var/lib/lmdb/data.mdb"),
        ),
        // ... and a nested subvolume (no mount point): the walk skips it too.
        (
            m(0x20, 14, "/r/srv/sub/f", false),
            Devs {
                stat: ROOT_DEV,
                sb: Some(0x20),
            },
            Place::Skip,
        ),
    ];
    for (mapping, devs, want) in table {
        assert_eq!(
            place(&mapping, b"/r", devs, &stat, &left_out),
            want,
            "{mapping:?}"
        );
    }
}

#[test]
fn logical_paths_of_host_paths() {
    let table: &[(&str, &str, Option<&str>)] = &[
        ("/", "/a/b", Some("/a/b")),
        ("/r", "/r/a", Some("/a")),
        ("/r", "/r", Some("/")),
        ("/r", "/ra/b", None),
        ("/r", "/x", None),
        ("/", "", None),
    ];
    for (root, p, want) in table {
        assert_eq!(
            logical(root.as_bytes(), p.as_bytes()),
            want.map(|w| w.as_bytes().to_vec()),
            "{root} {p}"
        );
    }
}
