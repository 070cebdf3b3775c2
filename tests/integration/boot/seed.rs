//! Nothing lost: data already at a target whose persistent source does not
//! exist yet is copied into persistence before the bind, also when the run
//! is killed at a random point and started again.

use super::{dump, kill_trials, val, vps};
use crate::util::{Layout, assert_code};
use crate::{require_root, require_tool};

/// Make `$R/srv/data` hold a known tree; `sum` prints its content digest.
const DATA: &str = r#"
data_entries
make_data() {
  mkdir -p "$R/srv/data/a/b" "$R/etc/ssh"
  for i in $(seq 1 150); do head -c $((i * 397)) /dev/urandom > "$R/srv/data/a/f$i"; done
  echo hello > "$R/srv/data/a/b/deep"; ln -s a/b/deep "$R/srv/data/link"; ln "$R/srv/data/a/f1" "$R/srv/data/hard"
  ln "$R/srv/data/a/b/deep" "$R/srv/data/deep-too"
  chown 12:34 "$R/srv/data/a/b"; chmod 0701 "$R/srv/data/a/b"
  echo secret-key > "$R/etc/ssh/host_key"; chmod 600 "$R/etc/ssh/host_key"
  relink
}
# A file of /srv/data also linked from outside it (F12): separated by the
# bind, neither side may lose its content.
relink() { ln -f "$R/srv/data/a/f2" "$R/srv/outside-f2"; }
"#;

fn seeded_then_bound(layout: &Layout) {
    let body = format!(
        r#"{DATA}
make_data
want=$(sum "$R/srv/data")
imp boot
echo "want=$want"
echo "got=$(sum "$R/srv/data")"
echo "persisted=$(sum "$R/persistent/srv/data")"
echo "dev=$(devof /srv/data)/$(devof /persistent)"
echo "key=$(cat "$R/persistent/etc/ssh/host_key") $(stat -c %a "$R/persistent/etc/ssh/host_key")"
echo "keydev=$(devof /etc/ssh/host_key)"
"#
    );
    let o = vps(layout, &body);
    assert_code(&o, 0);
    let want = val(&o, "want");
    assert_eq!(val(&o, "got"), want, "{}", dump(&o));
    assert_eq!(val(&o, "persisted"), want);
    let d = val(&o, "dev");
    let (a, b) = d.split_once('/').unwrap();
    assert_eq!(a, b);
    assert_eq!(val(&o, "key"), "secret-key 600");
    assert!(!val(&o, "keydev").is_empty());
}

