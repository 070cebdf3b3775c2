//! `packaging/debian/build-deb.sh`: the .deb holds every file in Debian's
//! places, its control data is sound, and a missing systemd/ file is refused.
//! (Installing it into a Debian 12 root and booting it: `tests/e2e/run --only 0`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{bin, repo, stderr, stdout};

/// systemd/ file → where the package puts it.
const SYSTEMD_FILES: &[(&str, &str)] = &[
    (
        "impermctl-boot.service",
        "lib/systemd/system/impermctl-boot.service",
    ),
    (
        "impermctl-watch.service",
        "lib/systemd/system/impermctl-watch.service",
    ),
    (
        "impermctl-sync.service",
        "lib/systemd/system/impermctl-sync.service",
    ),
    (
        "systemd-machine-id-commit.service.d/impermctl.conf",
        "lib/systemd/system/systemd-machine-id-commit.service.d/impermctl.conf",
    ),
    (
        "io.github.Impermctl1.conf",
        "usr/share/dbus-1/system.d/io.github.Impermctl1.conf",
    ),
    (
        "impermctl.catalog",
        "usr/lib/systemd/catalog/impermctl.catalog",
    ),
];

/// Files the script generates or takes from packaging/debian/.
const GENERATED: &[&str] = &[
    "usr/bin/impermctl",
    "usr/share/man/man1/impermctl.1.gz",
    "usr/share/man/man1/impermctl-verify.1.gz",
    "usr/share/bash-completion/completions/impermctl",
    "usr/share/zsh/vendor-completions/_impermctl",
    "usr/share/fish/vendor_completions.d/impermctl.fish",
    "etc/impermctl/config.toml.example",
    "usr/share/doc/impermctl/copyright",
];

/// dpkg-deb is not installed: the test says it skips.
fn without_dpkg_deb() -> bool {
    let missing = Command::new("dpkg-deb").arg("--version").output().is_err();
    if missing {
        eprintln!("skipped: dpkg-deb not found (apt-get install dpkg)");
    }
    missing
}

/// Run build-deb.sh with `args` (plus --binary and --out); the .deb path on success.
fn build(out: &Path, args: &[&str]) -> (Output, Option<PathBuf>) {
    let o = Command::new(repo().join("packaging/debian/build-deb.sh"))
        .arg("--binary")
        .arg(bin())
        .arg("--out")
        .arg(out)
        .args(["-Z", "none"])
        .args(args)
        .output()
        .expect("run build-deb.sh");
    let deb = o.status.success().then(|| PathBuf::from(stdout(&o).trim()));
    (o, deb)
}

/// A systemd/ stand-in with every file, `@bindir@` in the units.
fn fake_systemd_dir(d: &Path) {
    for (src, _) in SYSTEMD_FILES {
        let p = d.join(src);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            format!("# {src}\n[Service]\nExecStart=@bindir@/impermctl boot\n"),
        )
        .unwrap();
    }
}

fn extract(deb: &Path, dir: &Path) {
    let x = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(dir)
        .status();
    assert!(x.unwrap().success());
    let e = Command::new("dpkg-deb")
        .arg("-e")
        .arg(deb)
        .arg(dir.join("DEBIAN"))
        .status();
    assert!(e.unwrap().success());
}

#[test]
fn the_deb_holds_every_file_in_debians_places() {
    if without_dpkg_deb() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let sd = t.path().join("systemd");
    fake_systemd_dir(&sd);
    let (o, deb) = build(
        &t.path().join("out"),
        &["--systemd-dir", sd.to_str().unwrap()],
    );
    let deb = deb.unwrap_or_else(|| panic!("build-deb.sh failed: {}", stderr(&o)));
    let arch = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    assert_eq!(
        deb.file_name().unwrap().to_str().unwrap(),
        format!(
            "impermctl_{}_{}.deb",
            env!("CARGO_PKG_VERSION"),
            stdout(&arch).trim()
        )
    );
    let x = t.path().join("x");
    extract(&deb, &x);
    for f in GENERATED.iter().chain(SYSTEMD_FILES.iter().map(|(_, d)| d)) {
        assert!(x.join(f).is_file(), "{f} is not in the package");
    }
    let unit = std::fs::read_to_string(x.join(SYSTEMD_FILES[0].1)).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/impermctl boot"),
        "@bindir@ not substituted: {unit}"
    );
    let control = std::fs::read_to_string(x.join("DEBIAN/control")).unwrap();
    for want in [
        "Package: impermctl\n",
        &format!("Version: {}\n", env!("CARGO_PKG_VERSION")),
        "Recommends: dbus\n",
    ] {
        assert!(control.contains(want), "control lacks {want:?}:\n{control}");
    }
    let depends = control.lines().find(|l| l.starts_with("Depends:")).unwrap();
    assert!(depends.contains("libc6 (>= 2.") && depends.contains("util-linux"));
    let conffiles = std::fs::read_to_string(x.join("DEBIAN/conffiles")).unwrap();
    assert_eq!(conffiles, "/etc/impermctl/config.toml.example\n");
    for script in ["postinst", "prerm", "postrm"] {
        let p = x.join("DEBIAN").join(script);
        let mode = std::os::unix::fs::PermissionsExt::mode(&p.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o755, "{script} mode");
        let syntax = Command::new("sh").arg("-n").arg(&p).status().unwrap();
        assert!(syntax.success(), "{script} is not valid sh");
    }
    let postinst = std::fs::read_to_string(x.join("DEBIAN/postinst")).unwrap();
    assert!(postinst.contains("journalctl --update-catalog"));
}

#[test]
fn the_packaged_example_config_is_valid() {
    if without_dpkg_deb() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (o, deb) = build(&t.path().join("out"), &["--allow-missing"]);
    let deb = deb.unwrap_or_else(|| panic!("build-deb.sh failed: {}", stderr(&o)));
    let x = t.path().join("x");
    extract(&deb, &x);
    let example = x.join("etc/impermctl/config.toml.example");
    let fixture = crate::util::mountinfo_fixture("native-booted.mountinfo");
    let o = crate::util::run(&[
        "verify",
        "--config",
        example.to_str().unwrap(),
        "--mountinfo",
        fixture.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the example config does not load: {}",
        stderr(&o)
    );
}

#[test]
fn a_missing_systemd_file_is_refused_by_name() {
    if without_dpkg_deb() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let sd = t.path().join("systemd");
    fake_systemd_dir(&sd);
    std::fs::remove_file(sd.join("impermctl.catalog")).unwrap();
    let out = t.path().join("out");
    let (o, deb) = build(&out, &["--systemd-dir", sd.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(deb.is_none());
    assert!(
        stderr(&o).contains("impermctl.catalog") && stderr(&o).contains("--allow-missing"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "nothing is written when refusing");
    // --allow-missing builds it without the file, and says so.
    let (o, deb) = build(
        &out,
        &["--systemd-dir", sd.to_str().unwrap(), "--allow-missing"],
    );
    assert!(deb.is_some(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning:") && stderr(&o).contains("impermctl.catalog"));
}
