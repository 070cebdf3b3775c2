//! Files written through a shared writable mapping and kept mapped (LMDB,
//! SQLite's `-shm`): no event names such a write, so the watcher reads
//! every process's mappings as `diff` does (trial-s9 F1). Before, `diff`
//! listed the file while the watcher warned about nothing, `status` said
//! 0 groups and the summary "nothing the watcher saw written". A real
//! watcher (both backends), a real writer process.

use super::{says, with_watcher};
use crate::require_root;
use crate::util::Layout;

/// Python: the writer, `WRITER OUT R`. Maps, each from `R` and `MAP_SHARED`
/// unless said: `ro.mdb` read-only, `private.db` `MAP_PRIVATE` writable
/// (both from a read-only fd), the persisted `/var/lib/keep/db` writable,
/// and writes through the writable ones. Then, at each `$OUT/goN`, maps
/// the Nth file of `STEPS` writable (the fd kept: no close is heard),
/// writes, flushes and says `$OUT/writtenN`. It stays, all mapped.
const WRITER: &str = r#"
import mmap, os, sys, time
out, r = sys.argv[1], sys.argv[2]
open(out + "/writer.pid", "w").write(str(os.getpid()))
RW = mmap.PROT_READ | mmap.PROT_WRITE
def m(path, mode, flags, prot):
    return mmap.mmap(os.open(r + path, mode), 8192, flags=flags, prot=prot)
held = [m("/var/lib/lmdb/ro.mdb", os.O_RDONLY, mmap.MAP_SHARED, mmap.PROT_READ)]
for path, mode, flags in [("/var/lib/lmdb/private.db", os.O_RDONLY, mmap.MAP_PRIVATE),
                          ("/var/lib/keep/db", os.O_RDWR, mmap.MAP_SHARED)]:
    held.append(m(path, mode, flags, RW))
    held[-1][0:7] = b"private"; held[-1].flush()
STEPS = ["/var/lib/lmdb/data.mdb", "/var/lib/lmdb/second.mdb", "/srv/db/third.mdb"]
for n, path in enumerate(STEPS):
    while not os.path.exists(out + "/go%d" % n):
        time.sleep(0.02)
    held.append(m(path, os.O_RDWR, mmap.MAP_SHARED, RW))
    held[-1][0:11] = b"IMPORTANT!!"; held[-1].flush()
    open(out + "/written%d" % n, "w").close()
time.sleep(120)
"#;

/// Shell, before the watcher: the files (8 KiB each), `/var/lib/keep`
/// declared and bound from `/persistent`, the baseline; `step N` lets the
/// writer do its Nth write and waits for it (deadline 20 s).
const BEFORE: &str = r#"
mkdir -p "$R/var/lib/lmdb" "$R/var/lib/keep" "$R/persistent/var/lib/keep" "$R/srv/db"
mount --bind "$R/persistent/var/lib/keep" "$R/var/lib/keep"
printf 'version = 1\n[[persistence]]\npath = "/persistent"\ndirectories = ["/var/lib/keep"]\n' > "$CFG"
for f in lmdb/data.mdb lmdb/second.mdb lmdb/ro.mdb lmdb/private.db keep/db; do
  head -c 8192 /dev/zero > "$R/var/lib/$f"
done
head -c 8192 /dev/zero > "$R/srv/db/third.mdb"
imp diff --capture-baseline >/dev/null
step() {
  touch "$OUT/go$1"
  for i in $(seq 400); do [ -e "$OUT/written$1" ] && return 0; sleep 0.05; done
  echo "the writer did not write" >&2; cat "$OUT/writer.err" >&2; return 1
}
"#;

/// Step 0 is warned about by the periodic scan, naming the writer; step 1
/// is counted by `status` (SIGUSR2) right after; step 2 is in the shutdown
/// summary, the writer still running. The read-only, private and persisted
/// mappings are never counted.
fn mapped_writes(backend: &str, layout: &Layout) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("writer.py"), WRITER).unwrap();
    let body = r#"
python3 "$OUT/writer.py" "$OUT" "$R" 2>"$OUT/writer.err" & WRITER_PID=$!
trap 'kill $WRITER_PID 2>/dev/null; ( kill -CONT $WP; kill $WP ) 2>/dev/null || true' EXIT
step 0
for i in $(seq 600); do grep -q "write to /var/lib/lmdb/data.mdb" "$OUT/stderr" && break; sleep 0.05; done
step 1
imp status > "$OUT/status" 2>&1 || true
step 2
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), layout, &args, BEFORE, body);
    let pid = std::fs::read_to_string(tmp.path().join("writer.pid")).unwrap();
    let warned = format!("write to /var/lib/lmdb/data.mdb by python3[{pid}]");
    assert!(err.contains(&warned), "no «{warned}» in\n{err}");
    let status = std::fs::read_to_string(tmp.path().join("status")).unwrap();
    let row = status.lines().find(|l| l.starts_with("  /var/lib/lmdb  "));
    assert!(
        row.is_some_and(|r| r.contains(" 2 files  16 KiB")),
        "{status}\n{err}"
    );
    let counted = |g: &str| status.lines().any(|l| l.starts_with(&format!("  {g}  ")));
    assert!(!counted("/var/lib/keep"), "{status}");
    let summary = err.lines().find(|l| l.contains(says::DISCARD)).unwrap();
    assert!(
        summary.contains("3 files")
            && summary.contains("/var/lib/lmdb (2 files")
            && summary.contains("/srv/db (1 file"),
        "{summary}\n{err}"
    );
    for never in ["ro.mdb", "private.db", "/var/lib/keep/db"] {
        assert!(!err.contains(never), "{never} in\n{err}");
    }
}

