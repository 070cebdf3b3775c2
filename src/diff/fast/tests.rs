//! Tests of `diff::fast`: when the list may stand for a walk.
use super::links::linkable_ignored;
use super::*;

fn list() -> List {
    List {
        since: (100, 0),
        mounts: vec![b"/p0".to_vec()],
        ignore: vec![b"/run/impermctl".to_vec()],
        ..List::default()
    }
}

/// `vouch` with the baseline's origin and mount points, the watcher's
/// list, what is mounted now and what diff leaves out.
fn check(
    all: bool,
    baseline: Option<BaselineFrame<'_>>,
    l: &List,
    now_mounted: &[&str],
) -> Result<(), String> {
    let mounted = |p: &[u8]| now_mounted.iter().any(|m| m.as_bytes() == p);
    let left_out = |p: &[u8]| p.starts_with(b"/run");
    vouch(&Frame {
        all,
        baseline,
        list: l,
        mounted: &mounted,
        left_out: &left_out,
    })
}

#[test]
fn every_reason_not_to_use_the_list() {
    let bm = vec![b"/p1".to_vec()];
    let ok = Some((Some((100, 0)), bm.as_slice()));
    let both = ["/p0", "/p1"];
    assert_eq!(check(false, ok, &list(), &both), Ok(()));
    assert_eq!(
        check(false, Some((Some((200, 5)), &bm[..])), &list(), &both),
        Ok(()),
        "a baseline retaken later is fine"
    );
    let gap = List {
        gap: Some("inotify's watch limit leaves 3 directories unwatched".into()),
        ..list()
    };
    let ignored = List {
        ignore: vec![b"/srv/scratch".to_vec()],
        ..list()
    };
    let late = List {
        since: (100, 1),
        ..list()
    };
    let linked = List {
        gap: Some("a hard link was made: /srv/hl".into()),
        ..list()
    };
    let table: [(&str, Result<(), String>); 8] = [
        ("--all", check(true, ok, &list(), &both)),
        ("no baseline", check(false, None, &list(), &both)),
        (
            "does not say when",
            check(false, Some((None, &bm[..])), &list(), &both),
        ),
        ("watch limit", check(false, ok, &gap, &both)),
        (
            "after the baseline's oldest record",
            check(false, ok, &late, &both),
        ),
        (
            "/p1 is no longer a mount point",
            check(false, ok, &list(), &["/p0"]),
        ),
        (
            "does not watch /srv/scratch",
            check(false, ok, &ignored, &both),
        ),
        (
            "cannot vouch for its list: a hard link was made: /srv/hl",
            check(false, ok, &linked, &both),
        ),
    ];
    for (want, got) in table {
        let why = got.expect_err(want);
        assert!(why.contains(want), "{want}: {why}");
    }
    assert!(
        check(false, ok, &list(), &["/p1"])
            .unwrap_err()
            .contains("/p0 is no longer"),
        "the watcher's own mount points count too"
    );
    let devs = List {
        mounts: vec![b"/p0".to_vec(), b"/run/user/0".to_vec()],
        ..list()
    };
    assert_eq!(
        check(false, ok, &devs, &both),
        Ok(()),
        "a mount point where diff does not look (the watcher's private /run) does not count"
    );
}

/// A baseline recording the logical `paths` of the tree at `r` as they are
/// now.
fn baseline_of(r: &Path, paths: &[&str]) -> crate::baseline::Baseline {
    use crate::baseline::{Baseline, Rec, encode};
    let mut entries: Vec<(Vec<u8>, Rec)> = paths
        .iter()
        .map(|p| {
            let m = crate::sys::meta::stat_path(&r.join(&p[1..])).unwrap();
            (p.as_bytes().to_vec(), Rec::from(&m))
        })
        .collect();
    Baseline::decode(encode(1, &mut entries)).unwrap()
}

