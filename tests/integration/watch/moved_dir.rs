//! Trial s8 finding 8: a directory moved in (`mv /srv/g/a /srv/h/a`) was
//! warned about under an arbitrary file of it (`write to /srv/h/a/n251`),
//! and fanotify caught it up twice (at its `FAN_RENAME` and again at its
//! `FAN_MOVED_TO`); the warnings of a burst came out of order (`x2` before
//! `x1`). One warning per group names the move, one catch-up walk per
//! move, and a burst is warned about in the order it was written.

use super::with_watcher;
use crate::require_root;
use crate::util::Layout;

fn moved_in_and_burst(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"mkdir -p "$R/srv/g/a/a2" "$R/srv/h" "$R/tmp/proj/sub"
echo 0 > "$R/srv/g/a/f"; echo 0 > "$R/srv/g/a/a2/f"; echo 0 > "$R/tmp/proj/sub/f"
imp baseline > /dev/null"#;
    let body = r#"
warned() {
  for i in $(seq 300); do [ "$(grep -c 'is not persisted' $OUT/stderr)" -ge "$1" ] && return 0; sleep 0.1; done
  echo "fewer than $1 warnings" >&2; return 1
}
for i in $(seq 20); do echo z > "$R/srv/g/a/n$i"; done
wait_json 'files("/srv/g") == 20'
mv "$R/srv/g/a" "$R/srv/h/a"; mv "$R/tmp/proj" "$R/srv/proj"
wait_json 'files("/srv/h") == 22 and files("/srv/proj") == 1'
warned 3
for k in 1 2 3 4 5 6; do mkdir -p "$R/var/lib/x$k"; sh -c "echo data > $R/var/lib/x$k/db"; done
warned 9
"#;
    let args = format!("--backend {backend} -v");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, body);
    let warns: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("is not persisted"))
        .collect();
    let of = |g: &str| -> Vec<&str> {
        let g = format!(": {g} is not persisted");
        warns.iter().copied().filter(|l| l.contains(&g)).collect()
    };
    for (group, dir) in [("/srv/h", "/srv/h/a"), ("/srv/proj", "/srv/proj")] {
        let w = of(group);
        assert_eq!(w.len(), 1, "{backend}: {group}: {warns:#?}");
        let said = format!("directory moved to {dir}");
        assert!(
            w[0].contains(&format!("{said}:")) || w[0].contains(&format!("{said} by ")),
            "{backend}: {}",
            w[0]
        );
        if backend == "fanotify" {
            let by = [" by mv[", " by a process that had exited (was pid "];
            assert!(by.iter().any(|b| w[0].contains(b)), "{}", w[0]);
        }
        let walks = (err.lines())
            .filter(|l| l.contains("catching up /") && l.ends_with(&format!("/vps{dir}")))
            .count();
        assert_eq!(walks, 1, "{backend}: {dir} caught up {walks} times\n{err}");
    }
    let burst: Vec<&str> = warns
        .iter()
        .filter_map(|l| l.split("write to /var/lib/").nth(1)?.get(..2))
        .collect();
    assert_eq!(
        burst,
        ["x1", "x2", "x3", "x4", "x5", "x6"],
        "{backend}: {warns:#?}"
    );
}

#[test]
fn inotify_warns_a_moved_in_directory_once_as_a_move_and_a_burst_in_order() {
    require_root!();
    moved_in_and_burst("inotify");
}

#[test]
fn fanotify_warns_a_moved_in_directory_once_as_a_move_and_a_burst_in_order() {
    require_root!();
    moved_in_and_burst("fanotify");
}
