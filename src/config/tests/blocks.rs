//! An error in a `[[persistence]]` block's `path` (or a list not a list)
//! refuses that block's entries only, each named at its own line with the block's error and
//! fix; the other blocks are used. Errors outside the blocks still refuse
//! the whole file.

use std::path::{Path, PathBuf};

use crate::config::{entry_of, parse_partial};

/// A good block (`/persistent`: /etc/nixos, /etc/machine-id), then a
/// second block (`head`, then /srv/a and /srv/b), then a third good block
/// (`/data`: /srv/c).
fn with(head: &str) -> String {
    format!(
        "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [\"/etc/nixos\"]\nfiles = [\"/etc/machine-id\"]\n\
         [[persistence]]\n{head}\n[[persistence.directories]]\npath = \"/srv/a\"\n[[persistence.files]]\npath = \"/srv/b\"\n\
         [[persistence]]\npath = \"/data\"\ndirectories = [\"/srv/c\"]\n"
    )
}

/// Each block-level input of the trial (and of impermanence users' own
/// reports: its `enable`, its `users.<name>` with `home`, its
/// `persistentStoragePath` spelling) costs its block only.
#[test]
fn a_bad_block_field_refuses_that_blocks_entries_only() {
    for (head, field) in [
        ("path = \"persistent2\"", "persistence[1].path"),
        ("hide_mounts = true", "persistence[1].path"),
        (
            "persistentStoragePath = \"/p2\"",
            "persistence[1].persistentStoragePath",
        ),
        ("path = \"/\"", "persistence[1].path"),
        ("path = \"/proc/p2\"", "persistence[1].path"),
        ("path = \"/p2/../p3\"", "persistence[1].path"),
        ("path = \"/persistent\"", "persistence[1].path"),
        ("path = \"/persistent/\"", "persistence[1].path"),
    ] {
        let text = with(head);
        let p = parse_partial(&text, Path::new("c.toml"))
            .unwrap_or_else(|e| panic!("{head}: the whole file refused: {e}"));
        let paths: Vec<&PathBuf> = p.settings.entries.iter().map(|e| &e.path).collect();
        assert_eq!(paths, ["/etc/machine-id", "/etc/nixos", "/srv/c"], "{head}");
        let roots: Vec<&Path> = p.settings.roots.iter().map(|r| r.path.as_path()).collect();
        assert_eq!(
            roots,
            [Path::new("/persistent"), Path::new("/data")],
            "{head}"
        );
        let errors = &p.refused.errors;
        assert!(
            errors.iter().any(|e| e.field == field && !e.fix.is_empty()),
            "{head}: no error for {field}: {errors:#?}"
        );
        // Each entry of the block is named at its own line, with the
        // block's error and its fix.
        for (entry, path, line) in [
            ("persistence[1].directories[0]", "/srv/a", 9),
            ("persistence[1].files[0]", "/srv/b", 11),
        ] {
            let line = line + head.lines().count() - 1;
            let e = errors
                .iter()
                .find(|e| e.field == entry)
                .unwrap_or_else(|| panic!("{head}: {entry} not named: {errors:#?}"));
            assert_eq!((e.line, e.column), (line, 8), "{head}: {e}");
            assert!(
                e.message.starts_with(&format!(
                    "{path} is refused with its [[persistence]] block persistence[1] (line "
                )) && e.message.contains("): persistence[1].")
                    && !e.fix.is_empty(),
                "{head}: {e}"
            );
            assert_eq!(p.refused.paths[entry].0, Path::new(path), "{head}");
        }
        for e in errors {
            let block = entry_of(&e.field).is_some_and(|u| u.starts_with("persistence[1]"));
            assert!(block || e.field == field, "{e}");
        }
    }
}

/// Trial-s9 F6: a block field with no say in where data goes (a mount
/// option for file managers, an unknown key such as impermanence's
/// `users.<name>`) is ignored alone, with its error; the block is used.
#[test]
fn a_cosmetic_block_field_or_unknown_key_costs_nothing_else() {
    for (head, field) in [
        ("hide_mounts = \"yes\"", "persistence[1].hide_mounts"),
        ("hideMounts = \"yes\"", "persistence[1].hideMounts"),
        ("allow_trash = 1", "persistence[1].allow_trash"),
        ("enable = 3", "persistence[1].enable"),
        (
            "users.root = { directories = [\".\"], home = \"/root\" }",
            "persistence[1].users",
        ),
        (
            "[persistence.users.alice]\ndirectories = [\".ssh\"]",
            "persistence[1].users",
        ),
    ] {
        let text = with(&format!("path = \"/p2\"\n{head}"));
        let p = parse_partial(&text, Path::new("c.toml"))
            .unwrap_or_else(|e| panic!("{head}: the whole file refused: {e}"));
        let paths: Vec<&PathBuf> = p.settings.entries.iter().map(|e| &e.path).collect();
        let want = [
            "/etc/machine-id",
            "/etc/nixos",
            "/srv/a",
            "/srv/b",
            "/srv/c",
        ];
        assert_eq!(paths, want, "{head}");
        assert_eq!(p.settings.roots.len(), 3, "{head}");
        let [e] = &p.refused.errors[..] else {
            panic!("{head}: {:#?}", p.refused.errors)
        };
        assert!(e.field == field && e.line == 8 && !e.fix.is_empty(), "{e}");
        let shown = crate::config::refusing(e);
        assert!(
            shown.starts_with(&format!("ignoring the bad value {field}: ")),
            "{shown}"
        );
        assert!(p.refused.paths.is_empty(), "{head}");
    }
}

