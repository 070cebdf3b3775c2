//! Files that programs replace by rename or re-create: a bind mount makes
//! the rename fail (`EBUSY`: passwords cannot be changed) and a symlink is
//! replaced by a plain file on the throwaway root (the change is silently
//! not persisted). Only `method = "copy"` works for them.

use std::path::PathBuf;

use crate::config::{FileMethod, Kind, Settings};

pub use crate::classify::replaced::replaced_by;

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
    use std::path::Path;

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

    /// Session 5's trial (finding 5): `--suggest` and the watcher proposed
    /// host keys and shell histories as plain files, which `verify` then
    /// warned about (`replaced-files`). Every suggestion, pasted, passes
    /// that check; the Nix form says the same as the TOML form.
    #[test]
    fn every_suggestion_passes_the_replaced_files_check() {
        let lines: Vec<crate::suggest::Line> = [
            ("/etc/ssh/ssh_host_ed25519_key", Kind::File),
            ("/etc/ssh/ssh_host_ed25519_key.pub", Kind::File),
            ("/etc/ssh/ssh_host_rsa_key", Kind::File),
            ("/root/.bash_history", Kind::File),
            ("/home/alice/.zsh_history", Kind::File),
            ("/root/.local/share/fish/fish_history", Kind::File),
            ("/etc/shadow", Kind::File),
            ("/etc/passwd", Kind::File),
            ("/etc/adjtime", Kind::File),
            ("/var/lib/demo", Kind::Directory),
        ]
        .into_iter()
        .map(|(p, k)| crate::suggest::Line::Persist(p.into(), k))
        .collect();
        let root = Path::new("/persistent");
        let toml = format!(
            "version = 1\n[[persistence]]\npath = \"/persistent\"\n{}",
            crate::suggest::toml_snippet(root, &lines)
        );
        let s = crate::config::parse(&toml, Path::new("c.toml")).unwrap();
        assert_eq!(s.entries.len(), lines.len(), "{toml}");
        let warned = method_warnings(&s);
        assert!(warned.is_empty(), "{warned:?}\n{toml}");
        let nix = crate::suggest::nix_snippet(root, &lines);
        let copies = s
            .entries
            .iter()
            .filter(|e| e.method == crate::config::FileMethod::Copy);
        assert_eq!(
            copies.count(),
            nix.matches("method = \"copy\";").count(),
            "{nix}"
        );
        assert!(
            nix.contains("\n  { file = \"/etc/ssh/ssh_host_ed25519_key\"; method = \"copy\"; }\n"),
            "{nix}"
        );
        assert!(nix.contains("\n  \"/etc/adjtime\"\n"), "{nix}");
        assert_eq!(
            crate::suggest::nix_line(root, Path::new("/root/.bash_history"), Kind::File),
            r#"{ file = "/root/.bash_history"; method = "copy"; }  # into environment.persistence."/persistent".files = [ … ]"#
        );
    }
}
