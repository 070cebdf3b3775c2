//! Unit tests of config parsing and validation: the seed configs, every
//! rejection with its field and line:column, ordering, and a no-panic property.

use super::*;

const FILE: &str = "/etc/impermctl/config.toml";

fn ok(text: &str) -> Settings {
    parse(text, Path::new(FILE)).unwrap_or_else(|e| panic!("rejected:\n{e}"))
}

fn err(text: &str) -> ConfigError {
    parse(text, Path::new(FILE)).expect_err("should be rejected")
}

/// Assert field, line and column, and that message and fix contain the given words.
#[track_caller]
fn rejects(text: &str, field: &str, line: usize, column: usize, message: &str, fix: &str) {
    let e = err(text);
    let shown = e.to_string();
    assert_eq!(
        (e.field.as_str(), e.line, e.column),
        (field, line, column),
        "{shown}"
    );
    assert!(e.message.contains(message), "message: {shown}");
    assert!(e.fix.contains(fix), "fix: {shown}");
    assert_eq!(e.file, Path::new(FILE));
    assert!(
        shown.starts_with(&format!("{FILE}:{line}:{column}: {field}: ")),
        "{shown}"
    );
}

/// A config with one root and `body` appended (first body line is line 4).
fn with_root(body: &str) -> String {
    format!("version = 1\n[[persistence]]\npath = \"/persistent\"\n{body}")
}

const VPSFREE_SEED: &str = r#"version = 1
[[persistence]]
path = "/persistent"
hide_mounts = true
[[persistence.directories]]
path = "/etc/nixos"
[[persistence.directories]]
path = "/var/log"
[[persistence.directories]]
path = "/var/lib/nixos"
[[persistence.files]]
path = "/etc/machine-id"
"#;

const DESIGN_EXAMPLE: &str = r#"version = 1

[layout]                       # all optional; the defaults detect the layout
ephemeral_root = "auto"        # auto | tmpfs | zfs | btrfs | any
persistent_must_differ = true  # /persistent must not be on the root filesystem
on_failure = "refuse"          # refuse: mount nothing and fail; warn: mount anyway

[[persistence]]
path = "/persistent"           # persistentStoragePath
hide_mounts = true             # x-gvfs-hide on directory binds
allow_trash = false            # x-gvfs-trash on directory binds

[[persistence.directories]]
path = "/var/lib/postgresql"
user = "postgres"              # applied only when the directory is created
group = "postgres"
mode = "0750"                  # octal or symbolic (u=rwx,g=rx,o=)

[[persistence.files]]
path = "/etc/machine-id"
method = "auto"                # auto: bind if present in persistent storage, else symlink; symlink
parent = { user = "root", group = "root", mode = "0755" }

[watch]
ignore = ["/tmp", "/var/tmp"]  # never warned about; still listed by `diff --all`
warn_every = "10m"             # reminder interval per group
max_warnings_per_minute = 10   # global budget; excess becomes one summary line
"#;

fn dir(path: &str, hide: bool) -> Entry {
    Entry {
        kind: Kind::Directory,
        path: path.into(),
        root: "/persistent".into(),
        source: format!("/persistent{path}").into(),
        perms: Perms::default(),
        parent: Perms::default(),
        hide,
        trash: false,
        method: FileMethod::Auto,
    }
}

fn file(path: &str) -> Entry {
    Entry {
        kind: Kind::File,
        hide: false,
        ..dir(path, false)
    }
}

