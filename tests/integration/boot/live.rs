//! Live changes without loss (issue 12, 14.2): seeding a directory that a
//! running service writes (pending until the shutdown sync), writers the
//! `/proc` scan cannot see (open-append-close: reconciled after the bind,
//! for `boot` and `persist`), `method = "copy"` files that programs replace
//! by rename or delete-and-create (host keys, /etc/shadow, history files),
//! and kill -9 at random points of saving and of the shutdown sync.

use super::{dump, val, vps};
use crate::require_root;
use crate::util::{self, Layout, assert_code};

/// `reboot`: what a reboot does to the fake VPS (unmount every bind under
/// `$R` except the datasets, empty the ephemeral root's data, drop /run).
/// `records F`: the sorted unique `rN` records of file F.
/// `missing LOG F`: the records in LOG that F lacks (one per line).
pub(super) const LIVE: &str = r#"
reboot() {
  for t in $(mounts | awk '{print $1}' | grep -vx -e / -e /persistent -e /nix -e /proc | sort -r); do umount "$R$t"; done
  rm -rf "$R/run/impermctl" "$R/run/mount" "$R/var" "$R/etc/ssh" "$R/root" "$R/home"
  find "$R/etc" -mindepth 1 -maxdepth 1 ! -name impermctl -exec rm -rf {} +
}
records() { grep -o 'r[0-9]*' "$1" 2>/dev/null | sort -u; }
missing() { comm -23 <(records "$1") <(records "$2"); }
wait_for() { for _ in $(seq 400); do eval "$1" && return 0; sleep 0.025; done; return 1; }
declare_live() { printf '[[persistence.directories]]\npath = "/var/lib/live"\n' >> "$CFG"; }
# bound_then_waiting PID: /var/lib/live gets bound, and PID (a persist)
# still runs after longer than reconcile's quiet time.
bound_then_waiting() {
  wait_for '[ -n "$(devof /var/lib/live)" ]' && echo "bound=yes"
  sleep 0.5
  kill -0 "$1" 2>/dev/null && echo "waiting=yes"
}
"#;

pub(super) fn live(body: &str) -> std::process::Output {
    vps(&Layout::default(), &format!("{LIVE}\n{body}"))
}

#[test]
fn a_service_writing_while_boot_adds_its_directory_loses_no_record() {
    require_root!();
    let body = r#"
mkdir -p "$R/var/lib/live"
log="$R/../log"; : > "$log"
# The issue's input: a service holding the WAL open, appending every 100 ms.
( exec 3>>"$R/var/lib/live/wal"; i=0; while :; do echo "r$i" >&3; echo "r$i" >> "$log"; i=$((i+1)); sleep 0.1; done ) & w=$!
wait_for '[ -s "$R/var/lib/live/wal" ]'
declare_live
imp boot 2>"$R/../boot.err"; echo "rc=$?"
echo "warn=$(grep -c 'NOT bound yet (pending)' "$R/../boot.err")"
echo "bound=$(devof /var/lib/live)"
echo BEGIN status; imp status; echo END status
# Another switch while it still writes: still pending, no second warning.
imp boot 2>"$R/../boot2.err"
echo "warn2=$(grep -c 'NOT bound yet' "$R/../boot2.err")"
wait_for '[ $(wc -l < "$log") -ge 8 ]'
# Shutdown: the service stops, then the sync saves the final data.
kill $w; wait $w 2>/dev/null || true
imp sync
reboot
imp boot 2>/dev/null
echo "bound_after=$(devof /var/lib/live)"
echo "written=$(wc -l < "$log")"
echo "lost=$(missing "$log" "$R/var/lib/live/wal" | wc -l)"
"#;
    let o = live(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "warn"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "warn2"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "bound"), "", "{}", dump(&o));
    let status = super::block(&o, "status");
    assert!(status.contains("PENDING"), "{status}");
    assert!(!val(&o, "bound_after").is_empty(), "{}", dump(&o));
    assert_eq!(val(&o, "lost"), "0", "{}", dump(&o));
}

