//! fanotify's directory marks under load (found by a user trial): what the mark budget
//! counts, bursts of new directories, directories deeper than `PATH_MAX`,
//! and who a write is attributed to.

use super::marks::run;
use super::{group, watch_config};
use crate::require_root;

/// A 67-directory tree renamed away and back 5 times with a budget of 200
/// marks: every round trip marks its directories again, but they are the
/// same 67 directories, so the watcher keeps its content marks (no
/// fall-back), and an in-place write deep in the tree is heard. Trial s8
/// finding 2: the budget counted every re-mark and fell back for good after
/// one or two round trips, saying "more than 200 directories".
#[test]
fn fanotify_budget_counts_directories_not_re_marks_of_a_tree_moved_back_and_forth() {
    require_root!();
    let before = format!(
        "export IMPERMCTL_FANOTIFY_MARKS=200\n\
         for i in 1 2 3 4 5 6; do for j in $(seq 10); do mkdir -p \"$R/srv/t/d$i/e$j\"; done; done\n\
         printf 12 > \"$R/srv/t/d6/e10/f\"\n{}",
        watch_config("")
    );
    let body = r#"
wait_marked
for k in 1 2 3 4 5; do mv "$R/srv/t" "$R/srv/t2"; mv "$R/srv/t2" "$R/srv/t"; done
printf 345 >> "$R/srv/t/d6/e10/f"
wait_json "$(bytes /srv/t 5)"
"#;
    let (err, w) = run(&before, body);
    assert!(
        !err.contains("are not marked one by one"),
        "fell back to the filesystem mark\n{err}"
    );
    assert_eq!(group(&w, "/srv/t").unwrap()["bytes"], 5, "{w}");
}

/// Past the budget for real, the fall-back names the count and the budget
/// (3 marks for a tree of 8 directories, the walk stops: "more than 3
/// directories, the budget (half of fs.fanotify.max_user_marks, …)"); and
/// when the budget is spent by directories marked later (budget 40, then
/// 60 directories made), the kernel's count is named.
#[test]
fn fanotify_the_budget_fall_back_names_its_cause() {
    require_root!();
    let before = format!("export IMPERMCTL_FANOTIFY_MARKS=40\n{}", watch_config(""));
    let body = r#"
wait_marked
for i in $(seq 60); do mkdir -p "$R/srv/many/d$i"; done
wait_log 'directories are marked, the budget is 40 (half of fs.fanotify.max_user_marks'
printf 1 > "$R/srv/many/d60/f"
wait_json "$(bytes /srv/many 1)"
"#;
    let (err, _) = run(&before, body);
    assert_eq!(err.matches("are not marked one by one").count(), 1, "{err}");
}

/// Shell: `deepw DIR NAME TEXT` appends TEXT to the file NAME at the
/// bottom of the `mkdeep` chain under DIR, fd-relatively (its path is
/// longer than `PATH_MAX`).
const DEEPW: &str = r#"
deepw() { python3 - "$@" <<'PY'
import os, sys
fd = os.open(sys.argv[1] + "/deep", os.O_RDONLY | os.O_DIRECTORY)
while True:
    ds = [x for x in os.listdir(fd) if x.endswith("d" * 247)]
    if not ds: break
    n = os.open(ds[0], os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd); os.close(fd); fd = n
f = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644, dir_fd=fd)
os.write(f, sys.argv[3].encode()); os.close(f)
PY
}
"#;

/// Writes in a directory deeper than `PATH_MAX` (20 levels of 250-byte
/// names) that existed at start: 30 appends to its file and a new file
/// there are counted with their sizes, and they cost no rescan (the
/// directory's handle is resolved upwards, `..` by `..`). Trial s8
/// finding 4: each such write was handled as a queue overflow, a rescan
/// of the whole root counted and worded as one.
#[test]
fn fanotify_writes_below_path_max_depth_are_resolved_without_a_rescan() {
    require_root!();
    let before = format!("mkdeep \"$R/srv\" 20 f 10\n{}", watch_config(""));
    let body = format!(
        r#"{DEEPW}
wait_marked
for i in $(seq 30); do deepw "$R/srv" f 1; done
deepw "$R/srv" g 12345
wait_json "$(bytes /srv/deep 45) and files('/srv/deep') == 2"
"#
    );
    let (err, w) = run(&before, &body);
    for bad in ["overflowed", "rescan after", "cannot be resolved"] {
        assert!(!err.contains(bad), "{bad}\n{err}");
    }
    let g = group(&w, "/srv/deep").unwrap_or_else(|| panic!("{w}\n{err}"));
    assert_eq!(
        (g["files"].as_u64(), g["bytes"].as_u64()),
        (Some(2), Some(45)),
        "{w}"
    );
}

/// The number in the shutdown line "…; N directories muted".
pub(super) fn muted(err: &str) -> u64 {
    err.lines()
        .find_map(|l| {
            let (head, _) = l.split_once(" directories muted")?;
            head.rsplit(' ').next()?.replace(',', "").parse().ok()
        })
        .unwrap_or_else(|| panic!("no muted count in the log:\n{err}"))
}

/// `cp -a` of a 1,050-directory tree (50 × 20, a file in each) into a
/// group already reported: every file is counted, and the shutdown line
/// counts the directories muted (about 1,050), not the ignore marks
/// placed. Trial s8 finding 15: each new directory was muted again by its
/// parent's mute, its own mkdir, its parent's catch-up walk and the walk
/// of the freshly muted parent: "231,884 directories muted" for 40,401.
#[test]
fn fanotify_a_copied_tree_is_muted_once_per_directory_and_fully_counted() {
    require_root!();
    let before = format!(
        "for i in $(seq 50); do for j in $(seq 20); do mkdir -p \"$R/tmp/src/d$i/s$j\"; echo 0 > \"$R/tmp/src/d$i/s$j/f\"; done; done\n{}",
        watch_config("")
    );
    let body = r#"
wait_marked
mkdir -p "$R/srv/app"
echo first > "$R/srv/app/f0"
wait_log '/srv/app is not persisted'
cp -a "$R/tmp/src" "$R/srv/app/dst"
wait_json 'files("/srv/app") == 1001'
"#;
    let (err, w) = run(&before, body);
    assert_eq!(group(&w, "/srv/app").unwrap()["files"], 1001, "{w}");
    let n = muted(&err);
    assert!(n <= 1_100, "{n} directories muted for 1,052\n{err}");
}
