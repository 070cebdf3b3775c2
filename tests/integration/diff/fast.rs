//! `diff` from the watcher's list of changed paths (issue 17): a real
//! watcher (fanotify and inotify) and a real diff, the list's answer
//! compared item by item with a full walk after randomized creates, writes,
//! renames (of directories too: a directory moved into place carries its
//! subtree), unlinks of baseline files, deletes and re-creates, mkdirs;
//! and every reason the list is not used, each of which must walk and say so.

use std::path::Path;

use serde_json::Value;

use crate::require_root;
use crate::util::Layout;

pub(super) const CONFIG: &str = r#"version = 1
[[persistence]]
path = "/persistent"
[[persistence.directories]]
path = "/var/lib/keep"
"#;

/// Shell: `start_watch BACKEND` (a watcher on `$WCFG` or `$CFG`, ready when
/// its list exists) and `stop_watch`; killed at exit.
pub(super) const WATCHER: &str = r#"
WP=
trap 'kill $WP 2>/dev/null || true' EXIT
start_watch() {
  rm -f "$R/run/impermctl/changes"
  "$IMPERMCTL" --root "$R" --config "${WCFG:-$CFG}" watch --no-dbus --backend "$1" --json-every "${JSON_EVERY:-0.2}" 2>>"$OUT/watch.err" & WP=$!
  for i in $(seq 400); do [ -s "$R/run/impermctl/changes" ] && return 0; sleep 0.05; done
  echo "watcher did not start"; cat "$OUT/watch.err"; return 1
}
stop_watch() { kill -TERM $WP; wait $WP || true; WP=; }
"#;

/// Shell: the config, a baseline tree with a persisted bind, the baseline,
/// and the `diffs NAME` helper (with [`WATCHER`]'s).
const SETUP: &str = r#"
mkdir -p "$R/var/lib/keep" "$R/persistent/var/lib/keep" "$R/run/impermctl" "$R/tmp" "$R/var/tmp"
mount --bind "$R/persistent/var/lib/keep" "$R/var/lib/keep"
# watch.ignore (/tmp, /var/tmp) on their own filesystem, as a tmpfs /tmp
# is: no hard link from there reaches a compared file. TMP_ON_ROOT=1 keeps
# them on the root's filesystem.
if [ -z "${TMP_ON_ROOT:-}" ]; then
  mount -t tmpfs tmpfs "$R/tmp"; mount -t tmpfs tmpfs "$R/var/tmp"
fi
python3 - "$R" <<'PY'
import os, sys
r = sys.argv[1]
for t in range(6):
    for m in range(4):
        d = f"{r}/srv/t{t}/m{m}"
        os.makedirs(d, exist_ok=True)
        for f in range(12):
            with open(f"{d}/f{f}", "w") as h:
                h.write("x" * f)
os.makedirs(f"{r}/etc/app/conf.d", exist_ok=True)
open(f"{r}/etc/app/conf.d/a.conf", "w").write("a")
PY
__PRE__
imp diff --capture-baseline 2>/dev/null
# diffs NAME: the answer (JSON) from the list if possible, and from a walk.
diffs() {
  imp diff --json > "$OUT/$1.fast.json" 2>>"$OUT/diff.err" || true
  imp diff --json --no-watcher > "$OUT/$1.walk.json" 2>>"$OUT/diff.err" || true
}
"#;

/// Python: randomized changes with seed `$2` under `$1` (the root).
const RANDOM_OPS: &str = r#"
python3 - "$R" "$SEED" <<'PY'
import os, random, shutil, sys
r, seed = sys.argv[1], int(sys.argv[2])
links = os.environ.get("LINKS") == "1"
rnd = random.Random(seed)
def files():
    out = []
    for d, ds, fs in os.walk(f"{r}/srv"):
        out += [os.path.join(d, f) for f in fs]
    return sorted(out)
def dirs():
    out = []
    for d, ds, fs in os.walk(f"{r}/srv"):
        out += [os.path.join(d, x) for x in ds]
    return sorted(out)
ops = ["create", "append", "truncate", "chmod", "chmod-dir", "old-mtime", "rename-file", "rename-dir",
       "unlink", "recreate", "mkdir-tree", "rmtree", "symlink", "away-and-back"]
if links:
    # Hard links into watched and ignored directories, written through
    # the new name, kept or unlinked.
    ops += ["link", "link-write-unlink", "link-ignored"]
