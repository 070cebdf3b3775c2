//! Trial-s9 F8 and F9: processes that write into a directory without an
//! fd open for writing at the moment `persist` or `boot` looks — a file
//! mapped shared and writable with its fd closed (LMDB), a working
//! directory there (a service's `WorkingDirectory=`, files by relative
//! names) — count as writers: `persist` refuses unless `--force`, `boot`
//! leaves the entry pending; the shutdown sync saves the final data and
//! the next boot binds it. Nothing they write is lost.

use super::live::live;
use super::{dump, val};
use crate::require_root;
use crate::util::assert_code;

/// `mapper FILE STOP`: maps FILE shared and writable (libc mmap), closes
/// the fd, writes `counter=N` through the mapping every 50 ms until STOP
/// exists, then writes the last N to `STOP.last`. Its pid: `$m`.
const MAPPER: &str = r#"
trap 'kill ${m:-} ${s:-} 2>/dev/null || true' EXIT
mapper() {
  setsid python3 - "$1" "$2" <<'P' & m=$!
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
fd = os.open(sys.argv[1], os.O_RDWR)
addr = libc.mmap(None, 4096, 3, 1, fd, 0)  # PROT_READ|PROT_WRITE, MAP_SHARED
os.close(fd)
i = 0
while True:
    i += 1
    ctypes.memmove(addr, f"counter={i:08d}\n".encode(), 17)
    if i == 1: open(sys.argv[2] + ".mapped", "w").close()
    if os.path.exists(sys.argv[2]): break
    time.sleep(0.05)
open(sys.argv[2] + ".last", "w").write(f"counter={i:08d}")
P
  local stop=$2; wait_for '[ -e "$stop.mapped" ]'
}
# service DIR STOP: a service (no terminal) whose working directory is DIR:
# appends `rN` to state.log by its relative name every 50 ms (open, append,
# close: no fd held); once STOP.go exists it deletes `lock`, replaces `db`
# by rename and creates `late-file`; exits when STOP exists. Pid: `$s`.
service() {
  ( cd "$1" && exec setsid python3 - "$2" <<'P' ) & s=$!
import os, sys, time
i, done = 0, False
while not os.path.exists(sys.argv[1]):
    with open("state.log", "a") as f: f.write(f"r{i}\n")
    i += 1
    if not done and os.path.exists(sys.argv[1] + ".go"):
        os.unlink("lock"); open("db.new", "w").write("v2\n"); os.rename("db.new", "db")
        open("late-file", "w").write("made after\n"); done = True
        open(sys.argv[1] + ".done", "w").close()
    time.sleep(0.05)
with open("state.log", "a") as f: f.write(f"r{i}\n")
open(sys.argv[1] + ".log", "w").write("".join(f"r{k}\n" for k in range(i + 1)))
P
  local d=$1; wait_for '[ -s "$d/state.log" ]'
}
svc_files() { mkdir -p "$R/var/lib/live"; echo stale > "$R/var/lib/live/lock"; echo v1 > "$R/var/lib/live/db"; }
"#;

fn run(body: &str) -> std::process::Output {
    live(&format!("{MAPPER}\n{body}"))
}

/// F8, `persist`: a file mapped for writing with its fd closed makes it
/// refuse (naming the process and `--force`) and change nothing; once the
/// writer stopped, `persist` keeps its last write.
#[test]
fn persist_refuses_a_file_mapped_for_writing_with_its_fd_closed() {
    require_root!();
    let body = r#"
declare_live
mkdir -p "$R/var/lib/live"; head -c 4096 /dev/zero > "$R/var/lib/live/data.mdb"
mapper "$R/var/lib/live/data.mdb" "$R/../stop"
rc=0; imp persist /var/lib/live >/dev/null 2>"$R/../err" || rc=$?
echo "rc=$rc bound=$(devof /var/lib/live) copied=$(ls "$R/persistent/var/lib" 2>/dev/null | grep -c live)"
echo "named=$(grep -c "pid $m (python3) has .*data.mdb mapped for writing.*--force" "$R/../err")"
touch "$R/../stop"; wait $m
imp persist /var/lib/live >/dev/null 2>&1; echo "rc2=$?"
echo "kept=$([ "$(head -c 16 "$R/persistent/var/lib/live/data.mdb")" = "$(cat "$R/../stop.last")" ] && echo yes)"
"#;
    let o = run(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "2 bound= copied=0", "{}", dump(&o));
    assert_eq!(val(&o, "named"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "rc2"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "kept"), "yes", "{}", dump(&o));
}

