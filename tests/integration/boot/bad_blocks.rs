//! An error in a `[[persistence]]` block's own fields costs that block
//! only (trial s5, left over): `boot` binds every other block's entries,
//! refuses the bad block's entries at CRIT (each at its own line, with the
//! block's error and fix), exits 1; `--json` and `--dry-run --json` list
//! them in `refused[]` / `refused_entries[]`.

use super::roots::{SEED_ENTRIES, boots};
use super::{block, dump, val, vps};
use crate::require_root;
use crate::util::{Layout, SEED, assert_code};

/// The seed, a bad block (`head`, then /srv/a), a good block
/// `/persistent/more` (with /srv/c).
fn with(head: &str) -> String {
    format!(
        "{SEED}\n[[persistence]]\n{head}\n[[persistence.directories]]\npath = \"/srv/a\"\n\
         [[persistence]]\npath = \"/persistent/more\"\n[[persistence.directories]]\npath = \"/srv/c\"\n"
    )
}

#[test]
fn a_bad_block_costs_only_its_own_entries_at_boot() {
    require_root!();
    let mut bound: Vec<(&str, &str)> = SEED_ENTRIES.iter().map(|t| (*t, "/persistent")).collect();
    bound.push(("/srv/c", "/persistent"));
    for (head, field) in [
        (
            "path = \"persistent2\"",
            "persistence[1].path: `persistent2` is a relative path",
        ),
        (
            "hide_mounts = true",
            "persistence[1].path: this [[persistence]] block has no `path`",
        ),
        (
            "path = \"/persistent/\"",
            "/persistent is declared twice as a persistence root",
        ),
    ] {
        let toml = with(head);
        let prepare = "mkdir -p \"$R/persistent/more\" \"$R/persistent/b\"";
        let o = boots(&toml, prepare, "1", &bound, &["/srv/a"]);
        let err = block(&o, "err");
        for want in [
            "refusing the [[persistence]] block persistence[1] and its entries: ".to_string(),
            field.to_string(),
            "refusing the entry persistence[1].directories[0]: ".to_string(),
            "/srv/a is refused with its [[persistence]] block persistence[1] (line".to_string(),
            "fix:".to_string(),
        ] {
            assert!(err.contains(&want), "{head}: no `{want}`\n{}", dump(&o));
        }
        let status = block(&o, "status");
        assert!(
            status.contains("refused config entries") && status.contains("/srv/a is refused"),
            "{head}\n{}",
            dump(&o)
        );
    }
}

/// Trial-s9 F6: a block field with no say in where data goes (its
/// `hide_mounts`, an unknown key such as impermanence's `users.<name>`) is
/// ignored alone, with its place and fix: the block's entries are bound.
#[test]
fn a_cosmetic_block_field_or_unknown_key_is_ignored_alone_at_boot() {
    require_root!();
    let mut bound: Vec<(&str, &str)> = SEED_ENTRIES.iter().map(|t| (*t, "/persistent")).collect();
    bound.extend([("/srv/a", "/persistent"), ("/srv/c", "/persistent")]);
    for (head, field) in [
        ("hide_mounts = \"yes\"", "persistence[1].hide_mounts"),
        (
            "hideMounts = true",
            "persistence[1].hideMounts: unknown key",
        ),
        ("enable = 3", "persistence[1].enable: unknown key"),
        (
            "users.root = { directories = [\".\"], home = \"/root\" }",
            "persistence[1].users: unknown key",
        ),
        (
            "[persistence.users.alice]\ndirectories = [\"x\"]",
            "persistence[1].users: unknown key",
        ),
    ] {
        let toml = with(&format!("path = \"/persistent/b\"\n{head}"));
        let prepare = "mkdir -p \"$R/persistent/more\" \"$R/persistent/b\"";
        let o = boots(&toml, prepare, "1", &bound, &[]);
        let err = block(&o, "err");
        for want in [
            &format!(
                "ignoring the bad value {}: ",
                field.split(':').next().unwrap()
            ),
            field,
            ".toml:",
            "fix:",
        ] {
            assert!(err.contains(want), "{head}: no `{want}`\n{}", dump(&o));
        }
        assert!(!err.contains("refusing"), "{head}\n{}", dump(&o));
    }
}