/// Open-append-close writers at 10 ms (never seen by the /proc scan):
/// `cmd` persists /var/lib/live while one runs; no record is lost.
fn racing_writer_trials(cmd: &str, trials: u32) -> std::process::Output {
    let body = format!(
        r#"
declare_live
bad=0; pend=0; carried=0; refused=0
for t in $(seq 1 {trials}); do
  reboot; rm -rf "$R/persistent/var"
  # A tree that takes a while to copy after the WAL (written first).
  mkdir -p "$R/var/lib/live/sub"; : > "$R/var/lib/live/wal"
  (cd "$R/var/lib/live/sub" && seq 1 1500 | xargs touch)
  log="$R/../log"; : > "$log"
  ( i=0; while :; do echo "r$i" >> "$R/var/lib/live/wal"; echo "r$i" >> "$log"; i=$((i+1)); sleep 0.01; done ) & w=$!
  wait_for '[ -s "$R/var/lib/live/wal" ]'
  rc=0; {cmd} 2>"$R/../err" >/dev/null || rc=$?
  if [ $rc != 0 ] && grep -q 'processes are writing below' "$R/../err"; then
    # The scan caught the writer between its open and close: a refusal,
    # nothing done; its records must all still be in the live file.
    refused=$((refused+1)); kill $w; wait $w 2>/dev/null || true
    n=$(missing "$log" "$R/var/lib/live/wal" | wc -l)
    [ "$n" = 0 ] && [ ! -e "$R/persistent/var/lib/live/wal" ] || {{ echo "trial $t: refused, but $n live records lost or a copy made"; bad=$((bad+1)); }}
    continue
  fi
  [ $rc = 0 ] || {{ echo "trial $t: rc $rc: $(grep -v INFO "$R/../err" | head -3)"; bad=$((bad+1)); }}
  grep -q PENDING "$R/../err" && pend=$((pend+1))
  grep -q 'carried' "$R/../err" && carried=$((carried+1))
  kill $w; wait $w 2>/dev/null || true
  imp sync >/dev/null 2>&1
  n=$(missing "$log" "$R/persistent/var/lib/live/wal" | wc -l)
  if [ "$n" != 0 ]; then echo "trial $t: $n records lost: $(missing "$log" "$R/persistent/var/lib/live/wal" | head -3 | tr '\n' ' ')"; bad=$((bad+1)); fi
done
# Nearly every trial must race the writer, not be refused.
[ $refused -le $(({trials} / 5)) ] || {{ echo "too many refusals: $refused"; bad=$((bad+1)); }}
echo "bad=$bad"
echo "pending=$pend"
echo "carried=$carried"
echo "refused=$refused"
"#
    );
    live(&body)
}

#[test]
fn boot_seeding_under_an_open_append_close_writer_loses_no_record() {
    require_root!();
    let o = racing_writer_trials("imp boot", 50);
    assert_code(&o, 0);
    assert_eq!(val(&o, "bad"), "0", "{}", dump(&o));
    eprintln!(
        "50 trials: {} left pending, {} carried writes over after the bind",
        val(&o, "pending"),
        val(&o, "carried")
    );
}

#[test]
fn persist_under_an_open_append_close_writer_loses_no_record() {
    require_root!();
    let o = racing_writer_trials("imp persist /var/lib/live", 50);
    assert_code(&o, 0);
    assert_eq!(val(&o, "bad"), "0", "{}", dump(&o));
    eprintln!(
        "50 trials: {} carried writes over after the bind",
        val(&o, "carried")
    );
}

