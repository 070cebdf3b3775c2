//! Unit tests of the group table and the token bucket, with an injected clock.

use super::*;

/// Distinct paths remembered (by name or hash).
fn tracked(t: &Table) -> usize {
    t.samples + t.hashed
}

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
    assert_eq!(tracked(&t), 10_001);
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
    // Three groups, then /g3 and /g4 are their own areas (top-level
    // directories, made by root): the excess never folds into `/`.
    assert_eq!(t.len(), 5, "three groups plus two areas");
    assert!(t.get(p("/")).is_none());
    assert_eq!(tracked(&t), 35);
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

/// A baseline directory's chmod is a loss: warned once per group (a
/// write there after says nothing new), counted until the directory goes
/// or a retaken baseline adopts it.
#[test]
fn a_directorys_changed_attributes_make_a_group() {
    let mut t = Table::new(Limits::default(), s(0));
    let d = Change::DirAttrs;
    assert!(matches!(
        t.record(p("/srv"), p("/srv"), d, s(0)),
        Decision::Warn { .. }
    ));
    assert_eq!(t.record(p("/srv"), p("/srv"), d, s(1)), Decision::Quiet);
    assert_eq!(
        t.record(p("/srv"), p("/srv/f"), write(3), s(1)),
        Decision::Quiet
    );
    t.record(p("/srv"), p("/srv/sub"), d, s(1));
    let g = t.get(p("/srv")).unwrap();
    assert_eq!((g.files, g.dirs(), g.kind), (1, 2, Kind::Directory));
    t.gone_below(p("/srv/sub"));
    assert_eq!(t.get(p("/srv")).unwrap().dirs(), 1);
    assert_eq!(t.retain_counted(&mut |x| x != p("/srv")), 0);
    assert_eq!(t.get(p("/srv")).unwrap().dirs(), 0);
    assert_eq!(t.len(), 1, "its file is still lost");
    assert!(t.forget_path(p("/srv/f")));
    assert!(t.is_empty());
}

/// Issue 14.5: one user's 4,200 one-file directories must not take the
/// table; a service's data written afterwards keeps its name, and nothing
/// ever folds into `/`.
#[test]
fn one_user_filling_the_table_leaves_room_for_a_service_and_never_makes_root() {
    let mut t = Table::new(Limits::default(), s(0));
    for i in 0..4200 {
        let g = PathBuf::from(format!("/home/alice/d{i}"));
        let slot = t.slot_of(&g);
        t.record(&slot, &g.join("f"), write(1), s(1));
    }
    let slot = t.slot_of(p("/var/lib/postgresql"));
    t.record(&slot, p("/var/lib/postgresql/db"), write(3 << 20), s(2));
    let pg = t
        .get(p("/var/lib/postgresql"))
        .expect("the service keeps its name");
    assert_eq!(pg.bytes, 3 << 20);
    assert!(t.get(p("/")).is_none(), "nothing folds into /");
    let alice = t
        .get(p("/home/alice"))
        .expect("the excess folds into the user's area");
    let named = t
        .groups()
        .iter()
        .filter(|g| g.path.starts_with("/home/alice") && g.path != p("/home/alice"))
        .count();
    assert_eq!(named, 1024, "an area holds a quarter of the table");
    assert_eq!(alice.files + named as u64, 4200, "every file is counted");
}

/// Issue 14.5: after a restart, groups announced before the crash spend
/// no warning token, so a group first written while the daemon was down
/// is named within the budget.
#[test]
fn groups_announced_before_a_restart_spend_no_budget() {
    let limits = Limits {
        per_minute: 1,
        ..Limits::default()
    };
    let mut t = Table::new(limits, s(0));
    t.set_announced([PathBuf::from("/var/lib/a"), PathBuf::from("/var/lib/b")].into());
    assert_eq!(
        t.record(p("/var/lib/a"), p("/var/lib/a/f"), write(1), s(1)),
        Decision::Quiet
    );
    assert_eq!(
        t.record(p("/var/lib/b"), p("/var/lib/b/f"), write(1), s(1)),
        Decision::Quiet
    );
    assert_eq!(
        t.record(p("/var/lib/new"), p("/var/lib/new/f"), write(1), s(1)),
        Decision::Warn { reminder: false }
    );
    // Their reminders still come after warn_every.
    assert_eq!(
        t.record(p("/var/lib/a"), p("/var/lib/a/g"), write(1), s(700)),
        Decision::Warn { reminder: true }
    );
}

