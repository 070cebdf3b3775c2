//! The Nix side, from `cargo test`: `tests/nix/run.sh` (parse every `.nix`
//! file, evaluate the NixOS module with nixpkgs' lib when available, feed
//! the rendered TOML to this binary), and the cross-check that the
//! committed TOML the module renders for the seed is accepted by the real
//! config parser, which needs no Nix at all.

use std::process::Command;

use crate::util;

/// CI (`CI=true`, or `IMPERMCTL_REQUIRE_PRIVILEGED=1` as `./run.sh test`
/// sets): a skip is a failure.
fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var_os("IMPERMCTL_REQUIRE_PRIVILEGED").is_some()
}

/// nix-bin is on the CI machine; elsewhere its absence is a skip.
fn have_nix() -> bool {
    let found = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !required(),
            "nix-instantiate not found in CI (CI=true or IMPERMCTL_REQUIRE_PRIVILEGED set): apt-get install nix-bin"
        );
        eprintln!("skipped: nix-instantiate not found (apt-get install nix-bin)");
    }
    found
}

#[test]
fn nix_parse_eval_and_cross_check() {
    if !have_nix() {
        return;
    }
    let out = Command::new(util::repo().join("tests/nix/run.sh"))
        .env("IMPERMCTL", util::bin())
        .output()
        .expect("run tests/nix/run.sh");
    let (so, se) = (util::stdout(&out), util::stderr(&out));
    assert!(out.status.success(), "tests/nix/run.sh failed\n{so}\n{se}");
    assert!(so.contains("ok parse:"), "{so}");
    assert!(so.contains("ok cross-check:"), "{so}");
    // The evaluation tests ran (the vendored lib is found from a clone); a
    // skip is only allowed outside CI.
    if required() || !so.contains("skipped: nixpkgs lib") {
        assert!(!so.contains("skipped"), "{so}");
        assert!(so.contains("ok seed-renders-expected-toml"), "{so}");
        assert!(so.contains("ok corpus seed"), "{so}");
        assert!(so.contains("ok suggest-pastes-into-seed"), "{so}");
        assert!(so.contains("ok persist-hint-pastes-into-seed"), "{so}");
        assert!(so.contains("ok status-hint-pastes-into-seed"), "{so}");
    }
}

/// What the module renders for the seed is accepted, and the healthy
/// vpsFree layout passes every check with it.
#[test]
fn rendered_seed_config_is_accepted_by_verify() {
    let out = verify(&util::repo().join("tests/nix/expected/seed.toml"));
    let so = util::stdout(&out);
    assert!(so.contains("layout: healthy"), "{so}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        util::stdout(&out),
        util::stderr(&out)
    );
}

/// `verify` on `config`, with the healthy vpsFree mount table.
fn verify(config: &std::path::Path) -> std::process::Output {
    let mountinfo = util::mountinfo_fixture("native-booted.mountinfo");
    util::run(&[
        "verify",
        "--config",
        config.to_str().unwrap(),
        "--mountinfo",
        mountinfo.to_str().unwrap(),
    ])
}

/// The second rendered example (two storage roots, symbolic mode, symlink
/// method, layout and watch settings) parses; its layout verdict is fatal
/// only because `/data` is not mounted in the fixture.
#[test]
fn rendered_multi_root_config_parses() {
    let out = verify(&util::repo().join("tests/nix/expected/multi.toml"));
    let (so, se) = (util::stdout(&out), util::stderr(&out));
    assert!(!se.contains("error"), "config rejected:\n{se}");
    assert!(
        so.contains("[persistent-root-mounted] /data is on the ephemeral root's filesystem"),
        "{so}\n{se}"
    );
}

/// The cross-check can fail: the parser rejects what the module must never
/// render (an unknown key), naming file, line and key; the key is ignored
/// alone (exit 1, as `boot` would).
#[test]
fn rendered_config_with_an_unknown_key_is_rejected() {
    let text = std::fs::read_to_string(util::repo().join("tests/nix/expected/seed.toml")).unwrap();
    let bad = text.replacen(
        "hide_mounts = true",
        "hide_mounts = true\nhideMounts = true",
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, bad).unwrap();
    let out = verify(&path);
    let se = util::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(
        se.contains("ignoring the bad value persistence[0].hideMounts")
            && se.contains(":13:1:")
            && se.contains("unknown key `hideMounts`"),
        "{se}"
    );
}
