//! What `status` says about `method = "copy"` files and pending entries
//! (from the config and `state.json`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::Settings;
use crate::root::Root;

/// The live-change state of one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "live", rename_all = "snake_case")]
pub enum LiveState {
    /// `method = "copy"`: a plain file, saved back on change and at shutdown.
    Copy,
    /// Seeded, not bound: processes write there; saved at shutdown, bound next boot.
    Pending {
        /// The writers seen when it became pending.
        writers: Vec<crate::state::WriterInfo>,
        /// Since when (seconds since the epoch).
        since: u64,
        /// When `impermctl sync` last saved it over its seed (seconds since the epoch).
        #[serde(skip_serializing_if = "Option::is_none")]
        saved: Option<u64>,
    },
    /// Bound from a seed that an earlier boot left pending and never saved
    /// (its mark, `live::unsaved`, is still there): what was written after
    /// `since` is lost.
    Unsaved {
        /// When seeding began (seconds since the epoch).
        since: u64,
        /// When a sync last saved it while processes still wrote there.
        #[serde(skip_serializing_if = "Option::is_none")]
        saved: Option<u64>,
    },
}

/// Per declared path that has one.
pub fn states(root: &Root, settings: &Settings) -> BTreeMap<PathBuf, LiveState> {
    let mut m: BTreeMap<_, _> = (super::sync::copy_entries(settings))
        .map(|e| (e.path.clone(), LiveState::Copy))
        .collect();
    if let Ok(Some(st)) = crate::state::read(&root.state_file()) {
        for p in st.pending {
            if super::pending::still_pending(&st.entries, settings, &p.path) {
                m.insert(
                    p.path.clone(),
                    LiveState::Pending {
                        writers: p.writers,
                        since: p.since,
                        saved: p.saved,
                    },
                );
            }
        }
    }
    for (e, mark) in super::unsaved::stale(root, settings) {
        let (since, saved) = (mark.since, mark.saved);
        m.entry(e.path.clone())
            .or_insert(LiveState::Unsaved { since, saved });
    }
    m
}

/// The text `status` prints for an entry in state `s` (source shown as `source`).
pub fn describe(s: &LiveState, source: &std::path::Path) -> String {
    match s {
        LiveState::Copy => format!(
            "copy of {} (saved back on change and at shutdown)",
            crate::names::show(source)
        ),
        LiveState::Pending { writers, saved, .. } => {
            let list: Vec<String> = writers.iter().map(ToString::to_string).collect();
            let last = saved.map_or(String::new(), |t| {
                let t = crate::human::local_time(i64::try_from(t).unwrap_or(i64::MAX));
                format!(" (last saved {t})")
            });
            let by = match writers.iter().any(|w| w.listening) {
                true => "in use by",
                false => "written by",
            };
            format!(
                "PENDING: seeded to {}, not bound while {by} {}; saved at shutdown{last}, bound at the next boot",
                crate::names::show(source),
                list.join(", ")
            )
        }
        LiveState::Unsaved { since, saved } => super::unsaved::describe(source, *since, *saved),
    }
}

/// What is true of a `method = "copy"` file right now: the live file and
/// its persistent copy (size and mtime of each regular file, `None` when
/// absent) and whether the persistence root is mounted read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyFacts {
    /// The file on the ephemeral root.
    pub live: Option<(u64, i64, i64)>,
    /// Its persistent copy.
    pub source: Option<(u64, i64, i64)>,
    /// The persistence root is on a read-only mount.
    pub read_only: bool,
    /// Both exist and hold the same content, owner, mode and mtime (the
    /// sync's own test, `live::files::in_sync`).
    pub same: bool,
    /// When the persistent copy was last written (its ctime, seconds since
    /// the epoch: a save renames a new copy over it).
    pub saved: Option<i64>,
    /// The live file was deleted after this boot put it in place
    /// (`files::deleted`): the sync moves the persistent copy aside.
    pub deleted: bool,
}

/// How a `method = "copy"` file and its persistent copy compare now
/// (`status --json`'s `copy_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyState {
    /// Both hold the same: nothing to save.
    Same,
    /// The live file differs: the sync saves it (within a second of a
    /// change, and at shutdown), unless the root is read-only.
    Changed,
    /// The live file exists, its persistent copy does not yet.
    NotSaved,
    /// The persistent copy exists, the live file does not (`boot` copies it in).
    Missing,
    /// Neither exists.
    Absent,
}

