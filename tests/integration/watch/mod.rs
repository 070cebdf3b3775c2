//! `impermctl watch` against a real journald and a real dbus-daemon, in a
//! private mount namespace over a vpsFree-like layout (see `util::in_vps`).
//! The daemon's other behaviours (fallback, overflow, budget, sd_notify) are
//! in `daemon`.

mod age;
mod aliases;
mod backend_key;
mod before_start;
mod bounded;
mod burst;
mod daemon;
mod dead;
mod declared;
mod dir_attrs;
mod edited;
mod exact_status;
mod fell_back;
mod just_bound;
mod mapped;
mod marks;
mod marks_load;
mod moved_dir;
mod mute;
mod overflow_gone;
mod remount;
mod renamed_away;
mod replaced;
mod rewrite;
mod stopped_on_dbus;
mod tally;
mod undeclarable;
mod writer_gone;
mod writers;

use std::collections::HashMap;

use serde_json::Value;

use crate::require_root;
use crate::util::{self, Layout, in_vps, shell_quote};

pub(crate) const UNPERSISTED: &str = "5b1c89b3707540a98f833fa5a79113ce";
pub(crate) const DISCARD: &str = "a9c923c46d0f482cb15ae6e3144b5ad2";

/// What the watcher's messages say: log lines on stderr carry the message
/// only (the `MESSAGE_ID`s above are the journal's).
pub(crate) mod says {
    pub(crate) const UNPERSISTED: &str = "is not persisted and will be lost at reboot";
    pub(crate) const OVERFLOW: &str = "event queue overflowed: events were lost";
    pub(crate) const SUPPRESSED: &str = "more unpersisted-write warnings suppressed";
    pub(crate) const DISCARD: &str = "the reboot will discard";
}

/// `wait_json 'EXPR'`: poll `watch.json` until the Python expression holds
/// (every 0.2 s, deadline 60 s or `$WAIT_TRIES` × 0.2 s; `d` is the document, `files(p)` a group's file count),
/// else fail the script. Tests wait on the state they assert, not a sleep.
pub(crate) const WAIT_JSON: &str = r#"
wait_json() {
  for i in $(seq ${WAIT_TRIES:-300}); do
    python3 - "$R/run/impermctl/watch.json" "$1" <<'PY' 2>/dev/null && return 0
import json, sys
d = json.load(open(sys.argv[1]))
g = {x["path"]: x for x in d["groups"]}
files = lambda p: g[p]["files"] if p in g else 0
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
    sleep 0.2
  done
  echo "timed out waiting for watch.json: $1" >&2; return 1
}
"#;
/// `wait_bus`: poll the watcher's D-Bus `Unpersisted` answer (every 0.2 s,
/// deadline 60 s) until it and `watch.json`, read together, carry the same
/// groups (path, files, bytes, last seen); leaves them in `$OUT/rows.json`
/// and `$OUT/watch-at-status.json` for the test's field-by-field assertions.
/// On timeout it returns quietly: those assertions then report the difference.
const WAIT_BUS: &str = r#"
wait_bus() {
  for i in $(seq 300); do
    busctl --system --json=short call io.github.Impermctl1 /io/github/Impermctl1 io.github.Impermctl1.Watcher Unpersisted > $OUT/rows.json 2>&1 || true
    cp "$R/run/impermctl/watch.json" $OUT/watch-at-status.json
    python3 - $OUT/rows.json $OUT/watch-at-status.json <<'PY' 2>/dev/null && return 0
import json, sys
rows = json.load(open(sys.argv[1]))["data"][0]
file = json.load(open(sys.argv[2]))["groups"]
key = lambda p, f, b, l: (p, f, b, l)
bus = [key(r[0], r[3], r[4], r[6]) for r in rows]
disk = [key(g["path"], g["files"], g["bytes"], g["last_seen"]) for g in file]
sys.exit(0 if bus == disk and len(bus) == 2 else 1)
PY
    sleep 0.2
  done
  echo "timed out waiting for the D-Bus view to match watch.json" >&2
}
"#;
pub(crate) const STARTED: &str = "c7e3ddc2bd944583849b0685244fe761";

/// Shell: the default layout's config in `$CFG` unless the test wrote one
/// (an explicit `--config` must exist).
pub(crate) const DEFAULT_CONFIG: &str =
    r#"[ -e "$CFG" ] || printf 'version = 1\n[[persistence]]\npath = "/persistent"\n' > "$CFG""#;

