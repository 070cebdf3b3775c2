//! `impermctl watch` against a real journald and a real dbus-daemon, in a
//! private mount namespace over a vpsFree-like layout (see `util::in_vps`).

use std::collections::HashMap;

use serde_json::Value;

use crate::require_root;
use crate::util::{self, Layout, in_vps, shell_quote};

const UNPERSISTED: &str = "5b1c89b3707540a98f833fa5a79113ce";
const DISCARD: &str = "a9c923c46d0f482cb15ae6e3144b5ad2";
const OVERFLOW: &str = "5f9b7bb70ea149768c6b022b9cfb8e71";
const STARTED: &str = "c7e3ddc2bd944583849b0685244fe761";

/// Shell prelude: tmpfs over /run, a standalone journald, a private system
/// bus whose config includes the shipped policy, and `start_watch ARGS`
/// (sets `$WP`, waits for watch.json). `$OUT` collects artefacts.
fn prelude(out: &std::path::Path) -> String {
    let policy = util::repo().join("systemd/io.github.Impermctl1.conf");
    format!(
        r#"OUT={out}
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal /run/log /run/dbus
/lib/systemd/systemd-journald & JP=$!
cat > /run/dbus/test.conf <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>{policy}</include>
</busconfig>
XML
dbus-daemon --config-file=/run/dbus/test.conf --nofork --nopidfile 2>/dev/null & DP=$!
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && [ -S /run/dbus/system_bus_socket ] && break; sleep 0.05; done
WP=
cleanup() {{ kill $WP $JP $DP 2>/dev/null || true; }}
trap cleanup EXIT
start_watch() {{
  IMPERMCTL_LOG=journal "$IMPERMCTL" --root "$R" --config "$CFG" watch --json-every 0.2 "$@" 2>$OUT/stderr & WP=$!
  for i in $(seq 200); do [ -s "$R/run/impermctl/watch.json" ] && return 0; sleep 0.05; done
  echo "watcher did not start"; cat $OUT/stderr; return 1
}}
stop_watch() {{
  kill -TERM $WP; wait $WP || echo "watcher exit $?" >> $OUT/stderr
  cp "$R/run/impermctl/watch.json" $OUT/watch.json
  sleep 0.3
  journalctl -D /run/log/journal -o json --no-pager -t impermctl > $OUT/journal.json
}}
"#,
        out = shell_quote(out),
        policy = policy.display(),
    )
}

fn journal(out: &std::path::Path) -> Vec<HashMap<String, Value>> {
    let text = std::fs::read_to_string(out.join("journal.json")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn field<'a>(e: &'a HashMap<String, Value>, k: &str) -> Option<&'a str> {
    e.get(k).and_then(Value::as_str)
}

fn with_id<'a>(j: &'a [HashMap<String, Value>], id: &str) -> Vec<&'a HashMap<String, Value>> {
    j.iter()
        .filter(|e| field(e, "MESSAGE_ID") == Some(id))
        .collect()
}

fn watch_json(out: &std::path::Path) -> Value {
    let t = std::fs::read_to_string(out.join("watch.json")).expect("watch.json");
    serde_json::from_str(&t).unwrap()
}

fn group<'a>(w: &'a Value, path: &str) -> Option<&'a Value> {
    w["groups"].as_array()?.iter().find(|g| g["path"] == path)
}

