//! Trial-s11 N11: a service listening on a unix socket inside a directory
//! declared on the running system (redis' `unixsocket` in /var/lib/redis,
//! mysqld's `mysql.sock`, php-fpm, gpg-agent in `~/.gnupg`) holds no fd,
//! working directory or mapping there, so the `/proc` writer scan missed
//! it: `boot` and `persist` bound over the socket and its clients got
//! "Connection refused" until it restarted. A served socket there counts
//! like a writer (pending, refused), a socket file nobody serves is only
//! a file, an abstract socket has no file.

use super::live::live;
use super::{block, dump, val};
use crate::require_root;
use crate::util::assert_code;

/// `serve PATH [PREFIX…]`: a process (run under PREFIX, e.g. `unshare
/// -n`) serving PATH, answering `PONG` to each client; `abstract` as PATH's
/// first byte binds the abstract name instead, `dgram` as the last PREFIX a
/// bound datagram socket. Its pid: `$l` (all of them, killed at exit:
/// `$pids`). `ping PATH`: what a client gets. `declare PATH`: a directory
/// entry. `by PID`: a pattern for the writer PID as `boot` names it.
const SOCKETS: &str = r#"
pids=""
trap 'kill $pids 2>/dev/null || true' EXIT
n=0
serve() {
  local path=$1 kind=stream; shift
  [ "${!#}" = dgram ] && { kind=dgram; set -- "${@:1:$#-1}"; }
  n=$((n+1)); local ready="$R/../ready.$n"
  "$@" python3 - "$path" "$ready" "$kind" <<'P' & l=$!
import socket, sys
path, ready, kind = sys.argv[1:]
if path.startswith("abstract"): path = "\0" + path[len("abstract"):]
t = socket.SOCK_DGRAM if kind == "dgram" else socket.SOCK_STREAM
s = socket.socket(socket.AF_UNIX, t); s.bind(path)
if kind != "dgram": s.listen()
open(ready, "w").close()
while True:
    if kind == "dgram": s.recv(64); continue
    c, _ = s.accept(); c.send(b"PONG\n"); c.close()
P
  pids="$pids $l"; wait_for "[ -e '$ready' ]"
}
by() { printf 'python3\\[%s\\][^,)]* listening on' "$1"; }
ping() { python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1]); print(s.recv(10).decode().strip())
except OSError as e: print(e.strerror)' "$1"; }
declare() { printf '[[persistence.directories]]\npath = "%s"\n' "$1" >> "$CFG"; }
"#;

fn run(body: &str) -> std::process::Output {
    live(&format!("{SOCKETS}\n{body}"))
}

/// The finding's input: redis serving /var/lib/redis/redis.sock beside its
/// data. `boot` leaves the entry pending with a WARNING naming the socket,
/// the process and what to do; the client still gets its answer; `status`
/// and `diff` say why it is pending. After the shutdown sync and reboot it
/// is bound with the data, and the restarted service serves on it.
#[test]
fn boot_leaves_a_directory_pending_while_a_service_listens_on_a_socket_there() {
    require_root!();
    let body = r#"
mkdir -p "$R/var/lib/redis"; echo data > "$R/var/lib/redis/dump.rdb"
serve "$R/var/lib/redis/redis.sock"
declare /var/lib/redis
imp boot 2>"$R/../err"; echo "rc=$?"
grep WARN "$R/../err" >&2 || true
echo "pending=$(grep -c 'NOT bound yet (pending)' "$R/../err") bound=$(devof /var/lib/redis)"
echo "named=$(grep -c "$(by $l) /var/lib/redis/redis.sock).*hide the unix socket /var/lib/redis/redis.sock.*Connection refused" "$R/../err")"
echo "client=$(ping "$R/var/lib/redis/redis.sock")"
echo BEGIN status; imp status || true; echo END status
echo more > "$R/var/lib/redis/dump.rdb"
echo BEGIN diff; imp diff 2>&1 || true; echo END diff
kill $l; wait $l 2>/dev/null || true
imp sync >/dev/null 2>&1; reboot; imp boot 2>/dev/null
echo "bound_after=$([ -n "$(devof /var/lib/redis)" ] && echo yes) data=$(cat "$R/var/lib/redis/dump.rdb")"
rm -f "$R/var/lib/redis/redis.sock"; serve "$R/var/lib/redis/redis.sock"
echo "client_after=$(ping "$R/var/lib/redis/redis.sock")"
"#;
    let o = run(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "pending"), "1 bound=", "{}", dump(&o));
    assert_eq!(val(&o, "named"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "client"), "PONG", "{}", dump(&o));
    let status = block(&o, "status");
    assert!(
        status.contains("PENDING")
            && status.contains("in use by python3[")
            && status.contains("listening on /var/lib/redis/redis.sock"),
        "{status}"
    );
    let diff = block(&o, "diff");
    assert!(
        diff.contains("/var/lib/redis")
            && diff.contains("not bound while processes listen on a unix socket there"),
        "{diff}"
    );
    assert_eq!(val(&o, "bound_after"), "yes data=more", "{}", dump(&o));
    assert_eq!(val(&o, "client_after"), "PONG", "{}", dump(&o));
}

