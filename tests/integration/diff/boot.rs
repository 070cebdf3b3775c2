//! `impermctl diff` with `impermctl boot`: the baseline boot writes is the
//! one diff compares with, and `--suggest` put into the config makes the
//! next diff empty.

use super::{BOOTED, CONFIG, read, run_with};
use crate::require_root;

/// The config as tables ([`CONFIG`]) and in the README's array form
/// (trial s9 F13: tables appended to it were a duplicate key, and every
/// command failed): the suggestion applied as it says.
#[test]
fn suggestion_makes_the_next_diff_empty_through_boot() {
    require_root!();
    let arrays = "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [ \"/var/lib/keep\" ]\nfiles = [ \"/etc/machine-id\" ]\n";
    for config in [CONFIG, arrays] {
        suggestion_in(config);
    }
}

/// Applies the `# replace line(s) A[-B] with:` / `# insert after line N:`
/// instructions of a TOML suggestion (argv 1) to the config (argv 2).
const APPLY: &str = r##"python3 - "$OUT/suggest.toml" "$CFG" <<'PY'
import re, sys
cfg = open(sys.argv[2]).read().splitlines()
todo, at = None, 0
for l in open(sys.argv[1]).read().splitlines():
    m = re.match(r"# replace lines? (\d+)(?:-(\d+))? with:", l)
    n = re.match(r"# insert after line (\d+):", l)
    if m: todo = (int(m[1]) - 1, int(m[2] or m[1]) - int(m[1]) + 1)
    elif n: todo = (int(n[1]), 0)
    elif l.startswith("#"): continue
    else:
        first, k = todo or (at, 0); todo = None
        cfg[first:first + k] = [l]; at = first + 1
        continue
    at = todo[0]
open(sys.argv[2], "w").write("\n".join(cfg) + "\n")
PY
"##;

fn suggestion_in(config: &str) {
    let out = run_with(
        config,
        &format!(
            r#"{BOOTED}
mkdir -p "$R/var/lib/app"; echo data > "$R/var/lib/app/new.txt"
echo 1 > "$R/etc/adjtime"
imp diff --suggest=toml > "$OUT/suggest.toml" || true
imp diff --suggest > "$OUT/suggest.nix" || true
{APPLY}
set +e
imp boot > "$OUT/boot.out" 2>&1; echo $? > "$OUT/rc-boot"
# The fixture's data hidden under /srv/data is lost too (plain diff says
# so, `diff::plain_diff_says_in_brief_what_is_shadowed…`): not this test's.
umount "$R/srv/data"
imp diff > "$OUT/after"; echo $? > "$OUT/rc-after"
"#
        ),
    );
    let p = out.path();
    let nix = read(p, "suggest.nix");
    assert!(
        nix.contains(
            "# add to environment.persistence.\"/persistent\" in your NixOS configuration"
        ),
        "{nix}"
    );
    assert!(
        nix.contains("# into directories = [ … ]:\n  \"/var/lib/app\"\n"),
        "{nix}"
    );
    assert!(
        nix.contains("# into files = [ … ]:\n  \"/etc/adjtime\"\n"),
        "{nix}"
    );
    let toml = read(p, "suggest.toml");
    let (table, array) = (
        "[[persistence.files]]\npath = \"/etc/adjtime\"",
        "files = [ \"/etc/machine-id\", \"/etc/adjtime\" ]",
    );
    let want = if config == CONFIG { table } else { array };
    assert!(toml.contains(want), "{toml}");
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
