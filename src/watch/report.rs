//! The watcher's state as data: the snapshot behind D-Bus, the atomic
//! `/run/impermctl/watch.json` fallback, and the section `impermctl status`
//! prints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::attribution::Writer;
use super::core::Core;
use crate::human::{counted, size, thousands};
use crate::root::Root;

/// One group, as reported: in `watch.json`, and on D-Bus as the struct
/// `(ssstttta(sas)basast)` that `Unpersisted()` returns (a writer's unit,
/// and `path_hex`, are arrays of zero or one string there).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[cfg_attr(feature = "dbus", derive(zbus::zvariant::Type))]
#[cfg_attr(feature = "dbus", zbus(signature = "(ssstttta(sas)basast)"))]
pub struct GroupReport {
    /// The directory (or file) to persist (text; see `path_hex`).
    pub path: PathBuf,
    /// `directory` or `file`.
    #[serde(rename = "type", alias = "kind")]
    pub kind: String,
    /// The Nix line that persists it.
    pub suggest: String,
    /// Files written and still present.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// First write, Unix seconds.
    pub first_seen: u64,
    /// Last write, Unix seconds.
    pub last_seen: u64,
    /// Who wrote.
    pub writers: Vec<Writer>,
    /// Counts are lower bounds (memory caps reached).
    pub approximate: bool,
    /// Written paths remembered by name (a sample when the group is large;
    /// text, invalid UTF-8 replaced).
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// `path`'s exact bytes in hex when they are not valid UTF-8.
    #[serde(default)]
    pub path_hex: Option<String>,
    /// Baseline directories whose mode, owner or attributes changed (the
    /// reboot restores them; `diff` counts them as modified directories).
    #[serde(default)]
    pub dirs: u64,
}

/// Paths as text (invalid UTF-8 replaced, `path_hex` has the bytes);
/// every field in order. JSON leaves `path_hex` out when the path is
/// text; D-Bus (not human-readable) always carries it, as a struct does.
impl Serialize for GroupReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let all = !s.is_human_readable();
        let mut st = s.serialize_struct("GroupReport", 12)?;
        st.serialize_field("path", &self.path.to_string_lossy())?;
        st.serialize_field("type", &self.kind)?;
        st.serialize_field("suggest", &self.suggest)?;
        st.serialize_field("files", &self.files)?;
        st.serialize_field("bytes", &self.bytes)?;
        st.serialize_field("first_seen", &self.first_seen)?;
        st.serialize_field("last_seen", &self.last_seen)?;
        st.serialize_field("writers", &self.writers)?;
        st.serialize_field("approximate", &self.approximate)?;
        let paths: Vec<_> = self.paths.iter().map(|p| p.to_string_lossy()).collect();
        st.serialize_field("paths", &paths)?;
        match all || self.path_hex.is_some() {
            true => st.serialize_field("path_hex", &self.path_hex)?,
            false => st.skip_field("path_hex")?,
        }
        st.serialize_field("dirs", &self.dirs)?;
        st.end()
    }
}

impl GroupReport {
    /// After reading it back (JSON or D-Bus): `path` with its exact bytes.
    pub fn exact(mut self) -> GroupReport {
        self.path = crate::names::from_json(&self.path, self.path_hex.as_deref());
        self
    }
}

/// The whole watcher state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WatchState {
    /// `inotify` or `fanotify`.
    pub backend: String,
    /// Why the watcher fell back, when it did: why fanotify was not used
    /// (`backend` is `inotify`), or why fanotify's content events come from
    /// its filesystem mark rather than a mark per directory (every write
    /// costs an event).
    pub fallback: Option<String>,
    /// The daemon's pid.
    pub pid: u32,
    /// Start, Unix seconds.
    pub since: u64,
    /// Directories watched (inotify) or 0 (fanotify watches the filesystem).
    pub watched_directories: u64,
    /// Queue overflows so far (each followed by a rescan).
    pub overflows: u64,
    /// Directories left unwatched by the inotify watch limit (everything
    /// below them is unwatched too; a periodic rescan covers them).
    #[serde(default)]
    pub unwatched_directories: u64,
    /// What is not watched and why, when coverage is partial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<String>,
    /// Groups, biggest first.
    pub groups: Vec<GroupReport>,
}

impl WatchState {
    /// Did the watcher hear a rename land on `path` (its group's suggestion
    /// says `method = "copy"`, `Core::replaced`)?
    pub fn heard_replaced(&self, path: &std::path::Path) -> bool {
        (self.groups.iter()).any(|w| w.path == path && crate::suggest::says_copy(&w.suggest))
    }
}

