//! The Nix-shaped string shorthand (`directories = [ "/etc/nixos" ]`),
//! every error of a file at once in file order, `layout.skip_checks`, and
//! systemd.time durations.

use super::*;

#[test]
fn the_nix_shape_is_accepted() {
    let s = ok(r#"version = 1
[[persistence]]
path = "/persistent"
directories = [ "/etc/nixos", "/var/log", { path = "/var/lib/pg", user = "postgres", mode = "0750" } ]
files = [ "/etc/machine-id" ]
"#);
    let got: Vec<(&str, Kind)> = s
        .entries
        .iter()
        .map(|e| (e.path.to_str().unwrap(), e.kind))
        .collect();
    assert_eq!(
        got,
        [
            ("/etc/machine-id", Kind::File),
            ("/etc/nixos", Kind::Directory),
            ("/var/lib/pg", Kind::Directory),
            ("/var/log", Kind::Directory),
        ]
    );
    let pg = s.entries.iter().find(|e| e.path.ends_with("pg")).unwrap();
    assert_eq!(pg.perms.user, "postgres");
    // The shorthand mixes with [[persistence.directories]] tables.
    let s = ok(r#"version = 1
[[persistence]]
path = "/persistent"
directories = [ "/etc/nixos" ]
[[persistence.files]]
path = "/etc/adjtime"
"#);
    assert_eq!(s.entries.len(), 2);
}

#[test]
fn a_bad_shorthand_path_is_located_at_the_string() {
    rejects(
        "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [ \"/etc/nixos\", \"var/log\" ]\n",
        "persistence[0].directories[1].path",
        4,
        31,
        "relative path",
        "absolute",
    );
    // A number is neither a path nor a table: said in user words.
    let e = err("version = 1\n[[persistence]]\npath = \"/p\"\ndirectories = [ 5 ]\n");
    let shown = e.to_string();
    assert!(shown.contains("a path such as \"/var/log\""), "{shown}");
    assert!(!shown.contains("RawDirectory"), "{shown}");
}

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let e = err(r#"version = 1
[[persistence]]
path = "/persistent"
directories = [ "relative", "/etc/nixos", "/proc/x" ]
files = [ "/etc/nixos" ]

[watch]
warn_every = "ten minutes"
"#);
    let all: Vec<(usize, &str)> = std::iter::once(&e)
        .chain(e.also.iter())
        .map(|e| (e.line, e.field.as_str()))
        .collect();
    assert_eq!(
        all,
        [
            (4, "persistence[0].directories[0].path"),
            (4, "persistence[0].directories[2].path"),
            (5, "persistence[0].files[0].path"),
            (8, "watch.warn_every"),
        ],
        "{e}"
    );
    let shown = e.to_string();
    assert_eq!(shown.matches("  fix: ").count(), 4, "{shown}");
}

#[test]
fn skip_checks_is_read() {
    let s = ok("version = 1\n[layout]\nskip_checks = [\"recommended-paths\"]\n");
    assert_eq!(s.layout.skip_checks, ["recommended-paths"]);
}

#[test]
fn systemd_durations_are_accepted() {
    for (text, secs) in [
        ("10 minutes", 600),
        ("1h 30m", 5400),
        ("10min", 600),
        ("90", 90),
    ] {
        let s = ok(&format!("version = 1\n[watch]\nwarn_every = \"{text}\"\n"));
        assert_eq!(s.watch.warn_every.as_secs(), secs, "{text}");
    }
}
