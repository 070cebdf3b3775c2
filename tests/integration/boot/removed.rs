//! Entries removed from the config on a running system (trial-s10 F10):
//! `boot` leaves their binds and links in place until the next boot, which
//! does not make them; undoing them would put the data from before it was
//! persisted back under the services that use it.

use super::{block, dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code};

/// s22.sh (a), s35.sh: /var/lib/app held v1, was declared and bound (seeded
/// with v1); a service writes v2 and then a record a tick through the bind;
/// the entry leaves the config and `boot` runs again. The service must go
/// on with its current data at the live path, which stays bound, and the
/// run says so (a WARNING, the summary, `status`).
#[test]
fn a_removed_entry_stays_bound_under_its_writer_until_the_next_boot() {
    require_root!();
    let o = vps(
        &Layout::default(),
        r#"mkdir -p "$R/var/lib/app"; echo v1-seeded > "$R/var/lib/app/state"
cp "$CFG" "$R/seed.toml"
printf '[[persistence.directories]]\npath = "/var/lib/app"\n[[persistence.files]]\npath = "/var/lib/link.conf"\n' >> "$CFG"
imp boot 2>/dev/null; echo "rc1=$?"
echo v2-after-bind > "$R/var/lib/app/state"
( exec 3>>"$R/var/lib/app/log"; i=0; while [ -e "$R/var/lib/app/state" ]; do i=$((i+1)); echo "r$i" >&3; sleep 0.01; done ) & W=$!
for _ in $(seq 400); do [ -s "$R/var/lib/app/log" ] && break; sleep 0.025; done
cp "$R/seed.toml" "$CFG"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc2=$rc"
echo "live=$(cat "$R/var/lib/app/state")"
echo "link=$(readlink "$R/var/lib/link.conf" || true)"
echo "dev=$(devof /var/lib/app)"
n=$(wc -l < "$R/var/lib/app/log")
for _ in $(seq 400); do [ "$(wc -l < "$R/var/lib/app/log")" -gt "$n" ] && break; sleep 0.025; done
echo "grows=$([ "$(wc -l < "$R/var/lib/app/log")" -gt "$n" ] && echo yes || echo no)"
rc=0; imp status > "$R/status" 2>/dev/null || rc=$?; echo "rc_status=$rc"
rc=0; imp diff > "$R/diff" 2>/dev/null || rc=$?; echo "rc_diff=$rc"
rc=0; imp boot 2>"$R/err2" || rc=$?; echo "rc3=$rc"
echo "dev3=$(devof /var/lib/app)"
kill $W; wait $W 2>/dev/null || true
for f in err status diff err2; do echo "BEGIN $f"; cat "$R/$f"; echo "END $f"; done
"#,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc1"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "rc2"), "0", "{}", dump(&o));
    assert_eq!(
        val(&o, "live"),
        "v2-after-bind",
        "rolled back\n{}",
        dump(&o)
    );
    assert_eq!(
        val(&o, "link"),
        "/persistent/var/lib/link.conf",
        "{}",
        dump(&o)
    );
    assert!(!val(&o, "dev").is_empty(), "unbound\n{}", dump(&o));
    assert_eq!(val(&o, "grows"), "yes", "{}", dump(&o));
    let err = block(&o, "err");
    for want in [
        "WARN /var/lib/app is no longer declared: left bound from /persistent/var/lib/app until the next boot",
        "WARN /var/lib/link.conf is no longer declared: left linked from /persistent/var/lib/link.conf",
        "2 removed entries left in place until the next boot (/var/lib/app, /var/lib/link.conf)",
    ] {
        assert!(err.contains(want), "{want:?}\n{}", dump(&o));
    }
    assert!(!err.contains("undone"), "{}", dump(&o));
    // `status` and `diff` say where the data is, that it stays bound until
    // the reboot and is not bound after it, and the line that keeps it.
    let said = "/var/lib/app is bound from /persistent/var/lib/app now, but no config entry declares it (its entry was removed from the config; `impermctl boot` leaves it bound until the reboot): the next boot does not bind it, so /var/lib/app comes up without what it holds (that stays in /persistent/var/lib/app)";
    let status = block(&o, "status");
    assert!(
        status.contains("bound but no longer declared (1; left bound until the reboot, which does not bind them)")
            && status.contains(said)
            && status.contains(r#"declare it again: "/var/lib/app"  # into environment.persistence."/persistent".directories = [ … ]"#),
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "rc_status"), "1", "{}", dump(&o));
    let diff = block(&o, "diff");
    assert!(diff.contains(said), "{}", dump(&o));
    assert!(
        diff.contains(r#""/var/lib/app""#),
        "the line to add\n{}",
        dump(&o)
    );
    assert_eq!(val(&o, "rc_diff"), "1", "{}", dump(&o));
    // A rerun keeps it too (the record stays).
    assert_eq!(val(&o, "rc3"), "0", "{}", dump(&o));
    assert!(!val(&o, "dev3").is_empty(), "{}", dump(&o));
    assert!(
        block(&o, "err2").contains("left in place until the next boot"),
        "{}",
        dump(&o)
    );
}