/// Kill `boot` at random points (0 to `ms` - 1 ms after its start) while it
/// seeds `/srv/data`; `fresh` (bash) makes the persistent side as it is at
/// each fresh boot.
fn seeding_survives_sigkill(fresh: &str, ms: u32) {
    let body = format!(
        r#"{DATA}
make_data
want=$(sum "$R/srv/data")
keep="$R/../orig"; mkdir -p "$keep"; cp -a "$R/srv/data" "$keep/data"
for i in $(seq 1 60); do
  # A fresh boot: nothing mounted, the data on the root.
  for t in /srv/data /etc/ssh/host_key /etc/nixos /var/log /var/lib/nixos /etc/machine-id; do
    while mountpoint -q "$R$t" 2>/dev/null || [ -n "$(devof $t)" ]; do umount "$R$t"; done
  done
  while mountpoint -q "$R/persistent/srv/data"; do umount "$R/persistent/srv/data"; done
  rm -rf "$R/run/impermctl" "$R/run/mount" "$R/persistent/srv"
  {fresh}
  rm -rf "$R/srv/data"; cp -a "$keep/data" "$R/srv/data"; relink
  out=$(sha256sum < "$R/srv/outside-f2")
  kill_within {ms} boot
  # Where the kill landed (reported, not asserted: timing varies).
  if [ -n "$(devof /srv/data)" ]; then phase=bound
  elif [ -e "$R/persistent/srv/data/.impermctl-fill" ]; then phase=filling
  elif [ -e "$R/persistent/srv/data/.impermctl-tmp" ]; then phase=copying
  elif [ -n "$(ls -A "$R/persistent/srv/data" 2>/dev/null)" ]; then phase=seeded
  elif [ -n "$(ls -A "$R/persistent/srv" 2>/dev/null | grep -vx data)" ]; then phase=copying
  else phase=before; fi
  phases="${{phases:+$phases }}$phase"
  # Whatever state the kill left, the data is intact where it is visible...
  now=$(sum "$R/srv/data")
  if [ "$now" != "$want" ]; then echo "after kill $i: $now"; bad=$((bad + 1)); fi
  if [ "$(sha256sum < "$R/srv/outside-f2")" != "$out" ]; then echo "outside link changed in $i"; bad=$((bad + 1)); fi
  # ...and a rerun completes the job.
  imp boot 2>"$R/../err" || {{ echo "rerun $i failed: $(grep -v INFO "$R/../err" | head -3)"; bad=$((bad + 1)); }}
  got=$(sum "$R/srv/data")
  if [ "$got" != "$want" ] || [ -z "$(devof /srv/data)" ]; then echo "after rerun $i: $got"; bad=$((bad + 1)); fi
  if ls -A "$R/persistent/srv/data" | grep -q impermctl; then echo "left in $i: $(ls -A "$R/persistent/srv/data")"; bad=$((bad + 1)); fi
  if [ -e "$R/persistent/impermctl-kept" ]; then echo "kept aside in $i: $(ls -R "$R/persistent/impermctl-kept" | head -3)"; bad=$((bad + 1)); fi
done
"#
    );
    kill_trials(&body);
}

#[test]
fn seeding_survives_sigkill_at_random_points() {
    require_root!();
    seeding_survives_sigkill(":", 14);
}

/// Trial s5 finding 2: an empty persistent directory (made by hand before
/// declaring it) is seeded like a missing one, also across kills.
#[test]
fn seeding_an_empty_persistent_directory_survives_sigkill_at_random_points() {
    require_root!();
    seeding_survives_sigkill(
        r#"mkdir -p "$R/persistent/srv/data"; chmod 0700 "$R/persistent/srv/data""#,
        14,
    );
}

/// Trial s5 leftover: an empty persistent directory that is a mount point
/// of its own (a dataset, a bind) cannot be renamed over (`EBUSY`): it is
/// filled in place, also across kills.
#[test]
fn filling_an_empty_persistent_mount_point_survives_sigkill_at_random_points() {
    require_root!();
    seeding_survives_sigkill(
        r#"mkdir -p "$R/persistent/srv/data"; mount -t tmpfs -o mode=0700 tank/ct/101/data "$R/persistent/srv/data""#,
        40,
    );
}

#[test]
fn data_at_a_new_target_is_seeded_then_bound() {
    require_root!();
    seeded_then_bound(&Layout::default());
}

#[test]
fn data_at_a_new_target_is_seeded_then_bound_in_a_user_namespace() {
    require_root!();
    seeded_then_bound(&Layout {
        userns: true,
        ..Layout::default()
    });
}

#[test]
fn a_child_below_a_seeded_parent_is_not_lost() {
    require_root!();
    let body = r#"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib"
T
mkdir -p "$R/var/lib/nixos" "$R/var/lib/other"
echo "uid-map" > "$R/var/lib/nixos/uid-map"; echo o > "$R/var/lib/other/o"
rc=0; imp boot || rc=$?
echo "rc=$rc"
echo "map=$(cat "$R/var/lib/nixos/uid-map") pmap=$(cat "$R/persistent/var/lib/nixos/uid-map")"
echo "other=$(cat "$R/persistent/var/lib/other/o")"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "map"), "uid-map pmap=uid-map");
    assert_eq!(val(&o, "other"), "o");
}

