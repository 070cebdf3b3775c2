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
use crate::require_root;
use crate::util::{Layout, assert_code};

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
/// key's writes still reach persistence, nothing is kept aside.
#[test]
fn widening_a_bound_dir_to_its_parent_keeps_the_live_data() {
    require_root!();
    let o = vps(
        &Layout::default(),
        &format!(
            r#"W=/home/alice; H="$R$W"; P="$R/persistent$W"
mkdir -p "$H"; echo rc > "$H/.bashrc"; chmod 700 "$H"
printf '[[persistence.directories]]\npath = "/home/alice/.ssh"\n' >> "$CFG"
imp boot 2>/dev/null
echo key > "$H/.ssh/authorized_keys"
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
        ],
    );
}

/// N9 (n9b.sh): `/var/log` and `/var/lib/nixos` bound, then `/var`
/// declared: a service's state in `/var/lib/svc` stays live and persisted.
#[test]
fn widening_bound_dirs_to_var_keeps_the_live_data() {
    require_root!();
    let o = vps(
        &Layout::default(),
        &format!(
            r#"W=/var
imp boot 2>/dev/null
echo log > "$R/var/log/app.log"; mkdir -p "$R/var/lib/svc"; echo state > "$R/var/lib/svc/db"
printf '[[persistence.directories]]\npath = "/var"\n' >> "$CFG"
{AFTER}
echo "db=$(cat "$R/var/lib/svc/db" 2>&1)"
echo "log=$(cat "$R/var/log/app.log" 2>&1)"
echo "p_db=$(cat "$R/persistent/var/lib/svc/db" 2>&1)"
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
/// writes `/var/lib/svc`: nothing is bound over the writer, nothing kept
/// aside, the live data and the nested entries' data stay whole.
#[test]
fn widening_under_a_writer_binds_nothing_and_loses_nothing() {
    require_root!();
    let o = vps(
        &Layout::default(),
        &format!(
            r#"W=/var
imp boot 2>/dev/null
echo log > "$R/var/log/app.log"; mkdir -p "$R/var/lib/svc"; echo state > "$R/var/lib/svc/db"
( exec 3>>"$R/var/lib/svc/wal"; while :; do echo w >&3; sleep 0.1; done ) & w=$!
printf '[[persistence.directories]]\npath = "/var"\n' >> "$CFG"
{AFTER}
kill $w; wait $w 2>/dev/null || true
echo "db=$(cat "$R/var/lib/svc/db" 2>&1)"
echo "log=$(cat "$R/var/log/app.log" 2>&1)"
echo "p_log=$(cat "$R/persistent/var/log/app.log" 2>&1)"
echo "logbound=$(mountpoint -q "$R/var/log" && echo yes)"
{RERUN}
echo "db2=$(cat "$R/var/lib/svc/db" 2>&1)"
echo "log2=$(cat "$R/var/log/app.log" 2>&1)"
"#
        ),
    );
    let o2 = &o;
    assert_eq!(val(o2, "bound"), "", "{}", dump(o2));
    expect(
        o2,
        &[
            ("kept", "0"),
            ("held", "0"),
            ("db", "state"),
            ("log", "log"),
            ("p_log", "log"),
            ("logbound", "yes"),
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
/// live data stays, nothing is kept aside.
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
echo "p_secret=$(ls "$R/persistent/var/lib/app/secret.key" 2>&1 | grep -c 'No such')"
echo "db=$(cat "$A/db" 2>&1)"
echo "secret=$(cat "$A/secret.key" 2>&1)"
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
            ("migrated", "0"),
            ("db", "data"),
            ("secret", "s"),
            ("p_secret", "1"),
        ],
    );
}
