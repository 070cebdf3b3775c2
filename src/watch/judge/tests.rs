use super::*;
use crate::baseline::{Rec, encode};

fn rec_of(host: &Path) -> Rec {
    Rec::from(&crate::sys::meta::stat_path(host).unwrap())
}

/// Write a baseline of `paths` (logical) as they are now.
fn baseline(r: &Path, paths: &[&str]) {
    let mut entries: Vec<(Vec<u8>, Rec)> = paths
        .iter()
        .map(|p| (p.as_bytes().to_vec(), rec_of(&r.join(&p[1..]))))
        .collect();
    std::fs::create_dir_all(r.join("run/impermctl")).unwrap();
    let tmp = r.join("run/impermctl/baseline.tmp");
    std::fs::write(&tmp, encode(1, &mut entries)).unwrap();
    std::fs::rename(tmp, r.join("run/impermctl/baseline")).unwrap();
}

fn tree() -> (tempfile::TempDir, Root) {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    for d in ["etc/ssh", "var/lib/systemd", "var/lib/demo"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join("etc/passwd"), "root:x:0:0\n").unwrap();
    baseline(r, &["/etc", "/etc/ssh", "/etc/passwd", "/var", "/var/lib"]);
    let root = Root::new(Some(r.to_path_buf()), None);
    (t, root)
}

/// Held back (counted, not warned about yet): in which group.
fn held(v: Verdict) -> Option<String> {
    match v {
        Verdict::Hold { place, .. } => Some(place.group.display().to_string()),
        _ => None,
    }
}

fn group_of(v: &Verdict) -> Option<(String, Option<&str>)> {
    match v {
        Verdict::Record { place, consequence } => {
            Some((place.group.display().to_string(), consequence.as_deref()))
        }
        _ => None,
    }
}

#[test]
fn the_catalog_decides_what_is_recorded_and_where() {
    let (t, root) = tree();
    let r = t.path();
    let mut j = Judge::new(&root, vec![PathBuf::from("/persistent")]);
    let mut judge = |p: &str| j.judge(Path::new(p), &r.join(&p[1..]), (false, false, false));
    std::os::unix::fs::symlink("/etc/static/ssh/sshd_config", r.join("etc/ssh/sshd_config"))
        .unwrap();
    assert_eq!(
        judge("/etc/ssh/sshd_config"),
        Verdict::Drop,
        "a link into /etc/static"
    );
    std::fs::write(r.join("etc/ssh/sshd_config.tmp"), "x").unwrap();
    assert_eq!(
        judge("/etc/ssh/sshd_config.tmp"),
        Verdict::Drop,
        "a temporary"
    );
    std::fs::write(r.join("var/lib/systemd/random-seed"), "x").unwrap();
    assert_eq!(judge("/var/lib/systemd/random-seed"), Verdict::Drop);
    std::os::unix::fs::symlink("/persistent/etc/machine-id", r.join("etc/machine-id")).unwrap();
    assert_eq!(
        judge("/etc/machine-id"),
        Verdict::Drop,
        "a link into persistence"
    );
    std::fs::write(r.join("etc/ssh/ssh_host_ed25519_key"), "k").unwrap();
    let v = judge("/etc/ssh/ssh_host_ed25519_key");
    let (g, c) = group_of(&v).unwrap();
    assert_eq!(g, "/etc/ssh/ssh_host_ed25519_key");
    assert!(c.unwrap().contains("changed host key"));
    std::fs::write(r.join("var/lib/demo/db"), "row").unwrap();
    assert_eq!(
        group_of(&judge("/var/lib/demo/db")),
        Some(("/var/lib/demo".into(), None))
    );
}