/// Trial s5 finding 2: an empty persistent directory (`mkdir` first, as
/// guides say) no longer wins over live data: it is seeded from the live
/// data and bound, nothing kept aside, no warning. One that holds anything
/// (a hidden file) still wins, the live data kept aside as before.
#[test]
fn an_empty_persistent_directory_is_seeded_from_the_live_data() {
    require_root!();
    let body = r#"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib/emptyp"
[[persistence.directories]]
path = "/var/lib/dotp"
T
mkdir -p "$R/var/lib/emptyp/sub" "$R/persistent/var/lib/emptyp" "$R/var/lib/dotp" "$R/persistent/var/lib/dotp"
echo DATA > "$R/var/lib/emptyp/d"; echo deep > "$R/var/lib/emptyp/sub/e"; chmod 0750 "$R/var/lib/emptyp"
echo live > "$R/var/lib/dotp/d"; touch "$R/persistent/var/lib/dotp/.keep"
echo "plan=$(imp boot --dry-run | grep emptyp)"
imp boot 2>"$R/../err" || echo "boot failed"
echo "live=$(cat "$R/var/lib/emptyp/d") $(cat "$R/var/lib/emptyp/sub/e") $(stat -c %a "$R/var/lib/emptyp")"
echo "persisted=$(cat "$R/persistent/var/lib/emptyp/d") $(stat -c %a "$R/persistent/var/lib/emptyp")"
echo "bound=$(devof /var/lib/emptyp)"
echo "kept=$(ls "$R"/persistent/impermctl-kept/*/var/lib 2>/dev/null | tr '\n' ' ')"
echo "dot=$(ls -A "$R/var/lib/dotp" | tr '\n' ' ')"
echo "warned=$(grep -c 'WARN.*emptyp' "$R/../err") $(grep -c 'WARN.*dotp' "$R/../err")"
echo "tmp=$(ls -A "$R/persistent/var/lib" | grep -c impermctl-tmp)"
echo "again=$(imp boot --dry-run | tail -1)"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    let plan = val(&o, "plan");
    assert!(plan.contains("seed source from target, bind"), "{plan}");
    assert!(!plan.contains("hides"), "{plan}");
    assert_eq!(val(&o, "live"), "DATA deep 750", "{}", dump(&o));
    assert_eq!(val(&o, "persisted"), "DATA 750");
    assert!(!val(&o, "bound").is_empty(), "{}", dump(&o));
    // Only the non-empty one kept its live data aside.
    assert_eq!(val(&o, "kept"), "dotp ", "{}", dump(&o));
    assert_eq!(val(&o, "dot"), ".keep ");
    let warned = val(&o, "warned");
    assert!(
        warned.starts_with("0 ") && !warned.ends_with(" 0"),
        "{warned}\n{}",
        dump(&o)
    );
    assert_eq!(val(&o, "tmp"), "0");
    assert!(val(&o, "again").starts_with("0 of"), "{}", dump(&o));
}

/// Trial s5 finding 10: seeding waited the reconcile's settle time (150 ms)
/// once per entry (289 directories: 56.7 s). The seeds of one run settle
/// together, all seeded and bound. Counted, not timed (a loaded machine
/// stretches any wall-clock bound): the settle wait naps in steps
/// (`std::thread::sleep`), at least once per wait, and `strace` counts the
/// naps of the whole run: one wait for all 40 seeds naps a handful of
/// times, a wait per seed at least 40 times however slow the machine.
#[test]
fn many_seeds_wait_the_settle_time_once() {
    require_root!();
    require_tool!("strace");
    let body = r#"
for i in $(seq 1 40); do
  printf '[[persistence.directories]]\npath = "/srv/s%s"\n' "$i" >> "$CFG"
  mkdir -p "$R/srv/s$i"; echo "data $i" > "$R/srv/s$i/f"
done
naps() { strace -f -qq --seccomp-bpf -o "$R/../naps" -e trace=nanosleep,clock_nanosleep "$@"; }
naps sleep 0.01; echo "control=$(grep -c 'nanosleep(' "$R/../naps")"
start=$(date +%s%N)
naps "$IMPERMCTL" --root "$R" --config "$CFG" boot 2>"$R/../err" || echo "boot failed"
echo "ms=$(( ($(date +%s%N) - start) / 1000000 ))"
echo "naps=$(grep -c 'nanosleep(' "$R/../naps")"
ok=0; for i in $(seq 1 40); do
  [ "$(cat "$R/persistent/srv/s$i/f")" = "data $i" ] && [ -n "$(devof /srv/s$i)" ] && ok=$((ok + 1))
done
echo "ok=$ok"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "ok"), "40", "{}", dump(&o));
    let naps: u32 = val(&o, "naps").parse().unwrap();
    let ms = val(&o, "ms");
    // The count sees naps (`sleep` naps as `std::thread::sleep` does).
    assert_eq!(val(&o, "control"), "1", "{}", dump(&o));
    // None is possible too: descheduled longer than the settle time right
    // as the wait began, the run finds everything settled at first look.
    assert!(
        naps < 40,
        "{naps} naps for 40 seeds in {ms} ms (a settle wait per seed naps at least 40 times)\n{}",
        dump(&o)
    );
}

