//! `diff`'s judgement on a fake vpsFree layout, as a fresh user meets it:
//! `method = "copy"` files, important directories, declared entries whose
//! persistence root is unusable, and the suggestions built from them.

use super::{read, run_with, vps_with};
use crate::require_root;
use crate::util::{Layout, assert_code};

/// The trial's seed config plus a `method = "copy"` /etc/shadow.
const SEED: &str = r#"version = 1
[[persistence]]
path = "/persistent"
hide_mounts = true
directories = ["/etc/nixos", "/var/log", "/var/lib/nixos"]
files = [ "/etc/machine-id", { path = "/etc/shadow", method = "copy" } ]
"#;

#[test]
fn copy_files_are_persisted_until_they_change_and_sync_saves_them() {
    require_root!();
    let out = run_with(
        SEED,
        r#"mkdir -p "$R/persistent/etc"; echo root:p: > "$R/persistent/etc/shadow"
set +e
imp boot > "$OUT/boot.out" 2>&1; echo $? > "$OUT/rc-boot"
imp diff > "$OUT/after"; echo $? > "$OUT/rc-after"
imp diff --suggest > "$OUT/suggest" 2>&1
echo root:changed: > "$R/etc/shadow"
imp diff > "$OUT/changed"; echo $? > "$OUT/rc-changed"
imp sync > "$OUT/sync.out" 2>&1
imp diff > "$OUT/synced"; echo $? > "$OUT/rc-synced"
imp diff --all > "$OUT/all" 2>&1
cat "$R/persistent/etc/shadow" > "$OUT/kept"
true
"#,
    );
    let p = out.path();
    super::booted_and_nothing_lost(p);
    let suggest = read(p, "suggest");
    assert!(!suggest.contains("/etc/shadow"), "{suggest}");
    let all = read(p, "all");
    assert!(
        all.contains("/etc/shadow") && all.contains("persistent copy is up to date"),
        "--all labels the saved copy: {all}"
    );
    let changed = read(p, "changed");
    assert_eq!(read(p, "rc-changed").trim(), "1", "{changed}");
    assert!(
        changed.contains("changed since it was last saved to /persistent/etc/shadow")
            && changed.contains("run `impermctl sync`")
            && !changed.contains("impermctl boot"),
        "{changed}"
    );
    assert_eq!(
        read(p, "rc-synced").trim(),
        "0",
        "{}\n{}",
        read(p, "synced"),
        read(p, "sync.out")
    );
    assert_eq!(read(p, "kept"), "root:changed:\n");
    let synced = read(p, "synced");
    assert!(
        synced.contains(
            "1 entry saved to persistence by impermctl sync (copy files, pending entries)"
        ),
        "{synced}"
    );
}

#[test]
fn root_ssh_is_one_important_group_and_suggested_once() {
    require_root!();
    let out = run_with(
        SEED,
        r#"set +e
imp boot > "$OUT/boot.out" 2>&1
mkdir -p "$R/root/.ssh"; echo key > "$R/root/.ssh/authorized_keys"
imp diff > "$OUT/new"
imp diff --json > "$OUT/json"
imp diff --suggest > "$OUT/nix"
imp diff --suggest=toml > "$OUT/toml"
true
"#,
    );
    let p = out.path();
    let new = read(p, "new");
    assert_eq!(new.matches("/root/.ssh").count(), 1, "{new}");
    assert!(
        new.contains("important /root/.ssh  (new") && new.contains(" 1 file "),
        "{new}"
    );
    let json: serde_json::Value = serde_json::from_str(&read(p, "json")).unwrap();
    let paths: Vec<&str> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/root/.ssh"], "{json}");
    for f in ["nix", "toml"] {
        let s = read(p, f);
        assert_eq!(s.matches("\"/root/.ssh\"").count(), 1, "{f}: {s}");
    }
}

#[test]
fn root_ssh_in_the_baseline_is_still_important_when_a_key_is_written() {
    require_root!();
    let out = run_with(
        SEED,
        r#"mkdir -p "$R/root/.ssh"
set +e
imp boot > "$OUT/boot.out" 2>&1
echo k > "$R/root/.ssh/id_ed25519"
imp diff > "$OUT/key"
true
"#,
    );
    let key = read(out.path(), "key");
    assert!(
        key.contains("important /root/.ssh") && key.contains("root's SSH keys"),
        "{key}"
    );
}