/// A writer that opened the WAL before `persist` and writes only after the
/// bind (a writer descheduled longer than the quiet time; `--force` passes
/// the writers scan): `persist` waits while it holds the file open and
/// carries its write once it closes.
#[test]
fn persist_waits_for_a_writer_holding_the_original_open_and_keeps_its_late_write() {
    require_root!();
    let body = r#"
declare_live
mkdir -p "$R/var/lib/live"; echo early > "$R/var/lib/live/wal"
exec 3>>"$R/var/lib/live/wal"
( exec 3>&-; imp persist --force /var/lib/live >/dev/null 2>"$R/../err" ) & p=$!
# The writer is descheduled longer than the quiet time (the input of the
# issue); persist must still be waiting for it when it wakes up.
bound_then_waiting $p
echo late >&3; exec 3>&-
rc=0; wait $p || rc=$?
echo "rc=$rc"; grep -v INFO "$R/../err" >&2 || true
echo "early=$(grep -c early "$R/persistent/var/lib/live/wal")"
echo "late=$(grep -c late "$R/persistent/var/lib/live/wal")"
"#;
    let o = live(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "bound"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "waiting"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "early"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "late"), "1", "{}", dump(&o));
}

/// A holder of a directory fd there (through which files can be opened
/// into what the bind would hide; trial-s9 F9's class): `persist` refuses
/// before copying anything, naming the holder (pid, comm).
#[test]
fn persist_refuses_a_holder_of_a_directory_there() {
    require_root!();
    let body = r#"
declare_live
mkdir -p "$R/var/lib/live"; echo r1 > "$R/var/lib/live/wal"
( exec 3<"$R/var/lib/live"; exec sleep 60 ) & h=$!
wait_for '[ -e /proc/$h/fd/3 ] && [ "$(cat /proc/$h/comm)" = sleep ]'
echo "holder=$h"
rc=0; imp persist /var/lib/live >/dev/null 2>"$R/../err" || rc=$?
echo "rc=$rc"
kill $h; wait $h 2>/dev/null || true
echo "copied=$(ls "$R/persistent/var/lib" 2>/dev/null | grep -c live) bound=$(devof /var/lib/live)"
echo BEGIN err; cat "$R/../err"; echo END err
"#;
    let o = live(body);
    assert_code(&o, 0);
    let holder = val(&o, "holder");
    assert_eq!(val(&o, "rc"), "2", "{}", dump(&o));
    assert_eq!(val(&o, "copied"), "0 bound=", "{}", dump(&o));
    let err = super::block(&o, "err");
    let want = format!("pid {holder} (sleep) holds the directory ");
    assert!(err.contains(&want), "missing {want:?} in {err}");
    assert!(err.contains("--force"), "{err}");
}

/// A process that writes through a shared mapping of the original (its fd
/// closed, as databases do) after the bind (`--force`: without, `persist`
/// refuses): `persist` waits while the mapping exists and carries what was
/// written through it.
#[test]
fn persist_waits_for_a_writable_shared_mapping_and_keeps_what_it_wrote() {
    require_root!();
    let body = r#"
declare_live
mkdir -p "$R/var/lib/live"; head -c 4096 /dev/zero > "$R/var/lib/live/db"
python3 - "$R/var/lib/live/db" "$R/../go" <<'P' & m=$!
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
fd = os.open(sys.argv[1], os.O_RDWR)
addr = libc.mmap(None, 4096, 3, 1, fd, 0)  # PROT_READ|PROT_WRITE, MAP_SHARED
os.close(fd)
open(sys.argv[2] + ".mapped", "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
ctypes.memmove(addr, b"late", 4)
libc.msync(ctypes.c_void_p(addr), 4096, 4)  # MS_SYNC
libc.munmap(ctypes.c_void_p(addr), 4096)
P
wait_for '[ -e "$R/../go.mapped" ]'
imp persist --force /var/lib/live >/dev/null 2>"$R/../err" & p=$!
bound_then_waiting $p
touch "$R/../go"; wait $m
rc=0; wait $p || rc=$?
echo "rc=$rc"; grep -v INFO "$R/../err" >&2 || true
echo "late=$(head -c 4 "$R/persistent/var/lib/live/db")"
"#;
    let o = live(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "bound"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "waiting"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "late"), "late", "{}", dump(&o));
}

