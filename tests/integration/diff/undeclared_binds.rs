//! Trial F11: after `impermctl persist /var/lib/foo` (the data copied to
//! /persistent and bound now) with the entry not yet in the config, `diff`
//! said "nothing would be lost": at the next boot nothing binds
//! /var/lib/foo and the service starts empty. The class: every bind from a
//! persistence root that is live now but that no entry declares — made by
//! `persist`, left by `boot` after its entry left the config, or by hand.
//! `diff` names each with the snippet that keeps it (`persist`'s, aware of
//! the config file), counts it for the exit code, and lists it in `--json`
//! and `--suggest`; declared binds (also nested in a declared directory)
//! are not named.

use super::{read, run_with};
use crate::require_root;

const CONFIG: &str = r#"version = 1
[[persistence]]
path = "/persistent"
directories = ["/var/lib/svc", "/var/lib/outer"]
"#;

#[test]
fn binds_from_persistence_that_no_entry_declares_are_said_with_the_fix() {
    require_root!();
    let out = run_with(
        CONFIG,
        r#"mkdir -p "$R/var/lib/svc" "$R/var/lib/outer" "$R/run/impermctl" "$R/var/lib/foo" "$R/srv/hand" "$R/persistent/srv/hand"
echo state > "$R/var/lib/foo/db"
imp boot > "$OUT/boot.out" 2>&1
imp diff --capture-baseline 2>/dev/null
# Declared and bound, and a bind nested in a declared directory from its
# own place in the source: kept at the next boot, not named.
mkdir -p "$R/persistent/var/lib/outer/inner" "$R/var/lib/outer/inner"
mount --bind "$R/persistent/var/lib/outer/inner" "$R/var/lib/outer/inner"
echo kept > "$R/var/lib/svc/data"
set +e
imp diff > "$OUT/before" 2>&1; echo $? > "$OUT/rc-before"
imp persist /var/lib/foo > "$OUT/persist.out" 2>&1
# The entry of /var/lib/svc leaves the config; its bind stays until boot.
sed -i 's|"/var/lib/svc", ||' "$CFG"
mount --bind "$R/persistent/srv/hand" "$R/srv/hand"
imp diff > "$OUT/groups" 2>"$OUT/diff.err"; echo $? > "$OUT/rc"
imp diff -l > "$OUT/long" 2>>"$OUT/diff.err"
imp diff --json > "$OUT/json" 2>>"$OUT/diff.err"; echo $? > "$OUT/rc-json"
imp diff --suggest > "$OUT/nix" 2>>"$OUT/diff.err"
imp diff --suggest=toml > "$OUT/toml" 2>>"$OUT/diff.err"
cp "$CFG" "$OUT/config.now"
true
"#,
    );
    let p = out.path();
    let groups = read(p, "groups");
    let ctx = || {
        format!(
            "{groups}\n--- err\n{}\n--- persist\n{}\n--- boot\n{}",
            read(p, "diff.err"),
            read(p, "persist.out"),
            read(p, "boot.out")
        )
    };
    // Declared binds, nested or not: nothing to say.
    assert_eq!(read(p, "rc-before").trim(), "0", "{}", read(p, "before"));
    assert!(
        read(p, "before").contains("nothing would be lost"),
        "{}",
        read(p, "before")
    );
    assert_eq!(read(p, "rc").trim(), "1", "{}", ctx());
    assert!(!groups.contains("nothing would be lost"), "{}", ctx());
    assert!(!groups.contains("/var/lib/outer/inner"), "{}", ctx());
    for path in ["/var/lib/foo", "/var/lib/svc", "/srv/hand"] {
        let said =
            format!("{path} is bound from /persistent{path} now, but no config entry declares it");
        assert!(groups.contains(&said), "{path}: {}", ctx());
        assert!(read(p, "long").contains(&said), "{}", read(p, "long"));
    }
    assert!(
        groups.contains("(bound by `impermctl persist`)"),
        "{}",
        ctx()
    );
    // The snippet `persist` printed, config-aware: the array gets the paths.
    let persist = read(p, "persist.out");
    let nix_line =
        r#""/var/lib/foo"  # into environment.persistence."/persistent".directories = [ … ]"#;
    assert!(
        persist.contains("  # into directories = [ … ]:\n    \"/var/lib/foo\"\n"),
        "{persist}"
    );
    assert!(
        groups.contains("# into directories = [ … ]:\n"),
        "{}",
        ctx()
    );
    assert!(groups.contains("    \"/var/lib/foo\"\n"), "{}", ctx());
    assert!(groups.contains("# in "), "{}", ctx());
    assert!(
        groups.contains(
            r#"directories = ["/var/lib/outer", "/srv/hand", "/var/lib/foo", "/var/lib/svc"]"#
        ),
        "{}",
        ctx()
    );
    // --suggest: the same paths, in both formats.
    let (nix, toml) = (read(p, "nix"), read(p, "toml"));
    for path in ["/var/lib/foo", "/var/lib/svc", "/srv/hand"] {
        assert!(nix.contains(&format!("\n  \"{path}\"\n")), "{nix}");
        assert!(toml.contains(&format!("\"{path}\"")), "{toml}");
    }
    assert!(!nix.contains("nothing to persist"), "{nix}");
    // --json: each with its source, root, type, how it came, and the lines.
    assert_eq!(read(p, "rc-json").trim(), "1", "{}", read(p, "json"));
    let doc: serde_json::Value = serde_json::from_str(&read(p, "json")).unwrap();
    assert_eq!(crate::schemas::validate(&doc), "Diff");
    let binds = doc["undeclared_binds"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc:#}"));
    let paths: Vec<&str> = binds.iter().map(|b| b["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["/srv/hand", "/var/lib/foo", "/var/lib/svc"],
        "{doc:#}"
    );
    let foo = &binds[1];
    assert_eq!(foo["source"], "/persistent/var/lib/foo", "{doc:#}");
    assert_eq!(foo["root"], "/persistent", "{doc:#}");
    assert_eq!(foo["type"], "directory", "{doc:#}");
    assert_eq!(foo["by"], "persist", "{doc:#}");
    assert_eq!(binds[2]["by"], "boot", "{doc:#}");
    assert_eq!(binds[0]["by"], "other", "{doc:#}");
    assert_eq!(foo["nix"], nix_line, "{doc:#}");
}
