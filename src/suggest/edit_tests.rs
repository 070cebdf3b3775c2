//! [`super::toml_for`] round trip: every config form the README and
//! `packaging/` show, plus the suggestion written as it says, parses and
//! declares the paths (trial s9 F13: tables appended to an array form
//! were a duplicate key, and every command failed).

use std::path::Path;

use super::{Line, toml_for};
use crate::config::{FileMethod, Kind};

/// `text` edited as the suggestion `s` says: `# replace line(s) …` and
/// `# insert after line N:` apply to the lines that follow, up to the
/// next `#` line, in the order printed; `# … write it as` starts the file.
fn apply(text: Option<&str>, s: &str) -> String {
    let mut lines: Vec<String> = text.unwrap_or("").lines().map(Into::into).collect();
    let mut todo: Option<(usize, usize)> = None; // (first line index, lines replaced)
    let mut at = 0;
    for l in s.lines() {
        if let Some(rest) = l.strip_prefix("# replace line") {
            let nums = rest
                .trim_start_matches('s')
                .trim()
                .trim_end_matches(" with:");
            let (a, b) = nums.split_once('-').unwrap_or((nums, nums));
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            todo = Some((a - 1, b - a + 1));
        } else if let Some(n) = l.strip_prefix("# insert after line ") {
            todo = Some((n.trim_end_matches(':').parse().unwrap(), 0));
        } else if l.ends_with("write it as") {
            todo = Some((0, 0));
        } else if l.starts_with('#') {
            continue;
        } else {
            let (first, n) = todo.take().map_or((at, 0), |(f, n)| (f, n));
            lines.splice(first..first + n, [l.to_owned()]);
            at = first + 1;
            continue;
        }
        at = todo.unwrap().0;
    }
    lines.join("\n") + "\n"
}

const ARRAYS: &str = "version = 1\n[[persistence]]\npath = \"/persistent\"\nhide_mounts = true\ndirectories = [\"/etc/nixos\", \"/var/log\", \"/var/lib/nixos\"]\nfiles = [\"/etc/machine-id\"]\n";

/// The `toml` block of the README that shows the schema.
fn readme_schema() -> String {
    let r = include_str!("../../README.md");
    let start = r.find("```toml\nversion = 1").expect("README schema block") + 8;
    r[start..][..r[start..].find("```").unwrap()].to_owned()
}

#[test]
fn the_suggestion_fits_every_config_form() {
    let multi = "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [\n  \"/etc/nixos\",\n  { path = \"/var/lib/pg\", user = \"postgres\" }, # db\n]\nfiles = [\n    \"/etc/machine-id\"\n]\n[watch]\nignore = [\"/tmp\"]\n";
    let two = "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"/var/log\"\n\n[[persistence]]\npath = \"/other\"\ndirectories = [\"/srv/o\"]\n";
    let forms: Vec<(&str, Option<String>)> = vec![
        ("README array form", Some(ARRAYS.into())),
        ("README inline tables", Some(ARRAYS.replace("\"/var/log\"", "{ path = \"/var/log\", mode = \"0755\" }"))),
        ("README schema (tables)", Some(readme_schema())),
        ("Debian example (tables)", Some(include_str!("../../packaging/debian/config.toml.example").into())),
        ("one per line, comment, no trailing comma", Some(multi.into())),
        ("empty arrays", Some("version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = []\nfiles = []\n".into())),
        ("arrays and tables", Some("version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [ \"/var/log\" ]\n[[persistence.files]]\npath = \"/etc/machine-id\"\n[watch]\nwarn_every = \"10min\"\n".into())),
        ("no entries yet", Some("version = 1\n[[persistence]]\npath = \"/persistent\"\n".into())),
        ("two blocks, ours first", Some(two.into())),
        ("no block for the root", Some("version = 1\n[[persistence]]\npath = \"/other\"\n".into())),
        ("no file", None),
    ];
    let root = Path::new("/persistent");
    let lines = [
        Line::Persist("/home/alice".into(), Kind::Directory),
        Line::Persist("/var/lib/a b\"c".into(), Kind::Directory),
        Line::Persist("/etc/adjtime".into(), Kind::File),
        Line::Copy("/etc/app.conf".into()),
        Line::Persist("/etc/ssh/ssh_host_ed25519_key".into(), Kind::File),
        Line::Skipped("/etc is a system directory".into()),
    ];
    let want = [
        ("/home/alice", Kind::Directory, FileMethod::Auto),
        ("/var/lib/a b\"c", Kind::Directory, FileMethod::Auto),
        ("/etc/adjtime", Kind::File, FileMethod::Auto),
        ("/etc/app.conf", Kind::File, FileMethod::Copy),
        (
            "/etc/ssh/ssh_host_ed25519_key",
            Kind::File,
            FileMethod::Copy,
        ),
    ];
    let file = Path::new("/etc/impermctl/config.toml");
    for (form, text) in forms {
        let before = text.as_deref().map_or(0, |t| {
            let s = crate::config::parse(t, file).unwrap_or_else(|e| panic!("{form}: {e}\n{t}"));
            s.entries.len()
        });
        let s = toml_for(file, text.as_deref(), root, &lines);
        let edited = apply(text.as_deref(), &s);
        let parsed = crate::config::parse(&edited, file);
        let cfg = parsed
            .unwrap_or_else(|e| panic!("{form}: {e}\n--- suggestion\n{s}--- edited\n{edited}"));
        assert_eq!(
            cfg.entries.len(),
            before + want.len(),
            "{form}\n{s}\n{edited}"
        );
        for (p, kind, method) in want {
            let e = cfg
                .entry(Path::new(p))
                .unwrap_or_else(|| panic!("{form}: {p}\n{edited}"));
            assert_eq!(
                (e.kind, e.root.as_path()),
                (kind, root),
                "{form}: {p}\n{edited}"
            );
            if kind == Kind::File {
                assert_eq!(e.method, method, "{form}: {p}\n{edited}");
            }
        }
        assert!(s.contains("# skipped: /etc is a system directory\n"), "{s}");
        assert!(
            text.is_none() || s.contains("/etc/impermctl/config.toml"),
            "{s}"
        );
    }
}

/// Trial s9 F13 exactly: the seed config in the array form, one home.
#[test]
fn an_array_gets_the_path_added_in_place() {
    let lines = [Line::Persist("/home/alice".into(), Kind::Directory)];
    let s = toml_for(
        Path::new("c.toml"),
        Some(ARRAYS),
        Path::new("/persistent"),
        &lines,
    );
    assert_eq!(
        s,
        "# in c.toml, for the [[persistence]] block with path = \"/persistent\":\n# replace line 5 with:\ndirectories = [\"/etc/nixos\", \"/var/log\", \"/var/lib/nixos\", \"/home/alice\"]\n"
    );
}