/// Served sockets that make an entry pending, each in its own directory:
/// deep in a nested subdirectory, in another network namespace (a
/// `PrivateNetwork=` service: `unshare -n`), and a bound datagram socket
/// (a syslog-like `/dev/log`). Each stays reachable; none is bound.
#[test]
fn nested_other_netns_and_datagram_sockets_make_their_entries_pending() {
    require_root!();
    let body = r#"
for d in nested netns dgram; do mkdir -p "$R/var/lib/$d"; echo x > "$R/var/lib/$d/data"; declare "/var/lib/$d"; done
mkdir -p "$R/var/lib/nested/run/sub"
serve "$R/var/lib/nested/run/sub/app.sock"; nested=$l
serve "$R/var/lib/netns/app.sock" unshare -n; netns=$l
serve "$R/var/lib/dgram/log" dgram; dgram=$l
echo "own_netns=$([ "$(readlink /proc/$netns/ns/net)" != "$(readlink /proc/self/ns/net)" ] && echo yes)"
imp boot 2>"$R/../err"; echo "rc=$?"
echo "pending=$(grep -c 'NOT bound yet (pending)' "$R/../err")"
echo "bound=$(devof /var/lib/nested)$(devof /var/lib/netns)$(devof /var/lib/dgram)"
echo "named=$(grep -c "$(by $nested) /var/lib/nested/run/sub/app.sock" "$R/../err") $(grep -c "$(by $netns) /var/lib/netns/app.sock" "$R/../err") $(grep -c "$(by $dgram) /var/lib/dgram/log" "$R/../err")"
echo "clients=$(ping "$R/var/lib/nested/run/sub/app.sock") $(ping "$R/var/lib/netns/app.sock")"
kill $nested $netns $dgram
"#;
    let o = run(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "own_netns"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "pending"), "3", "{}", dump(&o));
    assert_eq!(val(&o, "bound"), "", "{}", dump(&o));
    assert_eq!(val(&o, "named"), "1 1 1", "{}", dump(&o));
    assert_eq!(val(&o, "clients"), "PONG PONG", "{}", dump(&o));
}