/// A shell `cd`'d into the directory being persisted (the admin's own,
/// usually: a process with a controlling terminal) never lets go: `persist`
/// does not wait for it, but warns that what it creates by a relative name
/// goes to the hidden original, with the fix (`cd "$PWD"`). (A process
/// without a terminal there is a service: refused, see `live_holders`.)
#[test]
fn persist_warns_about_a_working_directory_in_the_hidden_original() {
    require_root!();
    let body = r#"
declare_live
mkdir -p "$R/var/lib/live"; echo r1 > "$R/var/lib/live/wal"
script -qec "cd '$R/var/lib/live' && exec sleep 60" /dev/null </dev/null >/dev/null & t=$!
wait_for '[ -n "$(pgrep -P $t sleep)" ]'; h=$(pgrep -P $t sleep)
echo "holder=$h tty=$(awk '{print ($7 != 0)}' /proc/$h/stat)"
start=$(date +%s%N)
rc=0; imp persist /var/lib/live >/dev/null 2>"$R/../err" || rc=$?
echo "rc=$rc ms=$(( ($(date +%s%N) - start) / 1000000 ))"
kill $h; wait $t 2>/dev/null || true
echo "copied=$(cat "$R/persistent/var/lib/live/wal")"
echo BEGIN err; cat "$R/../err"; echo END err
"#;
    let o = live(body);
    assert_code(&o, 0);
    let holder = val(&o, "holder");
    let holder = holder.strip_suffix(" tty=1").expect("a terminal");
    let line = util::stdout(&o)
        .lines()
        .rev()
        .find(|l| l.starts_with("rc="))
        .unwrap_or_default()
        .to_string();
    assert!(line.starts_with("rc=0 "), "{}", dump(&o));
    let ms: u64 = line.rsplit("ms=").next().unwrap().parse().unwrap();
    // Waiting for a holder lasts `GIVE_UP` at least, however fast the
    // machine; without the wait it takes 0.4-2 s (quiet to load 17).
    let give_up = impermctl::live::reconcile::GIVE_UP.as_millis() as u64;
    assert!(ms < give_up, "persist waited for the shell ({ms} ms)");
    assert_eq!(val(&o, "copied"), "r1", "{}", dump(&o));
    let err = super::block(&o, "err");
    let want = format!("pid {holder} (sleep) has its working directory in ");
    assert!(err.contains(&want), "missing {want:?} in {err}");
    assert!(err.contains("cd \"$PWD\""), "{err}");
}

/// The copy-method config for the three inputs of the issue.
const COPY_CFG: &str = r#"
cat >> "$CFG" <<'T'
[[persistence.files]]
path = "/etc/ssh/ssh_host_ed25519_key"
method = "copy"
[[persistence.files]]
path = "/etc/ssh/ssh_host_ed25519_key.pub"
method = "copy"
[[persistence.files]]
path = "/etc/shadow"
method = "copy"
[[persistence.files]]
path = "/root/.local/share/fish/fish_history"
method = "copy"
T
"#;