#[test]
fn an_unusable_persistence_root_is_the_reason_not_boot() {
    require_root!();
    let layout = Layout {
        persistent_mounted: false,
        ..Layout::default()
    };
    let (o, out) = vps_with(
        &layout,
        SEED,
        r#"mkdir -p "$R/persistent/etc"; echo root:p: > "$R/persistent/etc/shadow"
set +e
imp boot > "$OUT/boot.out" 2>&1; echo $? > "$OUT/rc-boot"
mkdir -p "$R/etc/nixos"; echo cfg > "$R/etc/nixos/configuration.nix"
imp diff > "$OUT/diff"; echo $? > "$OUT/rc-diff"
imp verify > "$OUT/verify" 2>&1
true
"#,
    );
    assert_code(&o, 0);
    let p = out.path();
    assert_eq!(read(p, "rc-boot").trim(), "2", "{}", read(p, "boot.out"));
    let diff = read(p, "diff");
    assert_eq!(read(p, "rc-diff").trim(), "1", "{diff}");
    assert!(
        diff.contains("/etc/nixos")
            && diff.contains("its persistence root /persistent is unusable")
            && !diff.contains("run `impermctl boot`"),
        "{diff}"
    );
}

/// Parentheses never nest in `diff`'s lines (`(the watcher is not running
/// (impermctl-watch.service))` was hard to read).
#[track_caller]
fn no_nested_parentheses(text: &str) {
    for line in text.lines() {
        let mut depth = 0;
        for c in line.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            assert!(depth <= 1, "nested parentheses: {line}");
        }
    }
}

#[test]
fn group_columns_align_and_every_hidden_class_is_named() {
    require_root!();
    let out = run_with(
        SEED,
        r#"set +e
imp boot > "$OUT/boot.out" 2>&1
mkdir -p "$R/root/.ssh" "$R/srv/many" "$R/tmp"; echo key > "$R/root/.ssh/authorized_keys"
echo 1 > "$R/etc/adjtime"
for i in $(seq 1 12); do echo "$i" > "$R/srv/many/$i"; done
echo tmp > "$R/tmp/t"
imp diff > "$OUT/plain"; echo $? > "$OUT/rc-plain"
imp diff --all > "$OUT/all"
true
"#,
    );
    let p = out.path();
    let plain = read(p, "plain");
    assert_eq!(read(p, "rc-plain").trim(), "1", "{plain}");
    no_nested_parentheses(&plain);
    let lines: Vec<&str> = plain
        .lines()
        .filter(|l| l.contains("  (new") || l.contains("  (modified"))
        .collect();
    assert_eq!(lines.len(), 3, "{plain}");
    let column = |l: &str, needle: &str| l.find(needle).unwrap_or_else(|| panic!("{needle}: {l}"));
    let starts: Vec<usize> = lines
        .iter()
        .map(|l| {
            ["/root/.ssh", "/etc/adjtime", "/srv/many"]
                .iter()
                .find_map(|g| l.find(g))
                .unwrap()
        })
        .collect();
    assert!(
        starts.iter().all(|s| *s == starts[0]),
        "paths align: {plain}"
    );
    let words: Vec<usize> = lines.iter().map(|l| column(l, " file")).collect();
    assert!(
        words.iter().all(|s| *s == words[0]),
        "counts align: {plain}"
    );
    assert!(
        plain.contains("would be lost at the next reboot, not counting watch.ignore")
            && plain.contains("1 changed entry under watch.ignore /tmp"),
        "{plain}"
    );
    let all = read(p, "all");
    no_nested_parentheses(&all);
    assert!(
        all.contains("/tmp/t") && !all.contains("not counting"),
        "{all}"
    );
    assert!(
        all.contains("found by: walking the root: --all lists unchanged entries and compares watch.ignore paths, where the watcher keeps names but does not hear writes"),
        "{all}"
    );
}

