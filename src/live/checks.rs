//! Files that programs replace by rename or re-create: a bind mount makes
//! the rename fail (`EBUSY`: passwords cannot be changed) and a symlink is
//! replaced by a plain file on the throwaway root (the change is silently
//! not persisted). Only `method = "copy"` works for them.

use std::path::{Path, PathBuf};

use crate::config::{FileMethod, Kind, Settings};

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

/// One warning: (path, message, remedy).
pub fn method_warnings(settings: &Settings) -> Vec<(PathBuf, String, String)> {
    settings
        .entries
        .iter()
        .filter(|e| e.kind == Kind::File && e.method != FileMethod::Copy)
        .filter_map(|e| {
            let who = replaced_by(&e.path)?;
            let how = match e.method {
                FileMethod::Symlink => "a symlink, which the program replaces by a plain file on the ephemeral root (the change is lost at reboot)",
                _ => "a bind mount (or a symlink when not yet in persistence): renaming over a bind mount fails with EBUSY, a symlink is replaced by a plain file",
            };
            Some((
                e.path.clone(),
                format!("{} is replaced by {who}; declared as a file it becomes {how}", e.path.display()),
                format!(
                    "declare it with method = \"copy\" (NixOS: files = [ {{ file = \"{}\"; method = \"copy\"; }} ])",
                    e.path.display()
                ),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_replaced_files() {
        for p in [
            "/etc/shadow",
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/ssh/ssh_host_rsa_key.pub",
            "/root/.local/share/fish/fish_history",
            "/home/alice/.bash_history",
            "/home/bob/.zsh_history",
        ] {
            assert!(replaced_by(Path::new(p)).is_some(), "{p}");
        }
        for p in ["/etc/machine-id", "/etc/shadow.bak", "/etc/ssh/sshd_config"] {
            assert!(replaced_by(Path::new(p)).is_none(), "{p}");
        }
    }
}
