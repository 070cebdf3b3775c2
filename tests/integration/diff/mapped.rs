//! `diff` from the watcher's list and files written through a shared
//! writable mapping (the fresh-user trial's finding 13): no event names
//! such a write, so `diff` looks at every file of the root mapped shared
//! and writable (`/proc/PID/maps`), or walks and says why. A real watcher
//! (both backends), real writer processes, a real walk to compare with.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::fast::{CONFIG, WATCHER};
use crate::require_root;
use crate::util::Layout;

/// Shell: the tree, the baseline, and `diffs NAME` (the answer from the
/// list if it can be used, and from a walk, as JSON).
const SETUP: &str = r#"
mkdir -p "$R/var/lib/keep" "$R/persistent/var/lib/keep" "$R/run/impermctl" "$R/tmp" "$R/var/tmp" "$R/var/lib/lmdb" "$R/srv/real" "$R/srv/view"
mount --bind "$R/persistent/var/lib/keep" "$R/var/lib/keep"
mount -t tmpfs tmpfs "$R/tmp"; mount -t tmpfs tmpfs "$R/var/tmp"
for f in var/lib/lmdb/data.mdb var/lib/lmdb/closed.mdb var/lib/lmdb/ro.mdb var/lib/lmdb/private.db var/lib/keep/db srv/real/f; do
  head -c 8192 /dev/zero > "$R/$f"
done
diffs() {
  imp diff --json > "$OUT/$1.fast.json" 2>>"$OUT/diff.err" || true
  imp diff --json --no-watcher > "$OUT/$1.walk.json" 2>>"$OUT/diff.err" || true
}
# wait_for FILE: poll with a deadline (20 s).
wait_for() {
  for i in $(seq 400); do [ -e "$1" ] && return 0; sleep 0.05; done
  echo "no $1"; cat "$OUT/writer.err" "$OUT/watch.err"; return 1
}
"#;

/// Python: the writer, `WRITER OUT R`. Before the baseline it maps
/// `closed.mdb` shared and writable and closes the fd at once, then says
/// `$OUT/mapped`. When `$OUT/go` appears, it maps (each `MAP_SHARED`
/// unless said) `ro.mdb` read-only, `private.db` `MAP_PRIVATE` writable
/// (both from a read-only fd: no close is heard as a write), the persisted
/// `/var/lib/keep/db` writable, and `data.mdb` writable with its fd kept
/// (the trial's reproducer); writes through every writable mapping,
/// flushes, says `$OUT/written` and stays.
const WRITER: &str = r#"
import mmap, os, sys, time
out, r = sys.argv[1], sys.argv[2]
def m(path, mode, flags, prot, close):
    fd = os.open(r + path, mode)
    mm = mmap.mmap(fd, 8192, flags=flags, prot=prot)
    if close:
        os.close(fd)
    return mm
RW = mmap.PROT_READ | mmap.PROT_WRITE
closed = m("/var/lib/lmdb/closed.mdb", os.O_RDWR, mmap.MAP_SHARED, RW, True)
open(out + "/mapped", "w").close()
while not os.path.exists(out + "/go"):
    time.sleep(0.02)
ro = m("/var/lib/lmdb/ro.mdb", os.O_RDONLY, mmap.MAP_SHARED, mmap.PROT_READ, True)
private = m("/var/lib/lmdb/private.db", os.O_RDONLY, mmap.MAP_PRIVATE, RW, True)
keep = m("/var/lib/keep/db", os.O_RDWR, mmap.MAP_SHARED, RW, False)
data = m("/var/lib/lmdb/data.mdb", os.O_RDWR, mmap.MAP_SHARED, RW, False)
for mm in (data, closed, private, keep):
    mm[0:11] = b"IMPORTANT!!"
    mm.flush()
open(out + "/written", "w").close()
time.sleep(120)
"#;

fn doc(out: &Path, name: &str) -> Value {
    let b = std::fs::read(out.join(name)).unwrap_or_default();
    serde_json::from_slice(&b).unwrap_or_else(|e| {
        let err = std::fs::read_to_string(out.join("diff.err")).unwrap_or_default();
        panic!(
            "{name} is not JSON ({e}): {}\n{err}",
            String::from_utf8_lossy(&b)
        )
    })
}

fn rows(v: &Value) -> BTreeSet<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.to_string())
        .collect()
}

fn changed(v: &Value) -> BTreeSet<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["class"] != "regenerated")
        .map(|i| {
            format!(
                "{} {}",
                i["change"].as_str().unwrap(),
                i["path"].as_str().unwrap()
            )
        })
        .collect()
}