#[test]
fn vpsfree_seed() {
    let s = ok(VPSFREE_SEED);
    assert_eq!(
        s,
        Settings {
            file: FILE.into(),
            layout: Layout::default(),
            roots: vec![PersistenceRoot {
                path: "/persistent".into(),
                hide_mounts: true,
                allow_trash: false
            }],
            entries: vec![
                file("/etc/machine-id"),
                dir("/etc/nixos", true),
                dir("/var/lib/nixos", true),
                dir("/var/log", true),
            ],
            watch: Watch::default(),
        }
    );
    let paths: Vec<_> = s.entries.iter().map(|e| e.path.to_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/etc/machine-id",
            "/etc/nixos",
            "/var/lib/nixos",
            "/var/log"
        ]
    );
    assert!(s.is_persisted(Path::new("/var/log/journal/x")));
    assert!(!s.is_persisted(Path::new("/etc/machine-id.old")));
    assert_eq!(
        s.entry(Path::new("/etc/machine-id")).unwrap().source,
        Path::new("/persistent/etc/machine-id")
    );
}

#[test]
fn design_example() {
    let s = ok(DESIGN_EXAMPLE);
    assert_eq!(s.layout, Layout::default());
    assert_eq!(s.roots.len(), 1);
    let pg = s.entry(Path::new("/var/lib/postgresql")).unwrap();
    assert_eq!(
        pg.perms,
        Perms {
            user: "postgres".into(),
            group: "postgres".into(),
            mode: 0o750
        }
    );
    assert_eq!(pg.source, Path::new("/persistent/var/lib/postgresql"));
    assert!(pg.hide && !pg.trash);
    let id = s.entry(Path::new("/etc/machine-id")).unwrap();
    assert_eq!(
        (id.kind, id.method, id.hide, id.trash),
        (Kind::File, FileMethod::Auto, false, false)
    );
    assert_eq!(s.watch, Watch::default());
}

#[test]
fn non_default_values() {
    let s = ok(r#"version = 1
[layout]
ephemeral_root = "zfs"
persistent_must_differ = false
on_failure = "warn"
[[persistence]]
path = "/persist//"
allow_trash = true
[[persistence.directories]]
path = "/srv/data/"
mode = "u=rwx,g=rx,o="
hide_mount = true
allow_trash = false
parent = { user = "1000", mode = "0700" }
[[persistence.files]]
path = "/etc/ssh/ssh_host_ed25519_key"
method = "symlink"
parent = { mode = "go-w" }
[[persistence]]
path = "/data"
[[persistence.directories]]
path = "/var/lib/big"
[watch]
ignore = ["/var/cache/", "//home/x/.cache"]
warn_every = 90
max_warnings_per_minute = 1
"#);
    assert_eq!(
        s.layout,
        Layout {
            ephemeral_root: EphemeralRoot::Zfs,
            persistent_must_differ: false,
            on_failure: OnFailure::Warn
        }
    );
    assert_eq!(
        s.roots.iter().map(|r| r.path.clone()).collect::<Vec<_>>(),
        [PathBuf::from("/persist"), "/data".into()]
    );
    let srv = s.entry(Path::new("/srv/data")).unwrap();
    assert_eq!(srv.perms.mode, 0o750);
    assert_eq!(
        srv.parent,
        Perms {
            user: "1000".into(),
            group: "root".into(),
            mode: 0o700
        }
    );
    assert_eq!((srv.hide, srv.trash), (true, false));
    let key = s.entry(Path::new("/etc/ssh/ssh_host_ed25519_key")).unwrap();
    assert_eq!(
        (key.method, key.hide, key.trash),
        (FileMethod::Symlink, false, false)
    );
    assert_eq!(key.parent.mode, 0o755);
    assert_eq!(key.perms, Perms::default());
    let big = s.entry(Path::new("/var/lib/big")).unwrap();
    assert_eq!(
        (big.root.to_str(), big.source.to_str()),
        (Some("/data"), Some("/data/var/lib/big"))
    );
    assert!(!big.trash && !big.hide);
    assert_eq!(
        s.watch.ignore,
        [PathBuf::from("/var/cache"), "/home/x/.cache".into()]
    );
    assert_eq!(s.watch.warn_every, Duration::from_secs(90));
    assert_eq!(s.watch.max_warnings_per_minute, 1);
    assert_eq!(
        ok("version = 1\n[watch]\nwarn_every = \"1h30m\"\n")
            .watch
            .warn_every,
        Duration::from_secs(5400)
    );
}

#[test]
fn minimal_and_empty_roots() {
    let s = ok("version = 1\n");
    assert!(s.roots.is_empty() && s.entries.is_empty());
    assert_eq!(s.watch, Watch::default());
    assert_eq!(
        ok("version = 1\n[[persistence]]\npath = \"/persistent\"\n")
            .roots
            .len(),
        1
    );
}

#[test]
fn parent_first_ordering() {
    let s = ok(&with_root(
        "[[persistence.directories]]\npath = \"/var/lib/foo/bar\"\n\
         [[persistence.files]]\npath = \"/var/lib/foo/bar/x\"\n\
         [[persistence.directories]]\npath = \"/var/lib-old\"\n\
         [[persistence.directories]]\npath = \"/var/lib/foo\"\n\
         [[persistence.directories]]\npath = \"/var\"\n",
    ));
    let paths: Vec<_> = s.entries.iter().map(|e| e.path.to_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/var",
            "/var/lib/foo",
            "/var/lib/foo/bar",
            "/var/lib/foo/bar/x",
            "/var/lib-old"
        ]
    );
    for (i, e) in s.entries.iter().enumerate() {
        for later in &s.entries[i + 1..] {
            assert!(
                !e.path.starts_with(&later.path),
                "{} after its parent {}",
                e.path.display(),
                later.path.display()
            );
        }
    }
}