/// The listed paths and subtrees give the walk's answer: a subtree the
/// watcher stopped listening to, and a new directory whose content is
/// not listed, are walked whole.
#[test]
fn listed_paths_and_subtrees_give_the_walks_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    for d in ["a/deep", "b", "d"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    for f in ["a/x", "a/deep/y", "b/y", "d/same"] {
        std::fs::write(r.join(f), "1").unwrap();
    }
    let b = baseline_of(
        r,
        &[
            "/a",
            "/a/deep",
            "/b",
            "/d",
            "/a/x",
            "/a/deep/y",
            "/b/y",
            "/d/same",
        ],
    );
    std::fs::write(r.join("a/deep/y"), "changed").unwrap();
    std::fs::write(r.join("b/new"), "n").unwrap();
    std::fs::create_dir_all(r.join("c/sub")).unwrap();
    std::fs::write(r.join("c/sub/z"), "z").unwrap();
    let scope = Scope::tree(r);
    let visit = Classify {
        baseline: Some(&b),
        btime: 0,
        keep_unchanged: false,
    };
    let list = List {
        // /c is new; what it holds is not listed. /d/same is unchanged.
        paths: vec![
            b"/b/new".to_vec(),
            b"/c".to_vec(),
            b"/d/same".to_vec(),
            b"/gone".to_vec(),
        ],
        trees: vec![b"/a".to_vec()],
        ..List::default()
    };
    let got = |o: Outcome<Found<'_>>| {
        let mut v: Vec<(Vec<u8>, super::super::Change)> = o
            .accs
            .into_iter()
            .flat_map(|f| f.items)
            .map(|i| (i.path, i.change))
            .collect();
        v.sort();
        v
    };
    let (fast, n) = classify(&scope, &visit, &list, None, &[], &AtomicU64::new(0))
        .unwrap()
        .unwrap();
    assert_eq!(n, 2, "/a and /c walked whole");
    let walked = walk::walk(&scope, &visit, 2, &AtomicU64::new(0)).unwrap();
    let (fast, walked) = (got(fast), got(walked));
    assert_eq!(fast, walked);
    let paths: Vec<&[u8]> = fast.iter().map(|(p, _)| p.as_slice()).collect();
    assert_eq!(
        paths,
        [&b"/a/deep/y"[..], b"/b/new", b"/c", b"/c/sub", b"/c/sub/z"]
    );
    // Restricted to PATH /c: only what is under it.
    let only_c = [PathBuf::from("/c")];
    let (o, _) = classify(&scope, &visit, &list, None, &only_c, &AtomicU64::new(0))
        .unwrap()
        .unwrap();
    assert_eq!(got(o).len(), 3);
    // The records the watcher sent stand for diff's own lookups: the
    // baseline's give the same answer; others are what is compared.
    let recs: Vec<_> = list.paths.iter().map(|p| b.get(p)).collect();
    let (o, _) = classify(&scope, &visit, &list, Some(&recs), &[], &AtomicU64::new(0))
        .unwrap()
        .unwrap();
    assert_eq!(got(o), fast);
    let mut forgotten = recs.clone();
    forgotten[2] = None;
    let (o, _) = classify(
        &scope,
        &visit,
        &list,
        Some(&forgotten),
        &[],
        &AtomicU64::new(0),
    )
    .unwrap()
    .unwrap();
    assert!(got(o).contains(&(b"/d/same".to_vec(), super::super::Change::New)));
}

/// The watcher's records are used only when it looked them up in the
/// baseline file diff opened (same mtime and inode).
#[test]
fn the_watchers_records_count_only_for_the_same_baseline_file() {
    let mut list = List {
        paths: vec![b"/a".to_vec()],
        recs: vec![None],
        baseline: Some((1, 2, 3)),
        ..List::default()
    };
    assert!(known(&list, Some((1, 2, 3))).is_some());
    for other in [None, Some((1, 2, 4)), Some((1, 3, 3))] {
        assert!(known(&list, other).is_none(), "{other:?}");
    }
    list.baseline = None;
    assert!(known(&list, None).is_none(), "no records sent");
}

