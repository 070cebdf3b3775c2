//! Tests of the watcher's walks (the privileged one mounts tmpfs in a
//! private mount namespace of its own thread).

use super::*;

#[test]
fn walks_directories_and_skips_pruned_ones() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    for d in ["a/b/c", "m/x", "run/impermctl"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join("a/b/f"), b"x").unwrap();
    std::fs::write(r.join("m/x/g"), b"x").unwrap();
    let root = Root::new(Some(r.to_path_buf()), None);
    let mut scope = Scope::new(&root).unwrap();
    scope.prune.insert(r.join("m"));
    let mut seen = Vec::new();
    let n = walk(&scope, r, true, &mut |v| {
        let (k, p) = match v {
            Visit::Dir(p) => ("d", p),
            Visit::File(p) => ("f", p),
        };
        seen.push(format!("{k} {}", scope.logical(p).unwrap().display()));
        Ok(true)
    })
    .unwrap();
    seen.sort();
    assert_eq!(
        seen,
        ["d /", "d /a", "d /a/b", "d /a/b/c", "d /run", "f /a/b/f"]
    );
    assert_eq!(n, 5);
    assert!(scope.excluded(&r.join("m/x/g")));
    assert!(scope.excluded(&r.join("run/impermctl/watch.json")));
    assert!(!scope.excluded(&r.join("a/b/f")));
}

#[test]
fn the_parallel_walk_sees_the_same_directories() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    for a in 0..5 {
        for b in 0..7 {
            std::fs::create_dir_all(r.join(format!("a{a}/b{b}/c"))).unwrap();
        }
    }
    std::fs::create_dir_all(r.join("m/x")).unwrap();
    let root = Root::new(Some(r.to_path_buf()), None);
    let mut scope = Scope::new(&root).unwrap();
    scope.prune.insert(r.join("m"));
    let seen = std::sync::Mutex::new(Vec::new());
    let n = walk_dirs_parallel(
        &scope,
        3,
        &|p| {
            seen.lock().unwrap().push(p.to_path_buf());
            Some(())
        },
        &|()| {},
    );
    let mut serial = Vec::new();
    walk(&scope, r, false, &mut |v| {
        if let Visit::Dir(p) = v {
            serial.push(p.to_path_buf());
        }
        Ok(true)
    })
    .unwrap();
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    serial.sort();
    assert_eq!(n, 1 + 5 + 35 + 35);
    assert_eq!(seen, serial);
}

#[test]
fn leaves_are_known_only_where_the_link_count_counts_subdirectories() {
    // tmpfs, ext2/3/4, XFS, ZFS count them; btrfs, overlayfs, NFS, CIFS,
    // FUSE and proc do not (nor does an unknown type).
    let types: [(i64, bool); 11] = [
        (0x0102_1994, true),
        (0xEF53, true),
        (0x5846_5342, true),
        (0x2FC1_2FC1, true),
        (0x9123_683E, false),
        (0x794C_7630, false),
        (0x6969, false),
        (0xFF53_4D42, false),
        (0x6573_5546, false),
        (0x9FA0, false),
        (-1, false),
    ];
    for (t, counts) in types {
        assert_eq!(nlink_counts_subdirs(t), counts, "{t:#x}");
    }
    // 2: no subdirectory (where known); 1: btrfs's "not counted"; 3+: read.
    for (known, nlink, read) in [
        (true, 2, false),
        (true, 1, true),
        (true, 3, true),
        (false, 2, true),
        (false, 1, true),
    ] {
        assert_eq!(
            must_read(known, nlink),
            read,
            "known {known}, nlink {nlink}"
        );
    }
}

