//! fanotify's content events come from a mark on every watched directory
//! (`watch::fanotify::marks`), placed by a walk after start, on each
//! directory made or moved in, and by rescans; the filesystem mark keeps
//! directory-entry events only. In-place writes to files that were there
//! before are what only content events can tell (a new file's creation is
//! heard anyway): each test below writes into existing files after the
//! hand-over and waits for the new size, which no other event brings.

use super::{group, watch_config, watch_json, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// Shell: `wait_log TEXT` polls the watcher's stderr for TEXT (deadline
/// 60 s); `wait_marked` waits for the hand-over to the directories' marks.
pub(super) const WAIT_LOG: &str = r#"
wait_log() {
  for i in $(seq 300); do grep -q "$1" $OUT/stderr && return 0; sleep 0.2; done
  echo "timed out waiting for the log to say: $1" >&2; cat $OUT/stderr >&2; return 1
}
wait_marked() { wait_log 'content events come from their marks'; }
bytes() { echo "g.get('$1', {}).get('bytes') == $2"; }
"#;

/// The number in the shutdown line "N events read from the kernel".
pub(super) fn events_read(err: &str) -> u64 {
    err.lines()
        .find_map(|l| {
            let (n, _) = l
                .split_once(" events read from the kernel")
                .or_else(|| l.split_once(" event read from the kernel"))?;
            n.rsplit(' ').next()?.replace(',', "").parse().ok()
        })
        .unwrap_or_else(|| panic!("no event count in the log:\n{err}"))
}

pub(super) fn run(before: &str, body: &str) -> (String, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!("{WAIT_LOG}\n{body}");
    let err = with_watcher(
        tmp.path(),
        &Layout::default(),
        "--backend fanotify",
        before,
        &body,
    );
    (err, watch_json(tmp.path()))
}

/// A file that existed at start, deep in a tree that existed at start, is
/// appended to after the hand-over: heard (its new size). The same for a
/// directory made after start and for a tree moved in from `/tmp`
/// (ignored: never marked until it arrives).
#[test]
fn fanotify_in_place_writes_are_heard_in_old_new_and_moved_in_directories() {
    require_root!();
    let before = format!(
        "mkdir -p \"$R/srv/old/a/b\" \"$R/tmp/stage/sub\"\n\
         printf 12345 > \"$R/srv/old/a/b/f\"\n{}",
        watch_config("")
    );
    let body = r#"
wait_marked
printf 67890 >> "$R/srv/old/a/b/f"
wait_json "$(bytes /srv/old 10)"
mkdir -p "$R/srv/new/d"
printf 1 > "$R/srv/new/d/g"
wait_json "$(bytes /srv/new 1)"
printf 234 >> "$R/srv/new/d/g"
wait_json "$(bytes /srv/new 4)"
printf abc > "$R/tmp/stage/sub/h"
mv "$R/tmp/stage" "$R/srv/moved"
wait_json "$(bytes /srv/moved 3)"
printf defg >> "$R/srv/moved/sub/h"
wait_json "$(bytes /srv/moved 7)"
"#;
    let (err, w) = run(&before, body);
    for (g, files, bytes) in [
        ("/srv/old", 1, 10),
        ("/srv/new", 1, 4),
        ("/srv/moved", 1, 7),
    ] {
        let g = group(&w, g).unwrap_or_else(|| panic!("{g}: {w}\n{err}"));
        assert_eq!(
            (g["files"].as_u64(), g["bytes"].as_u64()),
            (Some(files), Some(bytes)),
            "{w}"
        );
    }
}

/// While the watcher is stopped, a directory is made and 200 files are
/// written into it: its mark lands after all of them. Every file is
/// counted with its size (their creations were heard, and the directory
/// is caught up when marked), and appends after that are heard.
#[test]
fn fanotify_files_made_before_a_new_directory_is_marked_are_all_counted() {
    require_root!();
    let body = r#"
wait_marked
echo first > "$R/srv/first"
wait_json 'files("/srv/first") == 1'
kill -STOP $WP
mkdir "$R/srv/burst"
for i in $(seq 200); do printf 12 > "$R/srv/burst/f$i"; done
kill -CONT $WP
wait_json "files('/srv/burst') == 200 and $(bytes /srv/burst 400)"
for i in $(seq 200); do printf 3 >> "$R/srv/burst/f$i"; done
wait_json "$(bytes /srv/burst 600)"
"#;
    let (err, w) = run(&watch_config(""), body);
    let g = group(&w, "/srv/burst").unwrap_or_else(|| panic!("{w}\n{err}"));
    assert_eq!(
        (g["files"].as_u64(), g["bytes"].as_u64()),
        (Some(200), Some(600)),
        "{w}"
    );
}

/// After the hand-over, 2,000 rewrites of files that were in `/tmp` at
/// start and 2,000 into a reported, muted directory cost no event: those
/// directories carry no content mark (and their ignore marks drop their
/// directory-entry events). A group written in between is still heard.
#[test]
fn fanotify_rewrites_in_ignored_and_muted_directories_cost_no_event() {
    require_root!();
    let before = format!(
        "mkdir -p \"$R/tmp/x\" \"$R/srv/app/d\" \"$R/srv/other\"\n\
         for i in $(seq 100); do echo a > \"$R/tmp/x/f$i\"; echo a > \"$R/srv/app/d/f$i\"; done\n\
         echo a > \"$R/srv/other/o\"\n{}",
        watch_config("")
    );
    let body = r#"
wait_marked
# Reported at once, muted once hot (32 events from the directory).
for i in $(seq 100); do echo b > "$R/srv/app/d/f$i"; done
wait_json 'files("/srv/app") == 100'
for round in $(seq 20); do
  for i in $(seq 100); do echo c > "$R/tmp/x/f$i"; echo c > "$R/srv/app/d/f$i"; done
done
printf 123 >> "$R/srv/other/o"
wait_json "$(bytes /srv/other 5)"
"#;
    let (err, w) = run(&before, body);
    assert!(
        !w["groups"].to_string().contains("/tmp"),
        "ignored paths reported: {w}"
    );
    assert_eq!(group(&w, "/srv/app").unwrap()["files"], 100, "{w}");
    // Before muting: up to ~3 events per write of the first 100 files.
    let events = events_read(&err);
    assert!(
        events < 600,
        "{events} events read for 4,000 muted rewrites\n{err}"
    );
}

/// Past the mark budget (`IMPERMCTL_FANOTIFY_MARKS`, here 3 directories for
/// a tree of 8) the watcher says so once and the filesystem mark keeps the
/// content events: an in-place write deep in the tree is heard, and so is
/// one in a directory made later.
#[test]
fn fanotify_past_the_mark_budget_falls_back_to_the_filesystem_mark_and_misses_nothing() {
    require_root!();
    let before = format!(
        "export IMPERMCTL_FANOTIFY_MARKS=3\n\
         mkdir -p \"$R/srv/deep/a/b/c\"\n\
         printf 12 > \"$R/srv/deep/a/b/c/f\"\n{}",
        watch_config("")
    );
    let body = r#"
wait_log 'directories are not marked one by one (more than 3 directories, the budget (half of fs.fanotify.max_user_marks'
printf 345 >> "$R/srv/deep/a/b/c/f"
wait_json "$(bytes /srv/deep 5)"
mkdir -p "$R/srv/later/x"
printf 1 > "$R/srv/later/x/g"
wait_json "$(bytes /srv/later 1)"
printf 23 >> "$R/srv/later/x/g"
wait_json "$(bytes /srv/later 3)"
"#;
    let (err, _) = run(&before, body);
    assert_eq!(
        err.matches("are not marked one by one").count(),
        1,
        "said once\n{err}"
    );
    assert!(
        !err.contains("content events come from their marks"),
        "{err}"
    );
}

/// A tree deeper than `PATH_MAX` made in `/tmp` and moved into `/var/lib`:
/// the watcher walks it (and marks it) and counts its file, whose warning
/// waits for the name to settle; judged again then by its long path (the
/// judge looked at it with a `PATH_MAX`-bound `lstat` and dropped it).
#[test]
fn fanotify_a_tree_deeper_than_path_max_moved_in_is_counted() {
    require_root!();
    let body = r#"
wait_marked
mkdeep "$R/tmp" 20 big 4096
mv "$R/tmp/deep" "$R/var/lib/deep"
wait_json "files('/var/lib/deep') == 1 and $(bytes /var/lib/deep 4096)"
"#;
    let (err, w) = run(&watch_config(""), body);
    let g = group(&w, "/var/lib/deep").unwrap_or_else(|| panic!("{w}\n{err}"));
    assert_eq!(g["files"], 1, "{w}");
}

/// Directories made in a group already reported are muted at once (`diff`
/// walks a new directory whole anyway): 20 directories × 50 new files cost
/// about one event per directory, not the 32 a directory delivers before
/// it is hot; the group's walks count every file.
#[test]
fn fanotify_directories_made_in_a_reported_group_are_muted_at_once() {
    require_root!();
    let body = r#"
wait_marked
mkdir -p "$R/srv/app"
echo first > "$R/srv/app/f0"
# Reported: warned (a new name's warning waits for it to settle).
wait_log '/srv/app is not persisted'
for d in $(seq 20); do mkdir "$R/srv/app/d$d"; done
# One queue, read in order: once a later write elsewhere is counted, every
# mkdir before it was heard (a loaded watcher may lag the writer; files
# written before it hears their directory's mkdir are rightly heard).
mkdir -p "$R/var/lib/sentinel"
echo x > "$R/var/lib/sentinel/f"
wait_json 'files("/var/lib/sentinel") == 1'
for d in $(seq 20); do
  for i in $(seq 50); do echo x > "$R/srv/app/d$d/f$i"; done
done
wait_json 'files("/srv/app") == 1001'
"#;
    let (err, w) = run(&watch_config(""), body);
    assert_eq!(group(&w, "/srv/app").unwrap()["files"], 1001, "{w}");
    let events = events_read(&err);
    assert!(
        events < 300,
        "{events} events read for 20 new directories\n{err}"
    );
}