#[test]
fn version() {
    rejects(
        "[layout]\n",
        "version",
        1,
        1,
        "missing `version`",
        "version = 1",
    );
    rejects(
        "# c\nversion = 2\n",
        "version",
        2,
        11,
        "unsupported version 2",
        "version = 1",
    );
    rejects(
        "version = \"1\"\n",
        "version",
        1,
        11,
        "invalid type",
        "version = 1",
    );
}

#[test]
fn unknown_keys_suggest_the_right_name() {
    rejects(
        &with_root("hideMounts = true\n"),
        "persistence[0].hideMounts",
        4,
        1,
        "unknown key `hideMounts`",
        "did you mean `hide_mounts`? (impermctl uses snake_case)",
    );
    rejects(
        &with_root("hide_mount = true\n"),
        "persistence[0].hide_mount",
        4,
        1,
        "unknown key",
        "did you mean `hide_mounts`?",
    );
    rejects(
        &with_root("[[persistence.directories]]\ndirectory = \"/x\"\n"),
        "persistence[0].directories[0].directory",
        5,
        1,
        "unknown key",
        "did you mean `path`?",
    );
    rejects(
        &with_root("persistentStoragePath = \"/p\"\n"),
        "persistence[0].persistentStoragePath",
        4,
        1,
        "unknown key",
        "`path`",
    );
    rejects(
        "version = 1\n[watch]\nwarn_evry = \"1m\"\n",
        "watch.warn_evry",
        3,
        1,
        "unknown key",
        "did you mean `warn_every`?",
    );
    rejects(
        "version = 1\n[layout]\nzzz = 1\n",
        "layout.zzz",
        3,
        1,
        "unknown key `zzz`",
        "valid keys here: `ephemeral_root`",
    );
    rejects(
        "version = 1\nenable = true\n",
        "enable",
        2,
        1,
        "unknown key",
        "valid keys here",
    );
    rejects(
        &with_root(
            "[[persistence.directories]]\npath = \"/x\"\nparent = { user = \"a\", mod = \"0755\" }\n",
        ),
        "persistence[0].directories[0].parent.mod",
        6,
        24,
        "unknown key",
        "did you mean `mode`?",
    );
}

