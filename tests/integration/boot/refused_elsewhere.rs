//! One bad entry never costs the others in any command: `diff`, `persist`,
//! `baseline`, `verify`, `sync` and `status` work with the good entries,
//! name each refused one (stderr: `refusing the entry …`, file:line:col,
//! field, fix; `--json`: `refused[]`, `refused_entries[]` in `persist`),
//! and exit 1 as `boot` does. `diff` reports a refused entry's data as
//! declared but not persisted (it is not bound), never as kept.

use super::{block, dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code};

/// The `refused[]` (or `key`) of the JSON document in block `name`, as
/// `entry:path` items, after validating the document against its schema
/// and checking that each names the config file (`file`).
#[track_caller]
pub(super) fn refused_in(o: &std::process::Output, name: &str, key: &str) -> Vec<String> {
    let text = block(o, name);
    let doc: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{}", dump(o)));
    crate::schemas::validate(&doc);
    let list = doc[key].as_array().cloned().unwrap_or_default();
    let item = |x: &serde_json::Value| {
        let path = x["path"].as_str().unwrap_or("-");
        let file = x["file"].as_str().unwrap_or_default();
        assert!(file.ends_with("/etc/impermctl/config.toml"), "{name}: {x}");
        format!("{}:{path}", x["entry"].as_str().unwrap_or_default())
    };
    list.iter().map(item).collect()
}

#[test]
fn every_command_uses_the_good_entries_and_names_the_refused_one() {
    require_root!();
    let body = r#"T="$R/tmp/out"; mkdir -p "$T"
printf '[[persistence.directories]]\npath = "/var/lib/x"\nmode = "999"\n' >> "$CFG"
printf '[[persistence.directories]]\npath = "/var/lib/y"\nuser = ""\n' >> "$CFG"
printf '[[persistence]]\npath = "rel"\n[[persistence.files]]\npath = "/etc/b.conf"\n' >> "$CFG"
mkdir -p "$R/var/lib/x" "$R/srv/p" "$R/var/lib/y"; echo keep > "$R/srv/p/f"; echo y > "$R/var/lib/y/f"
rc=0; imp boot 2>/dev/null || rc=$?; echo "boot=$rc"
echo data > "$R/var/lib/x/f"; echo b > "$R/etc/b.conf"; echo n > "$R/srv/new"
rc=0; imp diff > "$T/diff.out" 2> "$T/diff.err" || rc=$?; echo "diff=$rc"
echo BEGIN diff; cat "$T/diff.out" "$T/diff.err"; echo END diff
{ imp diff --json 2>/dev/null || true; } > "$T/diff.json"
echo BEGIN diffjson; cat "$T/diff.json"; echo END diffjson
python3 -c 'import json,sys; d=json.load(sys.stdin); print("declared=" + ",".join(g["path"] + ":" + ("refused" if "refused" in g.get("declared", "") else "-") for g in d["groups"]))' < "$T/diff.json"
rc=0; imp diff --suggest=toml > "$T/suggest" 2>/dev/null || rc=$?
echo BEGIN suggest; cat "$T/suggest"; echo END suggest
rc=0; imp persist /var/lib/y > "$T/persist-y.out" 2>/dev/null || rc=$?; echo "persisty=$rc"
echo BEGIN persisty; cat "$T/persist-y.out"; echo END persisty
rc=0; imp persist /srv/p > "$T/persist.out" 2> "$T/persist.err" || rc=$?; echo "persist=$rc"
echo "persisted=$(cat "$R/persistent/srv/p/f" 2>/dev/null)"
echo BEGIN persist; cat "$T/persist.out" "$T/persist.err"; echo END persist
echo BEGIN persistjson; imp persist --dry-run --json /srv/p 2>/dev/null || true; echo END persistjson
rc=0; imp baseline --since all > "$T/baseline.out" 2> "$T/baseline.err" || rc=$?; echo "baseline=$rc"
echo BEGIN baseline; cat "$T/baseline.out" "$T/baseline.err"; echo END baseline
echo BEGIN baselinejson; imp baseline --since all --json 2>/dev/null || true; echo END baselinejson
rc=0; imp verify > /dev/null 2> "$T/verify.err" || rc=$?; echo "verify=$rc"
echo BEGIN verify; cat "$T/verify.err"; echo END verify
echo BEGIN verifyjson; imp verify --json 2>/dev/null || true; echo END verifyjson
echo BEGIN syncjson; imp sync --json 2>/dev/null || true; echo END syncjson
echo BEGIN statusjson; imp status --json 2>/dev/null || true; echo END statusjson
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    let all = [
        "persistence[0].directories[3]:/var/lib/x",
        "persistence[0].directories[4]:/var/lib/y",
        "persistence[1]:-",
        "persistence[1].files[0]:/etc/b.conf",
    ];
    for (name, key) in [
        ("diffjson", "refused"),
        ("persistjson", "refused_entries"),
        ("baselinejson", "refused"),
        ("verifyjson", "refused"),
        ("syncjson", "refused"),
        ("statusjson", "refused"),
    ] {
        assert_eq!(refused_in(&o, name, key), all, "{name}\n{}", dump(&o));
    }
    for key in ["boot", "diff", "persist", "baseline", "verify"] {
        assert_eq!(val(&o, key), "1", "{key}\n{}", dump(&o));
    }
    for key in ["diff", "persist", "baseline", "verify"] {
        let text = block(&o, key);
        for want in [
            "refusing the entry persistence[0].directories[3]: ",
            ":23:8: persistence[0].directories[3].mode: `999` is not a mode",
            "refusing the [[persistence]] block persistence[1] and its entries: ",
            "refusing the entry persistence[1].files[0]: ",
            "fix: ",
        ] {
            assert!(text.contains(want), "{key}: no `{want}`\n{}", dump(&o));
        }
    }
    // diff: the refused entries' data is lost, said why; the rest as usual.
    let diff = block(&o, "diff");
    assert!(
        diff.contains("/var/lib/x") && diff.contains("/etc/b.conf") && diff.contains("/srv/new"),
        "{}",
        dump(&o)
    );
    assert!(
        diff.contains("declared, but not persisted: its entry is refused ("),
        "{}",
        dump(&o)
    );
    let declared = val(&o, "declared");
    for want in ["/var/lib/x:refused", "/etc/b.conf:refused", "/srv/new:-"] {
        assert!(declared.contains(want), "{want}\n{}", dump(&o));
    }
    // --suggest does not propose declaring what is declared (and refused).
    let suggest = block(&o, "suggest");
    assert!(!suggest.contains("path = \"/var/lib/x\""), "{}", dump(&o));
    assert!(suggest.contains("path = \"/srv/new\""), "{}", dump(&o));
    // persist did its work; for a declared path whose entry is refused it
    // says to fix the error, not to declare it again.
    assert_eq!(val(&o, "persisted"), "keep", "{}", dump(&o));
    assert_eq!(val(&o, "persisty"), "1", "{}", dump(&o));
    let y = block(&o, "persisty");
    assert!(
        y.contains("persisted /var/lib/y")
            && y.contains("/var/lib/y is declared, but its config entry is refused")
            && !y.contains("Add this"),
        "{}",
        dump(&o)
    );
}

