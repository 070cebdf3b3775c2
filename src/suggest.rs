//! The config line that persists a path: the Nix line for NixOS
//! (`environment.persistence`) and the TOML entry for
//! `/etc/impermctl/config.toml`. Which path to persist is
//! [`crate::classify::grouping`]'s call.

use std::path::Path;

use crate::config::Kind;

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
pub fn nix_line(root: &Path, group: &Path, how: Kind) -> String {
    let list = how.list();
    format!(
        "environment.persistence.{}.{list} = [ {} ];",
        nix_string(root),
        nix_string(group)
    )
}

/// The TOML equivalent for `/etc/impermctl/config.toml`.
pub fn toml_entry(group: &Path, how: Kind) -> String {
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
    fn suggestions_are_paste_ready() {
        assert_eq!(
            nix_line(
                Path::new("/persistent"),
                Path::new("/var/lib/demo"),
                Kind::Directory
            ),
            r#"environment.persistence."/persistent".directories = [ "/var/lib/demo" ];"#
        );
        assert_eq!(
            nix_line(
                Path::new("/persistent"),
                Path::new("/etc/a\"${x}"),
                Kind::File
            ),
            r#"environment.persistence."/persistent".files = [ "/etc/a\"\${x}" ];"#
        );
        assert_eq!(
            toml_entry(Path::new("/var/lib/demo"), Kind::Directory),
            "[[persistence.directories]]\npath = \"/var/lib/demo\""
        );
    }
}