/// [`DEFAULT_CONFIG`], then: `start_watch ARGS` starts the watcher (`--json-every 0.2`, logging to
/// `$WATCH_LOG`, stderr by default, into `$OUT/stderr`), sets `$WP` and
/// waits (deadline 60 s) for a `watch.json`; `stop_watch` sends SIGTERM,
/// needs exit status 0, copies the last `watch.json` to `$OUT` and, with a
/// journald running (`$JP`), waits (deadline 60 s) until it has the
/// shutdown summary, the watcher's last line (`$OUT/journal.json`); plus
/// `wait_json` ([`WAIT_JSON`]).
pub(crate) fn watcher_sh() -> String {
    format!(
        r#"WP=
{DEFAULT_CONFIG}
start_watch() {{
  IMPERMCTL_LOG="${{WATCH_LOG:-stderr}}" "$IMPERMCTL" --root "$R" --config "$CFG" watch --json-every 0.2 "$@" 2>>$OUT/stderr & WP=$!
  for i in $(seq 1200); do [ -s "$R/run/impermctl/watch.json" ] && return 0; sleep 0.05; done
  echo "watcher did not start"; cat $OUT/stderr; return 1
}}
stop_watch() {{
  kill -TERM $WP; wait $WP
  cp "$R/run/impermctl/watch.json" $OUT/watch.json
  [ -n "${{JP:-}}" ] || return 0
  for i in $(seq 1200); do
    journalctl -D /run/log/journal -o json --no-pager -t impermctl > $OUT/journal.json
    grep -q {DISCARD} $OUT/journal.json && break; sleep 0.05
  done
}}
{WAIT_JSON}"#
    )
}

/// A config with `/persistent` whose `[watch]` table is `lines`, written
/// to `$CFG` (shell).
pub(crate) fn watch_config(lines: &str) -> String {
    format!(
        "cat > \"$CFG\" <<'TOML'\nversion = 1\n[[persistence]]\npath = \"/persistent\"\n[watch]\n{lines}\nTOML\n"
    )
}

/// Run `body` in a private namespace over `layout` with a watcher without
/// D-Bus: `before` runs first (e.g. [`watch_config`]), then
/// `start_watch --no-dbus ARGS`, `body`, and `stop_watch`. Returns the
/// watcher's stderr.
pub(crate) fn with_watcher(
    out: &std::path::Path,
    layout: &Layout,
    args: &str,
    before: &str,
    body: &str,
) -> String {
    let script = format!(
        r#"OUT={out}
{watcher}
trap '( kill -CONT $WP; kill $WP ) 2>/dev/null || true' EXIT
mkdir -p "$R/tmp" "$R/var/lib" "$R/srv"
{before}
start_watch --no-dbus {args}
{body}
stop_watch
"#,
        out = shell_quote(out),
        watcher = watcher_sh(),
    );
    let o = in_vps(layout, &script);
    let err = std::fs::read_to_string(out.join("stderr")).unwrap_or_default();
    util::assert_code(&o, 0);
    err
}

/// Shell prelude: tmpfs over /run, a standalone journald, a private system
/// bus with the distribution's system bus config and the shipped policy, and [`watcher_sh`]'s
/// `start_watch`/`stop_watch` logging to the journal. `$OUT` collects
/// artefacts.
pub(crate) fn prelude(out: &std::path::Path) -> String {
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
  <include>/usr/share/dbus-1/system.conf</include>
  <include>{policy}</include>
</busconfig>
XML
dbus-daemon --config-file=/run/dbus/test.conf --nofork --nopidfile 2>/dev/null & DP=$!
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
for i in $(seq 400); do [ -S /run/systemd/journal/socket ] && [ -S /run/dbus/system_bus_socket ] && break; sleep 0.05; done
cleanup() {{ kill $WP $JP $DP 2>/dev/null || true; }}
trap cleanup EXIT
WATCH_LOG=journal
{watcher}"#,
        out = shell_quote(out),
        policy = policy.display(),
        watcher = watcher_sh(),
    )
}

pub(crate) fn journal(out: &std::path::Path) -> Vec<HashMap<String, Value>> {
    let text = std::fs::read_to_string(out.join("journal.json")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub(crate) fn field<'a>(e: &'a HashMap<String, Value>, k: &str) -> Option<&'a str> {
    e.get(k).and_then(Value::as_str)
}