#[test]
fn a_host_key_generated_on_the_first_boot_is_the_same_after_the_reboot() {
    require_root!();
    let body = format!(
        r#"{COPY_CFG}
imp boot 2>/dev/null
"$IMPERMCTL" --root "$R" --config "$CFG" sync --follow --debounce-ms 100 >/dev/null 2>"$R/../sync.err" & s=$!; trap "kill $s 2>/dev/null || true" EXIT
# sshd-like key generation: remove what is there, write a new key.
mkdir -p "$R/etc/ssh"
rm -f "$R/etc/ssh/ssh_host_ed25519_key" "$R/etc/ssh/ssh_host_ed25519_key.pub"
ssh-keygen -q -t ed25519 -N '' -f "$R/etc/ssh/ssh_host_ed25519_key" -C host
key=$(sha256sum < "$R/etc/ssh/ssh_host_ed25519_key")
# Saved by the follower shortly after the change (no shutdown needed).
wait_for 'cmp -s "$R/etc/ssh/ssh_host_ed25519_key" "$R/persistent/etc/ssh/ssh_host_ed25519_key"' && echo "saved_live=yes"
kill $s; wait $s || echo "follower-rc=$?"; cat "$R/../sync.err" >&2
reboot
imp boot 2>/dev/null
echo "same=$([ "$(sha256sum < "$R/etc/ssh/ssh_host_ed25519_key")" = "$key" ] && echo yes)"
echo "mode=$(stat -c %a "$R/etc/ssh/ssh_host_ed25519_key")"
echo "plain=$([ -f "$R/etc/ssh/ssh_host_ed25519_key" ] && [ ! -L "$R/etc/ssh/ssh_host_ed25519_key" ] && [ -z "$(devof /etc/ssh/ssh_host_ed25519_key)" ] && echo yes)"
echo "pub=$(cut -d' ' -f3 "$R/etc/ssh/ssh_host_ed25519_key.pub")"
# A second generation on the second boot (delete and re-create) is saved at shutdown.
rm "$R/etc/ssh/ssh_host_ed25519_key"; echo second > "$R/etc/ssh/ssh_host_ed25519_key"
imp sync >/dev/null
reboot; imp boot 2>/dev/null
echo "second=$(cat "$R/etc/ssh/ssh_host_ed25519_key")"
"#
    );
    let o = live(&body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "saved_live"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "same"), "yes", "{}", dump(&o));
    assert_eq!(val(&o, "mode"), "600");
    assert_eq!(val(&o, "plain"), "yes");
    assert_eq!(val(&o, "pub"), "host");
    assert_eq!(val(&o, "second"), "second");
}

#[test]
fn a_password_change_works_and_survives_the_reboot() {
    require_root!();
    let body = format!(
        r#"{COPY_CFG}
mkdir -p "$R/persistent/etc"
printf 'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n' > "$R/persistent/etc/passwd"
printf 'root:!:19000::::::\nalice:!:19000::::::\n' > "$R/persistent/etc/shadow"; chmod 640 "$R/persistent/etc/shadow"
printf 'root:x:0:\nusers:x:100:\n' > "$R/persistent/etc/group"
cp -a "$R/persistent/etc/passwd" "$R/persistent/etc/group" "$R/etc/"
imp boot 2>/dev/null
# usermod writes a new shadow and renames it over /etc/shadow.
usermod -P "$R" -p 'HASH-one' alice && echo "usermod=ok"
echo "live=$(grep ^alice: "$R/etc/shadow" | cut -d: -f2)"
imp sync >/dev/null
reboot
cp -a "$R/persistent/etc/passwd" "$R/persistent/etc/group" "$R/etc/"
imp boot 2>/dev/null
echo "after=$(grep ^alice: "$R/etc/shadow" | cut -d: -f2)"
echo "mode=$(stat -c %a "$R/etc/shadow")"
# The same with a bind mount (method auto) fails: EBUSY on the rename.
reboot
cp -a "$R/persistent/etc/passwd" "$R/persistent/etc/group" "$R/etc/"
sed -i '/path = "\/etc\/shadow"/{{n;d}}' "$CFG"
imp boot 2>/dev/null
usermod -P "$R" -p 'HASH-two' alice 2>/dev/null && echo "bound_usermod=ok" || echo "bound_usermod=failed"
"#
    );
    let o = live(&body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "usermod"), "ok", "{}", dump(&o));
    assert_eq!(val(&o, "live"), "HASH-one");
    assert_eq!(val(&o, "after"), "HASH-one", "{}", dump(&o));
    assert_eq!(val(&o, "mode"), "640");
    assert_eq!(val(&o, "bound_usermod"), "failed", "{}", dump(&o));
}

