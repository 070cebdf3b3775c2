//! Rejected paths: relative, `..`, forbidden prefixes, inside a persistence
//! root, nested roots and duplicates, each with its field and line:column;
//! homes that must contain their entry.

use std::path::Path;

use super::{FILE, err, ok, rejects, with_root};

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
    rejects(
        "version = 1\n[[persistence]]\npath = \"/proc/persist\"\n",
        "persistence[0].path",
        3,
        8,
        "under /proc, a virtual filesystem",
        "/nix/persist",
    );
    let twice = "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence]]\npath = \"/persistent/\"\n";
    rejects(
        twice,
        "persistence[1].path",
        5,
        8,
        "declared twice as a persistence root (lines 3 and 5)",
        "into the first one (line 3)",
    );
}

/// Roots where people put them: under /nix, nested, several on one
/// filesystem. The validator accepts them; `boot` judges each root by the
/// filesystem it lives on.
#[test]
fn roots_where_people_put_them() {
    let d = "[[persistence.directories]]\n";
    let f = "[[persistence.files]]\n";
    let root = |p: &str| format!("[[persistence]]\npath = \"{p}\"\n");
    for text in [
        // tmpfs-root machines where /nix is the only disk
        format!(
            "version = 1\n{}{d}path = \"/var/log\"\n",
            root("/nix/persist")
        ),
        // nested roots, both orders
        format!(
            "version = 1\n{}{d}path = \"/var/log\"\n{}{d}path = \"/home/alice\"\n",
            root("/persist"),
            root("/persist/home")
        ),
        format!(
            "version = 1\n{}{d}path = \"/home/alice\"\n{}{f}path = \"/etc/machine-id\"\n",
            root("/persist/home"),
            root("/persist")
        ),
        // an entry with its own persistentStoragePath inside another root
        format!(
            "version = 1\n{}{d}path = \"/var/lib/nixos\"\n{}{d}path = \"/var/lib/postgresql\"\n",
            root("/persistent"),
            root("/persistent/databases")
        ),
        // sub-directories of one mounted filesystem
        format!(
            "version = 1\n{}{d}path = \"/etc/nixos\"\n{}{d}path = \"/home/bob\"\n",
            root("/persist/system"),
            root("/persist/home")
        ),
        // /nix/persist nested with /nix/persist/home
        format!(
            "version = 1\n{}{f}path = \"/etc/machine-id\"\n{}{d}path = \"/root\"\n",
            root("/nix/persist"),
            root("/nix/persist/home")
        ),
    ] {
        let s = ok(&text);
        assert_eq!(
            s.roots.len(),
            s.roots.iter().filter(|r| r.path.is_absolute()).count()
        );
    }
    // Nesting never excuses the same target declared twice.
    rejects(
        &format!(
            "version = 1\n{}{d}path = \"/var/log\"\n{}{d}path = \"/var/log\"\n",
            root("/persist"),
            root("/persist/home")
        ),
        "persistence[1].directories[0].path",
        9,
        8,
        "/var/log is declared twice: as a directory in /persist (line 5) and as a directory in /persist/home (line 9)",
        "keep only one",
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
fn home_must_contain_the_entry() {
    let base = "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"/home/alice/.ssh\"\n";
    let s = ok(&format!("{base}home = \"/home/alice\"\n"));
    assert_eq!(s.entries[0].home.as_deref(), Some(Path::new("/home/alice")));
    let e = crate::config::parse(&format!("{base}home = \"/home/bob\"\n"), Path::new(FILE))
        .unwrap_err();
    assert_eq!((e.line, e.column), (6, 8), "{e}");
    assert_eq!(e.field, "persistence[0].directories[0].home");
    assert!(
        e.message
            .contains("not inside the home directory /home/bob"),
        "{e}"
    );
}

/// `users.<name>.directories = [ "/" ]` renders the home itself as the
/// entry; a user whose home is `/` renders `home = "/"`. Both are accepted.
#[test]
fn whole_home_and_slash_home_are_accepted() {
    let dir = |path: &str, home: &str| {
        format!(
            "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"{path}\"\nuser = \"alice\"\nhome = \"{home}\"\n"
        )
    };
    let s = ok(&dir("/home/alice", "/home/alice"));
    assert_eq!(s.entries[0].home.as_deref(), Some(Path::new("/home/alice")));
    let s = ok(&dir("/root", "/root"));
    assert_eq!(s.entries[0].path, Path::new("/root"));
    let s = ok(&dir("/.cache", "/"));
    assert_eq!(s.entries[0].home, None);
    let s = ok(&dir("/srv/alice/data", "/srv/alice"));
    assert_eq!(s.entries[0].home.as_deref(), Some(Path::new("/srv/alice")));
    // A file as the whole home is still outside nothing: only "inside" matters.
    let e = err(&dir("/home/alice", "/home/alice/sub"));
    assert!(e.message.contains("not inside the home directory"), "{e}");
}