#[test]
fn a_file_written_through_a_held_mapping_is_warned_counted_and_summarised_with_fanotify() {
    require_root!();
    mapped_writes("fanotify", &Layout::default());
}

#[test]
fn a_file_written_through_a_held_mapping_is_warned_counted_and_summarised_with_inotify() {
    require_root!();
    mapped_writes("inotify", &Layout::default());
}

/// `/persistent` on the root's own filesystem: the persisted mapping has
/// the root's device, and is left out as a mount point.
#[test]
fn a_persisted_mapping_on_the_roots_filesystem_is_never_counted() {
    require_root!();
    let layout = Layout {
        persistent_on_root: true,
        ..Layout::default()
    };
    mapped_writes("fanotify", &layout);
}

/// Trial-s9 F2, in part: a file written through a mapping the watcher saw,
/// then unmapped with its descriptor kept open (no close heard), stays in
/// the watcher's list: `diff` from the list finds it as a walk does.
#[test]
fn a_file_the_watcher_saw_mapped_stays_listed_after_munmap() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"mkdir -p "$R/srv/pre"; head -c 8192 /dev/zero > "$R/srv/pre/unmapped"
imp diff --capture-baseline >/dev/null"#;
    let body = r#"
python3 -c '
import mmap, os, sys, time
fd = os.open(sys.argv[1] + "/srv/pre/unmapped", os.O_RDWR)
m = mmap.mmap(fd, 8192); m[0:4] = b"data"; m.flush()
while not os.path.exists(sys.argv[2] + "/unmap"):
    time.sleep(0.02)
m.close(); open(sys.argv[2] + "/unmapped", "w").close(); time.sleep(120)' "$R" "$OUT" & WRITER_PID=$!
trap 'kill $WRITER_PID 2>/dev/null; ( kill -CONT $WP; kill $WP ) 2>/dev/null || true' EXIT
for i in $(seq 600); do grep -q "write to /srv/pre/unmapped" "$OUT/stderr" && break; sleep 0.05; done
touch "$OUT/unmap"; for i in $(seq 400); do [ -e "$OUT/unmapped" ] && break; sleep 0.05; done
imp diff -l > "$OUT/diff" 2>&1 || true
"#;
    let err = with_watcher(
        tmp.path(),
        &Layout::default(),
        "--backend fanotify",
        before,
        body,
    );
    let diff = std::fs::read_to_string(tmp.path().join("diff")).unwrap();
    assert!(diff.contains("found by: the watcher's list"), "{diff}");
    assert!(diff.contains("/srv/pre/unmapped"), "{diff}\n{err}");
}

/// Trial-s9 F2: a file opened `O_RDWR`, written through a mapping that
/// lives far less than the scan's 5 s, unmapped, its descriptor kept open:
/// no event, no mapping left to see. The scan finds the changed file open
/// for writing: warned about naming the writer, counted in `status`, as
/// `diff` counts it.
fn a_short_mapping_with_its_fd_kept_open(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"mkdir -p "$R/srv/pre"; head -c 8192 /dev/zero > "$R/srv/pre/short"
imp diff --capture-baseline >/dev/null"#;
    let body = r#"
python3 -c '
import mmap, os, sys, time
fd = os.open(sys.argv[1] + "/srv/pre/short", os.O_RDWR)
m = mmap.mmap(fd, 8192); m[0:4] = b"data"; m.close()
open(sys.argv[2] + "/writer.pid", "w").write(str(os.getpid()))
time.sleep(120)' "$R" "$OUT" & WRITER_PID=$!
trap 'kill $WRITER_PID 2>/dev/null; ( kill -CONT $WP; kill $WP ) 2>/dev/null || true' EXIT
for i in $(seq 600); do grep -q "write to /srv/pre/short" "$OUT/stderr" && break; sleep 0.05; done
imp status > "$OUT/status" 2>&1 || true
imp diff > "$OUT/diff" 2>&1 || true
"#;
    let args = format!("--backend {backend}");
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, body);
    let pid = std::fs::read_to_string(tmp.path().join("writer.pid")).unwrap();
    let warned = format!("write to /srv/pre/short by python3[{pid}]");
    assert!(err.contains(&warned), "no «{warned}» in\n{err}");
    let status = std::fs::read_to_string(tmp.path().join("status")).unwrap();
    let row = status.lines().find(|l| l.starts_with("  /srv/pre  "));
    assert!(
        row.is_some_and(|r| r.contains(" 1 file  8.0 KiB")),
        "{status}\n{err}"
    );
    let diff = std::fs::read_to_string(tmp.path().join("diff")).unwrap();
    assert!(
        diff.contains("total: 8.0 KiB in 1 file and 1 group"),
        "{diff}"
    );
}

#[test]
fn a_file_written_through_a_short_mapping_with_its_fd_kept_open_is_warned_with_fanotify() {
    require_root!();
    a_short_mapping_with_its_fd_kept_open("fanotify");
}

#[test]
fn a_file_written_through_a_short_mapping_with_its_fd_kept_open_is_warned_with_inotify() {
    require_root!();
    a_short_mapping_with_its_fd_kept_open("inotify");
}