/// Decide (pure) the [`CopyState`] of `f`.
pub fn copy_state(f: &CopyFacts) -> CopyState {
    match (f.live, f.source) {
        (Some(_), Some(_)) if f.same => CopyState::Same,
        (Some(_), Some(_)) => CopyState::Changed,
        (Some(_), None) => CopyState::NotSaved,
        (None, Some(_)) => CopyState::Missing,
        (None, None) => CopyState::Absent,
    }
}

/// Observe [`CopyFacts`] for the copy entry `e` under `root`.
pub fn copy_facts(root: &Root, e: &crate::config::Entry) -> CopyFacts {
    use std::os::unix::fs::MetadataExt;
    let file = |p: &std::path::Path| {
        std::fs::symlink_metadata(root.host(p))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| (m.size(), m.mtime(), m.mtime_nsec()))
    };
    let (live, source) = (file(&e.path), file(&e.source));
    CopyFacts {
        live,
        source,
        read_only: read_only(&root.host(&e.root)),
        same: live.is_some() && source.is_some() && super::files::in_sync(root, e).unwrap_or(false),
        saved: source
            .and_then(|_| std::fs::symlink_metadata(root.host(&e.source)).ok())
            .map(|m| m.ctime()),
        deleted: live.is_none()
            && source.is_some()
            && super::files::deleted(root, e, &super::files::copied_this_boot(root)),
    }
}

