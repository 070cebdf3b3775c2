//! Session 6's finding 9: a file `persist` copied (`method = "copy"`) but
//! not declared yet was listed by `diff` as plainly new, with no hint that
//! a copy exists; `status` said "not in the config yet". `diff` says it
//! too, from the same records.

use crate::require_root;
use crate::util::{Layout, assert_code, in_vps, stderr, stdout};

#[test]
fn diff_says_a_copied_file_is_not_in_the_config_yet() {
    require_root!();
    let o = in_vps(
        &Layout::default(),
        r#"
cat > "$CFG" <<'T'
version = 1
[[persistence]]
path = "/persistent"
T
imp diff --capture-baseline 2>/dev/null
mkdir -p "$R/etc/ssh"; echo key > "$R/etc/ssh/ssh_host_ed25519_key"; echo other > "$R/etc/ssh/other"
imp persist /etc/ssh/ssh_host_ed25519_key > /dev/null
echo "BEGIN"; imp diff || true; echo "END"
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    let diff = &out[out.find("BEGIN").unwrap()..];
    let want = "copied to /persistent/etc/ssh/ssh_host_ed25519_key by `impermctl persist` (method = \"copy\"); not in the config yet";
    assert!(diff.contains(want), "{diff}\n{}", stderr(&o));
    assert_eq!(diff.matches("not in the config yet").count(), 1, "{diff}");
}