/// Trial s5 leftover: an empty persistent directory that is a mount point
/// of its own (a separate dataset or bind at `/persistent/var/lib/mp`)
/// cannot be replaced by a rename (`EBUSY`: the entry failed). It is
/// filled in place from the live data: every entry, and the directory's
/// own owner, mode and times; nothing kept aside, nothing left over.
#[test]
fn an_empty_persistent_mount_point_is_filled_from_the_live_data() {
    require_root!();
    let body = r#"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib/mp"
T
mkdir -p "$R/var/lib/mp/sub" "$R/persistent/var/lib/mp"
mount -t tmpfs -o mode=0700 tank/ct/101/mp "$R/persistent/var/lib/mp"
echo DATA > "$R/var/lib/mp/d"; echo deep > "$R/var/lib/mp/sub/e"; ln -s d "$R/var/lib/mp/l"
chown 12:34 "$R/var/lib/mp"; chmod 0751 "$R/var/lib/mp"; touch -d '2020-01-02 03:04:05' "$R/var/lib/mp"
want=$(sum "$R/var/lib/mp"); wtime=$(stat -c %Y "$R/var/lib/mp")
imp boot 2>"$R/../err" || echo "boot failed: $(grep -v INFO "$R/../err" | head -3)"
echo "want=$want $wtime"
echo "live=$(sum "$R/var/lib/mp") $(stat -c %Y "$R/var/lib/mp")"
echo "persisted=$(sum "$R/persistent/var/lib/mp") $(stat -c %Y "$R/persistent/var/lib/mp")"
echo "bound=$(devof /var/lib/mp)"
echo "kept=$(ls "$R/persistent/impermctl-kept" 2>/dev/null | wc -l)"
echo "left=$(ls -A "$R/persistent/var/lib/mp" | grep -c impermctl || true)"
echo "again=$(imp boot --dry-run | tail -1)"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    let want = val(&o, "want");
    assert_eq!(val(&o, "persisted"), want, "{}", dump(&o));
    assert_eq!(val(&o, "live"), want, "{}", dump(&o));
    assert!(!val(&o, "bound").is_empty(), "{}", dump(&o));
    assert_eq!(val(&o, "kept"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "left"), "0", "{}", dump(&o));
    assert!(val(&o, "again").starts_with("0 of"), "{}", dump(&o));
}