/// The watcher starts with a refused entry, a refused block and a bad
/// `[watch]` value, names them (its log), and counts writes under a refused
/// path as losses: it is not bound, so what is written there is discarded
/// at the next reboot.
#[test]
fn the_watcher_names_the_refused_entries_and_counts_their_writes() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let before = r#"printf '[[persistence.directories]]\npath = "/srv/x"\nmode = "999"\n[[persistence]]\npath = "rel"\n[[persistence.directories]]\npath = "/srv/a"\n[watch]\nwarn_every = "soon"\n' >> "$CFG"
imp diff --capture-baseline >/dev/null 2>&1"#;
    let body = r#"mkdir -p "$R/srv/a" "$R/srv/x"; echo 12345 > "$R/srv/a/f"; echo 1 > "$R/srv/x/g"
wait_json 'files("/srv/a") == 1 and files("/srv/x") == 1'
"#;
    let layout = Layout::default();
    let err = crate::watch::with_watcher(tmp.path(), &layout, "--backend inotify", before, body);
    for want in [
        "refusing the entry persistence[0].directories[0]: ",
        "refusing the [[persistence]] block persistence[1] and its entries: ",
        "/srv/a is refused with its [[persistence]] block persistence[1]",
        "ignoring the bad value watch.warn_every: ",
        "the reboot will discard 2 files",
    ] {
        assert!(err.contains(want), "no `{want}`:\n{err}");
    }
}

/// `diff` counts a refused entry's data as lost only where it is: not
/// under a good declared directory (bound), not under a bind an earlier
/// boot made before the entry turned bad (the walk stays off other
/// filesystems: a guard, so that a change there cannot count them).
#[test]
fn diff_does_not_count_a_refused_entry_whose_data_is_persisted() {
    require_root!();
    let body = r#"printf '[[persistence.directories]]\npath = "/srv/q"\n' >> "$CFG"
mkdir -p "$R/tmp"
rc=0; imp boot 2>/dev/null || rc=$?; echo "boot1=$rc"
printf 'mode = "999"\n[[persistence.directories]]\npath = "/var/log/app"\nuser = ""\n' >> "$CFG"
rc=0; imp boot 2>/dev/null || rc=$?; echo "boot2=$rc"
mkdir -p "$R/var/log/app"; echo a > "$R/var/log/app/f"; echo q > "$R/srv/q/f"; echo n > "$R/srv/new"
rc=0; imp diff > "$R/tmp/diff" 2>/dev/null || rc=$?; echo "diff=$rc"
echo BEGIN diff; cat "$R/tmp/diff"; echo END diff
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "boot1"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "boot2"), "1", "{}", dump(&o));
    assert_eq!(val(&o, "diff"), "1", "{}", dump(&o));
    let diff = block(&o, "diff");
    assert!(diff.contains("/srv/new"), "{}", dump(&o));
    for kept in ["/srv/q", "/var/log/app"] {
        assert!(!diff.contains(kept), "{kept}\n{}", dump(&o));
    }
}

