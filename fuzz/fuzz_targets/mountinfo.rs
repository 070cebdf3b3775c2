//! Fuzz the mountinfo parser: any bytes either parse or give a located error,
//! and every query on a parsed table terminates without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = impermctl::mountinfo::MountTable::parse_bytes(data) {
        for m in t.mounts() {
            let _ = t.containing(&m.mount_point.join("x"));
            let _ = t.rebase(&m.mount_point);
        }
        let _ = t.root();
        let _ = t.containing(Path::new("/a/b"));
    }
});
