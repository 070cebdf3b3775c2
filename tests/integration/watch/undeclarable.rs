//! Trial s8 #11: a directory whose name is not UTF-8 (`/srv/b\xffd`) was
//! suggested lossily (`"/srv/b\ufffdd"`, U+FFFD) in the watcher's warning
//! and in `diff --suggest`: pasting it declares a path that does not
//! exist. Neither says a different path now: each says the name cannot be
//! declared, with the fix.

use super::{says, with_watcher};
use crate::require_root;
use crate::util::Layout;

fn an_undeclarable_name_is_never_suggested(backend: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
d="$R/srv/$(printf 'b\377d')"; mkdir -p "$d"; echo x > "$d/f"; echo y > "$R/srv/ok"
for i in $(seq 1200); do grep -q 'write to /srv/b' $OUT/stderr && break; sleep 0.05; done
imp diff --suggest > "$OUT/nix" 2>&1 || true
imp diff --suggest=toml > "$OUT/toml" 2>&1 || true
"#;
    let args = format!("--backend {backend}");
    let before = "imp baseline --since all > /dev/null 2>&1 || true";
    let err = with_watcher(tmp.path(), &Layout::default(), &args, before, body);
    let read = |n: &str| std::fs::read_to_string(tmp.path().join(n)).unwrap_or_default();
    let warn = (err.lines())
        .find(|l| l.contains("write to /srv/b") && l.contains(says::UNPERSISTED))
        .unwrap_or_else(|| panic!("no warning for /srv/b\\xffd:\n{err}"));
    let cannot = r"/srv/b\xffd is not UTF-8, so no config can declare it by name: rename it";
    for s in [warn.to_owned(), read("nix"), read("toml")] {
        assert!(s.contains(cannot), "{s}\n{err}");
        assert!(s.contains("or persist its parent \"/srv\" instead"), "{s}");
        assert!(!s.contains('\u{fffd}') && !s.contains(r"\ufffd"), "{s}");
    }
    assert!(read("nix").contains("\n  \"/srv/ok\"\n"), "{}", read("nix"));
    assert!(
        read("toml").contains("path = \"/srv/ok\""),
        "{}",
        read("toml")
    );
}

#[test]
fn inotify_never_suggests_an_undeclarable_name() {
    require_root!();
    an_undeclarable_name_is_never_suggested("inotify");
}

#[test]
fn fanotify_never_suggests_an_undeclarable_name() {
    require_root!();
    an_undeclarable_name_is_never_suggested("fanotify");
}