/// On tmpfs (leaves known, so leaves are watched without being read):
/// every directory of the root's filesystem is watched, and a filesystem
/// mounted below the root after the mount table was read is unwatched again.
#[test]
fn the_start_up_walk_watches_every_directory_and_unwatches_other_filesystems() {
    use crate::sys::inotify::{Inotify, WatchFlags};
    use rustix::mount::{MountFlags, mount};
    use std::collections::HashMap;
    use std::sync::Mutex;
    if !crate::testing::privileged("mounts tmpfs") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let r = t.path().to_path_buf();
    // A thread of its own: the private mount namespace ends with it.
    std::thread::spawn(move || {
        crate::sys::mount::private_namespace().unwrap();
        mount("tmpfs", &r, "tmpfs", MountFlags::empty(), None).unwrap();
        for d in ["a/b/c", "a/d", "e", "f", "m"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("f/file"), b"x").unwrap();
        mount("tmpfs", r.join("m"), "tmpfs", MountFlags::empty(), None).unwrap();
        std::fs::create_dir_all(r.join("m/x/y")).unwrap();
        let root = Root::new(Some(r.clone()), None);
        let mut scope = Scope::new(&root).unwrap();
        assert!(scope.leaves_known, "tmpfs counts subdirectories");
        // As if the table had been read before `m` was mounted.
        scope.prune.clear();

        let ino = Inotify::init().unwrap();
        let watched = Mutex::new(HashMap::new());
        let unwatched = Mutex::new(Vec::new());
        let watch = |p: PathBuf| {
            let wd = ino
                .add_watch(&p, WatchFlags::CREATE | WatchFlags::ONLYDIR)
                .ok()?;
            watched.lock().unwrap().insert(wd, p);
            Some(wd)
        };
        let unwatch = |wd: i32| {
            ino.rm_watch(wd).unwrap();
            unwatched
                .lock()
                .unwrap()
                .push(watched.lock().unwrap().remove(&wd));
        };
        let n = walk_dirs_parallel(&scope, 2, &watch, &unwatch);

        let mut every = Vec::new();
        walk(&scope, &r, false, &mut |v| {
            if let Visit::Dir(p) = v {
                every.push(p.to_path_buf());
            }
            Ok(true)
        })
        .unwrap();
        every.sort();
        let watched = watched.into_inner().unwrap();
        let mut seen: Vec<PathBuf> = watched.values().cloned().collect();
        seen.sort();
        assert_eq!(seen, every);
        assert_eq!(n, every.len());
        assert_eq!(n, 7, "/, a, a/b, a/b/c, a/d, e, f: {every:?}");
        assert_eq!(unwatched.into_inner().unwrap(), [Some(r.join("m"))]);

        // Leaves were watched without being read; `m` is not watched.
        for d in ["a/b/c", "e", "m"] {
            std::fs::write(r.join(d).join("new"), b"x").unwrap();
        }
        let mut buf = vec![std::mem::MaybeUninit::uninit(); 4096];
        let mut created = Vec::new();
        ino.drain(&mut buf, |e| {
            if let Some(p) = watched.get(&e.wd) {
                created.push(p.join(OsStr::from_bytes(e.name)));
            }
        })
        .unwrap();
        created.sort();
        assert_eq!(created, [r.join("a/b/c/new"), r.join("e/new")]);
    })
    .join()
    .unwrap();
}

/// systemd's ProtectSystem=strict binds /home onto itself: not pruned;
/// a persisted bind (another directory, or another filesystem) is.
#[test]
fn a_directory_bound_onto_itself_is_not_a_prune_point() {
    let t = MountTable::parse_bytes(
        b"1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
          2 1 8:1 /home /home rw - ext4 /dev/sda1 rw\n\
          3 1 8:1 /.pdata/etc/x /etc/x rw - ext4 /dev/sda1 rw\n\
          4 1 0:5 / /var/lib/keep rw - tmpfs p rw\n",
    )
    .unwrap();
    let host = t.containing(Path::new("/")).unwrap();
    let pruned: Vec<bool> = t
        .below(Path::new("/"))
        .map(|m| !self_bind(host, m))
        .collect();
    assert_eq!(pruned, [false, true, true]);
}