#[test]
fn data_kept_at_boot_is_one_warning_and_not_shadowed() {
    require_root!();
    let config = r#"version = 1
[[persistence]]
path = "/persistent"
directories = ["/root/.ssh", "/etc/nixos"]
"#;
    let out = run_with(
        config,
        r#"mkdir -p "$R/root/.ssh" "$R/persistent/root/.ssh" "$R/etc/nixos" "$R/srv/data"
echo live > "$R/root/.ssh/authorized_keys"
echo persistent > "$R/persistent/root/.ssh/authorized_keys"
echo cfg > "$R/etc/nixos/configuration.nix"
echo hidden > "$R/srv/data/x"
set +e
imp boot > "$OUT/boot.out" 2>&1; echo $? > "$OUT/rc-boot"
imp diff --shadowed > "$OUT/kept"; echo $? > "$OUT/rc-kept"
mount -t tmpfs other "$R/srv/data"
imp diff --shadowed > "$OUT/hidden"; echo $? > "$OUT/rc-hidden"
true
"#,
    );
    let p = out.path();
    let boot = read(p, "boot.out");
    assert_eq!(read(p, "rc-boot").trim(), "0", "{boot}");
    let warns: Vec<&str> = boot
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("/root/.ssh"))
        .collect();
    assert_eq!(warns.len(), 1, "{boot}");
    assert!(warns[0].contains("/persistent/impermctl-kept/"), "{boot}");
    let kept = read(p, "kept");
    assert_eq!(read(p, "rc-kept").trim(), "0", "{kept}");
    assert!(
        kept.contains("shadowed: nothing hidden under mount points"),
        "{kept}"
    );
    let hidden = read(p, "hidden");
    assert_eq!(read(p, "rc-hidden").trim(), "1", "{hidden}");
    assert!(
        hidden.contains("under the mount point /srv/data (1 entry)")
            && hidden.contains("/srv/data/x")
            && !hidden.contains("/root/.ssh"),
        "{hidden}"
    );
}

/// The watcher shares the judgement: a write to a `method = "copy"` file
/// (the sync saves it) and to `/run` on the root's filesystem (the config
/// rejects entries there) are never warned about nor listed as groups,
/// while a plain loss next to them is.
#[test]
fn the_watcher_never_warns_about_copy_files_or_what_the_config_rejects() {
    require_root!();
    let config = SEED.replace(
        "files = [ ",
        "files = [ { path = \"/root/.bash_history\", method = \"copy\" }, ",
    );
    let out = run_with(
        &config,
        r#"mkdir -p "$R/persistent/etc" "$R/srv"; echo root:p: > "$R/persistent/etc/shadow"
set +e
imp boot > "$OUT/boot.out" 2>&1
"$IMPERMCTL" --root "$R" --config "$CFG" watch --no-dbus --backend inotify --json-every 0.2 2>"$OUT/watch.err" & WP=$!
trap 'kill $WP 2>/dev/null || true' EXIT
for i in $(seq 400); do [ -s "$R/run/impermctl/watch.json" ] && break; sleep 0.05; done
echo root:changed: > "$R/etc/shadow"
mkdir -p "$R/root"; echo ls >> "$R/root/.bash_history"
mkdir -p "$R/run/mount"; echo utab > "$R/run/mount/utab"
echo x > "$R/srv/late"
for i in $(seq 400); do grep -q '"/srv/late"' "$R/run/impermctl/watch.json" && break; sleep 0.05; done
cp "$R/run/impermctl/watch.json" "$OUT/watch.json"
kill -TERM $WP; wait $WP
true
"#,
    );
    let p = out.path();
    let state = read(p, "watch.json");
    let err = read(p, "watch.err");
    assert!(state.contains("\"/srv/late\""), "{state}\n{err}");
    for never in ["/etc/shadow", "/root/.bash_history", "/run/mount"] {
        assert!(!state.contains(never), "{never}: {state}");
        assert!(
            !err.lines()
                .any(|l| l.contains("not persisted") && l.contains(never)),
            "{never}: {err}"
        );
    }
}