#[test]
fn bad_paths() {
    let d = "[[persistence.directories]]\n";
    rejects(
        &with_root(&format!("{d}path = \"var/log\"\n")),
        "persistence[0].directories[0].path",
        5,
        8,
        "relative path",
        "write it as an absolute path, e.g. /var/log",
    );
    rejects(
        &with_root(&format!("{d}path = \"\"\n")),
        "persistence[0].directories[0].path",
        5,
        8,
        "empty path",
        "absolute path",
    );
    rejects(
        &with_root(&format!("{d}path = \"/var/lib/../log\"\n")),
        "persistence[0].directories[0].path",
        5,
        8,
        "contains `..`",
        "e.g. /var/log",
    );
    rejects(
        &with_root(&format!("{d}path = \"/nix/var/nix\"\n")),
        "persistence[0].directories[0].path",
        5,
        8,
        "under /nix",
        "remove this entry",
    );
    rejects(
        &with_root("[[persistence.files]]\npath = \"/run/foo\"\n"),
        "persistence[0].files[0].path",
        5,
        8,
        "under /run",
        "remove this entry",
    );
    rejects(
        &with_root(&format!("{d}path = \"/dev\"\n")),
        "persistence[0].directories[0].path",
        5,
        8,
        "under /dev",
        "remove",
    );
    rejects(
        &with_root(&format!("{d}path = \"//\"\n")),
        "persistence[0].directories[0].path",
        5,
        8,
        "`/` itself",
        "list the directories",
    );
    rejects(
        &with_root(&format!("{d}path = \"/persistent/var/log\"\n")),
        "persistence[0].directories[0].path",
        5,
        8,
        "inside the persistence root /persistent",
        "e.g. /var/log",
    );
    rejects(
        &with_root(&format!("{d}path = \"/persistent\"\n")),
        "persistence[0].directories[0].path",
        5,
        8,
        "inside the persistence root",
        "",
    );
    // Under another block's root too.
    rejects(
        &format!(
            "{}{d}path = \"/data/x\"\n[[persistence]]\npath = \"/data\"\n",
            with_root("")
        ),
        "persistence[0].directories[0].path",
        5,
        8,
        "inside the persistence root /data",
        "/x",
    );
    rejects(
        "version = 1\n[[persistence]]\npath = \"/srv/persist\"\n[[persistence.directories]]\npath = \"/srv\"\n",
        "persistence[0].directories[0].path",
        5,
        8,
        "contains the persistence root",
        "",
    );
    ok(&with_root(&format!(
        "{d}path = \"/nixos\"\n{d}path = \"/persistent-old\"\n"
    )));
    rejects(
        "version = 1\n[watch]\nignore = [\"/tmp\", \"tmp2\"]\n",
        "watch.ignore[1]",
        3,
        19,
        "relative path",
        "/tmp2",
    );
}

#[test]
fn bad_roots() {
    rejects(
        "version = 1\n[[persistence]]\npath = \"/\"\n",
        "persistence[0].path",
        3,
        8,
        "cannot be `/`",
        "/persistent",
    );
    rejects(
        "version = 1\n[[persistence]]\npath = \"persistent\"\n",
        "persistence[0].path",
        3,
        8,
        "relative path",
        "/persistent",
    );
    rejects(
        "version = 1\n[[persistence]]\npath = \"/run/persist\"\n",
        "persistence[0].path",
        3,
        8,
        "under /run",
        "",
    );
    rejects(
        "version = 1\n[[persistence]]\nhide_mounts = true\n",
        "persistence[0].path",
        2,
        1,
        "no `path`",
        "path = \"/persistent\"",
    );
    let nested = "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence]]\npath = \"/persistent/home\"\n";
    rejects(
        nested,
        "persistence[1].path",
        5,
        8,
        "nested persistence roots",
        "",
    );
    let nested_rev = "version = 1\n[[persistence]]\npath = \"/persistent/home\"\n[[persistence]]\npath = \"/persistent\"\n";
    rejects(nested_rev, "persistence[1].path", 5, 8, "line 3", "");
    let twice = "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence]]\npath = \"/persistent/\"\n";
    rejects(
        twice,
        "persistence[1].path",
        5,
        8,
        "declared twice as a persistence root (lines 3 and 5)",
        "merge",
    );
}

