//! The Nix side, from `cargo test`: `tests/nix/run.sh` (parse every `.nix`
//! file, evaluate the NixOS module with nixpkgs' lib when available, feed
//! the rendered TOML to this binary), and the cross-check that the
//! committed TOML the module renders for the seed is accepted by the real
//! config parser, which needs no Nix at all.

use std::process::Command;

use crate::util;

/// nix-bin is on the CI machine; elsewhere its absence is a skip.
fn have_nix() -> bool {
    let found = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("IMPERMCTL_REQUIRE_PRIVILEGED").is_none(),
            "nix-instantiate not found while IMPERMCTL_REQUIRE_PRIVILEGED is set (apt-get install nix-bin)"
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
}

#[test]
fn rendered_seed_config_is_accepted_by_verify() {
    let config = util::repo().join("tests/nix/expected/seed.toml");
    let mountinfo = util::mountinfo_fixture("native-booted.mountinfo");
    let out = util::run(&[
        "verify",
        "--config",
        config.to_str().unwrap(),
        "--mountinfo",
        mountinfo.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        util::stdout(&out),
        util::stderr(&out)
    );
}
