//! Refusal on a wrong layout (nothing created, nothing mounted) and planted
//! symlinks (that entry fails, nothing is followed, the others proceed).

use super::{dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code, stderr};

const REFUSAL: &str = r#"
before=$(listing); n0=$(nmounts)
rc=0; imp boot || rc=$?
after=$(listing)
echo "rc=$rc"
echo "same=$([ "$before" = "$after" ] && echo yes || echo no)"
[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after") || true
echo "mounts=$n0/$(nmounts)"
"#;

fn refuses(layout: Layout, check: &str) {
    let o = vps(&layout, REFUSAL);
    assert_code(&o, 0);
    // Every root refused: nothing done, exit 2 (refused).
    assert_eq!(val(&o, "rc"), "2", "{}", dump(&o));
    assert_eq!(val(&o, "same"), "yes", "the tree changed\n{}", dump(&o));
    let m = val(&o, "mounts");
    let (a, b) = m.split_once('/').unwrap();
    assert_eq!(a, b, "something was mounted\n{}", dump(&o));
    let err = stderr(&o);
    assert!(err.contains("refusing to mount anything"), "{err}");
    assert!(err.contains("fix:") && err.contains(check), "{err}");
}

#[test]
fn refuses_when_persistent_is_not_mounted() {
    require_root!();
    refuses(
        Layout {
            persistent_mounted: false,
            ..Layout::default()
        },
        "persistent-root-mounted",
    );
}

#[test]
fn refuses_when_persistent_is_on_the_root_filesystem() {
    require_root!();
    refuses(
        Layout {
            persistent_on_root: true,
            ..Layout::default()
        },
        "persistent-root-separate",
    );
}

/// A read-only root is a legitimate choice: its existing entries are bound
/// (read-only, as the dataset is), with a warning; entries that would need
/// a new persistent copy fail alone.
#[test]
fn read_only_persistent_binds_read_only_with_a_warning() {
    require_root!();
    let body = r#"
mount -o remount,rw,bind "$R/persistent"
mkdir -p "$R/persistent/etc/nixos" "$R/persistent/var/log"
echo cfg > "$R/persistent/etc/nixos/configuration.nix"
mount -o remount,ro,bind "$R/persistent"
rc=0; imp boot 2>"$R/err" || rc=$?
echo "rc=$rc"
echo "rodev=$(devof /etc/nixos)"; echo "pdev=$(devof /persistent)"
echo "cfg=$(cat "$R/etc/nixos/configuration.nix")"
w=ok; touch "$R/etc/nixos/new" 2>/dev/null && w=writable
echo "write=$w"
echo BEGIN err; cat "$R/err"; echo END err
"#;
    let o = vps(
        &Layout {
            persistent_ro: true,
            ..Layout::default()
        },
        body,
    );
    assert_code(&o, 0);
    // /var/lib/nixos and /etc/machine-id have no persistent copy and the
    // dataset is read-only: those two fail alone, exit 1 (partial).
    assert_eq!(val(&o, "rc"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "rodev"), val(&o, "pdev"), "{}", dump(&o));
    assert_eq!(val(&o, "cfg"), "cfg");
    assert_eq!(
        val(&o, "write"),
        "ok",
        "the bind is read-only\n{}",
        dump(&o)
    );
    let err = super::block(&o, "err");
    assert!(
        err.contains("persistent-root-writable") || err.contains("read-only"),
        "{err}"
    );
    assert!(!err.contains("refusing"), "{err}");
}

#[test]
fn warn_mode_mounts_anyway() {
    require_root!();
    let body = r#"
sed -i '/^version = 1$/a [layout]\non_failure = "warn"' "$CFG"
rc=0; imp boot || rc=$?
echo "rc=$rc"
echo "nixos=$(devof /etc/nixos)"
"#;
    let o = vps(
        &Layout {
            persistent_on_root: true,
            ..Layout::default()
        },
        body,
    );
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert!(!val(&o, "nixos").is_empty(), "{}", dump(&o));
    assert!(stderr(&o).contains("mounting anyway"), "{}", dump(&o));
}

/// Plant a symlink at component `k` of `/srv/app/data` on the `side`
/// (`target` or `source`), pointing at a decoy directory inside `$R`.
fn planted(
    layout: &Layout,
    side: &str,
    k: usize,
    relative: bool,
    legacy: bool,
) -> std::process::Output {
    let base = if side == "target" {
        "$R"
    } else {
        "$R/persistent"
    };
    let link_to = if relative { "decoy" } else { "$R/decoy" };
    let body = format!(
        r#"
cat >> "$CFG" <<'T'
[[persistence.directories]]
path = "/srv/app/data"
T
mkdir -p "$R/decoy/x"; echo bait > "$R/decoy/x/file"
parts=(srv app data); dir="{base}"
for i in 0 1 2; do
  if [ $i -eq {k} ]; then ln -s "{link_to}" "$dir/${{parts[$i]}}"; break; fi
  mkdir -p "$dir/${{parts[$i]}}"; dir="$dir/${{parts[$i]}}"
done
if [ "{relative}" = true ] && [ {k} -gt 0 ]; then ln -s "$R/decoy" "$dir/decoy"; fi
before=$(cd "$R/decoy" && find . -printf '%M %s %p\n' | sort)
rc=0; imp boot || rc=$?
after=$(cd "$R/decoy" && find . -printf '%M %s %p\n' | sort)
echo "rc=$rc"
echo "decoy=$([ "$before" = "$after" ] && echo untouched || echo TOUCHED)"
echo "decoymounts=$(mounts | grep -c decoy || true)"
echo "datamounted=$(devof /srv/app/data)"
echo "nixos=$(devof /etc/nixos)"
echo "link=$(find "{base}" -maxdepth 3 -type l -name "$(echo srv app data | cut -d' ' -f$(({k}+1)))" | wc -l)"
echo "tlink=$(readlink "$R/srv/app/data" || true)"
echo "slink=$(readlink "$R/persistent/srv/app/data" || true)"
"#
    );
    let api = if legacy { "legacy" } else { "auto" };
    vps(layout, &format!("export IMPERMCTL_MOUNT_API={api}\n{body}"))
}

fn symlinks_planted_on_any_component(layout: &Layout) {
    for side in ["target", "source"] {
        for k in 0..3 {
            for (relative, legacy) in [(false, false), (true, false), (false, true)] {
                let o = planted(layout, side, k, relative, legacy);
                let what = format!(
                    "{side} component {k} relative={relative} legacy={legacy}\n{}",
                    dump(&o)
                );
                assert_eq!(val(&o, "decoy"), "untouched", "{what}");
                assert_eq!(val(&o, "decoymounts"), "0", "{what}");
                assert_eq!(val(&o, "datamounted"), "", "{what}");
                assert!(
                    !val(&o, "nixos").is_empty(),
                    "other entries proceed: {what}"
                );
                assert_eq!(val(&o, "link"), "1", "the symlink is left in place: {what}");
                if k == 2 {
                    // The declared directory itself is a symlink (live or
                    // stored) to a place on the ephemeral root: storing the
                    // link would keep none of the data there, so the entry is
                    // refused with the line that persists the data (trial s10
                    // F6), and the link is never followed.
                    assert_eq!(val(&o, "rc"), "1", "{what}");
                    let err = stderr(&o);
                    assert!(
                        err.contains("is a symlink") && err.contains("declare the directory"),
                        "{what}"
                    );
                    continue;
                }
                assert_eq!(val(&o, "rc"), "1", "{what}");
                let err = stderr(&o);
                assert!(
                    err.contains("is a symlink") && err.contains("never follows"),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn a_foreign_mount_is_left_alone() {
    require_root!();
    let body = r#"
mkdir -p "$R/var/log"; mount -t tmpfs foreign "$R/var/log"
rc=0; imp boot || rc=$?
echo "rc=$rc"
echo "log=$(mounts | awk '$1 == "/var/log"' | wc -l)"
"#;
    let o = vps(&Layout::default(), body);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "log"), "1", "never stacked\n{}", dump(&o));
    assert!(
        stderr(&o).contains("left alone, never stacked"),
        "{}",
        dump(&o)
    );
}

#[test]
fn data_hidden_by_a_bind_is_named_and_kept() {
    require_root!();
    let body = r#"
mkdir -p "$R/persistent/etc/nixos" "$R/etc/nixos/sub"
echo persisted > "$R/persistent/etc/nixos/configuration.nix"
echo ephemeral > "$R/etc/nixos/configuration.nix"; echo x > "$R/etc/nixos/sub/y"
imp boot
echo "seen=$(cat "$R/etc/nixos/configuration.nix")"
mkdir -p "$R/../peek"; mount --bind "$R" "$R/../peek"
echo "under=$(cat "$R/../peek/etc/nixos/configuration.nix")"
umount "$R/../peek"
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "seen"), "persisted");
    assert_eq!(val(&o, "under"), "ephemeral", "hidden, not deleted");
    let err = stderr(&o);
    assert!(
        err.contains("/etc/nixos already held data")
            && err.contains("3 entries")
            && err.contains("configuration.nix"),
        "{err}"
    );
}

#[test]
fn a_symlink_planted_on_any_component_fails_that_entry_only() {
    require_root!();
    symlinks_planted_on_any_component(&Layout::default());
}

#[test]
fn a_symlink_planted_on_any_component_fails_that_entry_only_in_a_user_namespace() {
    require_root!();
    symlinks_planted_on_any_component(&Layout {
        userns: true,
        ..Layout::default()
    });
}

#[test]
fn refuses_in_a_user_namespace_too() {
    require_root!();
    refuses(
        Layout {
            persistent_on_root: true,
            userns: true,
            ..Layout::default()
        },
        "persistent-root-separate",
    );
}

#[test]
fn rescue_mode_does_nothing_and_says_so() {
    require_root!();
    let o = vps(
        &Layout {
            root_source: "tank/ct/101.boot-a1b2c3".into(),
            ..Layout::default()
        },
        REFUSAL,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "same"), "yes", "{}", dump(&o));
    assert!(stderr(&o).contains("rescue mode"), "{}", dump(&o));
}

/// Under journald the refusal is logged at CRIT (priority 2) with the remedy.
#[test]
fn refusal_is_logged_at_crit_in_the_journal() {
    require_root!();
    let journald = crate::require_journald!();
    let body = format!(
        r#"{journal}
rc=0; INVOCATION_ID=0123456789abcdef0123456789abcdef IMPERMCTL_LOG= imp boot || rc=$?
until_seen refusing || true
j -o json > "$R/../journal.json" || true
echo "rc=$rc"
python3 - "$R/../journal.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if "refusing" in e.get("MESSAGE", ""):
        print("prio=" + e["PRIORITY"])
        print("fix=" + str("fix:" in e["MESSAGE"]))
PY
"#,
        journal = crate::util::private_journald(journald),
    );
    let o = vps(
        &Layout {
            persistent_mounted: false,
            ..Layout::default()
        },
        &body,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "2", "{}", dump(&o));
    assert_eq!(val(&o, "prio"), "2", "{}", dump(&o));
    assert_eq!(val(&o, "fix"), "True", "{}", dump(&o));
}

/// Every command that writes into persistence (boot, persist, sync,
/// sync --follow) passes the same layout gate (trial-s10 F11: with
/// /persistent not mounted, `sync` "saved" a copy file onto the throwaway
/// root and exited 0): each refuses with the check's name, exit 2, and the
/// tree is unchanged. `status` names the check for the unsaved copy file
/// and does not advise the `impermctl sync` that refuses (trial-s11 F11r).
fn every_writer_refuses(layout: Layout, check: &str) {
    let body = r#"
printf '[[persistence.files]]\npath = "/etc/ssh/host_ed25519_key"\nmethod = "copy"\n' >> "$CFG"
mkdir -p "$R/etc/ssh" "$R/srv/app"; echo key > "$R/etc/ssh/host_ed25519_key"; echo d > "$R/srv/app/f"
before=$(listing)
for c in boot "persist /srv/app" sync "sync --follow --debounce-ms 50"; do
  rc=0; timeout 30 "$IMPERMCTL" --root "$R" --config "$CFG" $c >/dev/null 2>"$R/../err" || rc=$?
  echo "BEGIN $c"; cat "$R/../err"; echo "END $c"
  echo "rc $c=$rc"
  [ "$(listing)" = "$before" ] && echo "same $c=yes" || { echo "same $c=no"; diff <(echo "$before") <(listing) || true; }
done
echo "status=$(imp status 2>/dev/null | grep host_ed25519_key)"
"#;
    let o = vps(&layout, body);
    assert_code(&o, 0);
    for c in [
        "boot",
        "persist /srv/app",
        "sync",
        "sync --follow --debounce-ms 50",
    ] {
        assert_eq!(val(&o, &format!("rc {c}")), "2", "{c}\n{}", dump(&o));
        assert_eq!(val(&o, &format!("same {c}")), "yes", "{c}\n{}", dump(&o));
        let err = super::block(&o, c);
        assert!(err.contains(check), "{c}: no [{check}] in\n{err}");
    }
    let status = val(&o, "status");
    assert!(
        status.contains(&format!("[{check}]")) && !status.contains("run `impermctl sync`"),
        "{}",
        dump(&o)
    );
}

#[test]
fn every_writer_refuses_when_persistent_is_not_mounted() {
    require_root!();
    let layout = Layout {
        persistent_mounted: false,
        ..Layout::default()
    };
    every_writer_refuses(layout, "persistent-root-mounted");
}

#[test]
fn every_writer_refuses_when_persistent_is_on_the_root_filesystem() {
    require_root!();
    let layout = Layout {
        persistent_on_root: true,
        ..Layout::default()
    };
    every_writer_refuses(layout, "persistent-root-separate");
}