fn journal_and_dbus(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let cg = format!(
        "/sys/fs/cgroup/unified/impermctl-test-{}-{backend}.service",
        std::process::id()
    );
    let body = format!(
        r#"{prelude}
CG={cg}
mkdir -p "$R/persistent/kept" "$R/var/lib/kept" "$R/srv"
mount --bind "$R/persistent/kept" "$R/var/lib/kept"
mkdir -p "$R/var/lib/demo"
dbus-monitor --system "type='signal',interface='io.github.Impermctl1.Watcher'" > $OUT/signals.txt 2>&1 & MP=$!
start_watch --backend {backend}
mkdir -p $CG 2>/dev/null || true
( [ -d $CG ] && echo $BASHPID > $CG/cgroup.procs; exec 3>"$R/var/lib/demo/held"; echo hello >&3; sleep 1 ) &
HOLDER=$!
for i in $(seq 100); do echo x > "$R/var/lib/kept/f$i"; done
mkdir "$R/srv/big"; for i in $(seq 10000); do : > "$R/srv/big/f$i"; done
wait $HOLDER
sleep 1.5
busctl --system call io.github.Impermctl1 /io/github/Impermctl1 io.github.Impermctl1.Watcher Unpersisted > $OUT/root.txt 2>&1 || echo "rc=$?" >> $OUT/root.txt
busctl --system get-property io.github.Impermctl1 /io/github/Impermctl1 io.github.Impermctl1.Watcher Backend >> $OUT/root.txt 2>&1
setpriv --reuid 65534 --regid 65534 --clear-groups busctl --system call io.github.Impermctl1 /io/github/Impermctl1 io.github.Impermctl1.Watcher Unpersisted > $OUT/nobody.txt 2>&1 || echo "rc=$?" >> $OUT/nobody.txt
imp status > $OUT/status.txt 2>&1 || true
rmdir $CG 2>/dev/null || true
stop_watch
kill $MP
"#,
        prelude = prelude(out),
        cg = shell_quote(std::path::Path::new(&cg)),
    );
    let o = in_vps(&Layout::default(), &body);
    let err = std::fs::read_to_string(out.join("stderr")).unwrap_or_default();
    util::assert_code(&o, 0);
    let j = journal(out);
    let started = with_id(&j, STARTED);
    assert_eq!(started.len(), 1, "{err}\n{j:#?}");
    assert_eq!(field(started[0], "IMPERMCTL_BACKEND"), Some(backend));
    let warns = with_id(&j, UNPERSISTED);
    let by_group = |g: &str| {
        warns
            .iter()
            .filter(|e| field(e, "IMPERMCTL_GROUP") == Some(g))
            .count()
    };
    assert_eq!(by_group("/var/lib/demo"), 1, "{warns:#?}");
    assert_eq!(
        by_group("/srv/big"),
        1,
        "10,000 files, one warning: {warns:#?}"
    );
    assert_eq!(by_group("/var/lib/kept"), 0, "persisted bind: {warns:#?}");
    assert_eq!(warns.len(), 2, "{warns:#?}");
    let demo = warns
        .iter()
        .find(|e| field(e, "IMPERMCTL_GROUP") == Some("/var/lib/demo"))
        .unwrap();
    assert_eq!(field(demo, "PRIORITY"), Some("4"));
    assert!(
        field(demo, "IMPERMCTL_PATH")
            .unwrap()
            .starts_with("/var/lib/demo")
    );
    assert_eq!(
        field(demo, "IMPERMCTL_SUGGEST"),
        Some(r#"environment.persistence."/persistent".directories = [ "/var/lib/demo" ];"#)
    );
    if backend == "fanotify" || field(demo, "IMPERMCTL_PATH") == Some("/var/lib/demo/held") {
        assert!(field(demo, "IMPERMCTL_PID").is_some(), "{demo:#?}");
    }
    let w = watch_json(out);
    assert_eq!(w["backend"], backend);
    assert_eq!(group(&w, "/srv/big").unwrap()["files"], 10_000);
    assert!(group(&w, "/var/lib/kept").is_none());
    let held = group(&w, "/var/lib/demo").unwrap();
    assert_eq!(held["files"], 1);
    assert_eq!(held["bytes"], 6);
    let writers = held["writers"].as_array().unwrap();
    assert!(
        writers
            .iter()
            .any(|w| w["unit"].as_str().is_some_and(|u| u.ends_with(".service"))),
        "the writer's unit comes from its cgroup: {held}"
    );
    let summary = with_id(&j, DISCARD);
    assert_eq!(summary.len(), 1);
    let msg = field(summary[0], "MESSAGE").unwrap();
    assert!(msg.starts_with("the reboot will discard 10,001 files, 6 B, in 2 directories: /var/lib/demo (1 file, 6 B), /srv/big (10,000 files, 0 B)"), "{msg}");
    let root = std::fs::read_to_string(out.join("root.txt")).unwrap();
    assert!(
        root.starts_with("a(sttttas) 2 \"/var/lib/demo\" 1 6 "),
        "{root}"
    );
    assert!(root.contains(&format!("s \"{backend}\"")), "{root}");
    let nobody = std::fs::read_to_string(out.join("nobody.txt")).unwrap();
    assert!(
        nobody.contains("Access denied") && nobody.contains("rc="),
        "{nobody}"
    );
    let signals = std::fs::read_to_string(out.join("signals.txt")).unwrap();
    assert!(
        signals.contains("member=UnpersistedGroup") && signals.contains("string \"/srv/big\""),
        "{signals}"
    );
    let status = std::fs::read_to_string(out.join("status.txt")).unwrap();
    assert!(
        status.contains(&format!("watcher: {backend}")) && status.contains("/srv/big"),
        "{status}"
    );
}

#[test]
fn inotify_warns_once_per_group_with_journal_fields_and_dbus() {
    require_root!();
    journal_and_dbus("inotify");
}

#[test]
fn fanotify_warns_once_per_group_with_journal_fields_and_dbus() {
    require_root!();
    journal_and_dbus("fanotify");
}

#[test]
fn inside_a_user_namespace_fanotify_falls_back_to_inotify_and_says_why() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let body = format!(
        r#"OUT={out}
mkdir -p "$R/var/lib"
"$IMPERMCTL" --root "$R" --config "$CFG" watch --no-dbus --json-every 0.2 2>$OUT/stderr & WP=$!
trap 'kill $WP 2>/dev/null || true' EXIT
for i in $(seq 200); do [ -s "$R/run/impermctl/watch.json" ] && break; sleep 0.05; done
mkdir -p "$R/var/lib/app/a/b"; echo data > "$R/var/lib/app/a/b/file"
sleep 1.5
kill -TERM $WP; wait $WP
cp "$R/run/impermctl/watch.json" $OUT/watch.json
"#,
        out = shell_quote(tmp.path()),
    );
    let o = in_vps(
        &Layout {
            userns: true,
            ..Layout::default()
        },
        &body,
    );
    let err = std::fs::read_to_string(tmp.path().join("stderr")).unwrap_or_default();
    util::assert_code(&o, 0);
    assert!(
        err.contains("falling back to inotify") && err.contains("EPERM"),
        "{err}"
    );
    let w = watch_json(tmp.path());
    assert_eq!(w["backend"], "inotify");
    assert!(w["fallback"].as_str().unwrap().contains("EPERM"), "{w}");
    let g = group(&w, "/var/lib/app").expect("group /var/lib/app");
    assert_eq!(g["files"], 1);
    assert_eq!(g["paths"][0], "/var/lib/app/a/b/file");
}

