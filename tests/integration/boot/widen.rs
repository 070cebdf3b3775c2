//! Widening a declaration on a running system (trial s11 N9, N21): a
//! directory declared over entries that are already bound (or copied)
//! from inside it — `/home/alice/.ssh` bound, now `/home/alice` declared,
//! as `diff --suggest` advises; `/var/log` + `/var/lib/nixos` → `/var`; a
//! host-key file → `/etc/ssh`. The persistent copy of the new directory
//! holds only what impermctl made for the nested entries (their sources,
//! which are the very data bound live, and the parents it created), so it
//! is no "other version": the live data outside the nested entries is
//! carried into it (a seed), the nested entries keep their data, nothing
//! is kept aside in `impermctl-kept/` and nothing is hidden.

use super::{dump, val, vps};
use crate::util::{Layout, assert_code};
use crate::{require_root, require_tool};

/// Prints, after the widened boot: `rc`, whether the new directory `$W`
/// is bound, what `impermctl-kept/` holds, and the count of "already held
/// data" warnings; then a rerun's `rc2`.
const AFTER: &str = r#"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
echo "bound=$(mountpoint -q "$R$W" && echo yes)"
echo "kept=$(find "$R/persistent/impermctl-kept" -mindepth 1 2>/dev/null | wc -l)"
echo "held=$(grep -c 'already held data' "$R/err" || true)"
"#;
const RERUN: &str = r#"
rc=0; imp boot 2>>"$R/err" || rc=$?; echo "rc2=$rc"
echo "kept2=$(find "$R/persistent/impermctl-kept" -mindepth 1 2>/dev/null | wc -l)"
cat "$R/err" >&2
"#;

#[track_caller]
fn expect(o: &std::process::Output, want: &[(&str, &str)]) {
    assert_code(o, 0);
    for (k, v) in want {
        assert_eq!(val(o, k), *v, "{k}\n{}", dump(o));
    }
}

/// N9 (n9.sh): `/home/alice/.ssh` bound, then `/home/alice` declared: the
/// whole home stays live (thesis, dotfiles, the key) and persisted, the
/// key's writes still reach persistence, nothing is kept aside; the
/// stale `.ssh` from before its bind (under it) never comes back: not
/// the old key, nor a key file deleted since.
#[test]
fn widening_a_bound_dir_to_its_parent_keeps_the_live_data() {
    require_root!();
    let o = vps(
        &Layout::default(),
        &format!(
            r#"W=/home/alice; H="$R$W"; P="$R/persistent$W"
mkdir -p "$H/.ssh"; echo rc > "$H/.bashrc"; chmod 700 "$H"
echo stale-key > "$H/.ssh/authorized_keys"; echo revoked > "$H/.ssh/old_key"; touch -d '2020-01-01' "$H/.ssh/"*
printf '[[persistence.directories]]\npath = "/home/alice/.ssh"\n' >> "$CFG"
imp boot 2>/dev/null
echo key > "$H/.ssh/authorized_keys"; rm "$H/.ssh/old_key"
mkdir -p "$H/work"; echo "thesis draft" > "$H/work/thesis.txt"; chown -R 1100:1100 "$H"
printf '[[persistence.directories]]\npath = "/home/alice"\n' >> "$CFG"
{AFTER}
echo "thesis=$(cat "$H/work/thesis.txt" 2>&1)"
echo "bashrc=$(cat "$H/.bashrc" 2>&1)"
echo "key=$(cat "$H/.ssh/authorized_keys" 2>&1)"
echo "p_thesis=$(cat "$P/work/thesis.txt" 2>&1)"
echo "p_key=$(cat "$P/.ssh/authorized_keys" 2>&1)"
echo "p_mode=$(stat -c '%a %u' "$P")"
echo key2 > "$H/.ssh/authorized_keys"; echo "p_key2=$(cat "$P/.ssh/authorized_keys")"
{RERUN}
echo "ssh=$(ls -A "$H/.ssh" | tr '\n' ' ')"
echo "key3=$(cat "$H/.ssh/authorized_keys" 2>&1)"
"#
        ),
    );
    expect(
        &o,
        &[
            ("rc", "0"),
            ("bound", "yes"),
            ("kept", "0"),
            ("held", "0"),
            ("thesis", "thesis draft"),
            ("bashrc", "rc"),
            ("key", "key"),
            ("p_thesis", "thesis draft"),
            ("p_key", "key"),
            ("p_mode", "700 1100"),
            ("p_key2", "key2"),
            ("rc2", "0"),
            ("kept2", "0"),
            ("key3", "key2"),
            ("ssh", "authorized_keys "),
        ],
    );
}