#[test]
fn a_history_file_renamed_over_survives_the_reboot() {
    require_root!();
    let body = format!(
        r#"{COPY_CFG}
imp boot 2>"$R/../boot.err" || {{ echo "boot-rc=$?"; cat "$R/../boot.err"; exit 1; }}
"$IMPERMCTL" --root "$R" --config "$CFG" sync --follow --debounce-ms 100 >/dev/null 2>"$R/../sync.err" & s=$!; trap "kill $s 2>/dev/null || true" EXIT
h="$R/root/.local/share/fish"; mkdir -p "$h"
for i in 1 2 3; do
  {{ cat "$h/fish_history" 2>/dev/null || true; echo "- cmd: echo $i"; }} > "$h/fish_history.tmp$i"
  mv "$h/fish_history.tmp$i" "$h/fish_history"
done
wait_for 'cmp -s "$h/fish_history" "$R/persistent/root/.local/share/fish/fish_history"' && echo "saved_live=yes"
kill $s; wait $s || echo "follower-rc=$?"; cat "$R/../sync.err" >&2
reboot
imp boot 2>/dev/null
echo "history=$(tr '\n' '|' < "$R/root/.local/share/fish/fish_history")"
"#
    );
    let o = live(&body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "saved_live"), "yes", "{}", dump(&o));
    assert_eq!(
        val(&o, "history"),
        "- cmd: echo 1|- cmd: echo 2|- cmd: echo 3|"
    );
}

#[test]
fn saving_copy_files_survives_sigkill_at_random_points() {
    require_root!();
    let body = format!(
        r#"{COPY_CFG}
imp boot 2>/dev/null
mkdir -p "$R/etc/ssh" "$R/persistent/etc/ssh"
meta() {{ stat -c '%a %u %g %s %Y' "$1"; sha256sum < "$1"; }}
head -c 3000000 /dev/urandom > "$R/persistent/etc/ssh/ssh_host_ed25519_key"; chmod 600 "$R/persistent/etc/ssh/ssh_host_ed25519_key"
old=$(meta "$R/persistent/etc/ssh/ssh_host_ed25519_key")
bad=0; landed_old=0; landed_new=0
for i in $(seq 1 60); do
  cp -a "$R/persistent/etc/ssh/ssh_host_ed25519_key" "$R/../oldkey" 2>/dev/null
  head -c $((2000000 + RANDOM)) /dev/urandom > "$R/etc/ssh/ssh_host_ed25519_key"; chmod 640 "$R/etc/ssh/ssh_host_ed25519_key"; chown 7:8 "$R/etc/ssh/ssh_host_ed25519_key"
  new=$(meta "$R/etc/ssh/ssh_host_ed25519_key"); before=$(meta "$R/persistent/etc/ssh/ssh_host_ed25519_key")
  kill_within 40 sync
  now=$(meta "$R/persistent/etc/ssh/ssh_host_ed25519_key")
  if [ "$now" = "$new" ]; then landed_new=$((landed_new+1)); elif [ "$now" = "$before" ]; then landed_old=$((landed_old+1)); else echo "kill $i: a mix"; bad=$((bad+1)); fi
  imp sync >/dev/null 2>&1
  [ "$(meta "$R/persistent/etc/ssh/ssh_host_ed25519_key")" = "$new" ] || {{ echo "rerun $i did not complete"; bad=$((bad+1)); }}
done
echo "bad=$bad"
echo "landed=old:$landed_old new:$landed_new"
echo "leftovers=$(ls -A "$R/persistent/etc/ssh" | grep -c impermctl)"
"#
    );
    let o = live(&body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "bad"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "leftovers"), "0", "{}", dump(&o));
    eprintln!("60 kills of the save: {}", val(&o, "landed"));
}

