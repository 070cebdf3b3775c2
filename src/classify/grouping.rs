//! Where a written path belongs for a user who wants to keep it (its group,
//! and whether to persist it as a directory or a file), shared by `diff`,
//! `--suggest` and the watcher. Pure: what it needs about the tree comes in
//! [`Context`].

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::Class;
use crate::config::Kind as Persist;

/// The directory to persist for `path` (logical, absolute):
/// `/var/<dir>/<name>` (`/var/lib/foo`, `/var/spool/cron`), `/usr/<dir>/<name>`,
/// `/home/<user>/<top>`, `/root/<top>`, `/etc/<name>`, `/srv/<name>`,
/// `/opt/<name>`, else the top-level directory; in systemd's private trees
/// (`/var/lib/private`, `/var/cache/private`, `/var/log/private`: one
/// directory per `DynamicUser=` service) `/var/lib/private/<name>`.
/// A path that *is* the group's parent (e.g. a file directly in `/etc`)
/// groups as itself.
pub fn group_of(path: &Path) -> PathBuf {
    // By bytes once plainly written (as diff and the watcher build paths).
    let b = path.as_os_str().as_bytes();
    let mut parts = b.split(|&c| c == b'/').skip(1);
    if b != b"/"
        && !(b.starts_with(b"/") && parts.clone().all(|c| !matches!(c, b"" | b"." | b"..")))
    {
        return group_of(&leading(path, usize::MAX));
    }
    let mut names = parts.clone();
    let private = matches!(
        [names.next(), names.next(), names.next()],
        [
            Some(b"var"),
            Some(b"lib" | b"cache" | b"log"),
            Some(b"private")
        ]
    );
    let depth = match parts.next() {
        _ if private => 4,
        Some(b"var" | b"usr" | b"home") => 3,
        Some(b"root" | b"etc" | b"srv" | b"opt") => 2,
        _ => 1,
    };
    let end = b
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == b'/')
        .nth(depth)
        .map_or(b.len(), |(i, _)| i);
    PathBuf::from(OsStr::from_bytes(&b[..end]))
}

/// `/` followed by the first `n` names of `path` (`.`, `..` and `/` skipped).
pub fn leading(path: &Path, n: usize) -> PathBuf {
    let names = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)));
    std::iter::once(Component::RootDir)
        .chain(names.take(n))
        .collect()
}

/// Directories never suggested: persisting them would break the system or
/// hide what activation writes. Their children are suggested instead.
pub const NEVER: &[&str] = &[
    "/",
    "/etc",
    "/var",
    "/var/lib",
    "/var/cache",
    "/var/spool",
    "/usr",
    "/usr/local",
    "/home",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/boot",
    "/srv",
    "/opt",
    "/mnt",
    "/media",
    "/root",
    "/tmp",
    "/var/tmp",
    "/nix",
    "/run",
    "/proc",
    "/sys",
    "/dev",
];

/// Where a path belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The directory or file to persist.
    pub group: PathBuf,
    /// As a directory or as a file.
    pub persist: Persist,
    /// Set when the path is inside a declared entry that is not persisted:
    /// the reason (the config already has it; no suggestion needed).
    pub declared: Option<String>,
}