#[test]
fn rewrites_of_baseline_entries_wait_for_the_new_baseline() {
    let (t, root) = tree();
    let r = t.path();
    let mut j = Judge::new(&root, vec![]);
    j.activation.assumed = Some(true);
    // Activation rewrites /etc/passwd by rename: held.
    std::fs::write(r.join("etc/passwd.tmp"), "root:x:0:0\nalice:x:1000:100\n").unwrap();
    std::fs::rename(r.join("etc/passwd.tmp"), r.join("etc/passwd")).unwrap();
    let host = r.join("etc/passwd");
    assert_eq!(
        held(j.judge(Path::new("/etc/passwd"), &host, (false, false, false))),
        Some("/etc/passwd".into())
    );
    assert!(!j.reload(), "no new baseline yet");
    // `impermctl baseline` at the end of activation adopts it: dropped.
    baseline(r, &["/etc", "/etc/ssh", "/etc/passwd", "/var", "/var/lib"]);
    assert!(j.reload());
    assert_eq!(j.rejudge(Path::new("/etc/passwd"), &host), Verdict::Drop);
    // A `passwd` during activation is not adopted by the baseline
    // retaken at its end: recorded on release.
    std::fs::write(&host, "root:changed\n").unwrap();
    assert_eq!(
        held(j.judge(Path::new("/etc/passwd"), &host, (false, false, false))),
        Some("/etc/passwd".into())
    );
    assert_eq!(
        group_of(&j.rejudge(Path::new("/etc/passwd"), &host)),
        Some(("/etc/passwd".into(), None))
    );
    // Trial s6 finding 1: with no activation running, a rewrite (`sed -i`,
    // `passwd`) is warned about now (a new name settles first), not after
    // HOLD.
    j.activation.assumed = Some(false);
    std::fs::write(&host, "root:again\n").unwrap();
    assert_eq!(
        group_of(&j.judge(Path::new("/etc/passwd"), &host, (false, false, false))),
        Some(("/etc/passwd".into(), None))
    );
}