#[test]
fn the_shutdown_sync_of_a_pending_entry_survives_sigkill_at_random_points() {
    require_root!();
    let body = r#"
mkdir -p "$R/var/lib/live/a"
for i in $(seq 1 200); do head -c $((i * 500)) /dev/urandom > "$R/var/lib/live/a/f$i"; done
( exec 3>>"$R/var/lib/live/wal"; while :; do sleep 1; done ) & w=$!
wait_for '[ -n "$(ls -l /proc/'$w'/fd | grep wal)" ]'
declare_live
imp boot 2>/dev/null
kill $w; wait $w 2>/dev/null || true
sum() { (cd "$1" && find . -printf '%M %u %g %y %s %p\n' | sort; find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16; }
bad=0; old=0; new=0
for i in $(seq 1 60); do
  echo "change $i" >> "$R/var/lib/live/wal"; head -c $((RANDOM * 10)) /dev/urandom > "$R/var/lib/live/a/f$((i % 200 + 1))"
  before=$(sum "$R/persistent/var/lib/live"); want=$(sum "$R/var/lib/live")
  kill_within 60 sync
  now=$(sum "$R/persistent/var/lib/live")
  if [ "$now" = "$want" ]; then new=$((new+1)); elif [ "$now" = "$before" ]; then old=$((old+1)); else echo "kill $i: a mix"; bad=$((bad+1)); fi
  imp sync >/dev/null 2>&1
  [ "$(sum "$R/persistent/var/lib/live")" = "$want" ] || { echo "rerun $i did not complete"; bad=$((bad+1)); }
done
echo "bad=$bad"
echo "landed=old:$old new:$new"
echo "leftovers=$(ls -A "$R/persistent/var/lib" | grep -c impermctl)"
reboot; imp boot 2>/dev/null
echo "bound=$(devof /var/lib/live)"
"#;
    let o = live(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "bad"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "leftovers"), "0", "{}", dump(&o));
    assert!(!val(&o, "bound").is_empty(), "{}", dump(&o));
    eprintln!("60 kills of the pending sync: {}", val(&o, "landed"));
}

