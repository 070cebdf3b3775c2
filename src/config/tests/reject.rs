//! Rejected keys and values: version, unknown keys with suggestions, bad
//! modes, enums, durations, types and TOML syntax, each located.

use super::{rejects, with_root};

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
    // impermanence's `directory`: the entry lacks `path` (line 4, its
    // table) and has an unknown key (line 5); both are reported.
    let text = with_root("[[persistence.directories]]\ndirectory = \"/x\"\n");
    let e = super::err(&text);
    assert_eq!(
        (e.line, e.field.as_str(), e.also.len()),
        (4, "persistence[0].directories[0].path", 1),
        "{e}"
    );
    let u = &e.also[0];
    assert_eq!(
        (u.line, u.column, u.field.as_str()),
        (5, 1, "persistence[0].directories[0].directory"),
        "{e}"
    );
    assert!(u.fix.contains("did you mean `path`?"), "{e}");
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
        &with_root("[[persistence.files]]\npath = \"/x\"\nmethod = \"bind\"\n"),
        "persistence[0].files[0].method",
        6,
        10,
        "unknown value `bind`",
        "`auto`, `symlink`, `copy`",
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
    // Trial-s10 F9: the backend is a config key (a NixOS option renders it).
    rejects(
        "version = 1\n[watch]\nbackend = \"fanotfy\"\n",
        "watch.backend",
        3,
        11,
        "unknown value `fanotfy`",
        "write one of `auto`, `fanotify`, `inotify`",
    );
    rejects(
        "version = 1\n[watch]\nbackend = true\n",
        "watch.backend",
        3,
        11,
        "invalid type",
        "backend = \"inotify\"",
    );
    rejects(
        "version = 1\n[layout]\non_failure = false\n",
        "layout.on_failure",
        3,
        14,
        "invalid type",
        "on_failure = \"refuse\"",
    );
    rejects(
        "version = 1\n[watch]\nwarn_every = \"ten minutes\"\n",
        "watch.warn_every",
        3,
        14,
        "not a duration",
        "\"1h 30m\"",
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
fn config_errors_of_trial_s5_say_where_and_what_to_write() {
    // A list and tables of the same key: the first definition is named.
    rejects(
        "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [\"/var/log\"]\n[[persistence.directories]]\npath = \"/etc/nixos\"\n",
        "TOML syntax",
        5,
        15,
        "duplicate key `directories` (first defined on line 4)",
        "not both",
    );
    rejects(
        "version = 1\n[[persistence]]\npath = \"/a\"\npath = \"/b\"\n",
        "TOML syntax",
        4,
        1,
        "duplicate key `path` (first defined on line 3)",
        "keep one",
    );
    // impermanence's users.<name> written in TOML: how to write it here.
    rejects(
        "version = 1\n[[persistence]]\npath = \"/persistent\"\n[persistence.users.alice]\ndirectories = [\".ssh\"]\n",
        "persistence[0].users",
        4,
        14,
        "unknown key `users`",
        "path = \"/home/alice/.ssh\", user = \"alice\"",
    );
}