#[test]
fn duplicates_name_both_places() {
    let d = "[[persistence.directories]]\n";
    rejects(
        &with_root(&format!(
            "{d}path = \"/var/log\"\n{d}path = \"/var/log/\"\n"
        )),
        "persistence[0].directories[1].path",
        7,
        8,
        "/var/log is declared twice: as a directory in /persistent (line 5) and as a directory in /persistent (line 7)",
        "keep only one",
    );
    rejects(
        &with_root(&format!(
            "{d}path = \"/etc/foo\"\n[[persistence.files]]\npath = \"/etc/foo\"\n"
        )),
        "persistence[0].files[0].path",
        7,
        8,
        "as a directory in /persistent (line 5) and as a file in /persistent (line 7)",
        "",
    );
    rejects(
        &format!(
            "{}{d}path = \"/var/log\"\n[[persistence]]\npath = \"/data\"\n{d}path = \"/var/log\"\n",
            with_root("")
        ),
        "persistence[1].directories[0].path",
        9,
        8,
        "as a directory in /persistent (line 5) and as a directory in /data (line 9)",
        "",
    );
    rejects(
        &with_root(
            "[[persistence.files]]\npath = \"/etc/a\"\n[[persistence.files]]\npath = \"/etc/a\"\n",
        ),
        "persistence[0].files[1].path",
        7,
        8,
        "as a file in /persistent (line 5) and as a file",
        "",
    );
}

#[test]
fn bad_values() {
    let d = "[[persistence.directories]]\npath = \"/x\"\n";
    rejects(
        &with_root(&format!("{d}mode = \"rwxr-x---\"\n")),
        "persistence[0].directories[0].mode",
        6,
        8,
        "`rwxr-x---` is not a mode",
        "\"0750\"",
    );
    rejects(
        &with_root(&format!("{d}mode = \"0999\"\n")),
        "persistence[0].directories[0].mode",
        6,
        8,
        "not a mode",
        "u=rwx,g=rx,o=",
    );
    rejects(
        &with_root(&format!("{d}mode = 750\n")),
        "persistence[0].directories[0].mode",
        6,
        8,
        "invalid type: integer",
        "mode = \"0755\"",
    );
    rejects(
        &with_root(&format!("{d}parent = {{ mode = \"x\" }}\n")),
        "persistence[0].directories[0].parent.mode",
        6,
        19,
        "not a mode",
        "",
    );
    rejects(
        &with_root(&format!("{d}user = \"a b\"\n")),
        "persistence[0].directories[0].user",
        6,
        8,
        "not a user or group name",
        "",
    );
    rejects(
        &with_root(&format!("{d}group = \"\"\n")),
        "persistence[0].directories[0].group",
        6,
        9,
        "not a user or group name",
        "",
    );
    rejects(
        &with_root(&format!("{d}hide_mount = \"yes\"\n")),
        "persistence[0].directories[0].hide_mount",
        6,
        14,
        "invalid type",
        "hide_mount = true",
    );
    rejects(
        &with_root("[[persistence.files]]\npath = \"/x\"\nmethod = \"copy\"\n"),
        "persistence[0].files[0].method",
        6,
        10,
        "unknown value `copy`",
        "`auto`, `symlink`",
    );
    rejects(
        &with_root("[[persistence.files]]\nmethod = \"auto\"\n"),
        "persistence[0].files[0].path",
        4,
        1,
        "no `path`",
        "",
    );
    rejects(
        "version = 1\n[layout]\nephemeral_root = \"ext4\"\n",
        "layout.ephemeral_root",
        3,
        18,
        "unknown value `ext4`",
        "`tmpfs`",
    );
    rejects(
        "version = 1\n[layout]\non_failure = \"ignore\"\n",
        "layout.on_failure",
        3,
        14,
        "unknown value",
        "`refuse`, `warn`",
    );
    rejects(
        "version = 1\n[watch]\nwarn_every = \"ten minutes\"\n",
        "watch.warn_every",
        3,
        14,
        "not a duration",
        "\"1h30m\"",
    );
    rejects(
        "version = 1\n[watch]\nwarn_every = 0\n",
        "watch.warn_every",
        3,
        14,
        "not a positive interval",
        "",
    );
    rejects(
        "version = 1\n[watch]\nwarn_every = 1.5\n",
        "watch.warn_every",
        3,
        14,
        "invalid type",
        "warn_every = \"10m\"",
    );
    rejects(
        "version = 1\n[watch]\nmax_warnings_per_minute = 0\n",
        "watch.max_warnings_per_minute",
        3,
        27,
        "out of range",
        "at least 1",
    );
    rejects(
        "version = 1\n[persistence]\npath = \"/persistent\"\n",
        "persistence",
        2,
        1,
        "invalid type: map, expected a sequence",
        "[[persistence]]",
    );
    rejects(
        "version = 1\n[[persistence]]\npath = [\"/a\"]\n",
        "persistence[0].path",
        3,
        8,
        "invalid type",
        "quoted absolute path",
    );
}