/// N9 (n9b.sh): `/var/log` and `/var/lib/nixos` bound, then `/var`
/// declared: a service's state in `/var/lib/svc` stays live and persisted;
/// a logger writing into the bound `/var/log` (as journald does) is no
/// reason to wait: its writes keep reaching persistence.
#[test]
fn widening_bound_dirs_to_var_keeps_the_live_data() {
    require_root!();
    let o = vps(
        &Layout::default(),
        &format!(
            r#"W=/var
imp boot 2>/dev/null
echo log > "$R/var/log/app.log"; mkdir -p "$R/var/lib/svc"; echo state > "$R/var/lib/svc/db"
( exec 3>>"$R/var/log/journal"; while :; do echo j >&3; sleep 0.05 3>&-; done ) & w=$!
t=$((SECONDS + 20)); while [ ! -s "$R/var/log/journal" ] && [ $SECONDS -lt $t ]; do sleep 0.02; done
printf '[[persistence.directories]]\npath = "/var"\n' >> "$CFG"
{AFTER}
echo "db=$(cat "$R/var/lib/svc/db" 2>&1)"
echo "log=$(cat "$R/var/log/app.log" 2>&1)"
echo "p_db=$(cat "$R/persistent/var/lib/svc/db" 2>&1)"
n=$(wc -l < "$R/persistent/var/log/journal"); t=$((SECONDS + 20))
while [ "$(wc -l < "$R/persistent/var/log/journal")" -le "$n" ] && [ $SECONDS -lt $t ]; do sleep 0.05; done
echo "journal=$([ "$(wc -l < "$R/persistent/var/log/journal")" -gt "$n" ] && echo growing)"
kill $w; wait $w 2>/dev/null || true
{RERUN}
"#
        ),
    );
    expect(
        &o,
        &[
            ("rc", "0"),
            ("bound", "yes"),
            ("kept", "0"),
            ("held", "0"),
            ("db", "state"),
            ("log", "log"),
            ("p_db", "state"),
            ("journal", "growing"),
            ("rc2", "0"),
            ("kept2", "0"),
        ],
    );
}

/// N21 (n21.sh): a host key declared as a copy file, then `/etc/ssh`
/// declared instead: the other keys and NixOS's `sshd_config` link stay
/// live and persisted, the declared key keeps its live version.
#[test]
fn widening_a_file_to_its_directory_keeps_the_live_data() {
    require_root!();
    let o = vps(
        &Layout::default(),
        &format!(
            r#"W=/etc/ssh; S="$R/etc/ssh"
cp "$CFG" "$R/.seedcfg"; mkdir -p "$R/etc/static/ssh" "$S"; echo "Port 22" > "$R/etc/static/ssh/sshd_config"
ln -s /etc/static/ssh/sshd_config "$S/sshd_config"; echo ed > "$S/ssh_host_ed25519_key"; echo rsa > "$S/ssh_host_rsa_key"
printf '[[persistence.files]]\npath = "/etc/ssh/ssh_host_ed25519_key"\nmethod = "copy"\n' >> "$CFG"
imp boot 2>/dev/null; imp sync >/dev/null 2>&1
echo ed2 > "$S/ssh_host_ed25519_key"
cp "$R/.seedcfg" "$CFG"; printf '[[persistence.directories]]\npath = "/etc/ssh"\n' >> "$CFG"
{AFTER}
echo "ls=$(ls -A "$S" | tr '\n' ' ')"
echo "rsa=$(cat "$S/ssh_host_rsa_key" 2>&1)"
echo "ed=$(cat "$S/ssh_host_ed25519_key" 2>&1)"
echo "link=$(readlink "$S/sshd_config")"
echo "p_rsa=$(cat "$R/persistent/etc/ssh/ssh_host_rsa_key" 2>&1)"
{RERUN}
"#
        ),
    );
    expect(
        &o,
        &[
            ("rc", "0"),
            ("bound", "yes"),
            ("kept", "0"),
            ("held", "0"),
            ("ls", "ssh_host_ed25519_key ssh_host_rsa_key sshd_config "),
            ("rsa", "rsa"),
            ("ed", "ed2"),
            ("link", "/etc/static/ssh/sshd_config"),
            ("p_rsa", "rsa"),
            ("rc2", "0"),
            ("kept2", "0"),
        ],
    );
}

