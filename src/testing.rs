//! Helpers of the unit tests.

/// Is this process root? Otherwise the test says it skips (needing `what`),
/// which is a failure under `IMPERMCTL_REQUIRE_PRIVILEGED` (CI).
pub fn privileged(what: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("IMPERMCTL_REQUIRE_PRIVILEGED").is_none(),
        "privileged test run without root while IMPERMCTL_REQUIRE_PRIVILEGED is set"
    );
    eprintln!("skipped: needs root ({what})");
    false
}
