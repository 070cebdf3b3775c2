//! Unit tests of config parsing and validation: the seed configs, defaults,
//! ordering, and a no-panic property. Rejections live in `paths` (with homes) and `reject`.

use super::mode::parse_mode;
use super::*;

mod at_once;
mod blocks;
mod keys;
mod lengths;
mod paths;
mod reject;
mod shorthand;

const FILE: &str = "/etc/impermctl/config.toml";

pub(super) fn ok(text: &str) -> Settings {
    parse(text, Path::new(FILE)).unwrap_or_else(|e| panic!("rejected:\n{e}"))
}

fn err(text: &str) -> ConfigError {
    parse(text, Path::new(FILE)).expect_err("should be rejected")
}

/// Assert field, line and column, and that message and fix contain the given words.
#[track_caller]
pub(super) fn rejects(
    text: &str,
    field: &str,
    line: usize,
    column: usize,
    message: &str,
    fix: &str,
) {
    let e = err(text);
    let shown = e.to_string();
    assert_eq!(
        (e.field.as_str(), e.line, e.column),
        (field, line, column),
        "{shown}"
    );
    assert!(e.message.contains(message), "message: {shown}");
    assert!(e.fix.contains(fix), "fix: {shown}");
    assert_eq!(&*e.file, Path::new(FILE));
    assert!(
        shown.starts_with(&format!("{FILE}:{line}:{column}: {field}: ")),
        "{shown}"
    );
}

/// A config with one root and `body` appended (first body line is line 4).
pub(super) fn with_root(body: &str) -> String {
    format!("version = 1\n[[persistence]]\npath = \"/persistent\"\n{body}")
}

const VPSFREE_SEED: &str = include_str!("../../../tests/fixtures/seed.toml");

const DESIGN_EXAMPLE: &str = r#"version = 1

[layout]                       # all optional; the defaults detect the layout
ephemeral_root = "auto"        # auto | tmpfs | zfs | btrfs | any
persistent_must_differ = true  # /persistent must not be on the root filesystem
on_failure = "refuse"          # refuse: an unusable root's entries are refused (others bound), boot fails; warn: mount anyway

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
        home: None,
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
            refused: vec![],
            entries: vec![
                file("/etc/machine-id"),
                dir("/etc/nixos", true),
                dir("/var/lib/nixos", true),
                dir("/var/log", true),
            ],
            watch: Watch::default(),
        }
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
backend = "fanotify"
"#);
    assert_eq!(
        s.layout,
        Layout {
            ephemeral_root: EphemeralRoot::Zfs,
            persistent_must_differ: false,
            on_failure: OnFailure::Warn,
            skip_checks: Vec::new(),
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
    assert_eq!(s.watch.backend, crate::config::Backend::Fanotify);
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

/// The integration harness's `EMPTY_CONFIG` (tests/integration/util.rs)
/// means what `--no-config` means.
#[test]
fn the_empty_config_is_the_default_layout() {
    let empty = "version = 1\n[[persistence]]\npath = \"/persistent\"\n";
    assert_eq!(ok(empty), Settings::fallback(Path::new(FILE)));
}