for step in range(120):
    op = rnd.choice(ops)
    fs, ds = files(), dirs()
    put = ds or [f"{r}/srv"]  # where something new goes
    try:
        if op == "create":
            d = rnd.choice(put)
            open(f"{d}/n{step}", "w").write("new")
        elif op == "append" and fs:
            open(rnd.choice(fs), "a").write("+")
        elif op == "truncate" and fs:
            open(rnd.choice(fs), "w").close()
        elif op == "chmod" and fs:
            os.chmod(rnd.choice(fs), 0o600)
        elif op == "chmod-dir" and ds:
            os.chmod(rnd.choice(ds), 0o700)
        elif op == "old-mtime":
            p = f"{rnd.choice(put)}/old{step}"
            open(p, "w").write("o")
            os.utime(p, (978307200, 978307200))
        elif op == "rename-file" and fs:
            os.rename(rnd.choice(fs), f"{rnd.choice(put)}/mv{step}")
        elif op == "rename-dir" and ds:
            src = rnd.choice(ds)
            dst = f"{rnd.choice([x for x in ds if not x.startswith(src)] or [r + '/srv'])}/dmv{step}"
            os.rename(src, dst)
        elif op == "unlink" and fs:
            os.unlink(rnd.choice(fs))
        elif op == "recreate" and fs:
            p = rnd.choice(fs); os.unlink(p); open(p, "w").write("again")
        elif op == "mkdir-tree":
            base = f"{rnd.choice(put)}/new{step}"
            os.makedirs(f"{base}/a/b")
            for k in range(3):
                open(f"{base}/a/b/g{k}", "w").write("g")
        elif op == "rmtree" and ds:
            shutil.rmtree(rnd.choice(ds))
        elif op == "link" and fs:
            os.link(rnd.choice(fs), f"{rnd.choice(put)}/hl{step}")
        elif op in ("link-write-unlink", "link-ignored") and fs:
            where = f"{r}/tmp" if op == "link-ignored" else rnd.choice(put)
            ln = f"{where}/hl{step}"
            os.link(rnd.choice(fs), ln)
            open(ln, "a").write("through the link")
            if rnd.random() < 0.7:
                # Unlinked after the watcher saw the link (see below).
                open(f"{r}/run/unlink-later", "a").write(ln + "\n")
        elif op == "symlink":
            os.symlink("/nowhere", f"{rnd.choice(put)}/sl{step}")
        elif op == "away-and-back" and ds:
            # Moved out, changed inside, moved back: same inode, same path.
            src = rnd.choice(ds)
            os.rename(src, f"{r}/srv/away")
            for d, _, fs2 in os.walk(f"{r}/srv/away"):
                for f in fs2[:1]:
                    open(os.path.join(d, f), "a").write("changed away")
            os.rename(f"{r}/srv/away", src)
    except (FileNotFoundError, OSError):
        pass
# A directory made elsewhere, filled, then renamed into place; and a
# baseline directory replaced by another one under its name.
os.makedirs(f"{r}/staging/tree/deep")
open(f"{r}/staging/tree/deep/file", "w").write("moved in")
os.rename(f"{r}/staging/tree", f"{r}/etc/app/tree")
os.rename(f"{r}/etc/app/conf.d", f"{r}/etc/app/conf.d.old")
os.makedirs(f"{r}/etc/app/conf.d")
open(f"{r}/etc/app/conf.d/a.conf", "w").write("a")
PY
"#;

fn run(body: &str) -> (std::process::Output, tempfile::TempDir) {
    run_in("", "", body)
}

/// [`run`] after `env` (exports the setup reads), with `pre` run before the
/// baseline is captured.
fn run_in(env: &str, pre: &str, body: &str) -> (std::process::Output, tempfile::TempDir) {
    let setup = SETUP.replace("__PRE__", pre);
    super::vps_with(
        &Layout::default(),
        CONFIG,
        &format!("{env}{setup}{WATCHER}{body}"),
    )
}

fn doc(out: &Path, name: &str) -> Value {
    let b = std::fs::read(out.join(name)).unwrap_or_default();
    serde_json::from_slice(&b).unwrap_or_else(|e| {
        let err = std::fs::read_to_string(out.join("diff.err")).unwrap_or_default();
        let w = std::fs::read_to_string(out.join("watch.err")).unwrap_or_default();
        panic!(
            "{name} is not JSON ({e}): {}\n{err}\n{w}",
            String::from_utf8_lossy(&b)
        )
    })
}

