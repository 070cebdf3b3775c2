//! Entries as people declare them (issue 11, classes 3 and 4): entries
//! inside declared directories are covered by that bind (nothing linked or
//! bound inside it), and file entries with no persistent copy become links
//! whose persistent parents exist, so writes through them survive a reboot.

use super::{REBOOT, block, dump, val, vps};
use crate::require_root;
use crate::util::{Layout, assert_code};

fn with_entries(entries: &str, body: &str) -> std::process::Output {
    vps(
        &Layout::default(),
        &format!(
            "{REBOOT}\ncat >> \"$CFG\" <<'T'\n{entries}T\n\
             printf 'root:x:0:0::/root:/bin/sh\\nalice:x:1000:100::/home/alice:/bin/sh\\n' > \"$R/etc/passwd\"\n\
             printf 'root:x:0:\\nusers:x:100:\\n' > \"$R/etc/group\"\n\
             cp \"$R/etc/passwd\" \"$R/../passwd.keep\"; cp \"$R/etc/group\" \"$R/../group.keep\"\n{body}"
        ),
    )
}

const COVERED: &str = r#"[[persistence.directories]]
path = "/var/lib/app"
[[persistence.files]]
path = "/var/lib/app/app.conf"
[[persistence.directories]]
path = "/home/alice/.config"
user = "alice"
group = "users"
home = "/home/alice"
[[persistence.directories]]
path = "/home/alice/.config/tool"
user = "alice"
group = "users"
home = "/home/alice"
[[persistence.files]]
path = "/etc/nixos/hardware-configuration.nix"
"#;

/// A file or directory declared inside a declared directory: covered. No
/// self-symlink is written into persistence, no file is bound onto itself,
/// the plan and `status` say "covered by", `verify` says redundant, and
/// writes reach persistence through the parent's bind, across a reboot.
#[test]
fn entries_inside_declared_directories_are_covered() {
    require_root!();
    let body = r#"
# One covered file already has a persistent copy (the bind-onto-itself case).
mkdir -p "$R/persistent/etc/nixos"; echo hw > "$R/persistent/etc/nixos/hardware-configuration.nix"
echo BEGIN plan; imp boot --dry-run; echo END plan
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
echo "conflink=$([ -L "$R/persistent/var/lib/app/app.conf" ] && echo LINK || echo none)"
echo "hwmount=$(devof /etc/nixos/hardware-configuration.nix)"
echo "conf=v1" > "$R/var/lib/app/app.conf"
mkdir -p "$R/home/alice/.config/tool"; echo t > "$R/home/alice/.config/tool/x"
mv "$R/etc/nixos/hardware-configuration.nix" "$R/etc/nixos/hw.tmp" && mv "$R/etc/nixos/hw.tmp" "$R/etc/nixos/hardware-configuration.nix" && echo "rename=ok"
echo BEGIN status; imp status || true; echo END status
imp verify --json > "$R/../v.json" || true
echo "redundant=$(python3 -c 'import json,sys; print(sorted(f["path"] for f in json.load(open(sys.argv[1]))["findings"] if f["check"] == "covered-entries"))' "$R/../v.json")"
reboot_vps
rc2=0; imp boot 2>>"$R/err" || rc2=$?; echo "rc2=$rc2"
echo "after=$(cat "$R/var/lib/app/app.conf") $(cat "$R/home/alice/.config/tool/x") $(cat "$R/etc/nixos/hardware-configuration.nix")"
rc3=0; imp boot 2>>"$R/err" || rc3=$?; echo "rc3=$rc3"
echo BEGIN err; cat "$R/err"; echo END err
"#;
    let o = with_entries(COVERED, body);
    assert_code(&o, 0);
    let plan = block(&o, "plan");
    for (p, by) in [
        ("/var/lib/app/app.conf", "/var/lib/app"),
        ("/home/alice/.config/tool", "/home/alice/.config"),
        ("/etc/nixos/hardware-configuration.nix", "/etc/nixos"),
    ] {
        let line = plan.lines().find(|l| l.starts_with(p)).unwrap_or_default();
        assert!(line.contains(&format!("covered by {by}")), "{plan}");
    }
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "conflink"), "none", "{}", dump(&o));
    assert_eq!(
        val(&o, "hwmount"),
        "",
        "a file bound onto itself\n{}",
        dump(&o)
    );
    assert_eq!(val(&o, "rename"), "ok", "{}", dump(&o));
    let status = block(&o, "status");
    assert!(
        status
            .lines()
            .any(|l| l.contains("/var/lib/app/app.conf") && l.contains("covered by /var/lib/app")),
        "{status}"
    );
    assert_eq!(
        val(&o, "redundant"),
        "['/etc/nixos/hardware-configuration.nix', '/home/alice/.config/tool', '/var/lib/app/app.conf']"
    );
    assert_eq!(val(&o, "rc2"), "0", "{}", dump(&o));
    assert_eq!(val(&o, "after"), "conf=v1 t hw", "{}", dump(&o));
    assert_eq!(val(&o, "rc3"), "0", "{}", dump(&o));
}

