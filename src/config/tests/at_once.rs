//! Every error of one file in one run (the session-4 fresh-user trial took
//! four `verify` runs to see them), with hints that do not mislead.

/// Every error of `text`, in order, as (line, column, field, message).
fn all(text: &str) -> Vec<(usize, usize, String, String)> {
    let e = super::err(text);
    std::iter::once(&e)
        .chain(e.also.iter())
        .map(|e| (e.line, e.column, e.field.clone(), e.message.clone()))
        .collect()
}

fn fields(text: &str) -> Vec<(usize, String)> {
    all(text).into_iter().map(|(l, _, f, _)| (l, f)).collect()
}

const TRIAL: &str = r#"version = 1
[layout]
on_failure = "maybe"
[[persistence]]
path = "/persistent"
hideMounts = true
bogus = 1
directories = ["/etc/nixos", "var/log", "/var/lib/../etc", "/proc/x", "/nix/store/x", "/var/lib/foo", "/var/lib/foo/"]
files = ["/etc/machine-id", { path = "/etc/x", method = "hardlink" }, "/etc/nixos", { path = "/etc/y", mode = "0600" }]
[watch]
warn_every = "ten minuets"
max_warnings_per_minute = -5
"#;

#[test]
fn the_trials_file_reports_every_error_in_one_run() {
    let got = fields(TRIAL);
    let want = [
        (3, "layout.on_failure"),
        (6, "persistence[0].hideMounts"),
        (7, "persistence[0].bogus"),
        (8, "persistence[0].directories[1].path"),
        (8, "persistence[0].directories[2].path"),
        (8, "persistence[0].directories[3].path"),
        (8, "persistence[0].directories[4].path"),
        (8, "persistence[0].directories[6].path"),
        (9, "persistence[0].files[1].method"),
        (9, "persistence[0].files[2].path"),
        (9, "persistence[0].files[3].mode"),
        (11, "watch.warn_every"),
        (12, "watch.max_warnings_per_minute"),
    ]
    .map(|(l, f)| (l, f.to_owned()));
    assert_eq!(got, want, "{}", super::err(TRIAL));
}

#[test]
fn type_errors_do_not_hide_the_others() {
    // Each of these used to stop the typed parse at the first one.
    let text = "version = 1\n[layout]\nephemeral_root = \"ext4\"\npersistent_must_differ = \"yes\"\nskip_checks = \"all\"\n\
                [[persistence]]\npath = \"/persistent\"\nhide_mounts = 1\n\
                directories = [\"/a\", 5, { path = \"/b\", mode = 750, user = 0 }, { path = \"b c\" }]\n\
                files = \"/etc/x\"\n\
                [watch]\nignore = \"/tmp\"\nwarn_every = true\nmax_warnings_per_minute = \"ten\"\n";
    let got = fields(text);
    let want = [
        (3, "layout.ephemeral_root"),
        (4, "layout.persistent_must_differ"),
        (5, "layout.skip_checks"),
        (8, "persistence[0].hide_mounts"),
        (9, "persistence[0].directories[1]"),
        (9, "persistence[0].directories[2].mode"),
        (9, "persistence[0].directories[2].user"),
        (9, "persistence[0].directories[3].path"),
        (10, "persistence[0].files"),
        (12, "watch.ignore"),
        (13, "watch.warn_every"),
        (14, "watch.max_warnings_per_minute"),
    ]
    .map(|(l, f)| (l, f.to_owned()));
    assert_eq!(got, want, "{}", super::err(text));
}

#[test]
fn an_entry_reports_each_of_its_errors() {
    let text = super::with_root(
        "[[persistence.directories]]\npath = \"var/x\"\nuser = \"a b\"\nmode = \"0999\"\nparent = { group = \"x:y\" }\nhome = \"h\"\n",
    );
    let got = fields(&text);
    let want = [
        (5, "persistence[0].directories[0].path"),
        (6, "persistence[0].directories[0].user"),
        (7, "persistence[0].directories[0].mode"),
        (8, "persistence[0].directories[0].parent.group"),
        (9, "persistence[0].directories[0].home"),
    ]
    .map(|(l, f)| (l, f.to_owned()));
    assert_eq!(got, want, "{}", super::err(&text));
    // Every `[watch].ignore` path, not only the first bad one.
    let got = fields("version = 1\n[watch]\nignore = [\"tmp\", \"/ok\", \"var/tmp\"]\n");
    assert_eq!(
        got,
        [(3, "watch.ignore[0]"), (3, "watch.ignore[2]")].map(|(l, f)| (l, f.to_owned()))
    );
}