/// N8 (n8.sh): `/var` declared over bound `/var/log` while a service
/// writes `/var/lib/svc`: nothing is copied nor bound over the writer,
/// nothing kept aside, the live data and the nested entries' data stay
/// whole, the error says what to do; once the writer stopped, the rerun
/// binds the merge, its last writes in it (nothing kept aside).
#[test]
fn widening_under_a_writer_binds_nothing_and_loses_nothing() {
    require_root!();
    let o = vps(
        &Layout::default(),
        &format!(
            r#"W=/var
imp boot 2>/dev/null
echo log > "$R/var/log/app.log"; mkdir -p "$R/var/lib/svc"; echo state > "$R/var/lib/svc/db"
( exec 3>>"$R/var/lib/svc/wal"; while :; do echo w >&3; sleep 0.1 3>&-; done ) & w=$!
t=$((SECONDS + 20)); while [ ! -s "$R/var/lib/svc/wal" ] && [ $SECONDS -lt $t ]; do sleep 0.02; done
printf '[[persistence.directories]]\npath = "/var"\n' >> "$CFG"
{AFTER}
kill $w; wait $w 2>/dev/null || true
echo "db=$(cat "$R/var/lib/svc/db" 2>&1)"
echo "log=$(cat "$R/var/log/app.log" 2>&1)"
echo "p_log=$(cat "$R/persistent/var/log/app.log" 2>&1)"
echo "logbound=$(mountpoint -q "$R/var/log" && echo yes)"
echo "p_db=$(test -e "$R/persistent/var/lib/svc" && echo yes)"
echo "wal=$(grep -c w "$R/var/lib/svc/wal")"
echo "said=$(grep -c 'nothing was copied or bound' "$R/err" || true)"
{RERUN}
echo "bound2=$(mountpoint -q "$R/var" && echo yes)"
echo "db2=$(cat "$R/var/lib/svc/db" 2>&1)"
echo "wal2=$(grep -c w "$R/var/lib/svc/wal" 2>&1)"
echo "log2=$(cat "$R/var/log/app.log" 2>&1)"
"#
        ),
    );
    let o2 = &o;
    assert_eq!(val(o2, "bound"), "", "{}", dump(o2));
    assert_eq!(val(o2, "wal2"), val(o2, "wal"), "{}", dump(o2));
    expect(
        o2,
        &[
            ("kept", "0"),
            ("held", "0"),
            ("db", "state"),
            ("log", "log"),
            ("p_log", "log"),
            ("logbound", "yes"),
            ("p_db", ""),
            ("said", "1"),
            ("bound2", "yes"),
            ("kept2", "0"),
            ("db2", "state"),
            ("log2", "log"),
        ],
    );
}

