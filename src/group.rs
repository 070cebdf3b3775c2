//! Which directory a user would persist for a given path, and the config
//! line that persists it. Shared by the watcher and `diff`.

use std::path::{Component, Path, PathBuf};

use crate::config::Kind;

/// The directory to persist for `path` (logical, absolute):
/// `/var/<dir>/<name>` (`/var/lib/foo`, `/var/spool/cron`), `/usr/<dir>/<name>`,
/// `/home/<user>/<top>`, `/root/<top>`, `/etc/<name>`, `/srv/<name>`,
/// `/opt/<name>`, else the top-level directory.
/// A path that *is* the group's parent (e.g. a file directly in `/etc`)
/// groups as itself.
pub fn group_of(path: &Path) -> PathBuf {
    let parts: Vec<&std::ffi::OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let depth = match parts.as_slice() {
        [] => return PathBuf::from("/"),
        [v, ..] if *v == "var" || *v == "usr" => 3,
        [h, ..] if *h == "home" => 3,
        [r, ..] if *r == "root" => 2,
        [e, ..] if *e == "etc" || *e == "srv" || *e == "opt" => 2,
        _ => 1,
    };
    let mut g = PathBuf::from("/");
    for p in parts.iter().take(depth) {
        g.push(p);
    }
    g
}

/// A Nix string literal for a path (quotes, backslashes and `${` escaped).
pub fn nix_string(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The one-line Nix config that persists `group` under `root`, e.g.
/// `environment.persistence."/persistent".directories = [ "/var/lib/demo" ];`
pub fn suggest_nix(root: &Path, group: &Path, how: Kind) -> String {
    let list = how.list();
    format!(
        "environment.persistence.{}.{list} = [ {} ];",
        nix_string(root),
        nix_string(group)
    )
}

/// The TOML equivalent for `/etc/impermctl/config.toml`.
pub fn suggest_toml(group: &Path, how: Kind) -> String {
    let table = how.list();
    let path = toml_string(&group.to_string_lossy());
    format!("[[persistence.{table}]]\npath = {path}")
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_like_a_user_would_persist() {
        let cases = [
            ("/var/lib/demo/db/x", "/var/lib/demo"),
            ("/var/lib/demo", "/var/lib/demo"),
            ("/var/cache/nix/a", "/var/cache/nix"),
            ("/home/alice/.ssh/id", "/home/alice/.ssh"),
            ("/home/alice", "/home/alice"),
            ("/root/.bash_history", "/root/.bash_history"),
            ("/root/src/x/y", "/root/src"),
            ("/etc/ssh/ssh_host_key", "/etc/ssh"),
            ("/etc/adjtime", "/etc/adjtime"),
            ("/srv/www/index.html", "/srv/www"),
            ("/opt/app/bin", "/opt/app"),
            ("/var/spool/cron/x", "/var/spool/cron"),
            ("/var/spool/cron", "/var/spool/cron"),
            ("/var/foo", "/var/foo"),
            ("/usr/local/bin/tool", "/usr/local/bin"),
            ("/data/x", "/data"),
            ("/", "/"),
        ];
        for (p, g) in cases {
            assert_eq!(group_of(Path::new(p)), Path::new(g), "{p}");
        }
    }

    #[test]
    fn suggestions_are_paste_ready() {
        assert_eq!(
            suggest_nix(
                Path::new("/persistent"),
                Path::new("/var/lib/demo"),
                Kind::Directory
            ),
            r#"environment.persistence."/persistent".directories = [ "/var/lib/demo" ];"#
        );
        assert_eq!(
            suggest_nix(
                Path::new("/persistent"),
                Path::new("/etc/a\"${x}"),
                Kind::File
            ),
            r#"environment.persistence."/persistent".files = [ "/etc/a\"\${x}" ];"#
        );
        assert_eq!(
            suggest_toml(Path::new("/var/lib/demo"), Kind::Directory),
            "[[persistence.directories]]\npath = \"/var/lib/demo\""
        );
    }
}