/// Session 4's trial: an entry left pending (seeded, not bound while a
/// process writes there) was judged as "a plain directory, neither bound
/// nor linked (run `impermctl boot`)". It is judged like a copy file: what
/// the root holds is saved over the seed by the shutdown sync, so while it
/// matches its seed nothing is lost; once it changed, `diff` names the sync
/// (not `boot`, which cannot bind it while it is written).
#[test]
fn pending_entries_are_judged_like_copy_files() {
    require_root!();
    let out = run_with(
        SEED,
        r#"mkdir -p "$R/var/lib/live"; echo r0 > "$R/var/lib/live/wal"
( exec 3>>"$R/var/lib/live/wal"; while [ ! -e "$OUT/stop" ]; do sleep 0.05; done ) & w=$!
for _ in $(seq 200); do [ -n "$(ls -l /proc/$w/fd 2>/dev/null | grep wal)" ] && break; sleep 0.02; done
sed -i 's|"/var/lib/nixos"\]|"/var/lib/nixos", "/var/lib/live"]|' "$CFG"
set +e
imp boot > "$OUT/boot.out" 2>&1; echo $? > "$OUT/rc-boot"
imp diff > "$OUT/seeded" 2>&1; echo $? > "$OUT/rc-seeded"
echo r1 >> "$R/var/lib/live/wal"
imp diff > "$OUT/changed" 2>&1; echo $? > "$OUT/rc-changed"
touch "$OUT/stop"; wait $w
imp sync > "$OUT/sync.out" 2>&1
imp diff > "$OUT/synced" 2>&1; echo $? > "$OUT/rc-synced"
imp diff --all > "$OUT/all" 2>&1
imp status > "$OUT/status" 2>&1
imp status --json > "$OUT/status.json" 2>/dev/null
true
"#,
    );
    let p = out.path();
    let boot = read(p, "boot.out");
    assert!(boot.contains("NOT bound yet (pending)"), "{boot}");
    let seeded = read(p, "seeded");
    assert_eq!(read(p, "rc-seeded").trim(), "0", "{seeded}\n{boot}");
    let changed = read(p, "changed");
    assert_eq!(read(p, "rc-changed").trim(), "1", "{changed}");
    assert!(
        changed.contains("/var/lib/live")
            && changed.contains("pending")
            && changed.contains("impermctl-sync.service")
            && !changed.contains("run `impermctl boot`"),
        "{changed}"
    );
    let synced = read(p, "synced");
    assert_eq!(
        read(p, "rc-synced").trim(),
        "0",
        "{synced}\n{}",
        read(p, "sync.out")
    );
    assert!(synced.contains("1 entry saved to persistence"), "{synced}");
    let all = read(p, "all");
    assert!(
        all.contains("/var/lib/live") && all.contains("the same as its seed"),
        "--all labels the pending entry: {all}"
    );
    // `status` says when the sync last saved it (state.json's `saved`).
    let status = read(p, "status");
    assert!(
        status.contains("saved at shutdown (last saved "),
        "{status}"
    );
    let doc: serde_json::Value = serde_json::from_str(&read(p, "status.json")).unwrap();
    crate::schemas::validate(&doc);
    let row = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/var/lib/live");
    let row = row.unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(row["live"], "pending", "{row:#}");
    assert!(row["saved"].as_u64().is_some_and(|t| t > 0), "{row:#}");
}

/// Session 4's trial: boot seeded `/persistent` from the root's original
/// (first boot of an entry), the user then edited through the bind, and
/// `diff --shadowed` called the hidden original lost data. It is the seed
/// source, unchanged since it was copied: hiding it loses nothing. What
/// reaches the hidden original after the seed (here: written from a
/// namespace without the bind) is still reported.
#[test]
fn a_seeded_original_edited_through_the_bind_is_not_shadowed_data() {
    require_root!();
    let config = r#"version = 1
[[persistence]]
path = "/persistent"
directories = ["/etc/nixos"]
files = ["/etc/app.conf"]
"#;
    let out = run_with(
        config,
        r#"mkdir -p "$R/etc/nixos"
echo cfg > "$R/etc/nixos/configuration.nix"; echo hw > "$R/etc/nixos/hardware.nix"
echo conf > "$R/etc/app.conf"
set +e
imp boot > "$OUT/boot.out" 2>&1; echo $? > "$OUT/rc-boot"
echo edited >> "$R/etc/nixos/configuration.nix"; echo new > "$R/etc/nixos/new.nix"
rm "$R/etc/nixos/hardware.nix"; echo edited > "$R/etc/app.conf"
imp diff --shadowed > "$OUT/edited"; echo $? > "$OUT/rc-edited"
unshare -m sh -c "umount '$R/etc/nixos' && echo late >> '$R/etc/nixos/hardware.nix'"
imp diff --shadowed > "$OUT/late"; echo $? > "$OUT/rc-late"
true
"#,
    );
    let p = out.path();
    let boot = read(p, "boot.out");
    assert_eq!(read(p, "rc-boot").trim(), "0", "{boot}");
    assert!(boot.contains("seeded persistent storage"), "{boot}");
    let edited = read(p, "edited");
    assert_eq!(read(p, "rc-edited").trim(), "0", "{edited}");
    assert!(
        edited.contains("shadowed: nothing hidden under mount points"),
        "{edited}"
    );
    let late = read(p, "late");
    assert_eq!(read(p, "rc-late").trim(), "1", "{late}");
    assert!(
        late.contains("/etc/nixos/hardware.nix")
            && !late.contains("configuration.nix")
            && !late.contains("/etc/app.conf"),
        "{late}"
    );
}