/// Trial s6, finding 7: a refused entry (and an ignored `[watch]` value) is
/// said the same way by every command, `boot` and `boot --dry-run`
/// included (`status` lists them in its report): `impermctl: error: refusing …` with `  fix: …` on the next
/// line, never a literal `\n`.
#[test]
fn every_command_says_a_refused_entry_the_same_way() {
    require_root!();
    let body = r#"printf '[[persistence.directories]]\npath = "var/lib/rel"\n[watch]\nwarn_every = "soon"\n' >> "$CFG"
for c in "boot" "boot --dry-run" "diff" "verify" "baseline --since all" "persist --dry-run /srv"; do
  echo "BEGIN $c"; { imp $c 2>&1 >/dev/null || true; } | grep -A1 -e '^impermctl: error: \(refusing\|ignoring\)' || true; echo "END $c"
done
"#;
    let o = vps(&Layout::default(), body);
    assert_code(&o, 0);
    let boot = block(&o, "boot");
    for want in [
        "impermctl: error: refusing the entry persistence[0].directories[3]: ",
        "config.toml:22:8: persistence[0].directories[3].path: ",
        "impermctl: error: ignoring the bad value watch.warn_every: ",
        "\n  fix: ",
    ] {
        assert!(boot.contains(want), "boot: no `{want}`\n{}", dump(&o));
    }
    assert!(!boot.contains("\\n"), "{}", dump(&o));
    for c in [
        "boot --dry-run",
        "diff",
        "verify",
        "baseline --since all",
        "persist --dry-run /srv",
    ] {
        assert_eq!(block(&o, c), boot, "{c}\n{}", dump(&o));
    }
}

/// In the journal each refusal is one record of one line (`…; fix: …`, as
/// every message of ours there): `boot` refuses an entry at CRIT with its
/// MESSAGE_ID, an ignored `[watch]` value is an error; the other commands
/// log the same line.
#[test]
fn the_journal_has_one_line_per_refusal() {
    require_root!();
    let journald = crate::require_journald!();
    let body = format!(
        r#"{journal}
printf '[[persistence.directories]]\npath = "var/lib/rel"\n[watch]\nwarn_every = "soon"\n' >> "$CFG"
INVOCATION_ID=0123456789abcdef0123456789abcdef IMPERMCTL_LOG= imp boot 2>/dev/null || true
INVOCATION_ID=0123456789abcdef0123456789abcdef IMPERMCTL_LOG= imp verify 2>/dev/null || true
for i in $(seq 400); do [ "$(j -o cat | grep -c '^ignoring')" -ge 2 ] && break; sleep 0.05; done
j -o json > "$R/../journal.json" || true
python3 - "$R/../journal.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    m = e.get("MESSAGE", "")
    if m.startswith(("refusing", "ignoring")):
        print("rec=" + e["PRIORITY"] + " " + e.get("MESSAGE_ID", "-") + " " + m)
PY
"#,
        journal = crate::util::private_journald(journald),
    );
    let o = vps(&Layout::default(), &body);
    assert_code(&o, 0);
    let out = crate::util::stdout(&o);
    // (priority, MESSAGE_ID, message) of each record: boot's two, verify's two.
    let recs: Vec<Vec<&str>> = (out.lines())
        .filter_map(|l| l.strip_prefix("rec="))
        .map(|l| l.splitn(3, ' ').collect())
        .collect();
    assert_eq!(recs.len(), 4, "{}", dump(&o));
    let id = "7453d25c65914aa987070e3c0f6c3aa4";
    let entry = "refusing the entry persistence[0].directories[3]: ";
    assert_eq!(recs[0][..2], ["2", id], "{recs:?}");
    assert_eq!(recs[2][..2], ["3", "-"], "{recs:?}");
    assert!(recs[0][2].starts_with(entry), "{recs:?}");
    for r in &recs {
        assert!(r[2].contains("; fix: ") && !r[2].contains("\\n"), "{r:?}");
    }
    assert_eq!(
        (recs[0][2], recs[1][2]),
        (recs[2][2], recs[3][2]),
        "{recs:?}"
    );
}
