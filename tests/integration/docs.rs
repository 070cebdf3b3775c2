//! Man pages, completions and `--help` (issue 15): a page per subcommand
//! with EXIT STATUS, ENVIRONMENT (every variable the code reads), FILES,
//! EXAMPLES and SEE ALSO, rendered by man(1); completions without hidden
//! commands or flags; `-h` and `--help` agree.

use std::path::Path;
use std::process::Command;

use crate::util::{self, assert_code, repo, stdout};

const PAGES: &[&str] = &[
    "impermctl.1",
    "impermctl-verify.1",
    "impermctl-status.1",
    "impermctl-boot.1",
    "impermctl-baseline.1",
    "impermctl-watch.1",
    "impermctl-diff.1",
    "impermctl-persist.1",
    "impermctl-sync.1",
    "impermctl.toml.5",
];

fn render(page: &Path) -> String {
    let o = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .expect("run man");
    assert!(
        o.status.success(),
        "man -l {}: {}",
        page.display(),
        util::stderr(&o)
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    // Drop overstrike bold/underline if man kept it.
    let mut clean = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\u{8}') {
            chars.next();
            continue;
        }
        clean.push(c);
    }
    clean
}

#[test]
fn every_page_renders_with_its_sections() {
    let d = tempfile::tempdir().unwrap();
    assert_code(
        &util::run(&["generate", "man", d.path().to_str().unwrap()]),
        0,
    );
    let mut found: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut want: Vec<String> = PAGES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want);
    for page in PAGES {
        let text = render(&d.path().join(page));
        let sections: &[&str] = if page.ends_with(".5") {
            &["NAME", "SYNOPSIS", "DESCRIPTION", "EXAMPLE", "SEE ALSO"]
        } else {
            &[
                "NAME",
                "SYNOPSIS",
                "DESCRIPTION",
                "OPTIONS",
                "EXIT STATUS",
                "ENVIRONMENT",
                "FILES",
                "EXAMPLES",
                "SEE ALSO",
            ]
        };
        for s in sections {
            assert!(
                text.lines().any(|l| l.trim_end() == *s),
                "{page}: no {s} section\n{text}"
            );
        }
        if page.ends_with(".1") {
            for v in [
                "IMPERMCTL_CONFIG",
                "IMPERMCTL_LOG",
                "/run/impermctl/state.json",
            ] {
                assert!(text.contains(v), "{page}: no {v}");
            }
            for code in ["0", "1", "2"] {
                assert!(
                    text.lines().any(|l| l.trim_start().starts_with(code)),
                    "{page}: exit code {code} not documented"
                );
            }
            assert!(!text.contains("shadowed-helper") && !text.contains("sample-paths"));
        }
    }
    // Packages install them.
    let deb = std::fs::read_to_string(repo().join("packaging/debian/build-deb.sh")).unwrap();
    assert!(
        deb.contains("generate man"),
        "the .deb does not install the man pages"
    );
    let nix = std::fs::read_to_string(repo().join("packaging/nix/package.nix")).unwrap();
    assert!(
        nix.contains("generate man"),
        "the Nix package does not install the man pages"
    );
}

/// Every environment variable the source reads is in ENVIRONMENT.
#[test]
fn the_man_page_lists_every_environment_variable_read() {
    let d = tempfile::tempdir().unwrap();
    util::run(&["generate", "man", d.path().to_str().unwrap()]);
    let page = render(&d.path().join("impermctl.1"));
    let mut vars = std::collections::BTreeSet::new();
    let mut stack = vec![repo().join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") || p.to_string_lossy().contains("test") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for pat in ["env::var(\"", "env::var_os(\"", "env = \""] {
                for (i, _) in text.match_indices(pat) {
                    let rest = &text[i + pat.len()..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    if !name.is_empty() && !name.ends_with("REQUIRE_PRIVILEGED") {
                        vars.insert(name);
                    }
                }
            }
        }
    }
    assert!(
        vars.contains("IMPERMCTL_CONFIG") && vars.len() >= 5,
        "{vars:?}"
    );
    for v in &vars {
        assert!(page.contains(v.as_str()), "ENVIRONMENT lacks {v}");
    }
}

#[test]
fn completions_offer_no_hidden_commands_or_flags() {
    let d = tempfile::tempdir().unwrap();
    assert_code(
        &util::run(&["generate", "completions", d.path().to_str().unwrap()]),
        0,
    );
    for f in ["impermctl.bash", "_impermctl", "impermctl.fish"] {
        let text = std::fs::read_to_string(d.path().join(f)).unwrap();
        // Whole words only: "regenerates" in a description is no `generate`.
        let words: std::collections::HashSet<&str> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map(|w| w.trim_start_matches('-'))
            .collect();
        for hidden in [
            "generate",
            "shadowed-helper",
            "capture-baseline",
            "sample-paths",
            "json-every",
        ] {
            assert!(!words.contains(hidden), "{f} offers {hidden}");
        }
        for shown in ["persist", "suggest", "mountinfo", "color"] {
            assert!(text.contains(shown), "{f} lacks {shown}");
        }
    }
}

#[test]
fn help_has_global_options_examples_and_one_header() {
    let short = stdout(&util::run(&["-h"]));
    let long = stdout(&util::run(&["--help"]));
    assert_eq!(
        short.lines().next(),
        long.lines().next(),
        "-h and --help headers differ"
    );
    for h in [&short, &long] {
        assert!(h.contains("Global options:"), "{h}");
        assert!(!h.contains("generate"), "{h}");
    }
    assert!(long.contains("Examples:") && long.contains("impermctl diff --suggest"));
    assert!(long.contains("Exit status: 0"), "{long}");
    let diff = stdout(&util::run(&["diff", "--help"]));
    let global = diff
        .split("Global options:")
        .nth(1)
        .expect("a Global options heading");
    assert!(global.contains("--root") && global.contains("--color"));
    assert!(
        !global.contains("--mountinfo"),
        "--mountinfo is diff's own option"
    );
}
