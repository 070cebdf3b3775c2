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

/// The same hint in `diff --json` (each group's `undeclared_copies`:
/// `{path, source}`) and in `diff -l` (a line per copy after the list), for
/// exactly the copies the groups hold: a copy the config declares is not
/// named, nor a file `persist` never copied. A copy in a directory's group
/// (`/srv/app/.bash_history` in `/srv/app`) goes to the innermost group.
#[test]
fn diff_json_and_list_say_a_copied_file_is_not_in_the_config_yet() {
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
mkdir -p "$R/etc/ssh" "$R/root" "$R/srv/app"
echo key > "$R/etc/ssh/ssh_host_ed25519_key"; echo other > "$R/etc/ssh/other"
echo h > "$R/root/.bash_history"; echo p > "$R/root/.python_history"
echo k > "$R/srv/app/.bash_history"; echo d > "$R/srv/app/data"
imp persist /etc/ssh/ssh_host_ed25519_key /root/.bash_history /root/.python_history /srv/app/.bash_history > /dev/null
# Declared since: no longer "not in the config yet".
cat >> "$CFG" <<'T'
files = [ { path = "/root/.python_history", method = "copy" } ]
T
echo changed >> "$R/root/.python_history"
echo "BEGIN-JSON"; imp diff --json || true; echo "END-JSON"
echo "BEGIN-LIST"; imp diff -l || true; echo "END-LIST"
"#,
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    let part = |name: &str| {
        let start = out.find(&format!("BEGIN-{name}\n")).unwrap() + name.len() + 7;
        out[start..out.find(&format!("END-{name}")).unwrap()].to_owned()
    };
    let (json, list) = (part("JSON"), part("LIST"));
    let doc: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    let mut copies = Vec::new();
    for g in doc["groups"].as_array().unwrap() {
        for c in g["undeclared_copies"].as_array().into_iter().flatten() {
            copies.push((
                g["path"].as_str().unwrap().to_owned(),
                c["path"].as_str().unwrap().to_owned(),
                c["source"].as_str().unwrap().to_owned(),
            ));
        }
    }
    copies.sort();
    let want = |g: &str, p: &str| (g.to_owned(), p.to_owned(), format!("/persistent{p}"));
    assert_eq!(
        copies,
        vec![
            want(
                "/etc/ssh/ssh_host_ed25519_key",
                "/etc/ssh/ssh_host_ed25519_key"
            ),
            want("/root/.bash_history", "/root/.bash_history"),
            want("/srv/app", "/srv/app/.bash_history"),
        ],
        "{json}"
    );
    for p in [
        "/etc/ssh/ssh_host_ed25519_key",
        "/root/.bash_history",
        "/srv/app/.bash_history",
    ] {
        let line = format!(
            "{p}: copied to /persistent{p} by `impermctl persist` (method = \"copy\"); not in the config yet"
        );
        assert_eq!(
            list.matches(&line).count(),
            1,
            "{line}\n{list}\n{}",
            stderr(&o)
        );
    }
    assert_eq!(list.matches("not in the config yet").count(), 3, "{list}");
    assert!(list.contains("  /root/.python_history\n"), "{list}");
}
