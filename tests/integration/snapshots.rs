//! Snapshot tests of human output (expect-test): each snapshot in
//! `tests/snapshots/NAME.txt` is what a user sees, `$ command` first. The
//! README's excerpts are these files (`<!-- snapshot: NAME -->` blocks), so
//! they cannot drift: `UPDATE_EXPECT=1 cargo nextest run -E
//! 'test(/snapshots::/)'` rewrites the snapshots and the README together.

use std::path::Path;
use std::process::Output;

use expect_test::{ExpectFile, expect_file};

use crate::util::{self, Layout, in_vps, mountinfo_fixture, repo};

/// `$ shown` then stdout, stderr and, when not 0, `[exit N]`.
fn transcript(shown: &str, o: &Output) -> String {
    let mut s = format!("$ {shown}\n{}{}", util::stdout(o), util::stderr(o));
    if let Some(c) = o.status.code().filter(|c| *c != 0) {
        s.push_str(&format!("[exit {c}]\n"));
    }
    s
}

fn check(snap: ExpectFile, text: &str) {
    snap.assert_eq(text);
}

fn fixture_run(cmd: &[&str], fixture: &str, config: &Path) -> Output {
    let fx = mountinfo_fixture(fixture);
    let mut a = cmd.to_vec();
    a.extend_from_slice(&[
        "--config",
        config.to_str().unwrap(),
        "--mountinfo",
        fx.to_str().unwrap(),
    ]);
    util::run(&a)
}

fn seed() -> std::path::PathBuf {
    repo().join("tests/fixtures/seed.toml")
}

#[test]
fn verify_healthy() {
    let o = fixture_run(&["verify"], "native-booted.mountinfo", &seed());
    check(
        expect_file!["../snapshots/verify-healthy.txt"],
        &transcript("impermctl verify", &o),
    );
}

#[test]
fn verify_fatal() {
    let o = fixture_run(&["verify"], "persistent-not-mounted.mountinfo", &seed());
    check(
        expect_file!["../snapshots/verify-fatal.txt"],
        &transcript(
            "impermctl verify          # the VPS's dataset is not mounted at /persistent",
            &o,
        ),
    );
}

#[test]
fn status_on_a_booted_vps() {
    let o = fixture_run(&["status"], "native-booted.mountinfo", &seed());
    let text = transcript("impermctl status", &o);
    // The watcher line depends on the machine running the test.
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("watcher:"))
        .map(|l| format!("{l}\n"))
        .collect();
    check(expect_file!["../snapshots/status.txt"], &text);
}

#[test]
fn config_errors_all_at_once() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("config.toml");
    std::fs::write(
        &cfg,
        r#"version = 1
[[persistence]]
path = "/persistent"
directories = [ "/etc/nixos", "var/log", "/proc/x" ]
files = [ "/etc/nixos" ]
[watch]
warn_every = "ten minuets"
"#,
    )
    .unwrap();
    let o = fixture_run(&["verify"], "native-booted.mountinfo", &cfg);
    let text = transcript("impermctl verify", &o).replace(cfg.to_str().unwrap(), "config.toml");
    check(expect_file!["../snapshots/config-errors.txt"], &text);
}

#[test]
fn boot_dry_run_and_persist_dry_run() {
    crate::require_root!();
    let body = format!(
        r#"printf '%s' '{seed}' > "$CFG"
mkdir -p "$R/var/lib/foo" && head -c 3000 /dev/zero > "$R/var/lib/foo/data"
echo "--- boot"
imp boot --dry-run || true
echo "--- persist"
imp persist --dry-run /var/lib/foo | sed "s|$R/etc/|/etc/|" || true
"#,
        seed = util::SEED
    );
    let o = in_vps(&Layout::default(), &body);
    util::assert_code(&o, 0);
    let out = util::stdout(&o);
    let part = |name: &str| -> String {
        out.split(&format!("--- {name}\n"))
            .nth(1)
            .unwrap()
            .split("--- ")
            .next()
            .unwrap()
            .to_owned()
    };
    check(
        expect_file!["../snapshots/boot-dry-run.txt"],
        &format!("$ impermctl boot --dry-run\n{}", part("boot")),
    );
    check(
        expect_file!["../snapshots/persist-dry-run.txt"],
        &format!(
            "$ impermctl persist --dry-run /var/lib/foo\n{}",
            part("persist")
        ),
    );
}