/// The items as comparable rows (path, hex, type, change, size, class).
fn rows(v: &Value) -> Vec<String> {
    let mut r: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.to_string())
        .collect();
    r.sort();
    r
}

fn source(v: &Value) -> (String, String) {
    let s = &v["source"];
    (
        s["method"].as_str().unwrap_or("").to_string(),
        s["reason"].as_str().unwrap_or("").to_string(),
    )
}

/// The list's answer equals the walk's, item by item, and came from the list.
fn assert_same(out: &Path, name: &str) {
    let (fast, walk) = (
        doc(out, &format!("{name}.fast.json")),
        doc(out, &format!("{name}.walk.json")),
    );
    assert_eq!(
        source(&fast).0,
        "watcher",
        "{name}: the list was not used: {}",
        fast["source"]
    );
    assert_eq!(source(&walk), ("walk".into(), "--no-watcher".into()));
    let (f, w) = (rows(&fast), rows(&walk));
    let missing: Vec<_> = w.iter().filter(|x| !f.contains(x)).collect();
    let extra: Vec<_> = f.iter().filter(|x| !w.contains(x)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}: the list's answer differs from the walk's\nmissing: {missing:#?}\nextra: {extra:#?}"
    );
    assert!(w.len() > 10, "{name}: the changes were made: {w:?}");
    assert_eq!(fast["summary"]["loses_data"], walk["summary"]["loses_data"]);
}

fn randomized(backend: &str) {
    require_root!();
    let mut body = format!("start_watch {backend}\n");
    for seed in 1..=4 {
        body.push_str(&format!("SEED={seed}\n{RANDOM_OPS}\ndiffs seed{seed}\n"));
        // A later round starts from what the earlier one left.
        body.push_str("rm -rf \"$R/staging\" \"$R/etc/app/conf.d.old\" \"$R/etc/app/tree\"\n");
    }
    body.push_str("stop_watch\n");
    let (o, out) = run(&body);
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    for seed in 1..=4 {
        assert_same(out.path(), &format!("seed{seed}"));
    }
}

#[test]
fn the_fanotify_watchers_list_gives_the_walks_answer_after_random_changes() {
    randomized("fanotify");
}

#[test]
fn the_inotify_watchers_list_gives_the_walks_answer_after_random_changes() {
    randomized("inotify");
}

#[test]
fn after_a_queue_overflow_and_its_rescan_the_list_still_gives_the_walks_answer() {
    require_root!();
    let body = r#"
start_watch inotify
kill -STOP $WP
python3 - "$R" <<'PY'
import os, sys
r = sys.argv[1]
for d in range(20):
    os.makedirs(f"{r}/srv/burst/d{d}")
    for f in range(1000):
        open(f"{r}/srv/burst/d{d}/f{f}", "w").close()
open(f"{r}/srv/t0/m0/f3", "a").write("after")
PY
kill -CONT $WP
# A loaded machine may need longer than diff waits (2 s) for the drain and
# the rescan: ask again (deadline 60 tries) until the answer comes.
for i in $(seq 60); do
  diffs overflow
  grep -Eq '"method": ?"watcher"' "$OUT/overflow.fast.json" && break
done

stop_watch
grep -c "overflow" "$OUT/watch.err" > "$OUT/overflows" || true
"#;
    let (o, out) = run(body);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same(out.path(), "overflow");
}

/// Run `body` (after the setup) and return the reason the list was not used.
fn walked_because(body: &str) -> String {
    let (o, out) = run(&format!("{body}\ndiffs case\n"));
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let fast = doc(out.path(), "case.fast.json");
    let walk = doc(out.path(), "case.walk.json");
    let (method, reason) = source(&fast);
    assert_eq!(method, "walk", "{}", fast["source"]);
    assert_eq!(rows(&fast), rows(&walk), "a walk is a walk");
    reason
}