/// F8, `boot` seeding a newly declared directory (as `nixos-rebuild
/// switch` does) under a mapping writer: pending, not bound; the shutdown
/// sync saves the last write, the next boot binds it.
#[test]
fn boot_leaves_a_directory_with_a_mapped_file_pending_and_keeps_the_last_write() {
    require_root!();
    let body = r#"
mkdir -p "$R/var/lib/live"; head -c 4096 /dev/zero > "$R/var/lib/live/data.mdb"
mapper "$R/var/lib/live/data.mdb" "$R/../stop"
declare_live
imp boot 2>"$R/../err"; echo "rc=$?"
echo "pending=$(grep -c 'NOT bound yet (pending)' "$R/../err") bound=$(devof /var/lib/live)"
touch "$R/../stop"; wait $m
imp sync >/dev/null 2>&1; reboot; imp boot 2>/dev/null
echo "bound_after=$([ -n "$(devof /var/lib/live)" ] && echo yes)"
echo "kept=$([ "$(head -c 16 "$R/var/lib/live/data.mdb")" = "$(cat "$R/../stop.last")" ] && echo yes)"
"#;
    let o = run(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "pending"), "1 bound=", "{}", dump(&o));
    assert_eq!(val(&o, "bound_after"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "kept"), "yes", "{}", dump(&o));
}

/// `persist --force` under a mapping writer: a write through an already
/// dirty mapped page after the bind changes neither size nor mtime of the
/// hidden original; it is carried all the same (compared by content).
#[test]
fn persist_force_carries_a_write_through_an_already_dirty_mapped_page() {
    require_root!();
    let body = r#"
declare_live
mkdir -p "$R/var/lib/live"; head -c 4096 /dev/zero > "$R/var/lib/live/data.mdb"
mapper "$R/var/lib/live/data.mdb" "$R/../stop"
imp persist --force /var/lib/live >/dev/null 2>"$R/../err" & p=$!
bound_then_waiting $p
touch "$R/../stop"; wait $m
rc=0; wait $p || rc=$?
echo "rc=$rc"; grep -v INFO "$R/../err" >&2 || true
echo "kept=$([ "$(head -c 16 "$R/var/lib/live/data.mdb")" = "$(cat "$R/../stop.last")" ] && echo yes)"
echo "persisted=$([ "$(head -c 16 "$R/persistent/var/lib/live/data.mdb")" = "$(cat "$R/../stop.last")" ] && echo yes)"
"#;
    let o = run(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "bound"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "kept"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "persisted"), "yes", "{}", dump(&o));
}

/// F9, `persist`: a service whose working directory is there (no
/// terminal) makes it refuse, naming it and `--force`; nothing changes.
#[test]
fn persist_refuses_a_service_whose_working_directory_is_there() {
    require_root!();
    let body = r#"
declare_live
svc_files; service "$R/var/lib/live" "$R/../stop"
rc=0; imp persist /var/lib/live >/dev/null 2>"$R/../err" || rc=$?
echo "rc=$rc bound=$(devof /var/lib/live) copied=$(ls "$R/persistent/var/lib" 2>/dev/null | grep -c live)"
echo "named=$(grep -c "(python3) has its working directory at .*/var/lib/live.*--force" "$R/../err")"
touch "$R/../stop"; wait $s
imp persist /var/lib/live >/dev/null 2>&1; echo "rc2=$?"
echo "lost=$(missing "$R/../stop.log" "$R/var/lib/live/state.log" | wc -l)"
"#;
    let o = run(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "2 bound= copied=0", "{}", dump(&o));
    assert_eq!(val(&o, "named"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "rc2"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "lost"), "0", "{}", dump(&o));
}