/// `t` in Unix seconds.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Take a snapshot: the daemon's facts `info` (its groups are not read)
/// with the core's groups; `with_paths` includes the sample paths.
pub fn snapshot(core: &Core, info: &WatchState, with_paths: bool) -> WatchState {
    let at = |d: Duration| unix(core.start_wall + d);
    let groups = core
        .table
        .groups()
        .into_iter()
        .map(|g| GroupReport {
            path: g.path.clone(),
            path_hex: crate::names::hex(&g.path),
            kind: g.kind.word().into(),
            suggest: core.suggestion(&g.path, g.kind),
            files: g.files,
            bytes: g.bytes,
            first_seen: at(g.first_seen),
            last_seen: at(g.last_seen),
            writers: g.writers.clone(),
            approximate: g.approximate,
            dirs: g.dirs(),
            paths: if with_paths {
                g.sample().into_iter().map(Path::to_path_buf).collect()
            } else {
                Vec::new()
            },
        })
        .collect();
    WatchState {
        groups,
        ..info.clone()
    }
}

/// The `kind` of `watch.json`.
pub const KIND: &str = "WatchState";

/// Write `state` to `file` atomically (temp file in the same directory,
/// rename), root only: it names other users' files.
pub fn write_file(file: &Path, state: &WatchState) -> anyhow::Result<()> {
    crate::output::write_file(file, KIND, state, 0o600)
}

/// Read the watcher's state: over D-Bus when the daemon answers there,
/// else from `watch.json`. Returns where it came from, and the state. A
/// stopped watcher is not asked ([`super::refresh::stopped_watcher`]):
/// it would not answer before the call's timeout.
pub fn read_state(root: &Root) -> Option<(String, WatchState)> {
    read_state_from(root, super::refresh::stopped_watcher(root).is_none())
}

/// [`read_state`], over D-Bus only when `bus`.
fn read_state_from(root: &Root, bus: bool) -> Option<(String, WatchState)> {
    #[cfg(feature = "dbus")]
    if bus
        && root.is_system()
        && let Some(s) = super::dbus::query()
    {
        return Some(("D-Bus".into(), s));
    }
    #[cfg(not(feature = "dbus"))]
    let _ = bus;
    let file = root.watch_file();
    Some((file.display().to_string(), read_file(&file)?))
}

/// Is the watcher that wrote `s` still running (its pid exists; 0: not
/// recorded, taken as running)? When not, its counts are not current.
pub fn running(s: &WatchState) -> bool {
    s.pid == 0 || Path::new(&format!("/proc/{}", s.pid)).exists()
}

/// `watch.json` as the watcher wrote it (paths with their exact bytes);
/// None when it is missing or unreadable (said at debug level).
pub fn read_file(file: &Path) -> Option<WatchState> {
    let mut state: WatchState = crate::output::read_file(file, KIND, "the watcher rewrites it")
        .inspect_err(|e| tracing::debug!("{e:#}"))
        .ok()??;
    state.groups = state.groups.into_iter().map(GroupReport::exact).collect();
    Some(state)
}

/// The `watcher` section of `impermctl status` (every name escaped,
/// `crate::names`).
pub fn print_status(out: &mut dyn Write, root: &Root) -> std::io::Result<()> {
    use super::refresh::Asked;
    let asked = super::refresh::ask(root);
    // Stopped: it would not answer before the call's timeout (trial s11
    // F17: `status` took 10 s, 5 s for each question).
    let bus = !matches!(asked, Asked::Stopped(_));
    let Some((from, s)) = read_state_from(root, bus) else {
        // There, but root only (`watch.json` is 0600: it names files in
        // every user's home).
        let file = std::fs::File::open(root.watch_file());
        if file.is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied) {
            return writeln!(
                out,
                "\nwatcher: its groups name other users' files, so only root can see them (run `sudo impermctl status`)"
            );
        }
        return writeln!(
            out,
            "\nwatcher: not running (no D-Bus service, no {})",
            root.watch_file().display()
        );
    };
    let alive = running(&s);
    let dirs =
        (s.backend == "inotify").then(|| format!(", {} dirs", thousands(s.watched_directories)));
    let age = (from != "D-Bus")
        .then(|| file_age(&root.watch_file()))
        .flatten();
    // Its counts stopped when it did (trial s9 F10), or stand still while
    // it is stopped: not current.
    let not_current = match asked {
        _ if !alive => Some(format!("NOT RUNNING (pid {} is gone)", s.pid)),
        Asked::Stopped(pid) => Some(format!(
            "STOPPED (pid {pid}, by SIGSTOP or a debugger; `kill -CONT {pid}` lets it go on)"
        )),
        _ => None,
    };
    if let Some(what) = not_current {
        let groups = counted(s.groups.len() as u64, "unpersisted group");
        return writeln!(
            out,
            "\nwatcher: {} {what}: what is unpersisted now is unknown; run `impermctl diff`\n  last recorded in {from}{}: {groups}",
            s.backend,
            age.unwrap_or_default(),
        );
    }
    writeln!(
        out,
        "\nwatcher: {}{}, {} (from {from}{})",
        s.backend,
        dirs.unwrap_or_default(),
        counted(s.groups.len() as u64, "unpersisted group"),
        age.unwrap_or_default(),
    )?;
    if asked == Asked::Late {
        writeln!(
            out,
            "  counts as of the watcher's last recount: it did not recount within {} s",
            super::refresh::REFRESH_WITHIN.as_secs()
        )?;
    }
    if let Some(c) = &s.coverage {
        writeln!(out, "  PARTIAL COVERAGE: {}", crate::names::printable(c))?;
    }
    if let Some(f) = &s.fallback {
        let what = match s.backend.as_str() {
            "fanotify" => {
                "FELL BACK: content events come from the filesystem mark, every write costs an event"
            }
            _ => "fanotify not used",
        };
        writeln!(out, "  {what}: {}", crate::names::printable(f))?;
    }
    for row in group_rows(&s.groups) {
        writeln!(out, "{row}")?;
    }
    Ok(())
}

