//! `impermctl persist` of a file that programs replace by rename (SSH host
//! keys, shell histories: `classify::replaced`): copied into persistence
//! and not bind-mounted, as the snippet it prints (`method = "copy"`) and
//! `verify`'s `replaced-files` check say. A bind would make the program's
//! rename fail with EBUSY (fish-shell#8627, #10730, impermanence#175) or,
//! for sshd's delete-and-create, leave the new key unpersisted
//! (impermanence#101).

use crate::require_root;
use crate::util::{Layout, assert_code, in_vps, stderr, stdout};

/// The replaced files of the trial and of user reports, each persisted,
/// then replaced by rename the way its program does; declared as printed,
/// `verify` is quiet, `boot` (the switch that follows) keeps the live
/// version (nothing set aside, nothing rolled back), the shutdown sync
/// saves it.
#[test]
fn persist_copies_a_replaced_file_instead_of_binding_it() {
    require_root!();
    let o = in_vps(
        &Layout::default(),
        r#"
cat > "$CFG" <<'T'
version = 1
[[persistence]]
path = "/persistent"
T
files="/etc/ssh/ssh_host_ed25519_key /root/.bash_history /root/.zsh_history /home/alice/.local/share/fish/fish_history"
for f in $files; do mkdir -p "$(dirname "$R$f")"; echo "old $f" > "$R$f"; chmod 600 "$R$f"; done
imp persist --dry-run /etc/ssh/ssh_host_ed25519_key
imp persist --json --dry-run /root/.bash_history | tr -d ' \n'; echo
for f in $files; do
  imp persist "$f" > "$R/../out" 2>&1 || echo "persist $f failed: $(cat "$R/../out")"
  cat "$R/../out"
  echo "mounted $f=$(findmnt -n --mountpoint "$R$f" | wc -l)"
  echo "copy $f=$(cat "$R/persistent$f") $(stat -c %a "$R/persistent$f")"
  # What the program does: a new version renamed over the name.
  echo "new $f" > "$R$f.tmp"; mv "$R$f.tmp" "$R$f" 2>&1 && echo "renamed $f=yes"
  sed -n 's/^  \(\[\[persistence.files\]\]\|path = .*\|method = .*\)$/\1/p' "$R/../out" >> "$CFG"
done
echo "verify=$(imp verify 2>&1 | grep -c replaced-files || true)"
imp status > "$R/../status" 2>&1 || true
echo "status=$(grep -c 'bound from\|NOT MOUNTED' "$R/../status" || true) $(grep -c 'file /.* copy of /persistent/' "$R/../status")"
echo py > "$R/root/.python_history"; imp persist /root/.python_history > /dev/null
echo "undeclared=$(imp status 2>&1 | grep -A1 '/root/.python_history' | tr -s ' \n' ' ')"
# `nixos-rebuild switch` with the snippet: boot, before any sync.
imp boot 2>"$R/../err" || echo "boot failed: $(grep -v INFO "$R/../err" | head -3)"
echo "kept=$(ls "$R/persistent/impermctl-kept" 2>/dev/null | wc -l)"
for f in $files; do echo "live $f=$(cat "$R$f")"; done
imp sync > /dev/null 2>&1 || echo "sync failed"
for f in $files; do echo "saved $f=$(cat "$R/persistent$f")"; done
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    let files = [
        "/etc/ssh/ssh_host_ed25519_key",
        "/root/.bash_history",
        "/root/.zsh_history",
        "/home/alice/.local/share/fish/fish_history",
    ];
    let has = |want: &str| {
        assert!(
            out.contains(want),
            "missing {want:?} in:\n{out}\n{}",
            stderr(&o)
        )
    };
    has(
        "would copy /etc/ssh/ssh_host_ed25519_key (1 entry, 34 B) to /persistent/etc/ssh/ssh_host_ed25519_key (method = \"copy\"",
    );
    has(r#""method":"copy""#);
    // The paste-safe Nix form (d3b4a38): the item under the list it goes into.
    has("# into files = [ … ]:\n");
    has(r#"{ file = "/etc/ssh/ssh_host_ed25519_key"; method = "copy"; }"#);
    for f in files {
        has(&format!("mounted {f}=0\n"));
        has(&format!("copy {f}=old {f} 600\n"));
        has(&format!("renamed {f}=yes\n"));
        has(&format!("saved {f}=new {f}\n"));
        has(&format!("live {f}=new {f}\n"));
    }
    has("verify=0\n");
    has("status=0 4\n");
    has(
        "undeclared= file /root/.python_history copied to /persistent/root/.python_history (method = \"copy\"",
    );
    has(
        r#"{ file = "/root/.python_history"; method = "copy"; } # into environment.persistence."/persistent".files"#,
    );
    has("kept=0\n");
}

/// `persist` of a replaced file killed at random points: the live file is
/// intact and never mounted over, the persistent copy absent or complete,
/// and a rerun completes.
#[test]
fn persist_of_a_replaced_file_killed_at_random_points_loses_nothing() {
    require_root!();
    let o = in_vps(
        &Layout::default(),
        r#"
printf 'version = 1\n[[persistence]]\npath = "/persistent"\n' > "$CFG"
mkdir -p "$R/root"; head -c 30000000 /dev/urandom > "$R/root/.bash_history"
want=$(sha256sum < "$R/root/.bash_history")
bad=0; phases=""
for i in $(seq 1 30); do
  rm -rf "$R/persistent/root" "$R/run/impermctl"
  "$IMPERMCTL" --root "$R" --config "$CFG" persist /root/.bash_history >/dev/null 2>&1 & pid=$!
  sleep "0.$(printf '%03d' $((RANDOM % 60)))"; kill -9 $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  if [ -e "$R/persistent/root/.bash_history" ]; then phases="$phases done"
  elif [ -e "$R/persistent/root/..bash_history.impermctl-tmp" ]; then phases="$phases copying"
  else phases="$phases before"; fi
  [ "$(sha256sum < "$R/root/.bash_history")" = "$want" ] || { echo "live changed in $i"; bad=$((bad + 1)); }
  if findmnt -n --mountpoint "$R/root/.bash_history" >/dev/null; then echo "mounted in $i"; bad=$((bad + 1)); fi
  if [ -e "$R/persistent/root/.bash_history" ] && [ "$(sha256sum < "$R/persistent/root/.bash_history")" != "$want" ]; then
    echo "partial copy in $i"; bad=$((bad + 1))
  fi
  imp persist /root/.bash_history >/dev/null 2>"$R/../err" || { echo "rerun $i: $(cat "$R/../err")"; bad=$((bad + 1)); }
  [ "$(sha256sum < "$R/persistent/root/.bash_history")" = "$want" ] || { echo "rerun $i incomplete"; bad=$((bad + 1)); }
done
echo "bad=$bad"
echo "phases=$(tr ' ' '\n' <<<"$phases" | sort | uniq -c | tr -s ' \n' ' ')"
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("bad=0\n"), "{out}\n{}", stderr(&o));
    eprintln!("{}", out.lines().last().unwrap_or_default());
}