/// A root declared again: the later block is refused (as the later
/// declaration of an entry is), the first one's entries stay.
#[test]
fn a_root_declared_again_refuses_the_later_block() {
    let p = parse_partial(&with("path = \"/persistent\""), Path::new("c.toml")).unwrap();
    let e = &p.refused.errors[0];
    assert_eq!(
        (e.line, e.field.as_str()),
        (7, "persistence[1].path"),
        "{e}"
    );
    assert!(
        e.message
            .contains("declared twice as a persistence root (lines 3 and 7)"),
        "{e}"
    );
    assert!(e.fix.contains("into the first one (line 3)"), "{e}");
    assert_eq!(p.refused.errors.len(), 3, "{:#?}", p.refused.errors);
}

/// An entry with its own error in a refused block keeps its own error
/// (not the block's); a block whose only fault is an entry is not refused.
#[test]
fn entry_errors_stay_their_own_inside_a_bad_block() {
    let text =
        with("path = \"rel\"").replace("path = \"/srv/a\"", "path = \"/srv/a\"\nmode = \"999\"");
    let p = parse_partial(&text, Path::new("c.toml")).unwrap();
    let a: Vec<&str> = (p.refused.errors.iter())
        .filter(|e| entry_of(&e.field) == Some("persistence[1].directories[0]"))
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(a, ["`999` is not a mode"]);
    let text =
        with("path = \"/p2\"").replace("path = \"/srv/a\"", "path = \"/srv/a\"\nmode = \"999\"");
    let p = parse_partial(&text, Path::new("c.toml")).unwrap();
    let paths: Vec<&PathBuf> = p.settings.entries.iter().map(|e| &e.path).collect();
    assert_eq!(paths, ["/etc/machine-id", "/etc/nixos", "/srv/b", "/srv/c"]);
    assert_eq!(p.settings.roots.len(), 3);
}

/// What makes the whole file untrustworthy still refuses all of it.
#[test]
fn errors_outside_the_blocks_refuse_the_whole_file() {
    for text in [
        with("path = \"/p2\"\n[[persistence.directories]\n"),
        with("path = \"/p2\"").replace("version = 1", "version = 2"),
        with("path = \"/p2\"").replace("version = 1\n", ""),
        format!(
            "{}[layout]\non_failure = \"ignore\"\n",
            with("path = \"/p2\"")
        ),
        format!("{}bogus = 1\n", "version = 1\n"),
        "version = 1\npersistence = 3\n".to_string(),
    ] {
        let e = parse_partial(&text, Path::new("c.toml"));
        assert!(e.is_err(), "not refused whole:\n{text}");
    }
}

/// A block's list that is not a list (`directories = "/srv/z"`) is the
/// block's own error: its other entries go with it, other blocks stay.
#[test]
fn a_blocks_list_of_the_wrong_type_refuses_the_block() {
    let text = "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [\"/etc/nixos\"]\n\
                [[persistence]]\npath = \"/p2\"\ndirectories = \"/srv/z\"\nfiles = [\"/srv/b\"]\n";
    let p = parse_partial(text, Path::new("c.toml")).unwrap();
    let paths: Vec<&PathBuf> = p.settings.entries.iter().map(|e| &e.path).collect();
    assert_eq!(paths, ["/etc/nixos"]);
    let fields: Vec<&str> = p.refused.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["persistence[1].directories", "persistence[1].files[0]"]
    );
}

/// A bad `[watch]` value (the NixOS module passes `warnEvery` and `ignore`
/// through as strings) reads as its default; every entry is kept.
#[test]
fn a_bad_watch_value_reads_as_its_default_and_costs_no_entry() {
    use crate::config::Watch;
    for (watch, field) in [
        ("warn_every = \"soon\"", "watch.warn_every"),
        ("warn_every = 0", "watch.warn_every"),
        ("ignore = [\"tmp\", \"/srv/cache\"]", "watch.ignore[0]"),
        ("ignore = 3", "watch.ignore"),
        (
            "max_warnings_per_minute = 0",
            "watch.max_warnings_per_minute",
        ),
        ("bogus = 1", "watch.bogus"),
    ] {
        let text = format!("{}[watch]\n{watch}\n", with("path = \"/p2\""));
        let p = parse_partial(&text, Path::new("c.toml"))
            .unwrap_or_else(|e| panic!("{watch}: the whole file refused: {e}"));
        assert_eq!(p.settings.entries.len(), 5, "{watch}");
        let fields: Vec<&str> = p.refused.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, [field], "{watch}");
        let e = &p.refused.errors[0];
        assert!(e.line == 16 && !e.fix.is_empty(), "{watch}: {e}");
        let shown = crate::config::refusing(e);
        assert!(
            shown.starts_with(&format!("ignoring the bad value {field}: c.toml:16:")),
            "{shown}"
        );
        let d = Watch::default();
        let w = &p.settings.watch;
        assert_eq!(
            (w.warn_every, w.max_warnings_per_minute),
            (d.warn_every, d.max_warnings_per_minute)
        );
        if field == "watch.ignore[0]" {
            assert_eq!(w.ignore, [std::path::PathBuf::from("/srv/cache")]);
        }
    }
}
