//! The give-up message, and reconciling against real directories.

mod count;

use super::*;

#[test]
fn the_give_up_message_names_changing_files_and_holders() {
    let holder = Holder {
        pid: 42,
        comm: "bash".into(),
        file: "/var/lib/live/wal".into(),
        how: Hold::Open,
    };
    let (shown, copy) = (Path::new("/var/lib/live"), Path::new("/p/var/lib/live"));
    let m = give_up_message(
        shown,
        copy,
        &["sub/a".into()],
        std::slice::from_ref(&holder),
    );
    assert!(m.contains("/var/lib/live/sub/a changes"), "{m}");
    assert!(
        m.contains("pid 42 (bash) holds /var/lib/live/wal open"),
        "{m}"
    );
    assert!(m.contains("not in /p/var/lib/live"), "{m}");
    assert!(m.contains("`umount /var/lib/live`"), "{m}");
    let only = give_up_message(shown, copy, &[], &[holder]);
    assert!(only.contains("after 10 s (pid 42 (bash) holds"), "{only}");
}