#[test]
fn syntax_errors_are_located() {
    rejects(
        "version = 1\n[layout\n",
        "TOML syntax",
        2,
        8,
        "unclosed table",
        "TOML syntax",
    );
    rejects(
        "version = 1\n\n[[persistence]]\npath = /persistent\n",
        "TOML syntax",
        4,
        8,
        "",
        "double quotes",
    );
    // The span points at the repeated table name.
    rejects(
        "version = 1\n[watch]\n[watch]\n",
        "TOML syntax",
        3,
        2,
        "duplicate key",
        "keep one",
    );
}

#[test]
fn modes() {
    assert_eq!(parse_mode("u=rwx,g=rx,o="), Some(0o750));
    assert_eq!(parse_mode("go-w"), Some(0o755));
    assert_eq!(parse_mode("a=rx,u+w"), Some(0o755));
    assert_eq!(parse_mode("1777"), Some(0o1777));
    assert_eq!(parse_mode("rwxr-x---"), None);
    assert_eq!(parse_mode("0999"), None);
    assert_eq!(parse_mode(""), None);
}

#[test]
fn line_col_counts_characters() {
    use super::locate::line_col;
    assert_eq!(line_col("ab\ncd", 0), (1, 1));
    assert_eq!(line_col("ab\ncd", 4), (2, 2));
    assert_eq!(line_col("é\nx", 1), (1, 1));
    assert_eq!(line_col("éa", 2), (1, 2));
    assert_eq!(line_col("ab", 99), (1, 3));
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(text in "\\PC*") {
        let _ = parse(&text, Path::new(FILE));
    }

    #[test]
    fn parse_never_panics_on_config_like_text(
        lines in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just("version = 1".to_string()),
                proptest::strategy::Just("[[persistence]]".to_string()),
                proptest::strategy::Just("[[persistence.directories]]".to_string()),
                proptest::strategy::Just("[[persistence.files]]".to_string()),
                proptest::strategy::Just("[watch]".to_string()),
                "(path|mode|user|method|warn_every|ignore|parent) = \"[/a-z.=,+ 0-9é-]{0,12}\"",
                "[a-z_]{1,8} = [0-9]{1,3}",
                "\\PC{0,20}",
            ],
            0..12,
        )
    ) {
        let text = lines.join("\n");
        if let Err(e) = parse(&text, Path::new(FILE)) {
            proptest::prop_assert!(!e.fix.is_empty(), "{e}");
            proptest::prop_assert!(e.line >= 1 && e.column >= 1, "{e}");
        }
    }
}
