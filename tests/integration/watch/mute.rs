//! Muting (`watch::mute`): writes into `watch.ignore` directories and into
//! groups already reported stop costing kernel events (fanotify ignore
//! marks, inotify watches removed), while every other group is still seen
//! live; muted groups are counted by a walk; a directory moved out of a
//! muted place is heard again; events return when a reminder is due.

use super::{group, says, watch_config, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// Run `body` with a watcher on `backend` whose `[watch]` table is `cfg`.
/// Returns the stderr and the number of events the daemon read from the
/// kernel.
fn muting(out: &std::path::Path, backend: &str, cfg: &str, body: &str) -> (String, u64) {
    let args = format!("--backend {backend}");
    let err = with_watcher(out, &Layout::default(), &args, &watch_config(cfg), body);
    let events = err
        .lines()
        .find_map(|l| {
            // "1,026 events read from the kernel" (or "1 event read …").
            let (n, _) = l
                .split_once(" events read from the kernel")
                .or_else(|| l.split_once(" event read from the kernel"))?;
            n.rsplit(' ').next()?.replace(',', "").parse().ok()
        })
        .unwrap_or_else(|| panic!("no event count in the log:\n{err}"));
    (err, events)
}

/// 3,000 files into a reported group and 3,000 writes into `/tmp` cost
/// (almost) no events (a new name in `/tmp` costs one: the watcher checks
/// it for hard links, `watch::ignored`; here 100 names), while 30 new groups written in between, a sibling of the
/// ignored directory and a file beside the muted group are all seen.
fn quiet_where_reported_or_ignored(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
mkdir -p "$R/var/lib/app/a" "$R/tmp/build/x"
echo first > "$R/var/lib/app/a/f0"
wait_json 'files("/var/lib/app") == 1'
for i in $(seq 3000); do
  echo x > "$R/var/lib/app/a/f$i"; echo y > "$R/tmp/build/x/f$((i % 100))"
  if [ $((i % 100)) = 0 ]; then
    mkdir -p "$R/srv/g$i"; echo z > "$R/srv/g$i/f"; echo w > "$R/var/lib/side$i"
  fi
  [ $i = 1500 ] && mkdir "$R/var/lib/app/later" "$R/tmpx"
  [ $i -gt 1500 ] && echo v > "$R/var/lib/app/later/f$i"
  # Let the watcher catch up once each directory is hot, so what is
  # measured is muting, not how far a loaded machine lets the writer run
  # ahead of the watcher (the kernel queues events until it mutes).
  [ $i = 100 ] && wait_json 'files("/var/lib/app") == 101'
  [ $i = 1600 ] && wait_json 'files("/var/lib/app") == 1701'
done
echo s > "$R/tmpx/sibling"
wait_json 'files("/var/lib/app") == 4501 and all(files(f"/srv/g{i}") == 1 and files(f"/var/lib/side{i}") == 1 for i in range(100, 3001, 100)) and files("/tmpx") == 1'
"#;
    let (err, events) = muting(tmp.path(), backend, "", body);
    let w = watch_json(tmp.path());
    assert_eq!(group(&w, "/var/lib/app").unwrap()["files"], 4501, "{w}");
    assert!(
        !w["groups"].to_string().contains("/tmp/"),
        "ignored paths reported: {w}"
    );
    for i in (100..=3000).step_by(100) {
        assert_eq!(group(&w, &format!("/srv/g{i}")).unwrap()["files"], 1, "{w}");
    }
    // Unmuted, the 7,500 files cost at least one event each.
    assert!(events < 1500, "{events} events read\n{err}");
}

#[test]
fn fanotify_ignore_marks_silence_reported_groups_and_ignored_dirs_but_no_other_group() {
    require_root!();
    quiet_where_reported_or_ignored("fanotify");
}

#[test]
fn inotify_unwatches_reported_groups_but_no_other_group() {
    require_root!();
    quiet_where_reported_or_ignored("inotify");
}

/// A burst of new directories in `/tmp` (`tar x`, a build tree): once the
/// directory they are made in is hot (32 names), each further one costs
/// its own `mkdir` event only — muted at once (fanotify) or not watched
/// (inotify), since `diff` walks that directory whole — instead of the 32
/// names every new directory was heard for (100 directories × 40 files:
/// 3,300 events before). A group written after the burst is still seen.
fn a_burst_of_new_directories_in_tmp_costs_one_event_each(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
mkdir "$R/tmp/x"
for d in $(seq 100); do mkdir "$R/tmp/x/d$d"; done
# Events are read in order: once this file is counted, every mkdir above
# was handled, so what follows measures muting, not a loaded machine.
echo a > "$R/srv/mark1"
wait_json 'files("/srv/mark1") == 1'
for d in $(seq 100); do for f in $(seq 40); do echo $f > "$R/tmp/x/d$d/f$f"; done; done
echo b > "$R/srv/mark2"
wait_json 'files("/srv/mark2") == 1'
"#;
    let (err, events) = muting(tmp.path(), backend, "", body);
    let w = watch_json(tmp.path());
    assert!(
        !w["groups"].to_string().contains("/tmp"),
        "ignored paths reported: {w}"
    );
    // 32 names in each of the first 32 directories, one event per mkdir.
    assert!(events < 2200, "{events} events read\n{err}");
}

#[test]
fn fanotify_mutes_a_directory_made_in_a_hot_ignored_one_at_once() {
    require_root!();
    a_burst_of_new_directories_in_tmp_costs_one_event_each("fanotify");
}

#[test]
fn inotify_does_not_watch_a_directory_made_in_a_hot_ignored_one() {
    require_root!();
    a_burst_of_new_directories_in_tmp_costs_one_event_each("inotify");
}

/// With the reminder interval at 2 s, a reminder is logged for a muted
/// group written again after it: its events came back.
fn events_return_when_the_reminder_is_due(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"
mkdir -p "$R/srv/app/d"
echo first > "$R/srv/app/d/f0"
wait_json 'files("/srv/app") == 1'
for i in $(seq 200); do echo x > "$R/srv/app/d/m$i"; done
n=0
for i in $(seq 300); do
  n=$i; echo y > "$R/srv/app/d/r$i"
  [ "$(grep -c '{unpersisted}' $OUT/stderr)" -ge 2 ] && break
  sleep 0.1
done
echo "$n" > $OUT/reminder-after
wait_json "files('/srv/app') == 201 + $n"
"#,
        unpersisted = says::UNPERSISTED,
    );
    let (err, _) = muting(tmp.path(), backend, "warn_every = 2", &body);
    assert_eq!(err.matches(says::UNPERSISTED).count(), 2, "{err}");
    let n: u64 = std::fs::read_to_string(tmp.path().join("reminder-after"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(n < 300, "no reminder within 30 s\n{err}");
    let w = watch_json(tmp.path());
    assert_eq!(group(&w, "/srv/app").unwrap()["files"], 201 + n, "{w}");
}

#[test]
fn fanotify_events_in_a_reported_group_return_when_its_reminder_is_due() {
    require_root!();
    events_return_when_the_reminder_is_due("fanotify");
}

#[test]
fn inotify_events_in_a_reported_group_return_when_its_reminder_is_due() {
    require_root!();
    events_return_when_the_reminder_is_due("inotify");
}

/// Directories moved out of `/tmp` and out of a muted group into groups
/// the budget keeps unreported (so never muted, never refreshed): a write
/// after the move is counted, which only a live event can do.
fn moved_out_of_muted_places_is_heard(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
mkdir -p "$R/var/lib/app/a/sub" "$R/tmp/build/sub"
echo first > "$R/var/lib/app/f0"
wait_json 'files("/var/lib/app") == 1'
for i in $(seq 50); do echo x > "$R/var/lib/app/a/sub/f$i"; echo y > "$R/tmp/build/sub/f$i"; done
wait_json 'files("/var/lib/app") == 51'
mv "$R/tmp/build" "$R/srv/kept"; mv "$R/var/lib/app/a" "$R/srv/kept2"
wait_json 'files("/srv/kept") == 50 and files("/srv/kept2") == 50'
echo late > "$R/srv/kept/sub/late"; echo late > "$R/srv/kept2/sub/late"
wait_json 'files("/srv/kept") == 51 and files("/srv/kept2") == 51'
"#;
    let (err, _) = muting(tmp.path(), backend, "max_warnings_per_minute = 1", body);
    assert_eq!(err.matches(says::UNPERSISTED).count(), 1, "{err}");
    let w = watch_json(tmp.path());
    for g in ["/srv/kept", "/srv/kept2"] {
        let g = group(&w, g).unwrap_or_else(|| panic!("{g}: {w}"));
        assert_eq!(g["files"], 51, "{w}");
        assert!(g["paths"].to_string().contains("sub/late"), "{w}");
    }
    assert_eq!(group(&w, "/var/lib/app").unwrap()["files"], 1, "{w}");
}

#[test]
fn fanotify_directories_moved_out_of_muted_places_are_heard_again() {
    require_root!();
    moved_out_of_muted_places_is_heard("fanotify");
}

#[test]
fn inotify_directories_moved_out_of_muted_places_are_heard_again() {
    require_root!();
    moved_out_of_muted_places_is_heard("inotify");
}