/// What placement needs to know about the system.
#[derive(Debug, Default, Clone)]
pub struct Context {
    /// Declared entries that are not actually persisted, with the reason
    /// and whether the entry is a file.
    pub not_persisted: Vec<(PathBuf, bool, String)>,
    /// Services' state directories (`StateDirectory=`…, absolute).
    pub state_dirs: Vec<PathBuf>,
    /// Directories that existed at the baseline (shared directories: a file
    /// written into one is suggested alone, e.g. a key in `/etc/ssh`); only
    /// those under `/etc` are asked about.
    pub existed: std::collections::HashSet<PathBuf>,
    /// Declared `method = "copy"` files and pending entries whose live
    /// content is saved in persistence: not a loss (with the reason).
    pub saved: Vec<(PathBuf, &'static str)>,
}

/// Place `path` (logical; `is_dir` says it is a directory) of class `class`.
pub fn place(path: &Path, is_dir: bool, class: &Class, cx: &Context) -> Placement {
    let plain = |group: PathBuf, persist| Placement {
        group,
        persist,
        declared: None,
    };
    if let Some((p, file, why)) = cx
        .not_persisted
        .iter()
        .filter(|(p, _, _)| path.starts_with(p))
        .max_by_key(|(p, _, _)| p.as_os_str().len())
    {
        return Placement {
            group: p.clone(),
            persist: match file {
                true => Persist::File,
                false => Persist::Directory,
            },
            declared: Some(why.clone()),
        };
    }
    if let Class::Important { group, persist, .. } = class {
        return plain(group.clone(), *persist);
    }
    if let Some(d) = cx
        .state_dirs
        .iter()
        .filter(|d| path.starts_with(d) && !never(d))
        .max_by_key(|d| d.as_os_str().len())
    {
        return plain(d.clone(), Persist::Directory);
    }
    // Compared as bytes when the path is written plainly (as diff and the
    // watcher build paths); `Path`'s component-wise compare is slow when
    // the paths differ.
    let path_plain = plainly(path.as_os_str().as_bytes());
    let is_path = |g: &Path| match path_plain && plainly(g.as_os_str().as_bytes()) {
        true => g.as_os_str() == path.as_os_str(),
        false => g == path,
    };
    let mut g = group_of(path);
    // Never a system directory: one level deeper, down to the path itself.
    while never(&g) && !is_path(&g) {
        let depth = g.components().count() + 1;
        g = path.components().take(depth).collect();
    }
    // A file written into a directory under /etc that existed before (a
    // shared directory such as /etc/ssh): that file alone.
    let gb = g.as_os_str().as_bytes();
    let in_etc = match plainly(gb) {
        true => crate::walk::under(b"/etc", gb),
        false => g.starts_with("/etc"),
    };
    let shared = in_etc && !is_path(&g) && cx.existed.contains(&g);
    if shared && !is_dir && path.parent() == Some(g.as_path()) {
        return plain(path.to_path_buf(), Persist::File);
    }
    let persist = match is_path(&g) && !is_dir {
        true => Persist::File,
        false => Persist::Directory,
    };
    plain(g, persist)
}

/// Is `p` a directory never suggested? (Compared as bytes when `p` is
/// written plainly — no `//`, `.` or trailing `/` — as the paths diff and
/// the watcher build are; `Path`'s component-wise compare was a tenth of
/// `diff`'s time from the watcher's list.)
pub fn never(p: &Path) -> bool {
    let b = p.as_os_str().as_bytes();
    if plainly(b) {
        return NEVER.iter().any(|n| n.as_bytes() == b);
    }
    NEVER.iter().any(|n| Path::new(n) == p)
}

/// Is `b` written plainly (no `//`, `.` or trailing `/`)? Then two such
/// paths are equal, or one below the other, exactly when their bytes say so.
fn plainly(b: &[u8]) -> bool {
    b.len() == 1
        || !(b.ends_with(b"/")
            || b.ends_with(b"/.")
            || b.windows(2).any(|w| w == b"//")
            || b.windows(3).any(|w| w == b"/./"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(p: &str, dir: bool, cx: &Context) -> (String, Persist) {
        let pl = place(Path::new(p), dir, &Class::Ordinary, cx);
        (pl.group.display().to_string(), pl.persist)
    }

    #[test]
    fn never_compares_plain_and_unplain_spellings_alike() {
        for (p, want) in [
            ("/var/lib", true),
            ("/", true),
            ("/var/lib/", true),
            ("/var//lib", true),
            ("/var/./lib", true),
            ("/var/lib/.", true),
            ("/var/libx", false),
            ("/var/lib/app", false),
            ("var/lib", false),
        ] {
            assert_eq!(never(Path::new(p)), want, "{p}");
        }
    }

    #[test]
    fn never_a_system_directory() {
        let cx = Context::default();
        for (p, dir, g, how) in [
            (
                "/var/spool/cron/root",
                false,
                "/var/spool/cron",
                Persist::Directory,
            ),
            (
                "/var/lib/demo/db",
                false,
                "/var/lib/demo",
                Persist::Directory,
            ),
            ("/var/foo", false, "/var/foo", Persist::File),
            ("/etc/adjtime", false, "/etc/adjtime", Persist::File),
            ("/bin/tool", false, "/bin/tool", Persist::File),
            (
                "/usr/local/bin/tool",
                false,
                "/usr/local/bin",
                Persist::Directory,
            ),
            ("/usr/tool", false, "/usr/tool", Persist::File),
            ("/home/alice/x", false, "/home/alice/x", Persist::File),
            (
                "/root/.bash_history",
                false,
                "/root/.bash_history",
                Persist::File,
            ),
            ("/data/x/y", false, "/data", Persist::Directory),
            ("/srv/www/index.html", false, "/srv/www", Persist::Directory),
        ] {
            assert_eq!(at(p, dir, &cx), (g.to_string(), how), "{p}");
        }
    }

    #[test]
    fn single_files_in_shared_directories_state_dirs_and_declared_entries() {
        let mut cx = Context::default();
        cx.existed.insert(PathBuf::from("/etc/ssh"));
        assert_eq!(
            at("/etc/ssh/moduli", false, &cx),
            ("/etc/ssh/moduli".into(), Persist::File)
        );
        assert_eq!(
            at("/etc/wireguard2/wg0.conf", false, &cx),
            ("/etc/wireguard2".into(), Persist::Directory),
            "a new directory under /etc is suggested whole"
        );
        cx.state_dirs.push(PathBuf::from("/var/lib/private/foo"));
        assert_eq!(
            at("/var/lib/private/foo/state.db", false, &cx),
            ("/var/lib/private/foo".into(), Persist::Directory)
        );
        cx.not_persisted.push((
            PathBuf::from("/etc/ssh/ssh_host_ed25519_key"),
            true,
            "a plain file".into(),
        ));
        let pl = place(
            Path::new("/etc/ssh/ssh_host_ed25519_key"),
            false,
            &Class::Ordinary,
            &cx,
        );
        assert_eq!(pl.declared.as_deref(), Some("a plain file"));
        assert_eq!(pl.persist, Persist::File);
    }

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
            // systemd's private trees: one directory per DynamicUser= service.
            ("/var/lib/private/foo/db", "/var/lib/private/foo"),
            ("/var/lib/private/foo", "/var/lib/private/foo"),
            ("/var/cache/private/foo/x/y", "/var/cache/private/foo"),
            ("/var/log/private/foo/log", "/var/log/private/foo"),
            ("/var/lib/private", "/var/lib/private"),
            ("/var/lib/privatex/a", "/var/lib/privatex"),
            ("/var/foo", "/var/foo"),
            ("/usr/local/bin/tool", "/usr/local/bin"),
            ("/data/x", "/data"),
            ("/", "/"),
            // Not plainly written: by components, as before.
            ("/var//lib/x/y", "/var/lib/x"),
            ("/srv/./www/a", "/srv/www"),
            ("/etc/", "/etc"),
            ("/home/u/.cache/x", "/home/u/.cache"),
            ("/t005/m003/l007/f0012.dat", "/t005"),
        ];
        for (p, g) in cases {
            assert_eq!(group_of(Path::new(p)), Path::new(g), "{p}");
        }
    }
}
