//! The owner and mode of each directory level that `boot` creates, on
//! either side (persistent and ephemeral):
//!
//! - system ancestors (`/etc`, `/var`, `/var/lib`, `/home`, …) are root 0755
//!   and `/root` root 0700, whatever a drifted persistent copy says;
//! - systemd's private trees (`/var/lib/private`, `/var/cache/private`,
//!   `/var/log/private`) are root 0700, so `DynamicUser=` services with a
//!   persisted state directory start (systemd refuses a 0755 parent);
//! - a `users.<name>` entry's home is 0700, owned by the user;
//! - the entry itself gets its declared perms (undeclared inside a home:
//!   the home's owner); a file's direct parent its
//!   `parent` perms; other levels inside a home the `parent` perms; other
//!   levels root 0755 (as impermanence's default perms);
//! - other entries' levels inside a user's home: the home's owner
//!   (`plan::homes`, the rule and its table tests).

use std::path::Path;

use crate::config::{Entry, Kind, Perms};
use crate::plan::homes::{Home, level_in_home};

/// Directories whose owner and mode are fixed by convention.
const SYSTEM: &[(&str, u32)] = &[
    ("/etc", 0o755),
    ("/home", 0o755),
    ("/mnt", 0o755),
    ("/opt", 0o755),
    ("/root", 0o700),
    ("/srv", 0o755),
    ("/usr", 0o755),
    ("/usr/local", 0o755),
    ("/var", 0o755),
    ("/var/cache", 0o755),
    ("/var/cache/private", 0o700),
    ("/var/db", 0o755),
    ("/var/lib", 0o755),
    ("/var/lib/private", 0o700),
    ("/var/log", 0o755),
    ("/var/log/private", 0o700),
    ("/var/spool", 0o755),
];

/// root-owned perms of a conventional system directory (`level` absolute).
pub fn system_perms(level: &Path) -> Option<Perms> {
    SYSTEM
        .iter()
        .find(|(p, _)| Path::new(p) == level)
        .map(|&(_, mode)| Perms {
            mode,
            ..Perms::default()
        })
}

/// The declared perms of a created level (`rel`: the level's path relative
/// to `/`, the same on both sides; `leaf`: the entry itself; `homes`: the
/// users' homes, see `plan::homes`).
pub fn level_perms(e: &Entry, homes: &[Home], rel: &Path, leaf: bool) -> Perms {
    let level = Path::new("/").join(rel);
    if leaf {
        // The whole home as the entry (`users.<name>.directories = [ "/" ]`):
        // 0700 like every home impermctl creates (impermanence does the same).
        if e.home.as_deref() == Some(level.as_path()) {
            return Perms {
                mode: 0o700,
                ..e.perms.clone()
            };
        }
        return level_in_home(e, homes, &level, true).unwrap_or_else(|| e.perms.clone());
    }
    if let Some(p) = system_perms(&level) {
        return p;
    }
    if let Some(home) = &e.home {
        if level == *home {
            return Perms {
                mode: 0o700,
                ..e.parent.clone()
            };
        }
        if home.starts_with(&level) {
            return Perms::default();
        }
        if level.starts_with(home) {
            return e.parent.clone();
        }
    }
    if let Some(p) = level_in_home(e, homes, &level, false) {
        return p;
    }
    let direct_parent = e.path.parent() == Some(level.as_path());
    match e.kind {
        Kind::File if !direct_parent => Perms::default(),
        _ => e.parent.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: Kind, path: &str, home: Option<&str>) -> Entry {
        let parent = Perms {
            user: "alice".into(),
            group: "users".into(),
            mode: 0o750,
        };
        Entry {
            kind,
            path: path.into(),
            root: "/persistent".into(),
            source: Path::new("/persistent").join(path.trim_start_matches('/')),
            perms: Perms {
                mode: 0o711,
                ..parent.clone()
            },
            parent,
            home: home.map(Into::into),
            hide: false,
            trash: false,
            method: crate::config::FileMethod::Auto,
        }
    }

    fn at(e: &Entry, level: &str) -> (String, u32) {
        let rel = level.trim_start_matches('/');
        let p = level_perms(e, &[], Path::new(rel), Path::new(level) == e.path);
        (p.user, p.mode)
    }

    #[test]
    fn each_level_gets_its_conventional_perms() {
        let s = |u: &str, m: u32| (u.to_string(), m);
        let d = entry(Kind::Directory, "/var/lib/private/myservice", None);
        assert_eq!(at(&d, "/var"), s("root", 0o755));
        assert_eq!(at(&d, "/var/lib"), s("root", 0o755));
        assert_eq!(at(&d, "/var/lib/private"), s("root", 0o700));
        assert_eq!(at(&d, "/var/lib/private/myservice"), s("alice", 0o711));
        for p in ["/var/cache/private/x", "/var/log/private/x"] {
            let d = entry(Kind::Directory, p, None);
            let parent = Path::new(p).parent().unwrap().to_str().unwrap().to_string();
            assert_eq!(at(&d, &parent), s("root", 0o700), "{p}");
        }
        let h = entry(
            Kind::File,
            "/home/alice/.local/share/app/history",
            Some("/home/alice"),
        );
        assert_eq!(at(&h, "/home"), s("root", 0o755));
        assert_eq!(at(&h, "/home/alice"), s("alice", 0o700));
        assert_eq!(at(&h, "/home/alice/.local"), s("alice", 0o750));
        assert_eq!(at(&h, "/home/alice/.local/share/app"), s("alice", 0o750));
        let r = entry(
            Kind::File,
            "/root/.config/My Tool/settings.json",
            Some("/root"),
        );
        assert_eq!(at(&r, "/root"), s("root", 0o700));
        // A file's parent perms apply to its direct parent only (impermanence's
        // parentDirectory); /etc stays root 0755 whatever is declared.
        let f = entry(Kind::File, "/etc/nix/keys/id_rsa", None);
        assert_eq!(at(&f, "/etc"), s("root", 0o755));
        assert_eq!(at(&f, "/etc/nix"), s("root", 0o755));
        assert_eq!(at(&f, "/etc/nix/keys"), s("alice", 0o750));
        // A directory's parent perms (defaultPerms) apply to every level
        // that is not a system directory.
        let d = entry(Kind::Directory, "/srv/app/data/db", None);
        assert_eq!(at(&d, "/srv"), s("root", 0o755));
        assert_eq!(at(&d, "/srv/app"), s("alice", 0o750));
    }
}