const NEW_FILES: &str = r#"[[persistence.files]]
path = "/var/lib/app/app.conf"
[[persistence.files]]
path = "/root/.config/My Tool/settings.json"
home = "/root"
[[persistence.files]]
path = "/home/alice/.local/share/app/history"
home = "/home/alice"
parent = { user = "alice", group = "users", mode = "0750" }
[[persistence.files]]
path = "/etc/ssh/known_hosts"
method = "symlink"
"#;

/// Files with no persistent copy: links into persistence whose persistent
/// parents are created (with the entry's parent owner/mode, homes 0700
/// owned by the user), so writes through the links succeed and survive a
/// reboot. `--dry-run` never claims "already linked" while the parent is
/// missing.
#[test]
fn new_file_links_get_their_persistent_parents_and_survive_a_reboot() {
    require_root!();
    let body = r#"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
echo "link=$(readlink "$R/root/.config/My Tool/settings.json")"
inroot 'echo "{\"a\":1}" > "/root/.config/My Tool/settings.json"' && echo "w1=ok"
inroot 'echo conf > /var/lib/app/app.conf' && echo "w2=ok"
inroot 'echo hist > /home/alice/.local/share/app/history' && echo "w3=ok"
inroot 'echo host > /etc/ssh/known_hosts' && echo "w4=ok"
echo "perms=$(stat -c '%u:%g:%a' "$R/persistent/home/alice" "$R/persistent/home/alice/.local/share/app" "$R/persistent/home" | tr '\n' ' ')"
echo "rootperms=$(stat -c '%u:%g:%a' "$R/persistent/root" | tr '\n' ' ')"
# The persistent parent disappears: --dry-run must not say "already linked".
rm -rf "$R/persistent/etc/ssh"
echo "dry=$(imp boot --dry-run | grep '^/etc/ssh/known_hosts')"
imp boot 2>>"$R/err"; echo "host2=$([ -d "$R/persistent/etc/ssh" ] && echo parent-back)"
inroot 'echo host > /etc/ssh/known_hosts'
reboot_vps
rc2=0; imp boot 2>>"$R/err" || rc2=$?; echo "rc2=$rc2"
echo "after=$(inroot 'cat "/root/.config/My Tool/settings.json" /var/lib/app/app.conf /home/alice/.local/share/app/history /etc/ssh/known_hosts' | tr '\n' ' ')"
echo BEGIN err; cat "$R/err"; echo END err
"#;
    let o = with_entries(NEW_FILES, body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(
        val(&o, "link"),
        "/persistent/root/.config/My Tool/settings.json"
    );
    for w in ["w1", "w2", "w3", "w4"] {
        assert_eq!(
            val(&o, w),
            "ok",
            "{w}: write through the link failed\n{}",
            dump(&o)
        );
    }
    assert_eq!(
        val(&o, "perms"),
        "1000:100:700 1000:100:750 0:0:755 ",
        "{}",
        dump(&o)
    );
    assert_eq!(val(&o, "rootperms"), "0:0:700 ", "{}", dump(&o));
    let dry = val(&o, "dry");
    assert!(
        !dry.contains("already linked") && dry.contains("create source"),
        "{dry}"
    );
    assert_eq!(val(&o, "host2"), "parent-back", "{}", dump(&o));
    assert_eq!(val(&o, "rc2"), "0", "{}", dump(&o));
    assert_eq!(
        val(&o, "after"),
        "{\"a\":1} conf hist host ",
        "{}",
        dump(&o)
    );
}

/// `users.alice.directories = [ "/" ]` (the whole home) as the module
/// renders it: accepted, created 0700 owned by alice on both sides, bound,
/// and what alice writes there survives a reboot.
#[test]
fn the_whole_home_as_an_entry() {
    require_root!();
    let entries = r#"[[persistence.directories]]
path = "/home/alice"
user = "alice"
group = "users"
mode = "0755"
parent = { user = "alice", group = "users", mode = "0755" }
home = "/home/alice"
[[persistence.files]]
path = "/.bash_history"
home = "/"
"#;
    let body = r#"
rc=0; imp boot 2>"$R/err" || rc=$?; echo "rc=$rc"
echo "perms=$(stat -c '%u:%g:%a' "$R/persistent/home/alice" "$R/home/alice" "$R/persistent/home" | tr '\n' ' ')"
echo "bound=$(devof /home/alice) pdev=$(devof /persistent)"
echo note > "$R/home/alice/note"
reboot_vps
imp boot 2>>"$R/err"
echo "after=$(cat "$R/home/alice/note")"
echo "hist=$(readlink "$R/.bash_history")"
"#;
    let o = with_entries(entries, body);
    assert_code(&o, 0);
    assert_eq!(val(&o, "rc"), "0", "{}", dump(&o));
    assert_eq!(
        val(&o, "perms"),
        "1000:100:700 1000:100:700 0:0:755 ",
        "{}",
        dump(&o)
    );
    let b = val(&o, "bound");
    let (x, y) = b.split_once(" pdev=").unwrap();
    assert_eq!(x, y, "{}", dump(&o));
    assert_eq!(val(&o, "after"), "note");
    assert_eq!(val(&o, "hist"), "/persistent/.bash_history");
}