/// The merge killed at random points, then boot run again: the live
/// data and the nested entry's data are whole (live, or kept aside whole
/// in `impermctl-kept/`), never lost.
#[test]
fn widening_killed_at_random_points_loses_nothing() {
    require_root!();
    super::kill_trials(
        r#"H="$R/home/alice"; cp "$CFG" "$R/.seedcfg"
for i in $(seq 1 20); do
  umount -R "$H" 2>/dev/null || true; rm -rf "$H" "$R/persistent/home" "$R/persistent/impermctl-kept"
  cp "$R/.seedcfg" "$CFG"; printf '[[persistence.directories]]\npath = "/home/alice/.ssh"\n' >> "$CFG"
  mkdir -p "$H"; imp boot >/dev/null 2>&1 || echo "trial $i: first boot failed"
  echo key > "$H/.ssh/authorized_keys"; mkdir -p "$H/work"; echo thesis > "$H/work/t"
  printf '[[persistence.directories]]\npath = "/home/alice"\n' >> "$CFG"
  kill_within 40 boot
  imp boot >/dev/null 2>&1 || true
  t=$(cat "$H/work/t" 2>/dev/null || cat "$R"/persistent/impermctl-kept/*/home/alice/work/t 2>/dev/null)
  k=$(cat "$H/.ssh/authorized_keys" 2>/dev/null)
  if [ "$t" != thesis ] || [ "$k" != key ]; then bad=$((bad+1)); echo "trial $i: t=$t k=$k"; fi
  # Bound now: the data is in persistence (or was kept aside whole).
  p=$(cat "$R/persistent/home/alice/work/t" 2>/dev/null || true)
  if ! mountpoint -q "$H" || { [ "$p" != thesis ] && [ ! -d "$R/persistent/impermctl-kept" ]; }; then
    bad=$((bad+1)); echo "trial $i: bound=$(mountpoint -q "$H" && echo yes) p=$p"; fi
  n=$(ls -A "$R/persistent/impermctl-kept" 2>/dev/null | wc -l || true); phases="$phases ${n}kept"
done"#,
    );
}

/// N18 (n18.sh): a second root's file (`/persist2`, a secret) inside a
/// directory then declared in the first: no "moved entry" migration, the
/// live data stays, nothing is kept aside; the secret is not copied into
/// the first root (only its mount point, empty), its bind stays on top:
/// a rotated secret reaches `/persist2`.
#[test]
fn a_second_roots_file_inside_a_newly_declared_dir_is_no_moved_entry() {
    require_root!();
    let o = vps(
        &Layout::default(),
        &format!(
            r#"W=/var/lib/app; A="$R/var/lib/app"
mkdir -p "$R/persist2"; mount -t tmpfs tank/ct/101/p2 "$R/persist2"; mkdir -p "$R/persist2/var/lib/app" "$A"; echo s > "$R/persist2/var/lib/app/secret.key"; echo data > "$A/db"
cp "$CFG" "$R/.seed"
p2() {{ printf '[[persistence]]\npath = "/persist2"\n[[persistence.files]]\npath = "/var/lib/app/secret.key"\n'; }}
{{ cat "$R/.seed"; p2; }} > "$CFG"
imp boot 2>/dev/null || echo "first boot failed"
{{ cat "$R/.seed"; printf '[[persistence.directories]]\npath = "/var/lib/app"\n'; p2; }} > "$CFG"
{AFTER}
echo "migrated=$(grep -c 'migrated' "$R/err" || true)"
echo "p_secret=$(stat -c %s "$R/persistent/var/lib/app/secret.key" 2>&1)"
echo "db=$(cat "$A/db" 2>&1)"
echo "secret=$(cat "$A/secret.key" 2>&1)"
echo rotated > "$A/secret.key"; echo "p2_secret=$(cat "$R/persist2/var/lib/app/secret.key")"
{RERUN}
echo "secret2=$(cat "$A/secret.key" 2>&1)"
echo "p_secret2=$(stat -c %s "$R/persistent/var/lib/app/secret.key" 2>&1)"
"#
        ),
    );
    expect(
        &o,
        &[
            ("rc", "0"),
            ("bound", "yes"),
            ("kept", "0"),
            ("held", "0"),
            ("migrated", "0"),
            ("db", "data"),
            ("secret", "s"),
            ("p_secret", "0"),
            ("p2_secret", "rotated"),
            ("rc2", "0"),
            ("kept2", "0"),
            ("secret2", "rotated"),
            ("p_secret2", "0"),
        ],
    );
}

/// As `seed::boot_killed_before_each_change_of_a_fill_loses_nothing`, for
/// the merge of a widened directory: `/home/alice/.ssh` bound, then
/// `/home/alice` declared; the boot killed before each change it makes,
/// in turn (every step of the merge, the bind, the nested bind mounted
/// again on top, the records): the live data and the nested entry's data
/// stay whole where they are visible, and the rerun binds a merge equal
/// to the live home in every bit of metadata; nothing kept aside, nothing
/// of the merge left in or beside the persistent home.
#[test]
fn widening_killed_before_each_change_of_the_merge_loses_nothing() {
    require_root!();
    require_tool!("strace");
    let body = format!(
        r#"{kp}
H="$R/home/alice"; P="$R/persistent/home/alice"; cp "$CFG" "$R/../seedcfg"
man() {{ (cd "$1" && {{ find . ! -type d -printf '%p %y %m %U %G %s %T@ %n %l\n'; find . -type d -printf '%p %m %U %G %T@\n'
  find . -type f -print0 | xargs -0 sha256sum; }} | LC_ALL=C sort); }}
fresh() {{
  for i in 1 2 3 4; do
    mounts | awk '$1 ~ /^\/home\/alice/ {{ print $1 }}' | sort -r | while read -r m; do umount -l "$R$m" 2>/dev/null || true; done
  done
  rm -rf "$R/persistent/home" "$R/persistent/impermctl-kept" "$R/run/impermctl" "$R/run/mount" "$H"
  cp "$R/../seedcfg" "$CFG"; printf '[[persistence.directories]]\npath = "/home/alice/.ssh"\n' >> "$CFG"
  mkdir -p "$H"; echo rc > "$H/.bashrc"
  imp boot >/dev/null 2>&1 || echo "first boot failed"
  echo key > "$H/.ssh/authorized_keys"; mkdir -p "$H/work"; echo thesis > "$H/work/t"; ln -s work/t "$H/l"
  chown -R 1100:1100 "$H"; chmod 700 "$H"; touch -d '2020-01-02 03:04:05' "$H/work" "$H"
  printf '[[persistence.directories]]\npath = "/home/alice"\n' >> "$CFG"
}}
fresh
points=$(kill_points "$IMPERMCTL" --root "$R" --config "$CFG" boot)
n=0
for pt in $points; do
  n=$((n + 1)); fresh; want=$(man "$H")
  kill_at "$pt" "$IMPERMCTL" --root "$R" --config "$CFG" boot || {{ echo "$pt: not killed there"; bad=$((bad + 1)); }}
  phases="$phases $pt"
  [ "$(man "$H")" = "$want" ] || [ "$(man "$P")" = "$want" ] || {{ echo "$pt: the data is nowhere whole"; bad=$((bad + 1)); }}
  imp boot 2>"$R/../err" || {{ echo "$pt: the rerun failed: $(grep -v INFO "$R/../err" | head -2)"; bad=$((bad + 1)); continue; }}
  [ "$(man "$H")" = "$want" ] || {{ echo "$pt: the live view differs: $(diff <(man "$H") <(echo "$want") | head -4 | tr '\n' ' ')"; bad=$((bad + 1)); }}
  [ "$(devof /home/alice)" = "$(devof /persistent)" ] || {{ echo "$pt: not bound"; bad=$((bad + 1)); }}
  [ -n "$(devof /home/alice/.ssh)" ] || {{ echo "$pt: .ssh not mounted on top"; bad=$((bad + 1)); }}
  [ "$(cat "$P/work/t" "$P/.ssh/authorized_keys" 2>&1)" = "thesis
key" ] || {{ echo "$pt: not in persistence: $(cat "$P/work/t" "$P/.ssh/authorized_keys" 2>&1 | tr '\n' ' ')"; bad=$((bad + 1)); }}
  if left=$({{ ls -A "$P"; ls -A "$R/persistent/home"; }} | grep impermctl); then echo "$pt: left $left"; bad=$((bad + 1)); fi
  [ ! -e "$R/persistent/impermctl-kept" ] || {{ echo "$pt: kept aside: $(ls -R "$R/persistent/impermctl-kept" | head -3)"; bad=$((bad + 1)); }}
done
echo "points=$n"
[ "$n" -gt 10 ] || {{ echo "too few points: $n"; bad=$((bad + 1)); }}
"#,
        kp = crate::util::KILL_POINTS
    );
    super::kill_trials(&body);
}

/// N29 (n29.sh): `/var/lib/app/cache` declared and bound, then replaced
/// by `/var/lib/app` (the cache leaves the config: left bound until the
/// next boot): the app's live db stays and is persisted, the cache's data
/// too, nothing is kept aside.
#[test]
fn replacing_a_bound_dir_by_its_parent_keeps_the_live_data() {
    require_root!();
    let o = vps(
        &Layout::default(),
        &format!(
            r#"W=/var/lib/app; A="$R/var/lib/app"; cp "$CFG" "$R/.seed"
{{ cat "$R/.seed"; printf '[[persistence.directories]]\npath = "/var/lib/app/cache"\n'; }} > "$CFG"
imp boot 2>/dev/null || echo "first boot failed"
echo rows > "$A/db"; echo c > "$A/cache/blob"
{{ cat "$R/.seed"; printf '[[persistence.directories]]\npath = "/var/lib/app"\n'; }} > "$CFG"
{AFTER}
echo "db=$(cat "$A/db" 2>&1)"
echo "blob=$(cat "$A/cache/blob" 2>&1)"
echo "p_db=$(cat "$R/persistent/var/lib/app/db" 2>&1)"
echo "p_blob=$(cat "$R/persistent/var/lib/app/cache/blob" 2>&1)"
{RERUN}
"#
        ),
    );
    expect(
        &o,
        &[
            ("rc", "0"),
            ("bound", "yes"),
            ("kept", "0"),
            ("held", "0"),
            ("db", "rows"),
            ("blob", "c"),
            ("p_db", "rows"),
            ("p_blob", "c"),
            ("rc2", "0"),
            ("kept2", "0"),
        ],
    );
}

/// N20 (n20.sh): `/home/alice/.ssh` declared and bound, then `impermctl
/// persist /home/alice`: refused neither for impermctl's own bind below
/// it nor for the home's mode; the live home is merged into persistence
/// around `.ssh` and bound, `.ssh` mounted again on top: the key stays
/// live and its writes reach persistence, the stale `.ssh` from before
/// its bind never comes back; a rerun says it is done.
#[test]
fn persisting_a_parent_of_a_bound_dir_keeps_the_live_data() {
    require_root!();
    let o = vps(
        &Layout::default(),
        r#"H="$R/home/alice"; P="$R/persistent/home/alice"
mkdir -p "$H/.ssh"; chmod 700 "$H"
echo stale-key > "$H/.ssh/authorized_keys"; echo revoked > "$H/.ssh/old_key"; touch -d '2020-01-01' "$H/.ssh/"*
printf '[[persistence.directories]]\npath = "/home/alice/.ssh"\n' >> "$CFG"
imp boot 2>/dev/null
echo key-v2 > "$H/.ssh/authorized_keys"; rm "$H/.ssh/old_key"
mkdir -p "$H/work"; echo t > "$H/work/thesis.txt"; chown -R 1100:1100 "$H"
rc=0; imp persist /home/alice >"$R/out" 2>&1 || rc=$?; echo "rc=$rc"; cat "$R/out" >&2
echo "thesis=$(cat "$H/work/thesis.txt" 2>&1)"
echo "key=$(cat "$H/.ssh/authorized_keys" 2>&1)"
echo "ssh=$(ls -A "$H/.ssh" | tr '\n' ' ')"
echo "p_thesis=$(cat "$P/work/thesis.txt" 2>&1)"
echo "p_mode=$(stat -c '%a %u' "$P")"
echo "bound=$([ "$(devof /home/alice)" = "$(devof /persistent)" ] && echo yes)"
echo "sshtop=$(mounts | awk '$1 == "/home/alice/.ssh"' | wc -l)"
echo key-v3 > "$H/.ssh/authorized_keys"; echo "p_key=$(cat "$P/.ssh/authorized_keys")"
rc=0; imp persist /home/alice >"$R/out" 2>&1 || rc=$?; echo "rc2=$rc"; cat "$R/out" >&2
echo "unpersisted=$(imp status 2>&1 | grep -c 'NOT PERSISTED' || true)"
"#,
    );
    expect(
        &o,
        &[
            ("rc", "0"),
            ("thesis", "t"),
            ("key", "key-v2"),
            ("ssh", "authorized_keys "),
            ("p_thesis", "t"),
            ("p_mode", "700 1100"),
            ("bound", "yes"),
            ("sshtop", "1"),
            ("p_key", "key-v3"),
            ("rc2", "0"),
            ("unpersisted", "0"),
        ],
    );
}