/// What must not block, beside an entry that a served socket makes
/// pending: a socket file its service left behind (nobody listens: it is
/// only a file, seeded like the others and bound), and an abstract socket
/// whose name looks like a path there (no file at all).
#[test]
fn a_stale_socket_file_and_an_abstract_socket_do_not_make_an_entry_pending() {
    require_root!();
    let body = r#"
for d in stale abstract served; do mkdir -p "$R/var/lib/$d"; echo x > "$R/var/lib/$d/data"; declare "/var/lib/$d"; done
serve "$R/var/lib/stale/old.sock"; kill $l; wait $l 2>/dev/null || true
serve "abstract$R/var/lib/abstract/app.sock"; abstract=$l
serve "$R/var/lib/served/app.sock"
echo "stale=$([ -S "$R/var/lib/stale/old.sock" ] && echo socket)"
imp boot 2>"$R/../err"; echo "rc=$?"
grep -E 'WARN|ERROR' "$R/../err" >&2 || true
echo "pending=$(grep -c 'NOT bound yet (pending)' "$R/../err") $(grep -c 'NOT bound yet (pending).*/var/lib/served/app.sock' "$R/../err")"
echo "bound=$([ -n "$(devof /var/lib/stale)" ] && [ -n "$(devof /var/lib/abstract)" ] && echo both) served=$(devof /var/lib/served)"
echo "seeded=$([ -S "$R/persistent/var/lib/stale/old.sock" ] && echo socket) $(cat "$R/persistent/var/lib/stale/data")"
echo "abstract_alive=$(kill -0 $abstract && echo yes)"
"#;
    let o = run(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "stale"), "socket", "{}", dump(&o));
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "pending"), "1 1", "{}", dump(&o));
    assert_eq!(val(&o, "bound"), "both served=", "{}", dump(&o));
    assert_eq!(val(&o, "seeded"), "socket x", "{}", dump(&o));
    assert_eq!(val(&o, "abstract_alive"), "yes", "{}", dump(&o));
}

/// `persist` refuses a directory a process serves a socket in (naming it,
/// the socket and `--force`) and changes nothing; `--force` binds and
/// warns that the clients are cut off until it restarts. A bind that
/// would hide live data (the persistent source holds data too) is refused
/// by `boot` the same way, both sides left as they are.
#[test]
fn persist_and_keep_aside_refuse_while_a_service_listens_there() {
    require_root!();
    let body = r#"
mkdir -p "$R/var/lib/live"; echo x > "$R/var/lib/live/data"
serve "$R/var/lib/live/app.sock"
rc=0; imp persist /var/lib/live >/dev/null 2>"$R/../err" || rc=$?
echo "rc=$rc bound=$(devof /var/lib/live) copied=$(ls "$R/persistent/var/lib" 2>/dev/null | grep -c live)"
echo "named=$(grep -c "pid $l (python3) listens on the unix socket .*/var/lib/live/app.sock.*--force" "$R/../err")"
mkdir -p "$R/var/lib/kept" "$R/persistent/var/lib/kept"; echo old > "$R/persistent/var/lib/kept/data"
echo new > "$R/var/lib/kept/data"; serve "$R/var/lib/kept/app.sock"; kept=$l
declare /var/lib/kept
rc=0; imp boot 2>"$R/../boot.err" || rc=$?
echo "boot_rc=$rc"
echo "refused=$(grep -c "/var/lib/kept is NOT bound: running processes listen on a unix socket there ($(by $kept) /var/lib/kept/app.sock)" "$R/../boot.err") bound=$(devof /var/lib/kept)"
echo "sides=$(cat "$R/var/lib/kept/data") $(cat "$R/persistent/var/lib/kept/data") kept=$(ls "$R/persistent/impermctl-kept" 2>/dev/null | wc -l)"
echo "kept_client=$(ping "$R/var/lib/kept/app.sock")"
rc=0; out=$(imp persist --force /var/lib/live 2>&1) || rc=$?; echo "rc_force=$rc"
echo "warned=$(grep -c "warning (--force): pid .*listens on the unix socket .*app.sock.*Connection refused" <<<"$out")"
echo "bound_force=$([ -n "$(devof /var/lib/live)" ] && echo yes)"
kill $kept
"#;
    let o = run(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "2 bound= copied=0", "{}", dump(&o));
    assert_eq!(val(&o, "named"), "1", "{}", dump(&o));
    assert_ne!(val(&o, "boot_rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "refused"), "1 bound=", "{}", dump(&o));
    assert_eq!(val(&o, "sides"), "new old kept=0", "{}", dump(&o));
    assert_eq!(val(&o, "kept_client"), "PONG", "{}", dump(&o));
    assert_eq!(val(&o, "rc_force"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "warned"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "bound_force"), "yes", "{}", dump(&o));
}
