//! One bad entry never costs the others (trial s5, finding 1): `boot` with
//! a config whose entry is invalid (bad mode, control character, overlong
//! name, empty owner, a duplicate after normalisation) binds every valid
//! entry, refuses the bad one at CRIT naming file:line, field and fix, and
//! exits 1 (partially done); a rerun never undoes an entry that turned bad.

use super::roots::{SEED_ENTRIES, boots, from};
use super::{block, dump, val, vps};
use crate::require_root;
use crate::util::{Layout, SEED, assert_code};

/// The seed, `/srv/good` after it, then `bad` (TOML, one or more entries).
fn with(bad: &str) -> String {
    format!("{SEED}\n[[persistence.directories]]\npath = \"/srv/good\"\n{bad}")
}

/// Boot `toml`: exit 1, the seed entries and `/srv/good` bound, `unbound`
/// not mounted, a CRIT naming `field` and its fix.
#[track_caller]
fn refuses_only(toml: &str, field: &str, unbound: &[&str]) {
    let mut bound: Vec<&str> = SEED_ENTRIES.to_vec();
    bound.push("/srv/good");
    let o = boots(toml, "", "1", &from("/persistent", &bound), unbound);
    let err = block(&o, "err");
    let want = format!("impermctl: error: refusing the entry {field}");
    assert!(err.contains(&want), "no `{want}`\n{}", dump(&o));
    assert!(
        err.contains("config.toml:") && err.contains("\n  fix: ") && !err.contains("\\n  fix"),
        "the CRIT names no file:line or fix\n{}",
        dump(&o)
    );
    assert!(err.contains("1 config error"), "summary\n{}", dump(&o));
}

#[test]
fn each_bad_entry_of_the_trial_is_refused_alone() {
    require_root!();
    let long = format!("/var/lib/{}", "n".repeat(300));
    let long_entry = format!("[[persistence.directories]]\npath = \"{long}\"\n");
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "[[persistence.directories]]\npath = \"/var/lib/x\"\nmode = \"999\"\n",
            "persistence[0].directories[4]",
            &["/var/lib/x"],
        ),
        (
            "[[persistence.directories]]\npath = \"/var/lib/nl\\nx\"\n",
            "persistence[0].directories[4]",
            &[],
        ),
        (
            "[[persistence.directories]]\npath = \"/var/lib/y\"\nmode = \"u=rwx,g=rx,o=,x\"\n",
            "persistence[0].directories[4]",
            &["/var/lib/y"],
        ),
        (
            "[[persistence.directories]]\npath = \"/var/lib/z\"\nuser = \"\"\n",
            "persistence[0].directories[4]",
            &["/var/lib/z"],
        ),
        (&long_entry, "persistence[0].directories[4]", &[]),
    ];
    for (bad, field, unbound) in cases {
        refuses_only(&with(bad), field, unbound);
    }
}

#[test]
fn a_duplicate_after_normalisation_refuses_the_second_declaration_only() {
    require_root!();
    let toml = with(
        "[[persistence.directories]]\npath = \"/var/./lib/q\"\n[[persistence.directories]]\npath = \"/var/lib/q/\"\n",
    );
    let mut bound: Vec<&str> = SEED_ENTRIES.to_vec();
    bound.extend(["/srv/good", "/var/lib/q"]);
    let o = boots(&toml, "", "1", &from("/persistent", &bound), &[]);
    let err = block(&o, "err");
    assert!(
        err.contains("refusing the entry persistence[0].directories[5]")
            && err.contains("declared twice"),
        "{}",
        dump(&o)
    );
}

#[test]
fn several_bad_entries_and_bad_keys_each_cost_only_their_entry() {
    require_root!();
    // A wrong type, an unknown key and a bad mode, between good entries.
    let toml = with(
        "[[persistence.directories]]\npath = \"/var/lib/a\"\nmode = 700\n\
         [[persistence.directories]]\npath = \"/var/lib/b\"\nmod = \"0700\"\n\
         [[persistence.files]]\npath = \"/etc/c\"\nmethod = \"bind\"\n\
         [[persistence.directories]]\npath = \"/var/lib/d\"\n",
    );
    let mut bound: Vec<&str> = SEED_ENTRIES.to_vec();
    bound.extend(["/srv/good", "/var/lib/d"]);
    let o = boots(
        &toml,
        "",
        "1",
        &from("/persistent", &bound),
        &["/var/lib/a", "/var/lib/b", "/etc/c"],
    );
    let err = block(&o, "err");
    for f in [
        "persistence[0].directories[4]",
        "persistence[0].directories[5]",
        "persistence[0].files[1]",
    ] {
        assert!(
            err.contains(&format!("refusing the entry {f}")),
            "{f}\n{}",
            dump(&o)
        );
    }
}

