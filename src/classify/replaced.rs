//! Files that programs replace by rename or re-create, so that only
//! `method = "copy"` keeps them: what `verify`'s `replaced-files` check
//! warns about (`crate::live::checks`) and what `--suggest` declares with
//! `method = "copy"` (`crate::suggest::needs_copy`). Data, one list.

use std::path::Path;

/// Well-known files replaced by rename (or deleted and re-created), and who does it.
pub const REPLACED: &[(&str, &str)] = &[
    (
        "/etc/shadow",
        "passwd, usermod, chpasswd (write /etc/nshadow, rename over)",
    ),
    (
        "/etc/passwd",
        "useradd, usermod, vipw (write a temporary file, rename over)",
    ),
    (
        "/etc/group",
        "groupadd, usermod (write a temporary file, rename over)",
    ),
    (
        "/etc/gshadow",
        "groupadd, usermod (write a temporary file, rename over)",
    ),
    (
        "/etc/subuid",
        "useradd, usermod (write a temporary file, rename over)",
    ),
    (
        "/etc/subgid",
        "useradd, usermod (write a temporary file, rename over)",
    ),
    (
        "/etc/ssh/ssh_host_",
        "sshd's key generation (deletes the file and writes a new one)",
    ),
    (
        "/.bash_history",
        "bash (truncates and rewrites; history -w renames)",
    ),
    (
        "/.zsh_history",
        "zsh (writes a new file and renames it over)",
    ),
    (
        "/fish/fish_history",
        "fish (writes a temporary file and renames it over)",
    ),
    ("/.python_history", "python (rewrites the file)"),
];

/// Which program replaces `path`, if it is a well-known replaced file.
pub fn replaced_by(path: &Path) -> Option<&'static str> {
    let s = path.to_string_lossy();
    REPLACED.iter().find_map(|(p, who)| {
        let hit = if p.starts_with("/etc/ssh/") {
            s.starts_with(p)
        } else if p.starts_with("/etc/") {
            s == *p
        } else {
            s.ends_with(p)
        };
        hit.then_some(*who)
    })
}
