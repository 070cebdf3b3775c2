//! Trial s5 leftover: `ln -sfn` makes a temporary link (`CuXXXXXX`) and
//! renames it over the target; the watcher warned about the temporary name
//! too. The class: a name made and renamed away (or deleted) before it is
//! judged holds nothing the reboot could discard; its rename's destination
//! is judged (and warned about) under its own name. A new name's warning
//! waits `judge::SETTLE`, so a temporary renamed away meanwhile is never
//! warned about, also with the watcher keeping up (the first test); in the
//! second the watcher is stopped (SIGSTOP) while the programs run, so every
//! name is judged after it is gone, as on a busy machine.

use super::{says, watch_config, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// Each program's destination, in `/srv` (each its own group).
const TARGETS: [&str; 7] = ["dtarget", "ed", "final", "inst", "lnk", "pyout", "sedf"];

/// Real `ln -sfn` and `sed -i` with the watcher running: only the
/// destinations are warned about (before: 74 and 122 of 200 `ln -sfn`
/// temporaries, inotify and fanotify, were warned about too).
fn live_temporaries_are_not_warned_about(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
for i in $(seq 1 100); do ln -s /etc/a "$R/srv/l$i"; ln -sfn /etc/b "$R/srv/l$i"; done
for i in $(seq 1 20); do echo a > "$R/srv/s$i"; sed -i s/a/b/ "$R/srv/s$i"; done
wait_json 'all(files("/srv/l%d" % i) == 1 for i in range(1, 101)) and all(files("/srv/s%d" % i) == 1 for i in range(1, 21))'
"#;
    let before = format!(
        "{}imp diff --capture-baseline >/dev/null",
        watch_config("max_warnings_per_minute = 10000")
    );
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, &before, body);
    let warned: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(says::UNPERSISTED))
        .collect();
    // `/srv/l12`, `/srv/s3`: a destination, never a temporary (`CuXXXXXX`, `sedXXXXXX`).
    let named = |l: &&str| {
        let n = l
            .split("write to /srv/")
            .nth(1)
            .and_then(|r| r.split([' ', ':']).next());
        n.is_some_and(|n| n.len() > 1 && n[1..].bytes().all(|b| b.is_ascii_digit()))
    };
    let other: Vec<&&str> = warned.iter().filter(|l| !named(l)).collect();
    assert!(other.is_empty(), "{other:#?}");
    assert_eq!(warned.len(), 120, "{err}");
}

#[test]
fn inotify_warns_about_live_temporaries_renamed_away_never() {
    require_root!();
    live_temporaries_are_not_warned_about("inotify");
}

#[test]
fn fanotify_warns_about_live_temporaries_renamed_away_never() {
    require_root!();
    live_temporaries_are_not_warned_about("fanotify");
}

fn temporaries_renamed_away_are_not_warned_about(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
S="$R/srv"; echo src > "$R/tmp/src"
kill -STOP $WP
ln -s /etc/a "$S/lnk"; ln -sfn /etc/b "$S/lnk"
echo a > "$S/sedf"; sed -i s/a/b/ "$S/sedf"
echo x > "$S/part"; mv "$S/part" "$S/final"
python3 -c 'import os, sys, tempfile
f = tempfile.NamedTemporaryFile(dir=sys.argv[1], delete=False); f.write(b"py"); f.close(); os.replace(f.name, sys.argv[1] + "/pyout")' "$S"
echo v1 > "$S/ed"; echo swap > "$S/.ed.swp"; mv "$S/ed" "$S/ed~"; echo v2 > "$S/ed"; rm "$S/ed~" "$S/.ed.swp"
install -m 644 "$R/tmp/src" "$S/inst"
mkdir "$S/.d.new"; echo y > "$S/.d.new/f"; mv "$S/.d.new" "$S/dtarget"
kill -CONT $WP
wait_json 'all(files("/srv/" + t) == 1 for t in ["dtarget", "ed", "final", "inst", "lnk", "pyout", "sedf"])'
"#;
    let args = format!("--backend {backend}");
    let before = "imp diff --capture-baseline >/dev/null";
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, body);
    let warned: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(says::UNPERSISTED))
        .filter_map(|l| {
            let said = l.split("write to ").nth(1);
            let said = said.or_else(|| l.split("directory moved to ").nth(1));
            said?.split([' ', ':']).next()
        })
        .collect();
    let want: Vec<String> = TARGETS.iter().map(|t| format!("/srv/{t}")).collect();
    let mut got: Vec<String> = warned.iter().map(|w| w.to_string()).collect();
    got.sort();
    // A directory's group is warned about with the file that made it one,
    // or as moved in (inotify: its file was caught up, with no event).
    let got: Vec<String> = got
        .into_iter()
        .map(|w| w.trim_end_matches("/f").to_string())
        .collect();
    assert_eq!(got, want, "{err}");
    let summary = err
        .lines()
        .find(|l| l.contains(says::DISCARD))
        .unwrap_or("");
    assert!(summary.contains("7 files"), "{summary}");
}

#[test]
fn inotify_warns_about_destinations_not_temporaries_renamed_away() {
    require_root!();
    temporaries_renamed_away_are_not_warned_about("inotify");
}

#[test]
fn fanotify_warns_about_destinations_not_temporaries_renamed_away() {
    require_root!();
    temporaries_renamed_away_are_not_warned_about("fanotify");
}