/// F9, `boot` (tp.sh): a service's working directory there leaves the
/// entry pending; what it does afterwards by relative names (appends, a
/// new file, a deletion, a rename-replace) is all there after the
/// shutdown sync and the next boot.
#[test]
fn boot_leaves_a_services_working_directory_pending_and_keeps_what_it_does_after() {
    require_root!();
    let body = r#"
svc_files; service "$R/var/lib/live" "$R/../stop"
declare_live
imp boot 2>"$R/../err"; echo "rc=$?"
echo "pending=$(grep -c 'NOT bound yet (pending)' "$R/../err") bound=$(devof /var/lib/live)"
touch "$R/../stop.go"; wait_for '[ -e "$R/../stop.done" ]'
touch "$R/../stop"; wait $s
imp sync >/dev/null 2>&1; reboot; imp boot 2>/dev/null
echo "bound_after=$([ -n "$(devof /var/lib/live)" ] && echo yes)"
cd "$R/var/lib/live"; echo "files=$(ls | tr '\n' ' ')db=$(cat db)"
echo "lost=$(missing "$R/../stop.log" state.log | wc -l)"
"#;
    let o = run(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "pending"), "1 bound=", "{}", dump(&o));
    assert_eq!(val(&o, "bound_after"), "yes", "{}", dump(&o));
    assert_eq!(
        val(&o, "files"),
        "db late-file state.log db=v2",
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "lost"), "0", "{}", dump(&o));
}

/// A bind that would hide live data (the persistent source holds data
/// too: older persistent data, or the seed of a `boot` killed before it
/// recorded the entry as pending) while a service writes there: `boot`
/// refuses the entry and touches neither side (before, it kept a copy
/// aside and bound over the running service, whose next writes went to the
/// hidden original). Once the service stopped, the next `boot` keeps the
/// live data aside whole and binds the persistent version.
#[test]
fn boot_refuses_to_hide_live_data_a_service_writes_when_the_source_holds_data_too() {
    require_root!();
    let body = r#"
svc_files
mkdir -p "$R/persistent/var/lib/live"; echo old > "$R/persistent/var/lib/live/db"
service "$R/var/lib/live" "$R/../stop"
declare_live
rc=0; imp boot 2>"$R/../err" || rc=$?; echo "rc=$rc"
echo "refused=$(grep -c 'is NOT bound: running processes write there (.*python3' "$R/../err") bound=$(devof /var/lib/live)"
echo "source=$(cat "$R/persistent/var/lib/live/db") kept=$(ls "$R/persistent/impermctl-kept" 2>/dev/null | wc -l)"
touch "$R/../stop"; wait $s
imp boot 2>/dev/null; echo "rc2=$?"
echo "bound_after=$([ -n "$(devof /var/lib/live)" ] && echo yes) db=$(cat "$R/var/lib/live/db")"
kept=$(find "$R/persistent/impermctl-kept" -name state.log)
echo "lost=$(missing "$R/../stop.log" "$kept" | wc -l)"
"#;
    let o = run(body);
    assert_code(&o, 0);
    assert_ne!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "refused"), "1 bound=", "{}", dump(&o));
    assert_eq!(val(&o, "source"), "old kept=0", "{}", dump(&o));
    assert_eq!(val(&o, "rc2"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "bound_after"), "yes db=old", "{}", dump(&o));
    assert_eq!(val(&o, "lost"), "0", "{}", dump(&o));
}
