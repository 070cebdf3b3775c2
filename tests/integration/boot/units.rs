//! The systemd units shipped for `boot` pass `systemd-analyze verify`.

use std::process::Command;

#[test]
fn boot_units_verify_cleanly() {
    let repo = crate::util::repo();
    let Ok(v) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    };
    assert!(v.status.success());
    let dir = tempfile::tempdir().unwrap();
    // ExecStart must name an existing executable for verify: point it at the test binary.
    let unit = std::fs::read_to_string(repo.join("systemd/impermctl-boot.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/impermctl boot"), "{unit}");
    let unit = unit.replace("/usr/bin/impermctl", crate::util::bin().to_str().unwrap());
    let path = dir.path().join("impermctl-boot.service");
    std::fs::write(&path, unit).unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let relevant: Vec<&str> = err.lines().filter(|l| l.contains("impermctl")).collect();
    assert!(o.status.success() && relevant.is_empty(), "{err}");
    for k in [
        "DefaultDependencies=no",
        "Before=local-fs.target systemd-journal-flush.service",
        "RequiresMountsFor=/persistent",
        "RemainAfterExit=yes",
        "WantedBy=local-fs.target",
        "Type=oneshot",
    ] {
        assert!(
            std::fs::read_to_string(repo.join("systemd/impermctl-boot.service"))
                .unwrap()
                .contains(k),
            "{k}"
        );
    }
    let dropin = std::fs::read_to_string(
        repo.join("systemd/systemd-machine-id-commit.service.d/impermctl.conf"),
    )
    .unwrap();
    assert!(
        dropin.contains("[Unit]") && dropin.contains("ConditionFirstBoot=yes"),
        "{dropin}"
    );
    // The drop-in applies cleanly to the system's own unit, when it has one.
    if std::path::Path::new("/usr/lib/systemd/system/systemd-machine-id-commit.service").exists() {
        let d = dir.path().join("units/systemd-machine-id-commit.service.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("impermctl.conf"), &dropin).unwrap();
        let o = Command::new("systemd-analyze")
            .args(["verify", "--man=no", "systemd-machine-id-commit.service"])
            .env(
                "SYSTEMD_UNIT_PATH",
                format!("{}:", dir.path().join("units").display()),
            )
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}