/// The states a kill leaves a fill in, made by hand as `copy::fill` makes
/// them (the random kills rarely land in the last one): only the partial copy (`.impermctl-tmp`:
/// removed, the seed starts over), and the complete copy with some entries
/// already moved up (`.impermctl-fill`: the next boot finishes the moves,
/// also after a reboot took the live data). Nothing lost, nothing left.
#[test]
fn an_interrupted_fill_is_finished_by_the_next_boot() {
    require_root!();
    let body = r#"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib/mp"
T
P="$R/persistent/var/lib/mp"
fresh() {
  while mountpoint -q "$P"; do umount "$P"; done
  rm -rf "$P" "$R/var/lib/mp"; mkdir -p "$P" "$R/var/lib/mp/sub"; mount -t tmpfs -o mode=0700 tank/ct/101/mp "$P"
  echo DATA > "$R/var/lib/mp/d"; echo deep > "$R/var/lib/mp/sub/e"; echo f > "$R/var/lib/mp/f"; chmod 0751 "$R/var/lib/mp"
  want=$(sum "$R/var/lib/mp")
}
check() {
  echo "$1=$(sum "$P") $(ls -A "$P" | grep -c impermctl || true) $(ls "$R/persistent/impermctl-kept" 2>/dev/null | wc -l)"
  echo "want$1=$want 0 0"
}
fresh; mkdir "$P/.impermctl-tmp"; echo half > "$P/.impermctl-tmp/d"
imp boot 2>"$R/../err" || echo "boot failed: $(grep -v INFO "$R/../err" | head -3)"
check partial
umount "$R/var/lib/mp"
fresh; cp -a "$R/var/lib/mp" "$P/.impermctl-fill"; touch -r "$R/var/lib/mp" "$P/.impermctl-fill/.impermctl-times"
mv "$P/.impermctl-fill/d" "$P/.impermctl-fill/sub" "$P/"
imp boot 2>"$R/../err" || echo "boot failed: $(grep -v INFO "$R/../err" | head -3)"
check moving
echo "finished=$(grep -c 'finished filling' "$R/../err")"
umount "$R/var/lib/mp"
fresh; cp -a "$R/var/lib/mp" "$P/.impermctl-fill"; touch -r "$R/var/lib/mp" "$P/.impermctl-fill/.impermctl-times"
mv "$P/.impermctl-fill/d" "$P/"; rm -rf "$R/var/lib/mp"
imp boot 2>"$R/../err" || echo "boot failed: $(grep -v INFO "$R/../err" | head -3)"
check rebooted
echo "live=$(sum "$R/var/lib/mp")"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    for k in ["partial", "moving", "rebooted"] {
        assert_eq!(
            val(&o, k),
            val(&o, &format!("want{k}")),
            "{k}\n{}",
            dump(&o)
        );
    }
    assert_eq!(val(&o, "finished"), "1", "{}", dump(&o));
    assert_eq!(
        val(&o, "live"),
        val(&o, "wantrebooted").split(' ').next().unwrap()
    );
}

/// F12 (trial): a file of a seeded directory also linked from outside it
/// cannot stay one file once the directory is bound. `boot` says so in the
/// journal (real journald), naming both paths and what the user gets; the
/// links inside the directory stay links; neither side loses its content,
/// and from then on they are two files. Before, nothing was said.
#[test]
fn seeding_says_in_the_journal_which_hard_links_the_bind_separates() {
    require_root!();
    let journald = crate::require_journald!();
    let body = format!(
        r#"{journal}{DATA}
make_data
want=$(sum "$R/srv/data"); out=$(sha256sum < "$R/srv/outside-f2")
rc=0; INVOCATION_ID=0123456789abcdef0123456789abcdef IMPERMCTL_LOG= imp boot || rc=$?
echo "rc=$rc"
until_seen outside-f2 || true
j -o cat | grep 'hard-linked' > "$R/../w" || true
echo "warnings=$(wc -l < "$R/../w")"
echo BEGIN w; cat "$R/../w"; echo END w
echo "bound=$([ -n "$(devof /srv/data)" ] && echo yes)"
echo "same=$([ "$(sum "$R/srv/data")" = "$want" ] && echo yes)"
P="$R/persistent/srv/data"
echo "inside=$([ "$(stat -c %i "$P/a/b/deep")" = "$(stat -c %i "$P/deep-too")" ] && echo linked) $(stat -c %h "$P/a/f1" "$P/hard" | paste -sd' ')"
echo "outside=$([ "$(sha256sum < "$R/srv/outside-f2")" = "$out" ] && echo intact)"
echo extra >> "$R/srv/outside-f2"
echo "separate=$(cmp -s "$R/srv/outside-f2" "$R/srv/data/a/f2" || echo yes)"
"#,
        journal = crate::util::private_journald(journald),
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "warnings"), "1", "{}", dump(&o));
    let w = super::block(&o, "w");
    for want in [
        "/srv/data/a/f2 is hard-linked to /srv/outside-f2, outside /srv/data",
        "two separate files",
        "/persistent/srv/data/a/f2",
        "both keep today's content",
    ] {
        assert!(w.contains(want), "missing {want:?} in {w}");
    }
    assert_eq!(val(&o, "bound"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "same"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "inside"), "linked 2 2", "{}", dump(&o));
    assert_eq!(val(&o, "outside"), "intact", "{}", dump(&o));
    assert_eq!(val(&o, "separate"), "yes", "{}", dump(&o));
}