/// How old `watch.json` is, when 2 s or more: `, written 12 s ago (the
/// watcher rewrites it at most every 3 s, when something changed)` (trial
/// s8 #14: `status` said `0 unpersisted groups` 2 s after a warning).
fn file_age(file: &Path) -> Option<String> {
    let modified = std::fs::metadata(file).and_then(|m| m.modified()).ok()?;
    let secs = modified.elapsed().ok()?.as_secs();
    (secs >= 2).then(|| {
        format!(
            ", written {} s ago (the watcher rewrites it at most every 3 s, when something changed)",
            thousands(secs)
        )
    })
}

/// A group's count in `status`: `3 files`, `1 dir` (its mode, owner or
/// attributes changed), `3 files, 1 dir`.
fn entries(files: u64, dirs: u64) -> String {
    match (files, dirs) {
        (_, 0) => counted(files, "file"),
        (0, d) => counted(d, "dir"),
        (f, d) => format!("{}, {}", counted(f, "file"), counted(d, "dir")),
    }
}

/// `status`'s lines for the watcher's groups: path, files, bytes and
/// writers, in columns as wide as their widest entry (paths escaped by
/// [`crate::names::show`], so a character is a column).
fn group_rows(groups: &[GroupReport]) -> Vec<String> {
    use crate::names::{show, show_str};
    let cells: Vec<[String; 3]> = groups
        .iter()
        .map(|g| [show(&g.path), entries(g.files, g.dirs), size(g.bytes)])
        .collect();
    let width = |i: usize| cells.iter().fold(0, |w, c| w.max(c[i].chars().count()));
    let (w0, w1, w2) = (width(0), width(1), width(2));
    groups
        .iter()
        .zip(&cells)
        .map(|(g, [path, files, bytes])| {
            let writers: Vec<String> = g.writers.iter().map(|w| show_str(&w.to_string())).collect();
            let by = if writers.is_empty() {
                String::new()
            } else {
                format!("  by {}", writers.join(", "))
            };
            format!("  {path:<w0$}  {files:>w1$}  {bytes:>w2$}{by}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(path: &str, files: u64, bytes: u64, writer: Option<(&str, &str)>) -> GroupReport {
        GroupReport {
            path: path.into(),
            kind: "file".into(),
            suggest: String::new(),
            files,
            bytes,
            first_seen: 0,
            last_seen: 0,
            writers: writer
                .map(|(comm, unit)| Writer {
                    comm: comm.into(),
                    unit: Some(unit.into()),
                })
                .into_iter()
                .collect(),
            approximate: false,
            paths: Vec::new(),
            path_hex: None,
            dirs: 0,
        }
    }

    /// The demo's two host keys (paths of different lengths) and a group
    /// with a writer: every column starts at the same place.
    #[test]
    fn status_rows_line_up_whatever_the_widths() {
        let rows = group_rows(&[
            group("/etc/ssh/ssh_host_ed25519_key", 1, 65, None),
            group("/etc/ssh/ssh_host_ed25519_key.pub", 1, 45, None),
            group(
                "/var/lib/demo",
                12,
                1 << 20,
                Some(("sleep", "demo-writer.service")),
            ),
        ]);
        assert_eq!(
            rows,
            [
                "  /etc/ssh/ssh_host_ed25519_key        1 file     65 B",
                "  /etc/ssh/ssh_host_ed25519_key.pub    1 file     45 B",
                "  /var/lib/demo                      12 files  1.0 MiB  by sleep (demo-writer.service)",
            ]
        );
        let bad = group_rows(&[group("/srv/a\nb", 1, 1, None)]);
        assert!(!bad[0].contains('\n'), "{bad:?}");
    }
}