/// Is `host` on a read-only mount (statvfs `ST_RDONLY`)?
pub fn read_only(host: &std::path::Path) -> bool {
    nix::sys::statvfs::statvfs(host)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// The fix for a read-only persistence root `root` (logical path), then `then`.
pub fn remount_fix(root: &std::path::Path, then: &str) -> String {
    let r = crate::names::show(root);
    format!(
        "{r} is read-only: remount it read-write (`mount -o remount,rw {r}`), then run `{then}` again"
    )
}

/// What `status` says of a copy entry, and whether it is a finding
/// (something would be lost or cannot be saved). Pure: decided from `f`
/// and `refused`: why its persistence root takes no writes (the layout
/// gate refuses it: `sync` saves nothing there, so it is not the advice;
/// trial-s11 F11r), e.g. `its root /persistent is unusable, see [check]
/// above`.
pub fn describe_copy(
    f: &CopyFacts,
    e: &crate::config::Entry,
    refused: Option<&str>,
) -> (String, bool) {
    let (p, s) = (crate::names::show(&e.path), crate::names::show(&e.source));
    if let Some(why) = refused {
        return match f.live {
            Some(_) => (
                format!(
                    "NOT SAVED: {why}: `impermctl sync` refuses to save {p} to {s} until that is fixed, and the next boot loses {p} (keep a copy of it off the root, e.g. off the VPS, to put back once it is fixed)"
                ),
                true,
            ),
            None => (format!("MISSING (refused: {why})"), true),
        };
    }
    let ro = f.read_only.then(|| remount_fix(&e.root, "impermctl sync"));
    let when = f
        .saved
        .map(|t| format!(" (last saved {})", crate::human::local_time(t)))
        .unwrap_or_default();
    match (f.live, f.source, ro) {
        (Some(_), Some(_), _) if f.same => (
            format!("copy of {s}, the same now{when}; saved back on change and at shutdown"),
            false,
        ),
        (Some(_), Some(_), Some(fix)) => (
            format!("CHANGES NOT SAVED: {p} differs from {s}{when}, and {fix}"),
            true,
        ),
        (Some(_), Some(_), None) => (
            format!(
                "copy of {s}, CHANGED since the last save{when}: impermctl-sync.service saves it within a second and at shutdown (or run `impermctl sync`)"
            ),
            false,
        ),
        (Some(_), None, Some(fix)) => (format!("NOT SAVED: {s} does not exist, and {fix}"), true),
        (Some(_), None, None) => (
            format!(
                "NOT SAVED yet: {s} does not exist; run `impermctl sync` (until then {p} is lost at the next boot)"
            ),
            true,
        ),
        (None, Some(_), Some(fix)) if f.deleted => (
            format!(
                "DELETED since boot, but {s} cannot be moved aside, so the next boot brings it back: {fix}"
            ),
            true,
        ),
        (None, Some(_), None) if f.deleted => (
            format!(
                "deleted since boot: the deletion is kept, impermctl-sync.service moves {s} aside to {}/ within a second and at shutdown (or run `impermctl sync`), so the next boot does not bring it back (to undo the deletion: `cp -a {s} {p}`)",
                crate::names::show(&e.root.join(super::keep::KEPT_DIR))
            ),
            false,
        ),
        (None, Some(_), _) => (
            format!("MISSING on the ephemeral root: `impermctl boot` copies {s} there"),
            true,
        ),
        (None, None, Some(fix)) => (
            format!(
                "neither {p} nor {s} exists yet; once {p} is created it CANNOT BE SAVED: {fix}"
            ),
            true,
        ),
        (None, None, None) => (
            format!("neither {p} nor {s} exists yet (saved to {s} once {p} is created)"),
            false,
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{CopyFacts, CopyState, copy_state, describe_copy};

    #[test]
    fn a_copy_entry_is_described_by_what_exists() {
        let s = crate::config::parse(
            "version = 1\n[[persistence]]\npath = \"/persistent\"\nfiles = [ { path = \"/etc/shadow\", method = \"copy\" } ]\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        let e = &s.entries[0];
        let (a, b) = (Some((5, 1, 0)), Some((6, 2, 0)));
        for (live, source, read_only, want, finding) in [
            (
                a,
                a,
                false,
                "copy of /persistent/etc/shadow, the same now; saved back",
                false,
            ),
            (
                a,
                a,
                true,
                "copy of /persistent/etc/shadow, the same now; saved back",
                false,
            ),
            (
                a,
                b,
                false,
                "CHANGED since the last save: impermctl-sync",
                false,
            ),
            (a, b, true, "CHANGES NOT SAVED: /etc/shadow differs", true),
            (
                a,
                None,
                false,
                "NOT SAVED yet: /persistent/etc/shadow does not exist; run `impermctl sync`",
                true,
            ),
            (
                a,
                None,
                true,
                "NOT SAVED: /persistent/etc/shadow does not exist, and /persistent is read-only: remount it read-write (`mount -o remount,rw /persistent`), then run `impermctl sync` again",
                true,
            ),
            (None, a, false, "MISSING on the ephemeral root", true),
            (
                None,
                None,
                false,
                "neither /etc/shadow nor /persistent/etc/shadow exists yet (saved",
                false,
            ),
            (
                None,
                None,
                true,
                "CANNOT BE SAVED: /persistent is read-only",
                true,
            ),
        ] {
            let f = CopyFacts {
                live,
                source,
                read_only,
                same: live.is_some() && live == source,
                saved: None,
                deleted: false,
            };
            let (text, is) = describe_copy(&f, e, None);
            assert!(text.contains(want), "{f:?}: {text}");
            assert_eq!(is, finding, "{f:?}: {text}");
            assert!(!is || flagged(&text), "a finding says so: {text}");
            // Its root refused (trial-s11 F11r): never "run `impermctl sync`".
            let why = "its root /persistent is unusable, see [persistent-root-mounted] above";
            let (text, is) = describe_copy(&f, e, Some(why));
            assert!(text.contains(why) && is && flagged(&text), "{f:?}: {text}");
            assert!(!text.contains("run `impermctl sync`"), "{f:?}: {text}");
            let state = match (live, source) {
                (Some(l), Some(s)) if l == s => CopyState::Same,
                (Some(_), Some(_)) => CopyState::Changed,
                (Some(_), None) => CopyState::NotSaved,
                (None, Some(_)) => CopyState::Missing,
                (None, None) => CopyState::Absent,
            };
            assert_eq!(copy_state(&f), state, "{f:?}");
        }
        let deleted = |read_only| CopyFacts {
            live: None,
            source: a,
            read_only,
            deleted: true,
            ..CopyFacts::default()
        };
        let (text, is) = describe_copy(&deleted(false), e, None);
        assert!(
            text.contains("deletion is kept")
                && text.contains("/persistent/impermctl-kept/")
                && !is,
            "{text}"
        );
        let (text, is) = describe_copy(&deleted(true), e, None);
        assert!(
            text.contains("brings it back") && is && flagged(&text),
            "{text}"
        );
    }

    /// Does `text` carry a flag, a word in capitals (`NOT PERSISTED`,
    /// `MISSING`, `NOT SAVED`…), the way `status` marks what is lost
    /// (trial s11 N15: an exit 1 with no line flagged)?
    pub(crate) fn flagged(text: &str) -> bool {
        text.split(|c: char| !c.is_ascii_alphabetic())
            .any(|w| w.len() >= 3 && w.bytes().all(|b| b.is_ascii_uppercase()))
    }
}