#[test]
fn every_reason_not_to_use_the_list_walks_and_says_why() {
    require_root!();
    let cases: [(&str, &str); 6] = [
        ("echo n > \"$R/srv/new\"", "the watcher is not running"),
        (
            "start_watch fanotify; kill -9 $WP; wait $WP || true; WP=",
            "is not running",
        ),
        // Started after the baseline, which is then put back: the watcher
        // cannot look back to its oldest record.
        (
            "mv \"$R/run/impermctl/baseline\" \"$OUT/b\"; start_watch inotify; mv \"$OUT/b\" \"$R/run/impermctl/baseline\"",
            "after the baseline's oldest record",
        ),
        (
            "start_watch inotify; umount \"$R/var/lib/keep\"",
            "/var/lib/keep is no longer a mount point",
        ),
        (
            "WCFG=\"$OUT/w.toml\"; { cat \"$CFG\"; printf '[watch]\\nignore = [\"/srv/t1\"]\\n'; } > \"$WCFG\"; start_watch inotify",
            "does not watch /srv/t1",
        ),
        (
            "export IMPERMCTL_CHANGES_CAP=500; start_watch fanotify; python3 -c 'import os,sys\nfor i in range(600): open(f\"{sys.argv[1]}/srv/c{i}\", \"w\").close()' \"$R\"",
            "more than 500 paths changed",
        ),
    ];
    for (body, want) in cases {
        let why = walked_because(body);
        assert!(why.contains(want), "{body}\nwant: {want}\ngot: {why}");
    }
    // --all always walks (it lists unchanged entries too).
    let (o, out) = run(
        "start_watch inotify\nimp diff --json --all > \"$OUT/all.json\" 2>>\"$OUT/diff.err\" || true\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (m, why) = source(&doc(out.path(), "all.json"));
    assert_eq!((m.as_str(), why.contains("--all")), ("walk", true), "{why}");
}

/// The fresh-user trial's tree: one inode under two names, two more files.
const LINKED_TREE: &str = r#"mkdir -p "$R/srv/a" "$R/srv/b" "$R/srv/c"
echo one > "$R/srv/a/f"; ln "$R/srv/a/f" "$R/srv/b/f"
echo two > "$R/srv/c/g"; echo three > "$R/srv/c/h""#;

/// Hard links with `backend`: each case's answer from `diff` (the list if
/// it can stand for a walk) equals the walk's, item by item, and where the
/// list cannot, diff walks and says why. A link to a baseline file is
/// followed through the file's baseline name (trial-s8 finding 9): the
/// list stands (an empty `want`).
fn hard_links(backend: &str) {
    require_root!();
    // (name, /tmp on the root's filesystem, changes, why diff walks)
    let cases: [(&str, bool, &str, &str); 6] = [
        // B: written through one of two baseline names.
        (
            "B",
            false,
            "echo more >> \"$R/srv/b/f\"",
            "a changed file has other hard links: /srv/",
        ),
        // A: written through a link made (and removed) in an ignored
        // directory on the compared filesystem: no write event names
        // /srv/c, but the watcher hears the link's creation there (`imp
        // diff` between: it handles the create while the link is there).
        (
            "A",
            true,
            "ln \"$R/srv/c/g\" \"$R/tmp/g2\"; imp diff >/dev/null 2>&1 || true; echo x >> \"$R/tmp/g2\"; rm \"$R/tmp/g2\"",
            "",
        ),
        // The same in a directory made in /var/tmp after the watcher
        // started (inotify: its creation-only watch came with it).
        (
            "A-new-dir",
            true,
            "mkdir -p \"$R/var/tmp/new/sub\"; imp diff >/dev/null 2>&1 || true; ln \"$R/srv/c/g\" \"$R/var/tmp/new/sub/g3\"; imp diff >/dev/null 2>&1 || true; echo x >> \"$R/var/tmp/new/sub/g3\"",
            "a changed file has other hard links: /srv/c/g",
        ),
        // The same through a watched directory (`imp diff` between: the
        // watcher handles the create while the link is there).
        (
            "A-watched",
            false,
            "ln \"$R/srv/c/g\" \"$R/srv/g2\"; imp diff >/dev/null 2>&1 || true; echo x >> \"$R/srv/g2\"; rm \"$R/srv/g2\"",
            "",
        ),
        // C: a link made and removed: only /srv/c/h's ctime changes.
        (
            "C",
            false,
            "ln \"$R/srv/c/h\" \"$R/srv/hl\"; imp diff >/dev/null 2>&1 || true; rm \"$R/srv/hl\"",
            "",
        ),
        // A link kept in a watched directory, never written.
        (
            "kept",
            false,
            "ln \"$R/srv/c/h\" \"$R/srv/c/h2\"",
            "hard link",
        ),
    ];
    for (name, tmp_on_root, ops, want) in cases {
        let body = format!("start_watch {backend}\n{ops}\ndiffs {name}\nstop_watch\n");
        let env = if tmp_on_root {
            "export TMP_ON_ROOT=1\n"
        } else {
            ""
        };
        let (o, out) = run_in(env, LINKED_TREE, &body);
        assert!(
            o.status.success(),
            "{name}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let fast = doc(out.path(), &format!("{name}.fast.json"));
        let walk = doc(out.path(), &format!("{name}.walk.json"));
        assert_eq!(rows(&fast), rows(&walk), "{name}: both bases agree");
        assert_eq!(
            fast["summary"]["loses_data"], walk["summary"]["loses_data"],
            "{name}"
        );
        assert!(!rows(&walk).is_empty(), "{name}: the walk sees the change");
        let (method, why) = source(&fast);
        if want.is_empty() {
            // The link's inode is followed through its baseline name.
            assert_eq!(method, "watcher", "{name}: {}", fast["source"]);
            continue;
        }
        assert_eq!(method, "walk", "{name}: {}", fast["source"]);
        assert!(why.contains(want), "{name}: want {want:?}, got {why:?}");
    }
}

#[test]
fn hard_links_make_the_fanotify_watchers_diff_walk_and_agree() {
    hard_links("fanotify");
}

#[test]
fn hard_links_make_the_inotify_watchers_diff_walk_and_agree() {
    hard_links("inotify");
}

/// Random changes with hard links (into watched directories and into an
/// ignored /tmp on the compared filesystem, written through the new name,
/// some unlinked): both bases agree, and the list is never used.
fn randomized_links(backend: &str, tmp_on_root: bool) {
    require_root!();
    let env = if tmp_on_root {
        "export TMP_ON_ROOT=1\n"
    } else {
        ""
    };
    let mut body = format!("start_watch {backend}\nexport LINKS=1\n");
    for seed in 5..=6 {
        // `imp diff` first: the watcher handles the links' creates while
        // they exist (a link made and removed before the watcher looks is
        // the documented limit).
        body.push_str(&format!(
            "SEED={seed}\n{RANDOM_OPS}\nimp diff >/dev/null 2>&1 || true\n\
             xargs -r rm -f < \"$R/run/unlink-later\" 2>/dev/null || true; rm -f \"$R/run/unlink-later\"\n\
             diffs seed{seed}\n"
        ));
        body.push_str("rm -rf \"$R/staging\" \"$R/etc/app/conf.d.old\" \"$R/etc/app/tree\"\n");
    }
    body.push_str("stop_watch\n");
    let (o, out) = run_in(env, "", &body);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for seed in 5..=6 {
        let name = format!("seed{seed}");
        let fast = doc(out.path(), &format!("{name}.fast.json"));
        let walk = doc(out.path(), &format!("{name}.walk.json"));
        let (f, w) = (rows(&fast), rows(&walk));
        let missing: Vec<_> = w.iter().filter(|x| !f.contains(x)).collect();
        let extra: Vec<_> = f.iter().filter(|x| !w.contains(x)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: the bases differ ({})\nmissing: {missing:#?}\nextra: {extra:#?}",
            fast["source"]
        );
        let (method, why) = source(&fast);
        assert_eq!(method, "walk", "{name}: {}", fast["source"]);
        assert!(why.contains("hard link"), "{name}: {why}");
    }
}

#[test]
fn random_changes_with_hard_links_agree_with_fanotify() {
    randomized_links("fanotify", false);
    randomized_links("fanotify", true);
}

#[test]
fn random_changes_with_hard_links_agree_with_inotify() {
    randomized_links("inotify", false);
    randomized_links("inotify", true);
}

/// A few writes per directory into groups already reported stay listed:
/// only a directory written many times is muted and walked whole (before,
/// the first event after a group's report muted the whole group and diff
/// walked every reported group).
fn sparse_writes_in_reported_groups(backend: &str) {
    require_root!();
    let body = format!(
        r#"
start_watch {backend}
for t in 0 1 2 3 4 5; do echo first > "$R/srv/t$t/first"; done
# Deadline-polled: each group reported (its warning logged).
for i in $(seq 400); do
  [ "$(grep -c 'is not persisted' "$OUT/watch.err")" -ge 6 ] && break; sleep 0.05
done
for t in 0 1 2 3 4 5; do for m in 0 1 2 3; do
  echo more >> "$R/srv/t$t/m$m/f3"; echo new > "$R/srv/t$t/m$m/new"
done; done
diffs sparse
# One directory written many times: muted, walked whole, still exact.
for i in $(seq 300); do echo hot > "$R/srv/t2/m1/hot$i"; done
echo after >> "$R/srv/t2/m1/f5"
diffs hot
stop_watch
"#
    );
    let (o, out) = run(&body);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same(out.path(), "sparse");
    assert_same(out.path(), "hot");
    let fast = doc(out.path(), "sparse.fast.json");
    assert_eq!(fast["source"]["subtrees"], 0, "{}", fast["source"]);
    let hot = doc(out.path(), "hot.fast.json");
    assert!(
        hot["source"]["subtrees"].as_u64().unwrap_or(0) >= 1,
        "the hot directory is muted and walked: {}",
        hot["source"]
    );
}

#[test]
fn sparse_writes_in_reported_groups_stay_listed_with_fanotify() {
    sparse_writes_in_reported_groups("fanotify");
}

#[test]
fn sparse_writes_in_reported_groups_stay_listed_with_inotify() {
    sparse_writes_in_reported_groups("inotify");
}

/// `/tmp` and `/var/tmp` ignored (the default `watch.ignore`) on the
/// root's own filesystem, as on vpsFree: files made, written, renamed and
/// removed there (none a hard link) leave the list usable, and its answer
/// is the walk's; a link already in `/var/tmp` when the watcher starts
/// makes the fast path walk when a changed file has it. Before, any ignored path on the compared filesystem
/// made diff walk ("a hard link made there to a compared file goes
/// unseen").
fn ignored_dirs_on_the_root_filesystem(backend: &str) {
    require_root!();
    let body = format!(
        r#"
start_watch {backend}
mkdir -p "$R/tmp/build/obj" "$R/var/tmp/cache"
for i in $(seq 50); do echo $i > "$R/tmp/build/obj/o$i"; echo $i >> "$R/var/tmp/cache/c$i"; done
mv "$R/tmp/build" "$R/tmp/build.done"; rm -f "$R/var/tmp/cache/c1"*
for t in 1 2; do for m in 0 1 2 3; do
  echo more >> "$R/srv/t$t/m$m/f4"; echo new > "$R/srv/t$t/m$m/new"
done; done
mkdir "$R/srv/t4/dir"
diffs ignored
# A burst of new files into one ignored directory: past a few dozen its
# creations are no longer heard one by one; diff checks its files for
# links instead, so a link made there later still makes it walk.
mkdir "$R/tmp/burst"; for i in $(seq 200); do echo $i > "$R/tmp/burst/b$i"; done
echo x >> "$R/srv/t3/m1/f1"
diffs burst
# diff made the watcher catch up, so it watches /tmp/burst now: these
# creations are heard (on a loaded machine the first burst can all land
# before the new directory is watched, and be found by its scan instead).
for i in $(seq 201 400); do echo $i > "$R/tmp/burst/b$i"; done
# A directory made in the hot one is not heard name by name either (diff
# walks the hot one whole): a link made in it is found all the same.
mkdir "$R/tmp/burst/sub"
ln "$R/srv/t0/m1/f2" "$R/tmp/burst/sub/late-link"; echo y >> "$R/tmp/burst/sub/late-link"
diffs burstlink
rm "$R/tmp/burst/sub/late-link"
stop_watch
ln "$R/srv/t0/m0/f1" "$R/var/tmp/old-link"
start_watch {backend}
echo x >> "$R/srv/t2/m0/f2"
diffs prelinked
stop_watch
"#
    );
    let (o, out) = run_in("export TMP_ON_ROOT=1\n", "", &body);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same(out.path(), "ignored");
    assert_same(out.path(), "burst");
    let fast = doc(out.path(), "burstlink.fast.json");
    let walk = doc(out.path(), "burstlink.walk.json");
    assert_eq!(rows(&fast), rows(&walk), "both bases agree");
    assert!(
        rows(&walk).iter().any(|r| r.contains("/srv/t0/m1/f2")),
        "the write through the link is seen"
    );
    let (method, why) = source(&fast);
    assert_eq!(method, "walk", "{}", fast["source"]);
    assert!(
        why.contains("has other hard links: /tmp/burst/sub/late-link"),
        "{why}"
    );
    // A link there at start to a baseline file, written through its other
    // name: the fast path walks (a changed file with other links), the
    // bases agree.
    let fast = doc(out.path(), "prelinked.fast.json");
    let walk = doc(out.path(), "prelinked.walk.json");
    assert_eq!(rows(&fast), rows(&walk), "both bases agree");
    let (method, why) = source(&fast);
    assert_eq!(method, "walk", "{}", fast["source"]);
    assert!(why.contains("has other hard links: /srv/t0/m0/f1"), "{why}");
}

#[test]
fn ignored_dirs_on_the_root_filesystem_keep_the_list_with_fanotify() {
    ignored_dirs_on_the_root_filesystem("fanotify");
}

#[test]
fn ignored_dirs_on_the_root_filesystem_keep_the_list_with_inotify() {
    ignored_dirs_on_the_root_filesystem("inotify");
}

/// A fresh user's trial: "written by bash" appeared only in the walk (the
/// list came before the watcher's periodic watch.json). Now answering diff
/// (which asks even to walk) the watcher writes watch.json first: the same
/// change renders the same from both bases, whichever runs first.
fn both_bases_attribute_alike(backend: &str) {
    require_root!();
    let body = format!(
        r#"
export JSON_EVERY=60
start_watch {backend}
# The writer stays until its warning is logged (the watcher names it from
# /proc while it lives).
mkfifo "$OUT/hold"
bash -c 'echo x > "$1/srv/t0/m0/by-bash"; read -r _ < "$2"' _ "$R" "$OUT/hold" & BP=$!
for i in $(seq 400); do grep -q 'is not persisted' "$OUT/watch.err" && break; sleep 0.05; done
echo go > "$OUT/hold"; wait $BP
imp diff --no-watcher > "$OUT/walk.txt" 2>>"$OUT/diff.err" || true
imp diff > "$OUT/fast.txt" 2>>"$OUT/diff.err" || true
stop_watch
"#
    );
    let (o, out) = run(&body);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |f: &str| std::fs::read_to_string(out.path().join(f)).unwrap_or_default();
    let (fast, walk) = (read("fast.txt"), read("walk.txt"));
    assert!(fast.contains("found by: the watcher's list"), "{fast}");
    let body = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("found by:"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(body(&fast), body(&walk), "fast:\n{fast}\nwalk:\n{walk}");
    // fanotify events carry the writer's pid (inotify's do not).
    if backend == "fanotify" {
        assert!(fast.contains("written by bash"), "{fast}");
    }
}

#[test]
fn both_bases_attribute_writers_alike_with_fanotify() {
    both_bases_attribute_alike("fanotify");
}

#[test]
fn both_bases_attribute_writers_alike_with_inotify() {
    both_bases_attribute_alike("inotify");
}

/// A root populated just before the baseline, as at boot (the baseline's
/// origin is a second before its walk, so every ctime there is after it),
/// then a few real changes: the start-up rescan lists only what differs
/// from the baseline's records (before, it listed all 400 fresh files),
/// and the list's answer is the walk's, item by item.
fn populated_just_before_the_baseline(backend: &str) {
    require_root!();
    let pre = r#"python3 - "$R" <<'PY'
import os, sys
for d in range(10):
    os.makedirs(f"{sys.argv[1]}/srv/fresh/d{d}")
    for f in range(40):
        open(f"{sys.argv[1]}/srv/fresh/d{d}/f{f}", "w").write("x" * f)
PY
"#;
    let body = format!(
        r#"
start_watch {backend}
for d in 0 1 2 3; do echo more >> "$R/srv/fresh/d$d/f1"; echo new > "$R/srv/fresh/d$d/new"; done
mkdir -p "$R/srv/fresh/d5/sub"; echo s > "$R/srv/fresh/d5/sub/s"
chmod 600 "$R/srv/fresh/d6/f2"; mv "$R/srv/fresh/d7/f3" "$R/srv/fresh/d8/moved"
echo more >> "$R/srv/t0/m0/f1"
diffs fresh
stop_watch
"#
    );
    let (o, out) = run_in("", pre, &body);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same(out.path(), "fresh");
    let fast = doc(out.path(), "fresh.fast.json");
    let paths = fast["source"]["paths"].as_u64().unwrap_or(u64::MAX);
    assert!(
        paths <= 20,
        "only what changed is listed ({paths} paths for 13 changes): {}",
        fast["source"]
    );
}

#[test]
fn a_root_populated_just_before_the_baseline_lists_only_real_changes_with_fanotify() {
    populated_just_before_the_baseline("fanotify");
}

#[test]
fn a_root_populated_just_before_the_baseline_lists_only_real_changes_with_inotify() {
    populated_just_before_the_baseline("inotify");
}

/// `diff` from the list stats each listed path by its whole path, without
/// opening the directories on the way: a directory replaced by a symlink
/// (here to a directory holding a baseline file of the same name as the
/// listed one) is listed itself, and nothing listed below it is looked at
/// through the link; a directory replaced by a file likewise. `diff PATH`
/// below such a symlink says the same as the walk.
fn replaced_by_links(backend: &str) {
    require_root!();
    let body = format!(
        r#"start_watch {backend}
mkdir "$R/srv/d" "$R/srv/e"; echo new > "$R/srv/d/f3"; echo new > "$R/srv/e/g"
for i in 1 2 3; do echo n > "$R/srv/t3/m1/n$i"; done
imp diff >/dev/null 2>&1 || true
mv "$R/srv/d" "$R/srv/d.old"; ln -s t1/m0 "$R/srv/d"
mv "$R/srv/e" "$R/srv/e.old"; echo file > "$R/srv/e"
mkdir -p "$R/srv/t2/m0/sub"; echo n > "$R/srv/t2/m0/sub/f3"
imp diff >/dev/null 2>&1 || true
mv "$R/srv/t2/m0/sub" "$R/srv/t2/m0/sub.old"; ln -s ../../t1/m0 "$R/srv/t2/m0/sub"
diffs replaced
imp diff --json /srv/t2/m0/sub > "$OUT/sub.fast.json" 2>>"$OUT/diff.err" || true
imp diff --json --no-watcher /srv/t2/m0/sub > "$OUT/sub.walk.json" 2>>"$OUT/diff.err" || true
stop_watch
"#
    );
    let (o, out) = run(&body);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same(out.path(), "replaced");
    let got = rows(&doc(out.path(), "replaced.fast.json"));
    assert!(!got.iter().any(|r| r.contains("/srv/d/f3")), "{got:?}");
    assert_eq!(
        rows(&doc(out.path(), "sub.fast.json")),
        rows(&doc(out.path(), "sub.walk.json"))
    );
}

#[test]
fn a_directory_replaced_by_a_symlink_is_not_looked_through_with_fanotify() {
    replaced_by_links("fanotify");
}

#[test]
fn a_directory_replaced_by_a_symlink_is_not_looked_through_with_inotify() {
    replaced_by_links("inotify");
}

/// A listed path longer than `PATH_MAX` (written into a file 20 levels of
/// 250-byte names down, made before the baseline) is reached one
/// directory at a time: the same answer as the walk, not "unreadable".
#[test]
fn a_listed_path_past_path_max_is_looked_at_like_the_walk_does() {
    require_root!();
    let body = r#"start_watch fanotify
python3 - "$R" <<'PY'
import os, sys
fd = os.open(sys.argv[1] + "/srv/deep", os.O_RDONLY)
for i in range(20):
    fd = os.open(("%03d" % i) + "d" * 247, os.O_RDONLY, dir_fd=fd)
f = os.open("f", os.O_WRONLY | os.O_APPEND, dir_fd=fd)
os.write(f, b"more"); os.close(f)
PY
for i in 1 2 3 4 5 6 7 8 9 10 11; do echo n > "$R/srv/t4/m2/n$i"; done
diffs deep
stop_watch
"#;
    let (o, out) = run_in("", r#"mkdeep "$R/srv" 20 f 5"#, body);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same(out.path(), "deep");
    let fast = doc(out.path(), "deep.fast.json");
    assert!(fast.to_string().contains("ddddd/f"), "{fast}");
    assert_eq!(
        fast["unreadable"].as_array().map_or(0, Vec::len),
        0,
        "{fast}"
    );
}