#[test]
fn a_group_counted_again_by_a_walk_is_exact_and_warns_nobody() {
    let mut t = Table::new(Limits::default(), s(0));
    let g = p("/srv/app");
    assert_eq!(
        t.record(g, p("/srv/app/a"), write(10), s(1)),
        Decision::Warn { reminder: false }
    );
    assert_eq!(t.reported_until(g), Some(s(601)));
    t.record(g, p("/srv/app/b"), write(5), s(2));
    // Muted: b was deleted and c written unseen; the walk finds a and c,
    // long after the reminder was due: counted, not warned.
    assert_eq!(t.forget_counts(g), (2, 15));
    t.counting_only = true;
    for (f, n) in [("/srv/app/a", 10), ("/srv/app/c", 7)] {
        assert_eq!(t.record(g, p(f), write(n), s(900)), Decision::Quiet);
    }
    t.counting_only = false;
    assert_eq!(t.counts(g), (2, 17));
    assert_eq!(tracked(&t), 2);
    assert_eq!(t.reported_until(g), Some(s(601)));
    // The next real write is the reminder.
    assert_eq!(
        t.record(g, p("/srv/app/d"), write(1), s(901)),
        Decision::Warn { reminder: true }
    );
    assert_eq!(t.reported_until(g), Some(s(1501)));
}

#[test]
fn a_directory_gone_takes_its_paths_along_and_hashed_ones_are_recounted() {
    let limits = Limits {
        sample_paths: 2,
        ..Limits::default()
    };
    let mut t = Table::new(limits, s(0));
    t.record(p("/srv/r"), p("/srv/r/x/f"), write(8), s(1));
    t.record(p("/srv/big"), p("/srv/big/a/1"), write(1), s(1));
    t.record(p("/srv/big"), p("/srv/big/b/2"), write(2), s(1));
    t.record(p("/srv/big"), p("/srv/big/a/3"), write(4), s(1));
    // Renamed away: the group below it is emptied.
    assert_eq!(
        t.record(p("/srv/r"), p("/srv/r"), Change::GoneDir, s(2)),
        Decision::Quiet
    );
    assert_eq!(t.counts(p("/srv/r")), (0, 0));
    assert!(t.take_recount().is_empty());
    // Inside a group: its samples below go; its hashed path cannot be told
    // apart, so the group is queued for a walk.
    t.gone_below(p("/srv/big/a"));
    assert_eq!(t.counts(p("/srv/big")), (2, 6));
    assert_eq!(t.take_recount(), vec![PathBuf::from("/srv/big")]);
    assert!(t.take_recount().is_empty(), "taken once");
    // A sibling with a common prefix is not below it.
    t.record(p("/srv/r2"), p("/srv/r2/f"), write(3), s(3));
    t.gone_below(p("/srv/r"));
    assert_eq!(t.counts(p("/srv/r2")), (1, 3));
}

#[test]
fn a_retaken_baseline_drops_what_it_adopted() {
    let mut t = Table::new(Limits::default(), s(0));
    t.record(p("/srv/g"), p("/srv/g/adopted"), write(5), s(1));
    t.record(p("/srv/g"), p("/srv/g/new"), write(7), s(1));
    t.record(p("/srv/file1"), p("/srv/file1"), write(2), s(1));
    let dropped = t.retain_counted(&mut |path| path == p("/srv/g/new"));
    assert_eq!(dropped, 2);
    assert_eq!(t.counts(p("/srv/g")), (1, 7));
    assert_eq!(t.len(), 1);
    assert!(t.forget_path(p("/srv/g/new")));
    assert!(!t.forget_path(p("/srv/g/new")));
    assert!(t.is_empty());
}