/// As `persist::persist_killed_before_each_change_of_a_fill_*`, for
/// `boot` seeding an empty persistent mount point: killed before each
/// change it makes, in turn, the data stays whole where it is visible, and
/// the next boot binds a copy equal to the original in every bit of
/// metadata (the top directory's times included); nothing kept aside,
/// nothing of the fill left in or beside it.
#[test]
fn boot_killed_before_each_change_of_a_fill_loses_nothing() {
    require_root!();
    require_tool!("strace");
    let body = format!(
        r#"{kp}
cfg 'version = 1
[[persistence]]
path = "/persistent"
[[persistence.directories]]
path = "/var/lib/mp"
'
P="$R/persistent/var/lib/mp"; L="$R/var/lib/mp"
man() {{ (cd "$1" && {{ find . ! -type d -printf '%p %y %m %U %G %s %T@ %n %l\n'; find . -type d -printf '%p %m %U %G %T@\n'
  find . -type f -print0 | xargs -0 sha256sum; }} | LC_ALL=C sort); }}
mkdir -p "$R/../orig/sub"; echo DATA > "$R/../orig/d"; echo deep > "$R/../orig/sub/e"; ln -s d "$R/../orig/l"
chown 12:34 "$R/../orig"; chmod 0751 "$R/../orig"; touch -d '2020-01-02 03:04:05' "$R/../orig/sub" "$R/../orig"
want=$(man "$R/../orig")
fresh() {{
  while mountpoint -q "$L"; do umount "$L"; done
  while mountpoint -q "$P"; do umount "$P"; done
  rm -rf "$R/persistent/var" "$R/persistent/impermctl-kept" "$R/run/impermctl" "$R/run/mount" "$L"
  mkdir -p "$P" "$R/var/lib"; mount -t tmpfs -o mode=0700 tank/ct/101/mp "$P"; cp -a "$R/../orig" "$L"
}}
fresh
points=$(kill_points "$IMPERMCTL" --root "$R" --config "$CFG" boot)
n=0
for pt in $points; do
  n=$((n + 1)); fresh
  kill_at "$pt" "$IMPERMCTL" --root "$R" --config "$CFG" boot || {{ echo "$pt: not killed there"; bad=$((bad + 1)); }}
  phases="$phases $pt"
  [ "$(man "$L")" = "$want" ] || [ "$(man "$P")" = "$want" ] || {{ echo "$pt: the data is nowhere whole"; bad=$((bad + 1)); }}
  imp boot 2>"$R/../err" || {{ echo "$pt: the rerun failed: $(grep -v INFO "$R/../err" | head -2)"; bad=$((bad + 1)); continue; }}
  [ "$(man "$L")" = "$want" ] || {{ echo "$pt: the live view differs: $(diff <(man "$L") <(echo "$want") | head -4 | tr '\n' ' ')"; bad=$((bad + 1)); }}
  [ -n "$(devof /var/lib/mp)" ] || {{ echo "$pt: not bound"; bad=$((bad + 1)); }}
  if left=$({{ ls -A "$P"; ls -A "$R/persistent/var/lib"; }} | grep impermctl); then echo "$pt: left $left"; bad=$((bad + 1)); fi
  [ ! -e "$R/persistent/impermctl-kept" ] || {{ echo "$pt: kept aside: $(ls -R "$R/persistent/impermctl-kept" | head -3)"; bad=$((bad + 1)); }}
done
echo "points=$n"
"#,
        kp = crate::util::KILL_POINTS
    );
    kill_trials(&body);
}