/// `boot --json` and `boot --dry-run --json` name the refused entries with
/// their paths; the dry run plans the others (it had no `refused_entries`).
#[test]
fn boot_json_and_dry_run_json_list_the_refused_entries() {
    require_root!();
    let o = vps(
        &Layout::default(),
        r#"printf '[[persistence]]\npath = "rel"\n[[persistence.directories]]\npath = "/srv/a"\n' >> "$CFG"
rc=0; imp boot --dry-run --json 2>/dev/null > "$R/plan.json" || rc=$?; echo "dry=$rc"
echo BEGIN planjson; cat "$R/plan.json"; echo END planjson
python3 -c 'import json,sys; print("steps=" + ",".join(s["path"] for s in json.load(sys.stdin)["steps"]))' < "$R/plan.json"
rc=0; imp boot --dry-run 2>"$R/plan.err" > "$R/plan.txt" || rc=$?; echo "drytext=$rc"
echo BEGIN plan; cat "$R/plan.txt"; echo END plan
echo BEGIN planerr; cat "$R/plan.err"; echo END planerr
rc=0; imp boot --json 2>/dev/null > "$R/boot.json" || rc=$?; echo "boot=$rc"
echo BEGIN bootjson; cat "$R/boot.json"; echo END bootjson
"#,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "dry"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "drytext"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "boot"), "1", "{}", dump(&o));
    let want = ["persistence[1]:-", "persistence[1].directories[0]:/srv/a"];
    let refused = super::refused_elsewhere::refused_in;
    assert_eq!(
        refused(&o, "planjson", "refused_entries"),
        want,
        "{}",
        dump(&o)
    );
    assert_eq!(refused(&o, "bootjson", "refused"), want, "{}", dump(&o));
    let steps = val(&o, "steps");
    assert!(
        steps.contains("/etc/nixos") && !steps.contains("/srv/a"),
        "{}",
        dump(&o)
    );
    // Said on stderr as every command says them (stdout is the plan).
    let err = block(&o, "planerr");
    assert!(
        err.contains("impermctl: error: refusing the entry persistence[1].directories[0]: ")
            && err.contains(":24:8: persistence[1].directories[0]: /srv/a is refused"),
        "{}",
        dump(&o)
    );
    assert!(!block(&o, "plan").contains("refused entry"), "{}", dump(&o));
}

/// The only block refused: nothing is bound, each entry is named, exit 1;
/// what an earlier boot bound stays bound (nothing is undone).
#[test]
fn the_only_block_refused_binds_nothing_and_undoes_nothing() {
    require_root!();
    let o = vps(
        &Layout::default(),
        r#"rc=0; imp boot 2>/dev/null || rc=$?; echo "rc1=$rc"
sed -i 's|^path = "/persistent"$|path = "persistent"|' "$CFG"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc2=$rc"
echo "dev=$(devof /etc/nixos)"
echo BEGIN err; cat "$R/err"; echo END err
"#,
    );
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc1"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "rc2"), "1", "{}", dump(&o));
    assert!(
        !val(&o, "dev").is_empty(),
        "/etc/nixos was undone\n{}",
        dump(&o)
    );
    let err = block(&o, "err");
    for e in [
        "directories[0]",
        "directories[1]",
        "directories[2]",
        "files[0]",
    ] {
        let want = format!("refusing the entry persistence[0].{e}: ");
        assert!(err.contains(&want), "{want}\n{}", dump(&o));
    }
    assert!(
        err.contains("persisted 0 paths from no usable persistence root in "),
        "{}",
        dump(&o)
    );
    // The layout check does not tell to add what is declared (and refused).
    assert!(!err.contains("add it: "), "{}", dump(&o));
    assert!(
        err.contains("/etc/nixos is not persisted")
            && err.contains("fix the error of its config entry"),
        "{}",
        dump(&o)
    );
    assert!(
        err.contains("persistence[0].path: `persistent` is a relative path"),
        "{}",
        dump(&o)
    );
}

/// A bad `[watch]` value (the NixOS module passes `warnEvery` and `ignore`
/// through unchecked) costs no bind: boot binds every entry, says what it
/// ignores (file:line:col, field, fix), exits 1.
#[test]
fn a_bad_watch_value_costs_no_bind() {
    require_root!();
    let toml =
        format!("{SEED}\n[watch]\nwarn_every = \"soon\"\nignore = [\"tmp\", \"/var/tmp\"]\n");
    let bound: Vec<(&str, &str)> = SEED_ENTRIES.iter().map(|t| (*t, "/persistent")).collect();
    let o = boots(&toml, "", "1", &bound, &[]);
    let err = block(&o, "err");
    for want in [
        "ignoring the bad value watch.warn_every: ",
        ":23:14: watch.warn_every: `soon` is not a duration",
        "ignoring the bad value watch.ignore[0]: ",
        "; 2 config errors (above; fix them, then run impermctl boot again)",
    ] {
        assert!(err.contains(want), "no `{want}`\n{}", dump(&o));
    }
    assert!(!err.contains("refusing"), "{}", dump(&o));
}