pub(crate) fn with_id<'a>(
    j: &'a [HashMap<String, Value>],
    id: &str,
) -> Vec<&'a HashMap<String, Value>> {
    j.iter()
        .filter(|e| field(e, "MESSAGE_ID") == Some(id))
        .collect()
}

pub(crate) fn watch_json(out: &std::path::Path) -> Value {
    let t = std::fs::read_to_string(out.join("watch.json")).expect("watch.json");
    serde_json::from_str(&t).unwrap()
}

/// The paths of `watch.json`'s groups, in its order.
pub(crate) fn group_paths(w: &Value) -> Vec<&str> {
    let groups = w["groups"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    groups.iter().filter_map(|g| g["path"].as_str()).collect()
}

pub(crate) fn group<'a>(w: &'a Value, path: &str) -> Option<&'a Value> {
    w["groups"].as_array()?.iter().find(|g| g["path"] == path)
}

fn journal_and_dbus(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    // The writer runs in a cgroup named like a unit, on the cgroup2
    // hierarchy (hybrid hosts: /sys/fs/cgroup/unified; pure cgroup2: /sys/fs/cgroup).
    let base = if std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        "/sys/fs/cgroup/unified"
    } else {
        "/sys/fs/cgroup"
    };
    let cg = format!(
        "{base}/impermctl-test-{}-{backend}.service",
        std::process::id()
    );
    let body = format!(
        r#"{prelude}
{wait_bus}
CG={cg}
mkdir -p "$R/persistent/kept" "$R/var/lib/kept" "$R/srv"
mount --bind "$R/persistent/kept" "$R/var/lib/kept"
mkdir -p "$R/var/lib/demo"
dbus-monitor --system "type='signal',interface='io.github.Impermctl1.Watcher'" > $OUT/signals.txt 2>&1 & MP=$!
# Listening (its own name is lost once it monitors) before the watcher starts.
for i in $(seq 1200); do grep -q member=NameLost $OUT/signals.txt && break; sleep 0.05; done
start_watch --backend {backend}
mkdir $CG 2>/dev/null || true
# The writer keeps the file open until the watcher has warned about it
# (with inotify, the watcher names a writer by who holds the file open
# when it counts the file and when it warns).
( [ -d $CG ] && echo $BASHPID > $CG/cgroup.procs; exec 3>"$R/var/lib/demo/held"; echo hello >&3
  for i in $(seq 1200); do [ -e $OUT/release ] && break; sleep 0.05 3>&-; done ) &
HOLDER=$!
for i in $(seq 100); do echo x > "$R/var/lib/kept/f$i"; done
mkdir "$R/srv/big"; for i in $(seq 10000); do : > "$R/srv/big/f$i"; done
for i in $(seq 1200); do
  journalctl -D /run/log/journal -o json --no-pager -t impermctl | grep -q '"IMPERMCTL_GROUP":"/var/lib/demo"' && break
  sleep 0.05
done
touch $OUT/release; wait $HOLDER
wait_json 'files("/srv/big") == 10000 and files("/var/lib/demo") == 1 and g["/var/lib/demo"]["bytes"] == 6'
wait_bus
busctl --system call io.github.Impermctl1 /io/github/Impermctl1 io.github.Impermctl1.Watcher Unpersisted > $OUT/root.txt 2>&1 || echo "rc=$?" >> $OUT/root.txt
busctl --system get-property io.github.Impermctl1 /io/github/Impermctl1 io.github.Impermctl1.Watcher Backend >> $OUT/root.txt 2>&1
busctl --system get-property io.github.Impermctl1 /io/github/Impermctl1 io.github.Impermctl1.Watcher UnwatchedDirectories Coverage > $OUT/coverage.txt 2>&1
setpriv --reuid 65534 --regid 65534 --clear-groups busctl --system call io.github.Impermctl1 /io/github/Impermctl1 io.github.Impermctl1.Watcher Unpersisted > $OUT/nobody.txt 2>&1 || echo "rc=$?" >> $OUT/nobody.txt
imp status > $OUT/status.txt 2>&1 || true
imp status --json > $OUT/status.json 2>/dev/null || true
rmdir $CG 2>/dev/null || true
stop_watch
kill $MP
"#,
        prelude = prelude(out),
        wait_bus = WAIT_BUS,
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
        Some(
            r#""/var/lib/demo"  # into environment.persistence."/persistent".directories = [ … ]"#
        )
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
        root.starts_with("a(ssstttta(sas)basast) 2 \"/var/lib/demo\" \"directory\" "),
        "{root}"
    );
    assert!(root.contains(&format!("s \"{backend}\"")), "{root}");
    let coverage = std::fs::read_to_string(out.join("coverage.txt")).unwrap();
    assert_eq!(
        coverage, "t 0\nas 0\n",
        "everything watched, on the bus too"
    );
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
    let sj: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("status.json")).unwrap()).unwrap();
    assert_eq!(sj["watcher"]["backend"], backend, "{sj}");
    // D-Bus carries the same groups as watch.json, field by field.
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("watch-at-status.json")).unwrap())
            .unwrap();
    let rows = std::fs::read_to_string(out.join("rows.json")).unwrap();
    let rows: Value = serde_json::from_str(&rows).expect(&rows);
    let from_bus: Vec<Value> = rows["data"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let writers: Vec<Value> = r[7]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| serde_json::json!({"comm": w[0], "unit": w[1].get(0)}))
                .collect();
            let mut g = serde_json::json!({"path": r[0], "type": r[1], "suggest": r[2],
                "files": r[3], "bytes": r[4], "first_seen": r[5], "last_seen": r[6],
                "writers": writers, "approximate": r[8], "paths": r[9], "dirs": r[11]});
            if let Some(hex) = r[10].get(0) {
                g["path_hex"] = hex.clone();
            }
            g
        })
        .collect();
    assert_eq!(Value::from(from_bus), file["groups"], "{rows}");
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