/// A file `persist` copied (`method = "copy"`) that the config does not
/// declare yet, as `diff`, `diff -l` and `diff --json` say it (the JSON
/// shown is the group holding it, as `jq '.groups[] |
/// select(.undeclared_copies)'` prints it). The baseline's time is the
/// test's: it reads as a fixed one.
#[test]
fn diff_of_a_copied_file_not_in_the_config() {
    crate::require_root!();
    let o = in_vps(
        &Layout::default(),
        r#"imp diff --capture-baseline 2>/dev/null
mkdir -p "$R/etc/ssh"; echo key > "$R/etc/ssh/ssh_host_ed25519_key"
imp persist /etc/ssh/ssh_host_ed25519_key > /dev/null
echo "--- diff"; imp diff || echo "[exit $?]"
echo "--- list"; imp diff -l || echo "[exit $?]"
echo "--- json"; imp diff --json || true
"#,
    );
    util::assert_code(&o, 0);
    let out = util::stdout(&o);
    let part = |name: &str| -> String {
        let text = out.split(&format!("--- {name}\n")).nth(1).unwrap();
        text.split("--- ").next().unwrap().to_owned()
    };
    let fixed = |text: String| -> String {
        let at = "basis: the baseline of ";
        let start = text.find(at).unwrap() + at.len();
        let end = start + text[start..].find(" (the root").unwrap();
        format!(
            "{}Mon 2026-11-30 06:34:09 UTC{}",
            &text[..start],
            &text[end..]
        )
    };
    // The group objects of the document as printed (two levels in), one
    // level out, as jq prints them.
    let json = part("json");
    serde_json::from_str::<serde_json::Value>(&json).unwrap();
    let held: Vec<String> = (json.split("\n    {\n").skip(1))
        .map(|g| g.split("\n    }").next().unwrap())
        .filter(|g| g.contains("\"undeclared_copies\""))
        .map(|g| {
            let body: String = g.lines().map(|l| format!("{}\n", &l[4..])).collect();
            format!("{{\n{body}}}\n")
        })
        .collect();
    assert_eq!(held.len(), 1, "{json}");
    let text = format!(
        "$ impermctl diff\n{}\n$ impermctl diff -l\n{}\n$ impermctl diff --json | jq '.groups[] | select(.undeclared_copies)'\n{}",
        fixed(part("diff")),
        fixed(part("list")),
        held[0]
    );
    check(expect_file!["../snapshots/diff-copied.txt"], &text);
}

/// The README's `<!-- snapshot: NAME -->` blocks are the snapshot files.
#[test]
fn readme_excerpts_match_the_snapshots() {
    let path = repo().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (fresh, names) = splice(&readme, |name| {
        let p = repo().join("tests/snapshots").join(format!("{name}.txt"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    });
    assert!(names >= 4, "only {names} snapshot blocks in README.md");
    if fresh != readme {
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        } else {
            panic!(
                "README.md excerpts differ from tests/snapshots; run UPDATE_EXPECT=1 cargo nextest run -E 'test(/snapshots::/)'"
            );
        }
    }
}

/// Replace the body of every snapshot block; returns the text and the count.
fn splice(text: &str, body: impl Fn(&str) -> String) -> (String, usize) {
    const OPEN: &str = "<!-- snapshot: ";
    let mut out = String::new();
    let mut rest = text;
    let mut n = 0;
    while let Some(i) = rest.find(OPEN) {
        let after = &rest[i + OPEN.len()..];
        let name_end = after.find(" -->").expect("unterminated snapshot marker");
        let name = &after[..name_end];
        let block = &after[name_end + 4..];
        let start = block.find("```\n").expect("a ``` block after the marker") + 4;
        let end = start + block[start..].find("```\n").expect("a closing ```");
        out.push_str(&rest[..i + OPEN.len() + name_end + 4]);
        out.push_str(&block[..start]);
        out.push_str(&body(name));
        rest = &block[end..];
        n += 1;
    }
    out.push_str(rest);
    (out, n)
}

#[test]
fn splice_replaces_only_marked_blocks() {
    let text = "a\n<!-- snapshot: x -->\n```\nold\n```\nb\n```\nkeep\n```\n";
    let (out, n) = splice(text, |name| format!("new {name}\n"));
    assert_eq!(n, 1);
    assert_eq!(
        out,
        "a\n<!-- snapshot: x -->\n```\nnew x\n```\nb\n```\nkeep\n```\n"
    );
}