#[test]
fn a_syntax_error_still_refuses_the_whole_file() {
    require_root!();
    let toml = with("[[persistence.directories]\npath = \"/var/lib/x\"\n");
    let o = boots(&toml, "", "2", &[], &SEED_ENTRIES);
    assert!(block(&o, "err").contains("TOML"), "{}", dump(&o));
}

#[test]
fn a_bound_entry_that_turns_bad_is_not_undone_by_a_rerun() {
    require_root!();
    let o = vps(
        &Layout::default(),
        r#"printf '[[persistence.directories]]\npath = "/var/lib/x"\n' >> "$CFG"
imp boot 2>/dev/null; echo "rc1=$?"
echo kept > "$R/var/lib/x/f"
sed -i 's|path = "/var/lib/x"|path = "/var/lib/x"\nmode = "999"|' "$CFG"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc2=$rc"
echo "dev=$(devof /var/lib/x)"
echo "f=$(cat "$R/var/lib/x/f")"
grep -c '"/var/lib/x"' "$R/run/impermctl/state.json" | sed 's/^/recorded=/'
echo BEGIN err; cat "$R/err"; echo END err
"#,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc1"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "rc2"), "1", "{}", dump(&o));
    assert!(
        !val(&o, "dev").is_empty(),
        "/var/lib/x was undone\n{}",
        dump(&o)
    );
    assert_eq!(val(&o, "f"), "kept", "{}", dump(&o));
    assert_ne!(val(&o, "recorded"), "0", "{}", dump(&o));
}

/// Trial-s9 F3, trial-s10 F10: an entry removed in the same edit that adds
/// a bad one stays bound, and `boot` and `status` say so; once the config
/// is clean it still stays bound until the next boot (undoing it would put
/// the data from before it was persisted back under its services), and
/// what is written there meanwhile goes to persistence.
#[test]
fn a_removed_entry_kept_bound_for_a_config_error_is_said() {
    require_root!();
    let o = vps(
        &Layout::default(),
        r#"printf '[[persistence.directories]]\npath = "/var/lib/svc"\n' >> "$CFG"
imp boot 2>/dev/null; echo "rc1=$?"
cp "$CFG" "$R/good.toml"
sed -i 's|path = "/var/lib/svc"|path = "var/lib/rel"|' "$CFG"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc2=$rc"
echo "dev=$(devof /var/lib/svc)"
echo written > "$R/var/lib/svc/after"
imp status > "$R/status" 2>/dev/null || true
head -n -2 "$R/good.toml" > "$CFG"
rc=0; imp status > "$R/status2" 2>/dev/null || rc=$?; echo "rc_status2=$rc"
rc=0; imp boot 2>"$R/err3" || rc=$?; echo "rc3=$rc"
echo "dev3=$(devof /var/lib/svc)"
echo more >> "$R/var/lib/svc/after"
echo "after=$(cat "$R/persistent/var/lib/svc/after" | tr '\n' ,)"
for f in err status status2 err3; do echo "BEGIN $f"; cat "$R/$f"; echo "END $f"; done
"#,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc1"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "rc2"), "1", "{}", dump(&o));
    assert!(!val(&o, "dev").is_empty(), "{}", dump(&o));
    let kept = "1 removed entry left in place until the next boot (/var/lib/svc)";
    assert!(block(&o, "err").contains(kept), "{}", dump(&o));
    let said = "/var/lib/svc is bound from /persistent/var/lib/svc now, but no config entry declares it (its entry was removed from the config; `impermctl boot` leaves it bound until the reboot)";
    let again = r#"declare it again: "/var/lib/svc"  # into environment.persistence."/persistent".directories = [ … ]"#;
    for f in ["status", "status2"] {
        let status = block(&o, f);
        assert!(
            status.contains("bound but no longer declared (1; left bound until the reboot, which does not bind them)")
                && status.contains(said) && status.contains(again),
            "{f}\n{}",
            dump(&o)
        );
    }
    assert_eq!(val(&o, "rc_status2"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "rc3"), "0", "{}", dump(&o));
    assert!(block(&o, "err3").contains(kept), "{}", dump(&o));
    assert!(!block(&o, "err3").contains("undone"), "{}", dump(&o));
    assert!(!val(&o, "dev3").is_empty(), "unbound\n{}", dump(&o));
    assert_eq!(val(&o, "after"), "written,more,", "{}", dump(&o));
}