#[test]
fn what_a_rescan_finds_is_held_and_new_files_live_are_not() {
    let (t, root) = tree();
    let r = t.path();
    let mut j = Judge::new(&root, vec![]);
    std::fs::write(r.join("var/lib/demo/db"), "row").unwrap();
    let host = r.join("var/lib/demo/db");
    let rescanned =
        |j: &mut Judge| j.judge(Path::new("/var/lib/demo/db"), &host, (false, true, false));
    assert!(
        !j.provisional(),
        "no /run/current-system: the baseline is final"
    );
    assert!(matches!(rescanned(&mut j), Verdict::Record { .. }));
    // Activation finished after the baseline: what a rescan finds waits.
    std::os::unix::fs::symlink("/nix/store/x-system", r.join("run/current-system")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(r.join("run/impermctl/baseline"))
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
    assert!(j.reload());
    assert!(j.provisional());
    assert_eq!(held(rescanned(&mut j)), Some("/var/lib/demo".into()));
    assert!(matches!(
        j.judge(Path::new("/var/lib/demo/db"), &host, (false, false, false)),
        Verdict::Record { .. }
    ));
    // A file written into the shared, pre-existing /etc/ssh groups alone.
    std::fs::write(r.join("etc/ssh/moduli"), "m").unwrap();
    assert_eq!(
        group_of(&j.judge(
            Path::new("/etc/ssh/moduli"),
            &r.join("etc/ssh/moduli"),
            (false, false, false)
        )),
        Some(("/etc/ssh/moduli".into(), None))
    );
    assert_eq!(
        j.gone(Path::new("/var/lib/systemd/random-seed")),
        Verdict::Drop
    );
}

#[test]
fn a_directory_may_be_muted_only_when_everything_below_it_is_its_group() {
    let (_t, root) = tree();
    let j = Judge::new(&root, vec![PathBuf::from("/persistent")]);
    // (directory, group) → may be muted?
    let cases = [
        ("/b/d000", "/b", true),
        ("/b", "/b", true),
        ("/srv/app/a/b", "/srv/app", true),
        // Not inside the group.
        ("/srv/other", "/srv/app", false),
        // An important entry names files here (ssh host keys).
        ("/etc/ssh", "/etc/ssh", false),
        // A shared /etc directory: a file directly in it is its own group.
        ("/etc/foo", "/etc/foo", false),
        ("/etc/foo/sub", "/etc/foo", true),
        // /var/lib/acme/** is important: its own group, not /var/lib.
        ("/var/lib", "/var/lib/x", false),
        ("/var/lib/acme/certs", "/var/lib/acme", true),
        ("/var/lib/acme/certs", "/var/lib/other", false),
        // /home/*/** : each user's home is its own group.
        ("/home", "/home/alice", false),
        ("/home/alice/src", "/home/alice", true),
        // /root/.ssh is important: /root may not be muted for /root.
        ("/root", "/root", false),
        ("/root/.cache", "/root", true),
    ];
    for (dir, group, want) in cases {
        assert_eq!(
            j.uniform(Path::new(dir), Path::new(group)),
            want,
            "{dir} for {group}"
        );
    }
}

#[test]
fn a_name_gone_before_it_is_judged_is_dropped_and_its_destination_recorded() {
    let (t, root) = tree();
    let r = t.path();
    let mut j = Judge::new(&root, vec![PathBuf::from("/persistent")]);
    // `ln -sfn`: a temporary link renamed over the target.
    std::os::unix::fs::symlink("/etc/b", r.join("var/lib/demo/CuAbC123")).unwrap();
    std::fs::rename(r.join("var/lib/demo/CuAbC123"), r.join("var/lib/demo/lnk")).unwrap();
    let mut judge = |p: &str, dir| j.judge(Path::new(p), &r.join(&p[1..]), (dir, false, false));
    assert_eq!(judge("/var/lib/demo/CuAbC123", false), Verdict::Drop);
    assert_eq!(judge("/var/lib/demo/gone.d", true), Verdict::Drop);
    assert_eq!(judge("/var/lib/demo/f/below-a-file", false), Verdict::Drop);
    std::fs::write(r.join("var/lib/demo/f"), "x").unwrap();
    assert_eq!(judge("/var/lib/demo/f/below-a-file", false), Verdict::Drop);
    let g = group_of(&judge("/var/lib/demo/lnk", false)).map(|g| g.0);
    assert_eq!(g.as_deref(), Some("/var/lib/demo"));
}

/// A new name is counted at once (held) and warned about once it settled,
/// with its writer; one gone meanwhile (a temporary renamed away) is dropped.
#[test]
fn a_new_name_waits_to_settle_and_a_temporary_renamed_away_is_dropped() {
    let (t, root) = tree();
    let r = t.path();
    let mut j = Judge::new(&root, vec![PathBuf::from("/persistent")]);
    for n in ["CuTmp123", "kept"] {
        std::fs::write(r.join("var/lib/demo").join(n), "x").unwrap();
    }
    let now = Duration::from_secs(100);
    for (n, pid) in [("CuTmp123", Some(7)), ("kept", Some(8))] {
        let (p, host) = (format!("/var/lib/demo/{n}"), r.join("var/lib/demo").join(n));
        let v = j.judge(Path::new(&p), &host, (false, false, true));
        assert_eq!(held(v).as_deref(), Some("/var/lib/demo"), "{n}");
        j.hold(&host, now, pid);
    }
    assert!(j.held.is_empty(), "new names wait SETTLE, not HOLD");
    assert_eq!(j.due(now + SETTLE / 2, false), vec![]);
    std::fs::rename(r.join("var/lib/demo/CuTmp123"), r.join("var/lib/demo/lnk")).unwrap();
    let mut due = j.due(now + SETTLE, false);
    due.sort();
    let tmp = r.join("var/lib/demo/CuTmp123");
    assert_eq!(
        due,
        vec![
            (tmp.clone(), Some(7)),
            (r.join("var/lib/demo/kept"), Some(8))
        ]
    );
    assert_eq!(
        j.rejudge(Path::new("/var/lib/demo/CuTmp123"), &tmp),
        Verdict::Drop
    );
    assert!(j.due(now + HOLD, false).is_empty());
}

/// Trial s8 finding 7: a new name held first without a writer (a new
/// directory's catch-up walk found it) gets the writer of its own event,
/// heard later; a known writer is kept.
#[test]
fn a_settling_name_held_without_a_writer_takes_the_next_events_writer() {
    let (t, root) = tree();
    let r = t.path();
    let mut j = Judge::new(&root, vec![PathBuf::from("/persistent")]);
    let now = Duration::from_secs(100);
    for (n, first, second) in [("a", None, Some(9)), ("b", Some(5), Some(6))] {
        let host = r.join("var/lib/demo").join(n);
        std::fs::write(&host, "x").unwrap();
        let p = format!("/var/lib/demo/{n}");
        let v = j.judge(Path::new(&p), &host, (false, false, true));
        assert_eq!(held(v).as_deref(), Some("/var/lib/demo"), "{n}");
        j.hold(&host, now, first);
        j.hold(&host, now, second);
    }
    let mut due = j.due(now + SETTLE, false);
    due.sort();
    let demo = r.join("var/lib/demo");
    assert_eq!(
        due,
        vec![(demo.join("a"), Some(9)), (demo.join("b"), Some(5))]
    );
}

/// Trial s6 finding 12: inside a declared entry that is not persisted
/// (refused for a config error), a write is recorded in the entry's group
/// even when the baseline has it as it is, never held, and the suggestion
/// is the entry's reason, not a line declaring it again.
#[test]
fn a_declared_entry_that_is_not_persisted_is_lost_whole_with_its_reason() {
    let (t, root) = tree();
    let r = t.path();
    std::fs::write(r.join("var/lib/demo/db"), "x").unwrap();
    baseline(r, &["/var/lib/demo", "/var/lib/demo/db", "/etc/passwd"]);
    let mut j = Judge::new(&root, vec![PathBuf::from("/persistent")]);
    let why = "its entry is refused (c.toml:3:1: path: relative; fix: absolute)";
    j.declare(vec![(PathBuf::from("/var/lib/demo"), false, why.into())]);
    let host = r.join("var/lib/demo/db");
    assert!(!j.as_in_baseline(Path::new("/var/lib/demo/db"), &host));
    assert!(j.as_in_baseline(Path::new("/etc/passwd"), &r.join("etc/passwd")));
    let v = j.judge(Path::new("/var/lib/demo/db"), &host, (false, false, false));
    assert_eq!(group_of(&v), Some(("/var/lib/demo".into(), None)), "{v:?}");
    let s = j.suggestion(
        Path::new("/persistent"),
        Path::new("/var/lib/demo"),
        (crate::config::Kind::Directory, false),
    );
    assert_eq!(
        s,
        format!("/var/lib/demo is already declared, but not persisted: {why}")
    );
    let other = j.suggestion(
        Path::new("/persistent"),
        Path::new("/var/lib/x"),
        (crate::config::Kind::Directory, false),
    );
    assert!(
        other
            .contains("\"/var/lib/x\"  # into environment.persistence.\"/persistent\".directories"),
        "{other}"
    );
    assert!(!j.uniform(Path::new("/var/lib/demo"), Path::new("/var/lib/demo")));
}

/// Trial s8 finding 8: a burst's warnings came out of order (`x2` before
/// `x1`): what settles together is judged again in the order it was held.
#[test]
fn what_settles_together_is_released_in_the_order_it_was_held() {
    let (t, root) = tree();
    let r = t.path();
    let mut j = Judge::new(&root, vec![PathBuf::from("/persistent")]);
    let names = ["x3", "x1", "x2", "x10"];
    for (i, n) in names.iter().enumerate() {
        let host = r.join("var/lib/demo").join(n);
        std::fs::write(&host, "x").unwrap();
        j.judge(
            Path::new(&format!("/var/lib/demo/{n}")),
            &host,
            (false, false, true),
        );
        j.hold(&host, Duration::from_millis(100 + i as u64), None);
    }
    let due: Vec<_> = (j.due(Duration::from_secs(5), false).into_iter())
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(due, names);
}