#[test]
fn duplicate_roots_do_not_hide_duplicate_entries_below_them() {
    // `/persistent/` is `/persistent`: the root is declared twice, and the
    // entry /b under both is a duplicate too.
    let text = "version = 1\n[[persistence]]\npath = \"/persistent/\"\ndirectories = [\"/b\"]\n[[persistence]]\npath = \"/persistent\"\ndirectories = [\"/b\"]\n";
    let got = all(text);
    assert_eq!(
        got.iter()
            .map(|(l, _, f, _)| (*l, f.as_str()))
            .collect::<Vec<_>>(),
        [
            (6, "persistence[1].path"),
            (7, "persistence[1].directories[0].path")
        ],
        "{}",
        super::err(text)
    );
    assert!(got[1].3.contains("/b is declared twice"), "{got:?}");
    // Bad roots do not hide their entries' errors either.
    let text = "version = 1\n[[persistence]]\npath = \"persist\"\ndirectories = [\"var/log\"]\n";
    assert_eq!(
        fields(text),
        [
            (3, "persistence[0].path"),
            (4, "persistence[0].directories[0].path")
        ]
        .map(|(l, f)| (l, f.to_owned()))
    );
}

#[test]
fn unknown_keys_suggest_only_what_is_valid_there() {
    let e = super::err(&super::with_root(
        "files = [{ path = \"/etc/y\", mode = \"0600\" }]\n",
    ));
    assert_eq!(e.field, "persistence[0].files[0].mode", "{e}");
    assert!(!e.fix.contains("home"), "{e}");
    assert!(e.fix.contains("parent = {"), "{e}");
    assert!(e.message.contains("directory entries"), "{e}");
    // `user` on a root, `ignore` in [layout]: said where they belong.
    let e = super::err(&super::with_root("user = \"root\"\n"));
    assert!(e.message.contains("directory entries"), "{e}");
    let e = super::err("version = 1\n[layout]\nignore = []\n");
    assert!(e.message.contains("[watch]"), "{e}");
    // A far-off key gets the list, not a guess.
    let e = super::err("version = 1\n[watch]\nnode = 1\n");
    assert!(e.fix.starts_with("remove it; valid keys here"), "{e}");
}

#[test]
fn duplicates_on_one_line_name_their_columns() {
    let text =
        super::with_root("directories = [\"/etc/nixos\"]\nfiles = [\"/a\", \"/etc/nixos\"]\n");
    // Different lines: lines are enough.
    let e = super::err(&text);
    assert!(
        e.message.contains("(line 4)") && e.message.contains("(line 5)"),
        "{e}"
    );
    let text = super::with_root("directories = [\"/etc/nixos\", \"/x\", \"/etc/nixos/\"]\n");
    let e = super::err(&text);
    assert_eq!((e.line, e.column), (4, 36), "{e}");
    assert!(
        e.message
            .contains("persistence[0].directories[0], line 4 column 16")
            && e.message
                .contains("persistence[0].directories[2], line 4 column 36"),
        "{e}"
    );
    assert!(
        e.fix.contains("delete persistence[0].directories[2]"),
        "{e}"
    );
    assert!(!e.fix.contains("the one on line 4"), "{e}");
}

#[test]
fn control_characters_in_paths_are_rejected_shown_escaped() {
    for (raw, shown) in [
        ("\\n", "\\n"),
        ("\\u001b[2J", "\\x1b"),
        ("\\r", "\\r"),
        ("\\u007f", "\\x7f"),
    ] {
        let text = super::with_root(&format!("directories = [\"/srv/a{raw}b\"]\n"));
        let e = super::err(&text);
        assert_eq!(e.field, "persistence[0].directories[0].path", "{e}");
        assert!(e.message.contains(&format!("/srv/a{shown}")), "{e}");
        let out = e.to_string();
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        assert_eq!(out.lines().count(), 2, "{out:?}");
    }
    // Everywhere a path is read: roots, homes and ignored paths.
    let e = super::err("version = 1\n[watch]\nignore = [\"/tmp\\nx\"]\n");
    assert_eq!(e.field, "watch.ignore[0]", "{e}");
}
