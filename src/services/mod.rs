//! Warn before the data exists: services whose `StateDirectory=` (and
//! `CacheDirectory=`, `LogsDirectory=`) is not persisted. The facts come
//! from systemd over D-Bus (`dbus.rs`, `org.freedesktop.systemd1`), never
//! from unit files; the judgement here is pure.

#[cfg(feature = "dbus")]
pub mod dbus;

use std::path::{Path, PathBuf};

use crate::mountinfo::MountTable;

/// A service's directories, as systemd reports them (names relative to
/// `/var/lib`, `/var/cache`, `/var/log`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitDirs {
    /// The unit, e.g. `postgresql.service`.
    pub unit: String,
    /// `StateDirectory=`.
    pub state: Vec<String>,
    /// `CacheDirectory=`.
    pub cache: Vec<String>,
    /// `LogsDirectory=`.
    pub logs: Vec<String>,
    /// `DynamicUser=`: the directories live under `…/private/`.
    pub dynamic_user: bool,
}

impl UnitDirs {
    /// The absolute `StateDirectory=` directories (what to persist for it).
    pub fn state_dirs(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.state
            .iter()
            .map(|n| dir_of("/var/lib", n, self.dynamic_user))
    }
}

/// A service directory that is not persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpersisted {
    /// The unit.
    pub unit: String,
    /// The setting it comes from: `StateDirectory` (`/var/lib`),
    /// `LogsDirectory` (`/var/log`) or `CacheDirectory` (`/var/cache`).
    pub setting: &'static str,
    /// The value.
    pub name: String,
    /// The directory the service writes (absolute).
    pub path: PathBuf,
    /// A cache (`CacheDirectory=`): losing it costs time, not data.
    pub cache_only: bool,
}

/// The absolute directory of `name` below `base` (`/var/lib`, …).
fn dir_of(base: &str, name: &str, dynamic_user: bool) -> PathBuf {
    let mut p = PathBuf::from(base);
    if dynamic_user {
        p.push("private");
    }
    // Values may carry a `:` suffix naming a symlink (`foo:bar`).
    p.push(name.split(':').next().unwrap_or(name));
    p
}

/// The directories of `units` that are not persisted, state first;
/// `regenerated` says which the catalog knows the system recreates.
pub fn unpersisted(
    units: &[UnitDirs],
    mounts: &MountTable,
    regenerated: &dyn Fn(&Path) -> bool,
) -> Vec<Unpersisted> {
    let mut out = Vec::new();
    for u in units {
        for (setting, base, names) in [
            ("StateDirectory", "/var/lib", &u.state),
            ("LogsDirectory", "/var/log", &u.logs),
            ("CacheDirectory", "/var/cache", &u.cache),
        ] {
            for n in names {
                let path = dir_of(base, n, u.dynamic_user);
                // Persisted: on a filesystem other than the root's (a bind
                // from persistence), judged from the live mount table.
                if mounts.on_root(&path) && !regenerated(&path) {
                    out.push(Unpersisted {
                        unit: u.unit.clone(),
                        setting,
                        name: n.clone(),
                        path,
                        cache_only: setting == "CacheDirectory",
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| (a.cache_only, &a.unit, &a.path).cmp(&(b.cache_only, &b.unit, &b.path)));
    out
}

/// The services' directories on this system (empty without D-Bus or systemd),
/// and why they could not be read, if so.
pub fn query() -> (Vec<UnitDirs>, Option<String>) {
    #[cfg(feature = "dbus")]
    let units = dbus::units().map_err(|e| format!("{e:#}"));
    #[cfg(not(feature = "dbus"))]
    let units = Err("built without D-Bus support".to_owned());
    units.map_or_else(|e| (Vec::new(), Some(e)), |u| (u, None))
}

/// The human section for `verify` and `status` on the live system (nothing
/// for a `--root` tree or a captured mount table: systemd describes `/`).
pub fn section(
    out: &mut dyn std::io::Write,
    root: &crate::root::Root,
    mounts: &MountTable,
    settings: &crate::config::Settings,
) -> std::io::Result<()> {
    if !root.is_system() || root.mountinfo_override().is_some() {
        return Ok(());
    }
    let (units, why) = query();
    if let Some(why) = why {
        tracing::debug!("services: {why}");
    }
    let persist_root = settings
        .roots
        .first()
        .map_or(Path::new("/persistent"), |r| &r.path);
    let c = crate::classify::Classifier::load(root);
    let regenerated = |p: &Path| {
        use std::os::unix::ffi::OsStrExt;
        !c.classify(p.as_os_str().as_bytes(), false).is_loss()
    };
    let found = unpersisted(&units, mounts, &regenerated);
    if found.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nservices whose directories are not persisted (from systemd):"
    )?;
    for f in found {
        let what = match f.cache_only {
            true => "a cache: fine to lose (it is rebuilt)",
            false => "what it writes there is lost at every reboot",
        };
        let (unit, setting, name, path) = (&f.unit, f.setting, &f.name, f.path.display());
        writeln!(out, "  {unit} {setting}={name} -> {path}: {what}")?;
        if !f.cache_only {
            let line =
                crate::suggest::nix_line(persist_root, &f.path, crate::config::Kind::Directory);
            writeln!(out, "    to keep it: {line}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dirs_not_on_a_persisted_mount_are_listed_caches_last() {
        let mi = "\
1 0 0:30 /private / rw - tmpfs tank/ct/101.impermanence-c5a8b7 rw
2 1 0:31 /private /persistent rw - tmpfs tank/ct/101 rw
3 1 0:31 /private/var/lib/kept /var/lib/kept rw - tmpfs tank/ct/101 rw
";
        let mounts = MountTable::parse(mi).unwrap();
        let units = [
            UnitDirs {
                unit: "demo.service".into(),
                state: vec!["demo".into(), "kept".into(), "systemd/linger".into()],
                cache: vec!["demo".into()],
                ..UnitDirs::default()
            },
            UnitDirs {
                unit: "dyn.service".into(),
                state: vec!["dyn:alias".into()],
                dynamic_user: true,
                ..UnitDirs::default()
            },
        ];
        let got: Vec<(String, bool)> = unpersisted(&units, &mounts, &|p| p.ends_with("linger"))
            .into_iter()
            .map(|u| (u.path.display().to_string(), u.cache_only))
            .collect();
        assert_eq!(
            got,
            [
                ("/var/lib/demo".to_string(), false),
                ("/var/lib/private/dyn".to_string(), false),
                ("/var/cache/demo".to_string(), true),
            ]
        );
    }
}