/// A listed file with other names, and an ignored path on the compared
/// filesystem (or missing, its parent there): the list cannot stand
/// for a walk. The watcher's run directory and other filesystems can.
#[test]
fn hard_links_the_list_cannot_see_make_diff_walk() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    std::fs::create_dir_all(r.join("srv")).unwrap();
    std::fs::create_dir_all(r.join("tmp")).unwrap();
    std::fs::write(r.join("srv/f"), "1").unwrap();
    std::fs::write(r.join("srv/one"), "1").unwrap();
    std::fs::hard_link(r.join("srv/f"), r.join("srv/g")).unwrap();
    let scope = Scope::tree(r);
    let visit = Classify {
        baseline: None,
        btime: 0,
        keep_unchanged: false,
    };
    let fast = |paths: &[&str], ignore: &[&str]| {
        let list = List {
            paths: paths.iter().map(|p| p.as_bytes().to_vec()).collect(),
            ignore: ignore.iter().map(|p| p.as_bytes().to_vec()).collect(),
            ..List::default()
        };
        classify(&scope, &visit, &list, None, &[], &AtomicU64::new(0))
            .unwrap()
            .err()
    };
    assert_eq!(fast(&["/srv/one"], &[crate::root::RUN_DIR]), None);
    let rows: [(&[&str], &[&str], &str); 4] = [
        (
            &["/srv/g"],
            &[],
            "a changed file has other hard links: /srv/g",
        ),
        (
            &["/srv/one"],
            &["/tmp"],
            "does not watch /tmp (watch.ignore)",
        ),
        (&["/srv/one"], &["/var/tmp"], "does not watch /var/tmp"),
        (&[], &["/srv/f"], "does not watch /srv/f"),
    ];
    for (paths, ignore, want) in rows {
        let why = fast(paths, ignore).unwrap_or_default();
        assert!(why.contains(want), "{paths:?} {ignore:?}: {why}");
    }
    // The watcher hears names made in /tmp (and stops vouching at a
    // link): the ignored path no longer makes diff walk.
    let heard = List {
        paths: vec![b"/srv/one".to_vec()],
        ignore: vec![b"/tmp".to_vec()],
        ignored_links_heard: true,
        ..List::default()
    };
    let r2 = classify(&scope, &visit, &heard, None, &[], &AtomicU64::new(0)).unwrap();
    assert!(r2.is_ok(), "{:?}", r2.err());
    let dev = crate::sys::meta::stat_path(r).unwrap().dev;
    let root = crate::sys::fs::open_dir(r).unwrap();
    assert_eq!(
        linkable_ignored(root.as_fd(), dev + 1, &[b"/tmp".to_vec()]),
        None,
        "on another filesystem: no link reaches a compared file"
    );
}

/// A listed file with other names that is exactly as the baseline
/// recorded it (a root populated just before the baseline is listed whole
/// by the watcher's start-up rescan; Debian's gunzip has two names) does
/// not make diff walk; once written through its other name, it does.
#[test]
fn a_hard_linked_file_as_the_baseline_recorded_it_keeps_the_list() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    std::fs::create_dir_all(r.join("usr/bin")).unwrap();
    std::fs::write(r.join("usr/bin/uncompress"), "#!/bin/sh\n").unwrap();
    std::fs::hard_link(r.join("usr/bin/uncompress"), r.join("usr/bin/gunzip")).unwrap();
    let b = baseline_of(
        r,
        &["/usr", "/usr/bin", "/usr/bin/gunzip", "/usr/bin/uncompress"],
    );
    let scope = Scope::tree(r);
    let visit = Classify {
        baseline: Some(&b),
        btime: 0,
        keep_unchanged: false,
    };
    let list = List {
        paths: vec![b"/usr/bin/gunzip".to_vec()],
        ..List::default()
    };
    let fast = || {
        classify(&scope, &visit, &list, None, &[], &AtomicU64::new(0))
            .unwrap()
            .err()
    };
    assert_eq!(fast(), None, "unchanged since the baseline");
    // A write through the other name: same inode, new mtime and ctime.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(r.join("usr/bin/uncompress"), "#!/bin/sh\nexit 1\n").unwrap();
    let why = fast().unwrap_or_default();
    assert!(
        why.contains("a changed file has other hard links: /usr/bin/gunzip"),
        "{why}"
    );
}