fn overflow(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"OUT={out}
mkdir -p "$R/var/lib/pre"
"$IMPERMCTL" --root "$R" --config "$CFG" watch --no-dbus --backend {backend} --json-every 0.2 2>$OUT/stderr & WP=$!
trap '( kill -CONT $WP; kill $WP ) 2>/dev/null || true' EXIT
for i in $(seq 200); do [ -s "$R/run/impermctl/watch.json" ] && break; sleep 0.05; done
kill -STOP $WP
for i in $(seq 17000); do : > "$R/var/lib/pre/f$i"; done
for d in $(seq 0 49); do
  mkdir -p "$R/var/lib/o$d/sub"
  for i in $(seq 1000); do : > "$R/var/lib/o$d/sub/f$i"; done
done
kill -CONT $WP
sleep 3
kill -TERM $WP; wait $WP
cp "$R/run/impermctl/watch.json" $OUT/watch.json
"#,
        out = shell_quote(tmp.path()),
    );
    let o = in_vps(&Layout::default(), &body);
    let err = std::fs::read_to_string(tmp.path().join("stderr")).unwrap_or_default();
    util::assert_code(&o, 0);
    assert_eq!(err.matches(OVERFLOW).count(), 1, "{err}");
    let w = watch_json(tmp.path());
    assert_eq!(group(&w, "/var/lib/pre").unwrap()["files"], 17_000);
    for d in 0..50 {
        let g =
            group(&w, &format!("/var/lib/o{d}")).unwrap_or_else(|| panic!("/var/lib/o{d} missing"));
        assert_eq!(g["files"], 1000, "/var/lib/o{d}");
        let paths: std::collections::HashSet<&str> = g["paths"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for i in 1..=1000 {
            assert!(
                paths.contains(format!("/var/lib/o{d}/sub/f{i}").as_str()),
                "/var/lib/o{d}/sub/f{i}"
            );
        }
    }
    assert!(w["overflows"].as_u64().unwrap() >= 1);
}