fn run(body: &str) -> tempfile::TempDir {
    let script = format!("{SETUP}{WATCHER}{body}");
    let (o, out) = super::vps_with(&Layout::default(), CONFIG, &script);
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The trial's reproducer (t27) and its class: written through a mapping
/// whose fd is kept, and through one whose fd was closed before the
/// baseline, both listed from the list as by a walk; the read-only, the
/// private and the persisted mappings add nothing, and nothing makes the
/// list unusable.
fn mapped_writes(backend: &str) {
    require_root!();
    let body = format!(
        r#"
cat > "$OUT/writer.py" <<'PY'
{WRITER}
PY
python3 "$OUT/writer.py" "$OUT" "$R" 2>"$OUT/writer.err" & WRITER_PID=$!
trap 'kill $WP $WRITER_PID 2>/dev/null || true' EXIT
wait_for "$OUT/mapped"
imp diff --capture-baseline 2>/dev/null
start_watch {backend}
diffs before
touch "$OUT/go"; wait_for "$OUT/written"
diffs during
kill $WRITER_PID; wait $WRITER_PID || true
stop_watch
"#
    );
    let out = run(&body);
    let o = out.path();
    let before = doc(o, "before.fast.json");
    assert_eq!(
        before["source"]["method"], "watcher",
        "{}",
        before["source"]
    );
    assert!(changed(&before).is_empty(), "{:?}", changed(&before));
    let (fast, walk) = (doc(o, "during.fast.json"), doc(o, "during.walk.json"));
    assert_eq!(walk["source"]["reason"], "--no-watcher");
    let want: BTreeSet<String> = [
        "modified /var/lib/lmdb/closed.mdb",
        "modified /var/lib/lmdb/data.mdb",
    ]
    .map(String::from)
    .into();
    assert_eq!(changed(&walk), want, "the walk sees both writes");
    assert_eq!(fast["source"]["method"], "watcher", "{}", fast["source"]);
    assert_eq!(changed(&fast), want, "{}", fast["source"]);
    assert_eq!(rows(&fast), rows(&walk));
    assert_eq!(fast["summary"]["loses_data"], true);
    // The watcher heard none of the writes: one more path looked at,
    // `data.mdb` (not the read-only, private or persisted mappings made
    // with it).
    let paths = |v: &Value| v["source"]["paths"].as_u64().unwrap();
    assert_eq!(paths(&fast), paths(&before) + 1, "{}", fast["source"]);
}

#[test]
fn files_written_through_a_shared_mapping_are_listed_with_fanotify() {
    mapped_writes("fanotify");
}

#[test]
fn files_written_through_a_shared_mapping_are_listed_with_inotify() {
    mapped_writes("inotify");
}

/// A file mapped through a mount only the writer's mount namespace has:
/// `/proc` prints a path where diff finds another file, so the list cannot
/// vouch: diff walks, says why, and the walk finds the write.
#[test]
fn a_mapping_diff_cannot_find_on_the_root_makes_it_walk() {
    require_root!();
    let body = r#"
start_watch fanotify
unshare -m --propagation private sh -c '
  mount --bind "$1/srv/real" "$1/srv/view"
  exec python3 -c "
import mmap, os, sys, time
fd = os.open(sys.argv[1] + \"/srv/view/f\", os.O_RDWR)
m = mmap.mmap(fd, 8192); m[0:4] = b\"data\"; m.flush()
open(sys.argv[2] + \"/written\", \"w\").close()
time.sleep(120)" "$1" "$2"' sh "$R" "$OUT" 2>"$OUT/writer.err" & WRITER_PID=$!
trap 'kill $WP $WRITER_PID 2>/dev/null || true' EXIT
wait_for "$OUT/written"
diffs view
kill $WRITER_PID; wait $WRITER_PID || true
stop_watch
"#;
    let out = run(&format!("imp diff --capture-baseline 2>/dev/null\n{body}"));
    let (fast, walk) = (
        doc(out.path(), "view.fast.json"),
        doc(out.path(), "view.walk.json"),
    );
    assert_eq!(fast["source"]["method"], "walk", "{}", fast["source"]);
    let why = fast["source"]["reason"].as_str().unwrap();
    assert!(
        why.contains("/srv/view/f mapped shared and writable"),
        "{why}"
    );
    assert_eq!(rows(&fast), rows(&walk));
    assert!(
        changed(&walk).contains("modified /srv/real/f"),
        "{:?}",
        changed(&walk)
    );
}
