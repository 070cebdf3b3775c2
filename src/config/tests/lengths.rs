//! Issue 14.6: paths Linux cannot take are refused up front (before
//! `boot` creates a single directory), and a config that is not UTF-8 gets
//! a line, a column and a fix.

use std::path::Path;

use super::{rejects, with_root};

fn dir(path: &str) -> String {
    with_root(&format!("[[persistence.directories]]\npath = \"{path}\"\n"))
}

#[test]
fn a_path_longer_than_path_max_is_refused() {
    let long = format!("/srv{}", "/abcdefghij".repeat(410));
    rejects(
        &dir(&long),
        "persistence[0].directories[0].path",
        5,
        8,
        "bytes per path",
        "shorter path",
    );
}

#[test]
fn a_path_whose_persistent_copy_exceeds_path_max_is_refused() {
    // 4,090 bytes: fine on /, too long under /persistent.
    let p = format!("/srv{}", "/abcdefghi".repeat(408)) + "/x";
    assert!(p.len() <= 4095 && p.len() + "/persistent".len() > 4095);
    rejects(
        &dir(&p),
        "persistence[0].directories[0].path",
        5,
        8,
        "its persistent copy",
        "shorter path",
    );
}

#[test]
fn a_component_longer_than_255_bytes_is_refused() {
    let p = format!("/srv/{}", "n".repeat(256));
    rejects(
        &dir(&p),
        "persistence[0].directories[0].path",
        5,
        8,
        "256 bytes long",
        "255 bytes or fewer",
    );
    super::ok(&dir(&format!("/srv/{}", "n".repeat(255))));
}

#[test]
fn a_config_that_is_not_utf8_is_located_with_a_fix() {
    let mut bytes = dir("/srv/ok").into_bytes();
    bytes.extend_from_slice(b"# caf\xe9 latin-1 comment\n");
    let e = crate::config::utf8(bytes, Path::new("/etc/impermctl/config.toml")).unwrap_err();
    assert_eq!((e.line, e.column), (6, 6), "{e}");
    let shown = e.to_string();
    assert!(
        shown.contains("config.toml:6:6") && shown.contains("0xe9"),
        "{shown}"
    );
    assert!(shown.contains("fix:") && shown.contains("iconv"), "{shown}");
}
