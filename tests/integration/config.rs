//! Bad config files through the real binary: `file:line:col`, the field
//! and the fix on stderr, and never a panic; exit 2 when the whole file is
//! refused, 1 when entries or blocks are (the checks use the others).

use crate::util::{self, assert_code, mountinfo_fixture};

/// Run `impermctl verify` with `config` as the config text.
fn verify_with(config: &str, json: bool) -> (std::process::Output, String) {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("config.toml");
    std::fs::write(&cfg, config).unwrap();
    let fx = mountinfo_fixture("native-booted.mountinfo");
    let mut args = vec![
        "verify",
        "--config",
        cfg.to_str().unwrap(),
        "--mountinfo",
        fx.to_str().unwrap(),
    ];
    if json {
        args.push("--json");
    }
    (util::run(&args), cfg.display().to_string())
}

#[track_caller]
fn assert_rejected(config: &str, code: i32, located: &str, fix: &str) {
    for json in [false, true] {
        let (o, cfg) = verify_with(config, json);
        assert_code(&o, code);
        let e = util::stderr(&o);
        assert!(
            e.contains(&format!("{cfg}:{located}")),
            "want {cfg}:{located} in:\n{e}"
        );
        assert!(
            e.contains(&format!("fix: {fix}")),
            "want fix {fix:?} in:\n{e}"
        );
        assert!(!e.contains("panicked"), "{e}");
    }
}

#[test]
fn typo_in_a_key_names_the_right_key() {
    assert_rejected(
        "version = 1\n[[persistence]]\npath = \"/persistent\"\nhideMounts = true\n",
        1,
        "4:1: persistence[0].hideMounts: unknown key `hideMounts`",
        "did you mean `hide_mounts`? (impermctl uses snake_case)",
    );
}

#[test]
fn relative_path_is_located() {
    assert_rejected(
        "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"var/log\"\n",
        1,
        "5:8: persistence[0].directories[0].path: `var/log` is a relative path",
        "write it as an absolute path, e.g. /var/log",
    );
}

#[test]
fn duplicate_names_both_lines() {
    assert_rejected(
        "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"/var/log\"\n[[persistence.files]]\npath = \"/var/log\"\n",
        1,
        "7:8: persistence[0].files[0].path: /var/log is declared twice: as a directory in /persistent (line 5) and as a file in /persistent (line 7)",
        "keep only one declaration of /var/log",
    );
}

#[test]
fn syntax_error_and_missing_version() {
    assert_rejected(
        "version = 1\n[layout\n",
        2,
        "2:8: TOML syntax: unclosed table",
        "correct the TOML syntax",
    );
    assert_rejected(
        "[layout]\n",
        2,
        "1:1: version: missing `version`",
        "add `version = 1`",
    );
}

#[test]
fn unreadable_config_is_an_error_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    let fx = mountinfo_fixture("native-booted.mountinfo");
    // A directory where the file should be: exists, but cannot be read.
    let o = util::run(&[
        "verify",
        "--config",
        d.path().to_str().unwrap(),
        "--mountinfo",
        fx.to_str().unwrap(),
    ]);
    assert_code(&o, 2);
    let e = util::stderr(&o);
    assert!(
        e.contains(&d.path().display().to_string()) && !e.contains("panicked"),
        "{e}"
    );
}