/// Issue 7, scenario 7 at the namespace level: a watcher that starts after
/// the boot baseline finds what was written before it started, and one
/// restarted after `kill -9` finds it all again without repeating warnings.
#[test]
fn a_restarted_watcher_finds_earlier_writes_and_does_not_repeat_warnings() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    let body = format!(
        r#"{prelude}
mkdir -p "$R/var/lib/old"; echo old > "$R/var/lib/old/f"
mkdir -p "$R/persistent/etc"; echo id > "$R/persistent/etc/kept-file"; touch "$R/etc/kept-file"
mount --bind "$R/persistent/etc/kept-file" "$R/etc/kept-file"
sleep 1.1
imp diff --capture-baseline >/dev/null
sleep 1.1
mkdir -p "$R/var/lib/early"; echo early > "$R/var/lib/early/f"
echo written-through-the-bind > "$R/etc/kept-file"
start_watch --backend inotify
mkdir -p "$R/var/lib/during"; echo during > "$R/var/lib/during/f"
wait_json 'files("/var/lib/early") == 1 and files("/var/lib/during") == 1'
kill -9 $WP; wait $WP 2>/dev/null || true
cp "$R/run/impermctl/watch.json" $OUT/first.json
start_watch --backend inotify
wait_json "d['pid'] == $WP and files('/var/lib/early') == 1 and files('/var/lib/during') == 1"
stop_watch
"#,
        prelude = prelude(out),
    );
    let o = in_vps(&Layout::default(), &body);
    let err = std::fs::read_to_string(out.join("stderr")).unwrap_or_default();
    util::assert_code(&o, 0);
    let first: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("first.json")).unwrap()).unwrap();
    assert!(
        group(&first, "/var/lib/early").is_some(),
        "start-up rescan: {first}\n{err}"
    );
    assert!(
        group(&first, "/var/lib/old").is_none(),
        "before the baseline: {first}"
    );
    assert!(
        group(&first, "/etc/kept-file").is_none(),
        "a persisted file's bind is not on the root: {first}"
    );
    let w = watch_json(out);
    assert_ne!(
        w["pid"], first["pid"],
        "a second instance wrote the final state"
    );
    for g in ["/var/lib/early", "/var/lib/during"] {
        let found = group(&w, g).unwrap_or_else(|| panic!("{g} lost after the restart: {w}"));
        assert_eq!(found["files"], 1, "{found}");
    }
    assert!(group(&w, "/var/lib/old").is_none(), "{w}");
    let j = journal(out);
    let warns = with_id(&j, UNPERSISTED);
    for g in ["/var/lib/early", "/var/lib/during"] {
        let n = warns
            .iter()
            .filter(|e| field(e, "IMPERMCTL_GROUP") == Some(g))
            .count();
        assert_eq!(n, 1, "{g} announced once across the restart: {warns:#?}");
    }
}
