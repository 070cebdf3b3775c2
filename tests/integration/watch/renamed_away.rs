//! Trial s5 leftover: `ln -sfn` makes a temporary link (`CuXXXXXX`) and
//! renames it over the target; the watcher warned about the temporary name
//! too. The class: a name made and renamed away (or deleted) before it is
//! judged holds nothing the reboot could discard; its rename's destination
//! is judged (and warned about) under its own name. The watcher is stopped
//! (SIGSTOP) while the programs run, so every name is judged after it is
//! gone, as on a busy machine; then it catches up.

use super::{says, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// Each program's destination, in `/srv` (each its own group).
const TARGETS: [&str; 7] = ["dtarget", "ed", "final", "inst", "lnk", "pyout", "sedf"];

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
        .filter_map(|l| l.split("write to ").nth(1)?.split([' ', ':']).next())
        .collect();
    let want: Vec<String> = TARGETS.iter().map(|t| format!("/srv/{t}")).collect();
    let mut got: Vec<String> = warned.iter().map(|w| w.to_string()).collect();
    got.sort();
    // A directory's group is warned about with the file that made it one.
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
