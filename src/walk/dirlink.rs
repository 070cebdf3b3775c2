//! Symlinks whose data is on the ephemeral root: systemd makes
//! `/var/lib/foo -> private/foo` for every `DynamicUser=` service, the data
//! in `/var/lib/private/foo` (systemd.exec(5), "StateDirectory="); an app
//! may link its state directory the same way. Declared as a directory, such
//! a link is refused (`plan::links`): storing it would keep none of the
//! data. What impermanence users are told to persist instead is the
//! directory itself (its issues #93, #230, #254).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::{Entry, Kind, Settings};
use crate::mountinfo::MountTable;
use crate::names::path_of;

/// Where the symlink at `path` (its text `to`) leads, when that is a place
/// on the ephemeral root's own filesystem (by `mounts`, logical paths) that
/// no declared directory persists: the data there is lost at reboot
/// whatever becomes of the link. Resolved lexically from `path`'s parent,
/// as the kernel would (absolute texts as they are). `None` when the link
/// leads into persistence, onto another mount or into a declared directory.
pub fn data_behind_link(
    settings: &Settings,
    mounts: &MountTable,
    path: &Path,
    to: &Path,
) -> Option<PathBuf> {
    let at = path.as_os_str().as_bytes();
    let data = path_of(&super::link_target(at, to.as_os_str().as_bytes())).to_path_buf();
    (mounts.on_root(&data) && !settings.is_persisted(&data)).then_some(data)
}

/// [`data_behind_link`] for the link `to` of the directory entry `e`
/// (`None` for a file entry, and for impermctl's own link to the source).
pub fn entry_link_data(
    settings: &Settings,
    mounts: &MountTable,
    e: &Entry,
    to: &Path,
) -> Option<PathBuf> {
    (e.kind == Kind::Directory && to != e.source)
        .then(|| data_behind_link(settings, mounts, &e.path, to))
        .flatten()
}

/// Is `path -> to` the link systemd makes for a `DynamicUser=` service's
/// `StateDirectory=`, `CacheDirectory=` or `LogsDirectory=`
/// (`/var/lib/NAME -> private/NAME`, systemd.exec(5))? It makes it again at
/// every start of the service: the link needs no entry of its own.
pub fn systemd_private_link(path: &Path, to: &Path) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let var = ["/var/lib", "/var/cache", "/var/log"].map(Path::new);
    let private = dir.join("private").join(name);
    var.contains(&dir) && (to == Path::new("private").join(name) || to == private)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a directory entry's link leads decides: onto the root's own
    /// filesystem outside every declared directory is data lost at reboot.
    #[test]
    fn links_to_data_on_the_ephemeral_root_are_found() {
        let settings = |extra: &str| {
            crate::config::parse(
                &format!(
                    "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [ \"/var/lib/foo\"{extra} ]\nfiles = [ \"/etc/localtime\" ]\n"
                ),
                Path::new("c.toml"),
            )
            .unwrap()
        };
        let mounts = MountTable::parse(
            "1 0 0:1 / / rw - tmpfs root rw\n2 1 0:2 / /persistent rw - tmpfs p rw\n3 1 0:3 / /srv/ds rw - tmpfs d rw\n",
        )
        .unwrap();
        let (s, both) = (settings(""), settings(r#", "/var/lib/private""#));
        let e = s.entry(Path::new("/var/lib/foo")).unwrap();
        let data = |s: &Settings, to: &str| {
            entry_link_data(s, &mounts, e, Path::new(to)).map(|p| p.display().to_string())
        };
        for (to, want) in [
            ("private/foo", Some("/var/lib/private/foo")),
            ("/var/lib/private/foo", Some("/var/lib/private/foo")),
            ("../../srv/appdata", Some("/srv/appdata")),
            ("./x/../y", Some("/var/lib/y")),
            ("/srv/ds/app", None),
            ("/persistent/elsewhere", None),
            // impermctl's own link to the source is not data.
            ("/persistent/var/lib/foo", None),
        ] {
            assert_eq!(data(&s, to).as_deref(), want, "{to}");
        }
        // Into a declared directory: its bind keeps the data.
        assert_eq!(data(&both, "private/foo"), None);
        // A file's link is its data.
        let f = s.entry(Path::new("/etc/localtime")).unwrap();
        assert_eq!(entry_link_data(&s, &mounts, f, Path::new("../x")), None);
        // systemd's links, by name.
        for (p, to, want) in [
            ("/var/lib/foo", "private/foo", true),
            ("/var/cache/x", "/var/cache/private/x", true),
            ("/var/log/x", "private/x", true),
            ("/var/lib/x", "private/y", false),
            ("/srv/x", "private/x", false),
            ("/var/lib/a/b", "private/b", false),
        ] {
            assert_eq!(
                systemd_private_link(Path::new(p), Path::new(to)),
                want,
                "{p}"
            );
        }
    }
}
