//! Unit tests of the group table and the token bucket, with an injected clock.

use super::*;

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn write(size: u64) -> Change {
    Change::Write {
        size: Some(size),
        created: true,
    }
}

fn p(x: &str) -> &Path {
    Path::new(x)
}

#[test]
fn bucket_refills_at_capacity_per_minute() {
    let mut b = TokenBucket::new(2, s(0));
    assert!(b.take(s(0)));
    assert!(b.take(s(0)));
    assert!(!b.take(s(0)));
    assert!(!b.take(s(29)));
    assert!(b.take(s(30)));
    assert!(!b.take(s(31)));
    // Never more than capacity, however long the pause.
    assert!(b.take(s(10_000)));
    assert!(b.take(s(10_000)));
    assert!(!b.take(s(10_000)));
}

#[test]
fn first_write_warns_once_then_reminds_after_warn_every() {
    let mut t = Table::new(Limits::default(), s(0));
    let g = p("/var/lib/demo");
    assert_eq!(
        t.record(g, p("/var/lib/demo/a"), write(10), s(1)),
        Decision::Warn { reminder: false }
    );
    for i in 0..10_000 {
        let path = PathBuf::from(format!("/var/lib/demo/f{i}"));
        assert_eq!(t.record(g, &path, write(1), s(2)), Decision::Quiet);
    }
    assert_eq!(
        t.record(g, p("/var/lib/demo/a"), write(5), s(600)),
        Decision::Quiet
    );
    assert_eq!(
        t.record(g, p("/var/lib/demo/a"), write(5), s(601)),
        Decision::Warn { reminder: true }
    );
    let grp = t.get(g).unwrap();
    assert_eq!(grp.files, 10_001);
    assert_eq!(grp.bytes, 10_005);
    assert_eq!(grp.warnings, 2);
    assert_eq!(grp.kind, Kind::Directory);
    assert_eq!(grp.sample().len(), 1000);
    assert_eq!(t.tracked_paths(), 10_001);
}

#[test]
fn budget_suppresses_and_summarises_once() {
    let limits = Limits {
        per_minute: 3,
        ..Limits::default()
    };
    let mut t = Table::new(limits, s(0));
    let mut warned = 0;
    for i in 0..10 {
        let g = PathBuf::from(format!("/g{i}"));
        for _ in 0..5 {
            if let Decision::Warn { .. } = t.record(&g, &g.join("x"), write(1), s(1)) {
                warned += 1;
            }
        }
    }
    assert_eq!(warned, 3);
    assert_eq!(t.take_suppressed(s(30), false), None);
    let sup = t.take_suppressed(s(61), false).unwrap();
    assert_eq!(sup.count, 7);
    assert_eq!(sup.groups.len(), 5);
    assert_eq!(t.take_suppressed(s(200), false), None);
    // A suppressed group is warned about on its next write once budget returns.
    assert_eq!(
        t.record(p("/g9"), p("/g9/y"), write(1), s(200)),
        Decision::Warn { reminder: false }
    );
}

#[test]
fn deletes_and_rewrites_keep_counts_exact() {
    let mut t = Table::new(Limits::default(), s(0));
    let g = p("/etc/demo");
    t.record(g, p("/etc/demo/a"), write(100), s(0));
    t.record(g, p("/etc/demo/b"), write(50), s(0));
    t.record(g, p("/etc/demo/a"), write(30), s(1));
    t.record(g, p("/etc/demo/b"), Change::Gone, s(2));
    t.record(g, p("/etc/demo/never"), Change::Gone, s(2));
    let grp = t.get(g).unwrap();
    assert_eq!((grp.files, grp.bytes), (1, 30));
    assert_eq!(grp.first_seen, s(0));
    assert_eq!(grp.last_seen, s(2));
}

#[test]
fn memory_stays_bounded_beyond_the_caps() {
    let limits = Limits {
        sample_paths: 10,
        total_samples: 15,
        total_hashed: 20,
        max_groups: 3,
        ..Limits::default()
    };
    let mut t = Table::new(limits, s(0));
    for i in 0..1000 {
        let g = PathBuf::from(format!("/g{}", i % 5));
        t.record(&g, &g.join(format!("f{i}")), write(1), s(0));
    }
    assert_eq!(t.len(), 4, "three groups plus the fold-over group /");
    assert_eq!(t.tracked_paths(), 35);
    let total: u64 = t.groups().iter().map(|g| g.files).sum();
    assert_eq!(total, 1000, "creations still counted once caps are reached");
    assert!(t.groups().iter().any(|g| g.approximate));
}

#[test]
fn a_single_file_group_is_persisted_as_a_file() {
    let mut t = Table::new(Limits::default(), s(0));
    t.record(p("/etc/adjtime"), p("/etc/adjtime"), write(3), s(0));
    t.record(p("/etc/ssh"), p("/etc/ssh"), Change::Dir, s(0));
    t.record(p("/etc/ssh"), p("/etc/ssh/key"), write(3), s(0));
    assert_eq!(t.get(p("/etc/adjtime")).unwrap().kind, Kind::File);
    assert_eq!(t.get(p("/etc/ssh")).unwrap().kind, Kind::Directory);
    t.add_writer(
        p("/etc/ssh"),
        Writer {
            comm: "sshd".into(),
            unit: Some("sshd.service".into()),
        },
    );
    t.add_writer(
        p("/etc/ssh"),
        Writer {
            comm: "sshd".into(),
            unit: Some("sshd.service".into()),
        },
    );
    assert_eq!(t.get(p("/etc/ssh")).unwrap().writers.len(), 1);
    assert_eq!(t.groups()[0].path, p("/etc/adjtime"));
}

#[test]
fn a_directory_alone_makes_no_group() {
    let mut t = Table::new(Limits::default(), s(0));
    assert_eq!(
        t.record(p("/srv"), p("/srv"), Change::Dir, s(0)),
        Decision::Quiet
    );
    assert!(t.is_empty());
}