#[test]
fn inotify_overflow_warns_once_and_the_rescan_misses_nothing() {
    require_root!();
    overflow("inotify");
}

#[test]
fn fanotify_overflow_warns_once_and_the_rescan_misses_nothing() {
    require_root!();
    overflow("fanotify");
}

#[test]
fn the_budget_holds_back_warnings_into_one_summary_and_ignored_paths_stay_silent() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"OUT={out}
cat > "$CFG" <<'TOML'
version = 1
[[persistence]]
path = "/persistent"
[watch]
ignore = ["/tmp", "/var/cache/junk"]
max_warnings_per_minute = 2
TOML
mkdir -p "$R/tmp" "$R/var/cache"
IMPERMCTL_LOG=stderr "$IMPERMCTL" --root "$R" --config "$CFG" watch --no-dbus 2>$OUT/stderr & WP=$!
trap 'kill $WP 2>/dev/null || true' EXIT
for i in $(seq 200); do [ -s "$R/run/impermctl/watch.json" ] && break; sleep 0.05; done
for g in a b c d e; do mkdir -p "$R/srv/$g"; echo x > "$R/srv/$g/file"; done
echo x > "$R/tmp/scratch"; mkdir -p "$R/var/cache/junk/x"; echo y > "$R/var/cache/junk/x/y"
sleep 1.5
kill -TERM $WP; wait $WP
"#,
        out = shell_quote(tmp.path()),
    );
    let o = in_vps(&Layout::default(), &body);
    util::assert_code(&o, 0);
    let err = std::fs::read_to_string(tmp.path().join("stderr")).unwrap();
    assert_eq!(err.matches(UNPERSISTED).count(), 2, "{err}");
    let sup: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("128b92a95a7446a9956e1b79421e16a1"))
        .collect();
    assert_eq!(sup.len(), 1, "{err}");
    assert!(
        sup[0].contains("3 more unpersisted-write warnings suppressed (budget: 2 per minute)"),
        "{err}"
    );
    assert!(
        !err.contains("/tmp/scratch") && !err.contains("junk"),
        "{err}"
    );
    let summary = err.lines().find(|l| l.contains(DISCARD)).unwrap();
    assert!(
        summary.contains("5 files") && summary.contains("in 5 directories"),
        "{summary}"
    );
}

#[test]
fn sd_notify_ready_status_watchdog_and_stopping() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        r#"OUT={out}
python3 - "$OUT/notify.sock" > $OUT/notify.txt <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
while True:
    d = s.recv(4096).decode()
    print(d.replace("\n", "|"), flush=True)
    if "STOPPING=1" in d:
        break
PY
NP=$!
for i in $(seq 100); do [ -S "$OUT/notify.sock" ] && break; sleep 0.05; done
mkdir -p "$R/var/lib"
NOTIFY_SOCKET="$OUT/notify.sock" WATCHDOG_USEC=1000000 "$IMPERMCTL" --root "$R" --config "$CFG" watch --no-dbus --backend inotify 2>$OUT/stderr & WP=$!
trap 'kill $WP $NP 2>/dev/null || true' EXIT
sleep 1.2
mkdir -p "$R/var/lib/app"; echo x > "$R/var/lib/app/db"
sleep 1.5
kill -TERM $WP; wait $WP; wait $NP
"#,
        out = shell_quote(tmp.path()),
    );
    let o = in_vps(&Layout::default(), &body);
    util::assert_code(&o, 0);
    let n = std::fs::read_to_string(tmp.path().join("notify.txt")).unwrap();
    let lines: Vec<&str> = n.lines().collect();
    assert!(
        lines[0].starts_with("READY=1|STATUS=inotify, ")
            && lines[0].ends_with(" dirs, 0 unpersisted groups"),
        "{n}"
    );
    assert!(
        lines.iter().filter(|l| l.contains("WATCHDOG=1")).count() >= 3,
        "{n}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("STATUS=inotify, ") && l.contains("1 unpersisted group")),
        "{n}"
    );
    assert!(lines.last().unwrap().starts_with("STOPPING=1"), "{n}");
}
