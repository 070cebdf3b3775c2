//! `status` on the live root when the watcher holds its D-Bus name but
//! does not answer (trial-s10 F17: stopped here; stuck in a long rescan or
//! swapped out on a VPS). Every D-Bus call has a timeout: `status` falls
//! back to `watch.json` instead of waiting forever. A stopped (`SIGSTOP`)
//! or frozen (`systemctl freeze`) watcher is known at once (trial-s11 F17:
//! `status` waited 5 s for the recount and 5 s more on D-Bus, `diff` 2 s
//! and 5 s): neither waits for it, and `status` says it is stopped.

use super::prelude;
use crate::require_root;
use crate::util::{self, Layout, in_vps};

/// How much longer than with a running watcher `status` or `diff` may
/// take (the old waits were 10 s and 7 s): room for load 15.
const SLACK_MS: u64 = 3000;

#[test]
fn status_answers_from_the_file_at_once_when_the_watcher_on_dbus_is_stopped() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let base = if std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        "/sys/fs/cgroup/unified"
    } else {
        "/sys/fs/cgroup"
    };
    let cg = format!("{base}/impermctl-test-{}-freeze", std::process::id());
    // `status` runs chrooted into $R, so that the root is `/` and it asks
    // the watcher over the (private) system bus; the watcher, outside,
    // watches $R and owns the name. `st NAME CMD…` prints
    // `NAME=EXIT MILLISECONDS`.
    let body = format!(
        r#"{prelude}
CG={cg}
mkdir -p "$R/usr" "$R/opt/imp" "$R/run/dbus" "$R/sys"; mount --bind /usr "$R/usr"
for l in bin lib lib64 sbin; do ln -s "usr/$l" "$R/$l"; done
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --bind /run/dbus "$R/run/dbus"
cp "$IMPERMCTL" "$R/opt/imp/impermctl"
st() {{
  local rc=0 name=$1 t0=$(date +%s%N); shift
  timeout 90 chroot "$R" /opt/imp/impermctl "$@" --config /etc/impermctl/config.toml > "$OUT/$name" 2>&1 || rc=$?
  echo "$name=$rc $(( ($(date +%s%N) - t0) / 1000000 ))"
}}
start_watch --backend inotify
mkdir -p "$R/var/lib/x"; echo 1 > "$R/var/lib/x/y"
wait_json 'files("/var/lib/x") == 1'
st live status
st diff-live diff
kill -STOP $WP
st stopped status
st diff-stopped diff
kill -CONT $WP
if mkdir $CG 2>/dev/null && echo $WP > $CG/cgroup.procs && echo 1 > $CG/cgroup.freeze; then
  for i in $(seq 1200); do grep -qx 'frozen 1' $CG/cgroup.events && break; sleep 0.05; done
  st frozen status
  echo 0 > $CG/cgroup.freeze
fi
stop_watch
rmdir $CG 2>/dev/null || true
st gone status
kill $DP; wait $DP 2>/dev/null || true
st nobus status
"#,
        prelude = prelude(out),
        cg = util::shell_quote(std::path::Path::new(&cg)),
    );
    let o = in_vps(&Layout::default(), &body);
    let _ = std::fs::remove_dir(&cg);
    util::assert_code(&o, 0);
    let stdout = util::stdout(&o);
    let read = |n: &str| std::fs::read_to_string(out.join(n)).unwrap_or_default();
    let result = |n: &str| -> Option<(String, u64)> {
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{n}=")))?;
        let (rc, ms) = line.split_once(' ').unwrap();
        Some((rc.to_owned(), ms.parse().unwrap()))
    };
    let took = |n: &str| result(n).unwrap_or_else(|| panic!("{n}: no result\n{stdout}"));
    // The answer came over D-Bus while the watcher ran.
    let live = read("live");
    assert!(live.contains("(from D-Bus)"), "{live}");
    assert!(live.contains("\n  /var/lib/x "), "{live}");
    let (_, anchor) = took("live");
    let (_, diff_anchor) = took("diff-live");
    let frozen = result("frozen").is_some();
    let stopped: &[&str] = if frozen {
        &["stopped", "frozen"]
    } else {
        &["stopped"]
    };
    for n in stopped {
        let text = read(n);
        let (rc, ms) = took(n);
        assert_ne!(
            rc, "124",
            "{n}: status hung (killed after {ms} ms):\n{text}"
        );
        assert!(
            ms <= anchor + SLACK_MS,
            "{n}: {ms} ms, running: {anchor} ms\n{text}"
        );
        assert!(
            text.contains("watcher: inotify STOPPED (pid ")
                && text.contains("last recorded in /run/impermctl/watch.json")
                && text.contains(": 1 unpersisted group"),
            "{n}: {text}"
        );
    }
    let (rc, ms) = took("diff-stopped");
    let diff = read("diff-stopped");
    assert_ne!(rc, "124", "diff hung:\n{diff}");
    assert!(
        ms <= diff_anchor + SLACK_MS,
        "diff: {ms} ms, running: {diff_anchor} ms\n{diff}"
    );
    assert!(diff.contains("/var/lib/x"), "{diff}");
    // Gone (the unit stopped), then no bus either: said at once too.
    for n in ["gone", "nobus"] {
        let text = read(n);
        let (_, ms) = took(n);
        assert!(
            ms <= anchor + SLACK_MS,
            "{n}: {ms} ms, running: {anchor} ms\n{text}"
        );
        assert!(text.contains("watcher: inotify NOT RUNNING"), "{n}: {text}");
    }
}