/// Trial-s9 F7: an error found while applying names the entry's place in
/// the config (FILE:LINE:COL, as config errors do), and an entry whose
/// user and group both do not exist gets both errors in one run; the
/// other entries are bound and the data is untouched.
#[test]
fn apply_errors_name_the_config_place_and_every_owner() {
    require_root!();
    let o = vps(
        &Layout::default(),
        r#"mkdir -p "$R/var/lib/data"; echo keep > "$R/var/lib/data/important"
printf '[[persistence.files]]\npath = "/var/lib/data"\n[[persistence.directories]]\npath = "/var/lib/new"\nuser = "nosuchuser"\ngroup = "nosuchgroup"\n' >> "$CFG"
n=$(wc -l < "$CFG")
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
echo "at_file=$((n - 4))"; echo "at_dir=$((n - 2))"
echo "dev=$(devof /etc/nixos)"
echo "kept=$(cat "$R/var/lib/data/important")"
echo BEGIN err; cat "$R/err"; echo END err
"#,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "1", "{}", dump(&o));
    assert!(!val(&o, "dev").is_empty(), "{}", dump(&o));
    assert_eq!(val(&o, "kept"), "keep", "{}", dump(&o));
    let err = block(&o, "err");
    let line = |needle: &str| {
        let l = err.lines().find(|l| l.contains(needle));
        l.unwrap_or_else(|| panic!("no `{needle}`\n{}", dump(&o)))
            .to_string()
    };
    let file = line("/var/lib/data is not a regular file");
    let at = format!("config.toml:{}:8: ", val(&o, "at_file"));
    assert!(file.contains(&at), "{at}\n{}", dump(&o));
    let owner = line("user \"nosuchuser\" does not exist");
    let at = format!("config.toml:{}:8: ", val(&o, "at_dir"));
    assert!(owner.contains(&at), "{at}\n{}", dump(&o));
    assert!(
        owner.contains("group \"nosuchgroup\" does not exist"),
        "{}",
        dump(&o)
    );
}

#[test]
fn status_and_sync_name_the_refused_entry_and_act_on_the_others() {
    require_root!();
    let o = vps(
        &Layout::default(),
        r#"printf '[[persistence.files]]\npath = "/etc/keep.conf"\nmethod = "copy"\n[[persistence.directories]]\npath = "/var/lib/x"\nmode = "999"\n' >> "$CFG"
rc=0; imp boot 2>/dev/null || rc=$?; echo "rc1=$rc"
echo changed > "$R/etc/keep.conf"
rc=0; imp sync >/dev/null 2>"$R/sync.err" || rc=$?; echo "sync=$rc"
echo "saved=$(cat "$R/persistent/etc/keep.conf" 2>/dev/null)"
rc=0; imp status > "$R/status" 2>/dev/null || rc=$?; echo "status=$rc"
echo BEGIN status; cat "$R/status"; echo END status
{ imp status --json 2>/dev/null || true; } | python3 -c 'import json,sys; print("json=" + json.load(sys.stdin)["refused"][0]["entry"])'
echo BEGIN sync; cat "$R/sync.err"; echo END sync
{ imp boot --json 2>/dev/null || true; } | python3 -c 'import json,sys; d=json.load(sys.stdin); print("boot_json=" + d["outcome"] + " " + d["refused"][0]["field"])'
"#,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc1"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "sync"), "1", "{}", dump(&o));
    assert_eq!(
        val(&o, "saved"),
        "changed",
        "sync saved nothing\n{}",
        dump(&o)
    );
    assert_eq!(val(&o, "status"), "1", "{}", dump(&o));
    let status = block(&o, "status");
    assert!(
        status.contains("refused config entries")
            && status.contains("persistence[0].directories[3].mode: `999` is not a mode")
            && status.contains("fix:")
            && status.contains("/etc/nixos"),
        "{}",
        dump(&o)
    );
    assert_eq!(
        val(&o, "json"),
        "persistence[0].directories[3]",
        "{}",
        dump(&o)
    );
    assert!(
        block(&o, "sync").contains("persistence[0].directories[3]"),
        "{}",
        dump(&o)
    );
    assert_eq!(
        val(&o, "boot_json"),
        "partial persistence[0].directories[3].mode",
        "{}",
        dump(&o)
    );
}
