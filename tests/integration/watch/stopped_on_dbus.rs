//! `status` on the live root when the watcher holds its D-Bus name but
//! does not answer (trial-s10 F17: stopped here; stuck in a long rescan or
//! swapped out on a VPS). Every D-Bus call has a timeout: `status` falls
//! back to `watch.json` and says its counts are the watcher's last
//! recount, as it does without D-Bus, instead of waiting forever.

use super::prelude;
use crate::require_root;
use crate::util::{self, Layout, in_vps};

#[test]
fn status_answers_from_the_file_when_the_watcher_on_dbus_is_stopped() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    // `status` runs chrooted into $R, so that the root is `/` and it asks
    // the watcher over the (private) system bus; the watcher, outside,
    // watches $R and owns the name.
    let body = format!(
        r#"{prelude}
mkdir -p "$R/usr" "$R/opt/imp" "$R/run/dbus"; mount --bind /usr "$R/usr"
for l in bin lib lib64 sbin; do ln -s "usr/$l" "$R/$l"; done
mount -t proc proc "$R/proc"
mount --bind /run/dbus "$R/run/dbus"
cp "$IMPERMCTL" "$R/opt/imp/impermctl"
st() {{
  local rc=0 t0=$(date +%s)
  timeout 90 chroot "$R" /opt/imp/impermctl status --config /etc/impermctl/config.toml > "$OUT/$1" 2>&1 || rc=$?
  echo "$1=$rc $(( $(date +%s) - t0 ))"
}}
start_watch --backend inotify
mkdir -p "$R/var/lib/x"; echo 1 > "$R/var/lib/x/y"
wait_json 'files("/var/lib/x") == 1'
st live
kill -STOP $WP
st stopped
kill -CONT $WP
stop_watch
"#,
        prelude = prelude(out),
    );
    let o = in_vps(&Layout::default(), &body);
    util::assert_code(&o, 0);
    let stdout = util::stdout(&o);
    let read = |n: &str| std::fs::read_to_string(out.join(n)).unwrap_or_default();
    let code = |n: &str| {
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{n}=")));
        line.unwrap_or_else(|| panic!("{n}: no result\n{stdout}"))
            .to_owned()
    };
    // The answer came over D-Bus while the watcher ran.
    let live = read("live");
    assert!(live.contains("(from D-Bus)"), "{}\n{live}", code("live"));
    assert!(live.contains("\n  /var/lib/x "), "{live}");
    // Stopped: an answer from the file, saying how current it is.
    let stopped = read("stopped");
    let (rc, secs) = code("stopped")
        .split_once(' ')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    assert_ne!(rc, "124", "status hung (killed after {secs} s):\n{stopped}");
    assert!(
        stopped.contains("(from /run/impermctl/watch.json")
            && stopped.contains("counts as of the watcher's last recount"),
        "{stopped}"
    );
    assert!(stopped.contains("\n  /var/lib/x "), "{stopped}");
}
