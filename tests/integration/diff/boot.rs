//! `impermctl diff` with `impermctl boot`: the baseline boot writes is the
//! one diff compares with, and `--suggest` put into the config makes the
//! next diff empty.

use super::{BOOTED, CONFIG, read, run_with};
use crate::require_root;

#[test]
fn suggestion_makes_the_next_diff_empty_through_boot() {
    require_root!();
    let out = run_with(
        CONFIG,
        &format!(
            r#"{BOOTED}
mkdir -p "$R/var/lib/app"; echo data > "$R/var/lib/app/new.txt"
echo 1 > "$R/etc/adjtime"
imp diff --suggest=toml > "$OUT/suggest.toml" || true
imp diff --suggest > "$OUT/suggest.nix" || true
cat "$OUT/suggest.toml" >> "$CFG"
set +e
imp boot > "$OUT/boot.out" 2>&1; echo $? > "$OUT/rc-boot"
imp diff > "$OUT/after"; echo $? > "$OUT/rc-after"
"#
        ),
    );
    let p = out.path();
    let nix = read(p, "suggest.nix");
    assert!(
        nix.contains("environment.persistence.\"/persistent\" = {"),
        "{nix}"
    );
    assert!(
        nix.contains("directories = [\n    \"/var/lib/app\"\n  ];"),
        "{nix}"
    );
    assert!(
        nix.contains("files = [\n    \"/etc/adjtime\"\n  ];"),
        "{nix}"
    );
    let toml = read(p, "suggest.toml");
    assert!(
        toml.contains("[[persistence.files]]\npath = \"/etc/adjtime\""),
        "{toml}"
    );
    super::booted_and_nothing_lost(p);
}

#[test]
fn boot_writes_the_baseline_diff_compares_with() {
    require_root!();
    let out = run_with(
        CONFIG,
        r#"mkdir -p "$R/var/lib/keep" "$R/etc" "$R/srv"; echo before > "$R/srv/old"
set +e
imp boot > "$1/boot.out" 2>&1; echo $? > "$1/rc-boot"
imp boot >> "$1/boot.out" 2>&1
imp diff > "$1/clean"; echo $? > "$1/rc-clean"
echo after > "$R/srv/new"; echo x > "$R/var/lib/keep/persisted"
imp diff -0 > "$1/nul"; echo $? > "$1/rc-nul"
true
"#,
    );
    let p = out.path();
    let read = |f: &str| read(p, f);
    assert_eq!(read("rc-boot").trim(), "0", "{}", read("boot.out"));
    assert_eq!(read("rc-clean").trim(), "0", "{}", read("clean"));
    assert!(
        read("clean").contains("basis: the baseline"),
        "{}",
        read("clean")
    );
    assert_eq!(read("rc-nul").trim(), "1");
    assert_eq!(std::fs::read(p.join("nul")).unwrap(), b"/srv/new\0");
}