/// `--shadowed` judged a hidden original `boot` seeded from unchanged when
/// its ctime was older than the seed; a write through a page of a shared
/// mapping already dirty before the seed changes neither mtime nor ctime.
/// A file seen mapped shared and writable is compared by content, as
/// `persist` and `boot` compare it (`live::reconcile`). The writer maps the
/// file through another path (a bind outside the root), so `boot` does not
/// count it as writing there and binds.
#[test]
fn a_hidden_original_written_through_a_dirty_mapping_is_shadowed_data() {
    require_root!();
    let config = r#"version = 1
[[persistence]]
path = "/persistent"
directories = ["/etc/nixos"]
"#;
    let out = run_with(
        config,
        r#"mkdir -p "$R/etc/nixos" "$OUT/alias"
echo hw > "$R/etc/nixos/hardware.nix"; echo cfg > "$R/etc/nixos/configuration.nix"
mount --bind "$R/etc/nixos" "$OUT/alias"
python3 - "$OUT/alias/hardware.nix" "$OUT" > "$OUT/writer.err" 2>&1 <<'PY' &
import mmap, os, sys, time
f, out = sys.argv[1], sys.argv[2]
fd = os.open(f, os.O_RDWR); m = mmap.mmap(fd, 0, mmap.MAP_SHARED); os.close(fd)
m[0:2] = b"HW"  # the page is dirty from now on
open(out + "/mapped", "w").close()
while not os.path.exists(out + "/go"): time.sleep(0.01)
m[2:3] = b"!"  # through the dirty page: no time changes
open(out + "/written", "w").close()
while not os.path.exists(out + "/stop"): time.sleep(0.01)
PY
wait_for() { for i in $(seq 400); do [ -e "$1" ] && return 0; sleep 0.05; done; echo "no $1"; cat "$OUT/writer.err"; return 1; }
wait_for "$OUT/mapped"
set +e
imp boot > "$OUT/boot.out" 2>&1; echo $? > "$OUT/rc-boot"
imp diff --shadowed > "$OUT/before"; echo $? > "$OUT/rc-before"
stat -c %Z.%z "$OUT/alias/hardware.nix" > "$OUT/ctime-before"
touch "$OUT/go"; wait_for "$OUT/written"
stat -c %Z.%z "$OUT/alias/hardware.nix" > "$OUT/ctime-after"
imp diff --shadowed > "$OUT/after"; echo $? > "$OUT/rc-after"
touch "$OUT/stop"; wait
true
"#,
    );
    let p = out.path();
    // Boot binds, and says (exit 1) that the hidden original is still
    // mapped for writing after its 10 s of reconciling.
    let boot = read(p, "boot.out");
    assert_eq!(read(p, "rc-boot").trim(), "1", "{boot}");
    assert!(boot.contains("seeded persistent storage"), "{boot}");
    assert!(boot.contains("mapped for writing"), "{boot}");
    // The seed holds what the dirty page held: nothing hidden yet.
    let before = read(p, "before");
    assert_eq!(read(p, "rc-before").trim(), "0", "{before}");
    // The write left the times as they were (else this tests nothing).
    assert_eq!(read(p, "ctime-before"), read(p, "ctime-after"));
    let after = read(p, "after");
    assert_eq!(read(p, "rc-after").trim(), "1", "{after}\n{boot}");
    assert!(
        after.contains("/etc/nixos/hardware.nix") && !after.contains("configuration.nix"),
        "{after}"
    );
}