#[test]
fn an_entry_owned_by_a_user_the_same_activation_creates_is_deferred_quietly() {
    require_root!();
    let body = r#"
printf 'root:x:0:0::/root:/bin/sh\n' > "$R/etc/passwd"; printf 'root:x:0:\n' > "$R/etc/group"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/var/lib/svc"
user = "svc"
group = "svc"
mode = "0700"
T
# Without the flag the first pass fails (the owner does not exist yet).
imp boot --dry-run >/dev/null 2>&1 || true
rc=0; imp boot 2>"$R/../plain.err" || rc=$?; echo "plain_rc=$rc"
umount "$R/var/lib/svc" 2>/dev/null || true
rm -rf "$R/run/impermctl"
# The activation pass before users: deferred, quietly.
rc=0; imp boot --defer-unknown-owners 2>"$R/../first.err" || rc=$?; echo "first_rc=$rc"
echo "errors=$(grep -c ERROR "$R/../first.err")"
echo "deferred=$(grep -c 'deferred' "$R/../first.err")"
echo "created=$([ -e "$R/persistent/var/lib/svc" ] && echo yes || echo no)"
# users/groups create svc; the pass after them applies the entry.
echo 'svc:x:991:991::/var/lib/svc:/bin/false' >> "$R/etc/passwd"; echo 'svc:x:991:' >> "$R/etc/group"
rc=0; imp boot --defer-unknown-owners 2>/dev/null || rc=$?; echo "second_rc=$rc"
echo "owner=$(stat -c '%u:%g %a' "$R/persistent/var/lib/svc")"
echo "bound=$(devof /var/lib/svc)"
"#;
    let o = live(body);
    assert_code(&o, 0);
    // Before: the first pass reports a failure.
    assert_eq!(val(&o, "plain_rc"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "first_rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "errors"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "deferred"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "created"), "no");
    assert_eq!(val(&o, "second_rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "owner"), "991:991 700");
    assert!(!val(&o, "bound").is_empty(), "{}", dump(&o));
}

/// A writer that never settles (a shell loop on a terminal, `cd`'d into
/// the directory, appending by a relative name every 10 ms: left out of the
/// writers scan as your shell is, it writes to the original after the bind
/// and never stops): reconciling gives up after
/// `GIVE_UP` with an ERROR (what it writes from then on lands in the
/// hidden original). That error fails `boot` (exit 1, "bound with ERRORS"
/// in the summary, `errors` in `--json`), so the unit shows it, while the
/// other entry is still bound and the exit is not 0 (it was: the error was
/// only logged).
#[test]
fn boot_exits_1_when_reconciling_a_bound_entry_fails_and_binds_the_others() {
    require_root!();
    let body = r#"
declare_live
printf '[[persistence.directories]]\npath = "/var/lib/calm"\n' >> "$CFG"
mkdir -p "$R/var/lib/calm"; echo calm > "$R/var/lib/calm/f"
for t in 1 2 3; do
  reboot; rm -rf "$R/persistent/var"
  mkdir -p "$R/var/lib/live/sub" "$R/var/lib/calm"; : > "$R/var/lib/live/wal"; echo calm > "$R/var/lib/calm/f"
  (cd "$R/var/lib/live/sub" && seq 1 1500 | xargs touch)
  script -qec "cd '$R/var/lib/live' && i=0 && while :; do echo r\$i >> wal; i=\$((i+1)); sleep 0.01; done" /dev/null </dev/null >/dev/null & w=$!
  wait_for '[ -s "$R/var/lib/live/wal" ]'
  rc=0; imp boot 2>"$R/../err" >/dev/null || rc=$?
  kill $(pgrep -P $w) $w 2>/dev/null || true; wait $w 2>/dev/null || true
  # Seen by the writers scan (rare): left pending, no reconciling; again.
  grep -q PENDING "$R/../err" || break
done
echo "rc=$rc"
echo "live=$([ -n "$(devof /var/lib/live)" ] && echo bound)"
echo "calm=$([ -n "$(devof /var/lib/calm)" ] && echo bound) $(cat "$R/var/lib/calm/f")"
echo BEGIN err; grep -v INFO "$R/../err" || true; grep 'persisted .* paths' "$R/../err" || true; echo END err
"#;
    let o = live(body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "live"), "bound", "{}", dump(&o));
    assert_eq!(val(&o, "calm"), "bound calm", "{}", dump(&o));
    let err = super::block(&o, "err");
    assert!(err.contains("ERROR"), "{err}");
    assert!(
        err.contains("is still written to or held open after"),
        "{err}"
    );
    assert!(err.contains(", 1 bound with ERRORS (above)"), "{err}");
}

/// `persist --force` whose reconciling gives up (a writer that never
/// settles, the trial's LMDB-like case): the bind stays, and it is recorded
/// in persisted.json before the error is said, so `status` lists it and
/// exits 1 (trial-s10 F2: the give-up returned before the record; status
/// and diff then said all was well and the next boot left the dir empty).
#[test]
fn persist_whose_reconciling_gives_up_still_records_the_bind() {
    require_root!();
    let body = r#"
mkdir -p "$R/var/lib/live"; : > "$R/var/lib/live/wal"
script -qec "cd '$R/var/lib/live' && i=0 && while :; do echo r\$i >> wal; i=\$((i+1)); sleep 0.01; done" /dev/null </dev/null >/dev/null & w=$!
wait_for '[ -s "$R/var/lib/live/wal" ]'
rc=0; imp persist --force /var/lib/live 2>"$R/../err" >/dev/null || rc=$?
kill $(pgrep -P $w) $w 2>/dev/null || true; wait $w 2>/dev/null || true
echo "rc=$rc"
echo "bound=$([ -n "$(devof /var/lib/live)" ] && echo yes)"
echo "recorded=$(grep -c '/var/lib/live' "$R/run/impermctl/persisted.json" 2>/dev/null)"
src=0; imp status >"$R/../status" 2>&1 || src=$?
echo "status-rc=$src"
echo "listed=$(grep -c '/var/lib/live' "$R/../status")"
echo BEGIN err; cat "$R/../err"; echo END err
"#;
    let o = live(body);
    assert_code(&o, 0);
    let err = super::block(&o, "err");
    if !err.contains("is still written to or held open after") {
        // The writer settled in time (persist exited 0): nothing to check.
        assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    } else {
        assert_ne!(val(&o, "rc"), "0", "{}", dump(&o));
    }
    assert_eq!(val(&o, "bound"), "yes", "{}", dump(&o));
    assert_ne!(val(&o, "recorded"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "status-rc"), "1", "{}", dump(&o));
    assert_ne!(val(&o, "listed"), "0", "{}", dump(&o));
}
