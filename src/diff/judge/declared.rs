//! Declared entries as they stand on the live system, for `diff`: which
//! are lost and why (not bound nor linked, a `method = "copy"` file not
//! saved yet, a persistence root `boot` refuses), and which copy files are
//! saved (their live content is the persistent copy: not a loss).
//! Observe ([`declared`]) → decide ([`decide`], pure, table-tested).

use std::path::{Path, PathBuf};

use crate::config::{Entry, FileMethod, Kind as EntryKind, Settings};
use crate::layout::{self, EntryState};
use crate::root::Root;

/// Where one declared entry stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Bound, linked, missing or otherwise not a loss of its own.
    Kept,
    /// A `method = "copy"` file whose persistent copy matches it.
    Saved,
    /// Its content on the ephemeral root is lost: why (with the fix).
    Lost(String),
}

/// What `diff` needs about the declared entries.
#[derive(Debug, Default, Clone)]
pub struct Declared {
    /// Entries whose content on the ephemeral root is lost: path, is a
    /// file, the reason.
    pub not_persisted: Vec<(PathBuf, bool, String)>,
    /// `method = "copy"` files and pending entries whose live content is
    /// saved, each with the reason `diff --all` labels it with.
    pub saved: Vec<(PathBuf, &'static str)>,
}

/// The facts about one entry [`decide`] needs.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// Its state in the live mount table and tree.
    pub state: EntryState,
    /// Its persistence root is refused by a fatal layout finding: the
    /// finding's message and remedy.
    pub refused: Option<(&'a str, &'a str)>,
    /// Copy files on the ephemeral root: is the live file saved (or why it
    /// could not be compared)?
    pub in_sync: Option<Result<bool, String>>,
    /// The persistence root is read-only: the fix (the sync cannot save).
    pub read_only: Option<String>,
    /// Pending (`state.json`): seeded, not bound while processes write
    /// there (what they do, `live::pending::activity`: `write there`, or
    /// listen on a unix socket there); `in_sync` then says whether the
    /// live tree matches its seed.
    pub pending: Option<&'static str>,
    /// Why the last `boot` failed the entry (`state.json`), if it did.
    pub failed: Option<&'a str>,
    /// A directory whose symlink leads to data on the ephemeral root:
    /// why `boot` refuses it, with the line that persists the data
    /// ([`layout::DirLink::refusal`]).
    pub dir_link: Option<String>,
    /// What to do about a plain entry (`plan::advice::not_in_place`:
    /// `boot`, unless it would put the persistent version over the live
    /// data); `None`: not looked at (`plan::advice::RUN_BOOT`).
    pub advice: Option<String>,
}

/// Where `e` stands given `f`.
pub fn decide(e: &Entry, f: &Facts<'_>) -> Standing {
    if let Some(why) = &f.dir_link {
        return Standing::Lost(format!("`impermctl boot` refuses it: {why}"));
    }
    if f.state != EntryState::NotPersisted {
        return Standing::Kept;
    }
    if let Some((message, remedy)) = f.refused {
        return Standing::Lost(format!(
            "its persistence root {} is unusable, so `impermctl boot` refuses it: {message} (fix: {remedy})",
            e.root.display()
        ));
    }
    if let Some(doing) = f.pending {
        return pending(e, f, doing);
    }
    match &f.in_sync {
        Some(Ok(true)) => Standing::Saved,
        Some(Ok(false)) if f.read_only.is_some() => Standing::Lost(format!(
            "a `method = \"copy\"` file changed since it was last saved to {}, and {}",
            e.source.display(),
            f.read_only.as_deref().unwrap_or_default()
        )),
        Some(Ok(false)) => Standing::Lost(format!(
            "a `method = \"copy\"` file changed since it was last saved to {} (run `impermctl sync`; impermctl-sync.service saves it on change and at shutdown)",
            e.source.display()
        )),
        Some(Err(err)) => Standing::Lost(format!(
            "a `method = \"copy\"` file that cannot be compared with {}: {err} (run `impermctl sync` to save it)",
            e.source.display()
        )),
        None => Standing::Lost(format!(
            "a plain {} on the ephemeral root, neither bound nor linked from {} ({}; `impermctl status` shows every entry)",
            e.kind.word(),
            e.source.display(),
            match f.failed {
                Some(err) => format!("the last `impermctl boot` failed on it: {err}"),
                None => f
                    .advice
                    .clone()
                    .unwrap_or_else(|| crate::plan::advice::RUN_BOOT.into()),
            }
        )),
    }
}

/// [`decide`] for a pending entry: judged like a copy file, against its seed.
fn pending(e: &Entry, f: &Facts<'_>, doing: &str) -> Standing {
    let (path, source) = (e.path.display(), e.source.display());
    let what = format!(
        "pending (seeded to {source}, not bound while processes {doing}; impermctl-sync.service saves it over the seed at shutdown after they stopped, and the next boot binds it)"
    );
    match (&f.in_sync, &f.read_only) {
        (Some(Ok(true)) | None, _) => Standing::Saved,
        (Some(Ok(false)), Some(fix)) => Standing::Lost(format!(
            "{what}: {path} changed since it was seeded or last saved, and {fix}"
        )),
        (Some(Ok(false)), None) => Standing::Lost(format!(
            "{what}: {path} changed since it was seeded or last saved (to save it now: stop its writers, then run `impermctl sync`)"
        )),
        (Some(Err(err)), _) => Standing::Lost(format!(
            "{what}: {path} cannot be compared with its seed: {err}"
        )),
    }
}

fn is_copy(e: &Entry) -> bool {
    e.kind == EntryKind::File && e.method == FileMethod::Copy
}

/// Judge every declared entry of `settings` on `root` as `layout` saw them;
/// `written`: advise on a plain entry as if its path held data (the
/// watcher: it says the reason after a write there).
pub fn declared(
    root: &Root,
    settings: &Settings,
    layout: &super::Layout,
    written: bool,
) -> Declared {
    let Some((state, v)) = layout.get() else {
        return Declared::default();
    };
    let refused = v.refused_roots(settings);
    let mut out = Declared::default();
    let live = crate::live::status::states(root, settings);
    let failed = crate::state::failed(root);
    // Opened for the first plain entry that is not in place (rare).
    let handles = std::cell::OnceCell::new();
    let advise = |e: &Entry| {
        let h = handles.get_or_init(|| crate::apply::Handles::open(root, settings).ok());
        Some(crate::apply::advice(
            h.as_ref()?,
            settings,
            &state.mounts,
            e,
            written,
        ))
    };
    let mut judged = Vec::new();
    for e in &settings.entries {
        let st = layout::entry_state(state, e);
        let doing = match live.get(&e.path) {
            Some(crate::live::status::LiveState::Pending { writers, .. }) => {
                Some(crate::live::pending::activity(writers))
            }
            _ => None,
        };
        let doing = doing.filter(|_| st == EntryState::NotPersisted);
        let pending = doing.is_some();
        let in_sync = if pending {
            Some(same_as_seed(root, e))
        } else {
            (is_copy(e) && st == EntryState::NotPersisted)
                .then(|| crate::live::files::in_sync(root, e).map_err(|err| format!("{err:#}")))
        };
        let advice = (st == EntryState::NotPersisted && !pending && !is_copy(e))
            .then(|| advise(e))
            .flatten();
        let facts = Facts {
            state: st,
            refused: refused
                .iter()
                .find(|(r, _)| *r == e.root)
                .map(|(_, f)| (f.message.as_str(), f.remedy.as_str())),
            in_sync,
            read_only: ((pending || is_copy(e))
                && crate::live::status::read_only(&root.host(&e.root)))
            .then(|| crate::live::status::remount_fix(&e.root, "impermctl sync")),
            advice,
            pending: doing,
            failed: failed.get(&e.path).map(String::as_str),
            dir_link: layout::dir_link(state, settings, e).map(|l| l.refusal(e)),
        };
        judged.push((e, facts));
    }
    // `boot` acts on every entry: an advice to run it says which others
    // it would roll back (trial-s11 F13r).
    let rollbacks: Vec<PathBuf> = (judged.iter())
        .filter(|(_, f)| (f.advice.as_deref()).is_some_and(crate::plan::advice::rolls_back))
        .map(|(e, _)| e.path.clone())
        .collect();
    for (e, mut facts) in judged {
        let doing = facts.pending;
        let pending = doing.is_some();
        if !rollbacks.is_empty() {
            let said = (facts.advice.as_deref()).unwrap_or(crate::plan::advice::RUN_BOOT);
            facts.advice = Some(crate::plan::advice::mind_others(said, &e.path, &rollbacks));
        }
        match decide(e, &facts) {
            Standing::Kept => {}
            Standing::Saved if doing.is_some_and(|d| d != "write there") => {
                out.saved.push((e.path.clone(), PENDING_SAVED_LISTENING));
            }
            Standing::Saved if pending => out.saved.push((e.path.clone(), PENDING_SAVED)),
            Standing::Saved => out.saved.push((e.path.clone(), SAVED)),
            Standing::Lost(why) => {
                out.not_persisted
                    .push((e.path.clone(), e.kind == EntryKind::File, why));
            }
        }
    }
    out
}

/// Why a saved copy file is not a loss (`diff --all` labels it so).
pub const SAVED: &str = "a `method = \"copy\"` file whose persistent copy is up to date (impermctl-sync.service saves it on change and at shutdown)";

/// Why a pending entry whose live tree matches its seed is not a loss.
pub const PENDING_SAVED: &str = "pending (not bound while processes write there), and the same as its seed in persistence (impermctl-sync.service saves it at shutdown, the next boot binds it)";

/// [`PENDING_SAVED`] when processes serve a unix socket there.
pub const PENDING_SAVED_LISTENING: &str = "pending (not bound while processes listen on a unix socket there: a bind would hide it from their clients), and the same as its seed in persistence (impermctl-sync.service saves it at shutdown, the next boot binds it before they start)";

/// Does the live tree of the pending entry `e` match its seed (types,
/// owner, mode, mtime, size, xattrs, bytes)? Errors name the path.
fn same_as_seed(root: &Root, e: &Entry) -> Result<bool, String> {
    let how = crate::copy::Differ { content: true };
    crate::copy::compare_trees(&root.host(&e.path), &root.host(&e.source), how)
        .map(|d| d.is_none())
        .map_err(|err| format!("{err:#}"))
}

/// If `p` is a saved copy file or lies in a saved pending entry of
/// `saved`: why it is not a loss.
pub fn saved_why(saved: &[(PathBuf, &'static str)], p: &Path) -> Option<&'static str> {
    saved
        .iter()
        .find(|(s, _)| p.starts_with(s))
        .map(|(_, w)| *w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: EntryKind, method: FileMethod) -> Entry {
        let list = match (kind, method) {
            (EntryKind::Directory, _) => format!("directories = [\"{path}\"]"),
            (_, FileMethod::Copy) => {
                format!("files = [{{ path = \"{path}\", method = \"copy\" }}]")
            }
            _ => format!("files = [\"{path}\"]"),
        };
        let text = format!("version = 1\n[[persistence]]\npath = \"/persistent\"\n{list}\n");
        let s = crate::config::parse(&text, Path::new("c.toml")).unwrap();
        s.entries[0].clone()
    }

    #[test]
    fn copy_files_are_saved_unless_they_changed_and_refused_roots_say_so() {
        let copy = entry("/etc/shadow", EntryKind::File, FileMethod::Copy);
        let dir = entry("/etc/nixos", EntryKind::Directory, FileMethod::Auto);
        let f = |state, refused, in_sync| Facts {
            state,
            refused,
            in_sync,
            read_only: None,
            pending: None,
            failed: None,
            dir_link: None,
            advice: None,
        };
        let np = EntryState::NotPersisted;
        let lost = |s: Standing, needle: &str| match s {
            Standing::Lost(why) => assert!(why.contains(needle), "{why} lacks {needle}"),
            other => panic!("{other:?} is not lost ({needle})"),
        };
        assert_eq!(
            decide(&copy, &f(np.clone(), None, Some(Ok(true)))),
            Standing::Saved
        );
        lost(
            decide(&copy, &f(np.clone(), None, Some(Ok(false)))),
            "changed since it was last saved to /persistent/etc/shadow (run `impermctl sync`",
        );
        let ro = Facts {
            read_only: Some("/persistent is read-only: remount it".into()),
            ..f(np.clone(), None, Some(Ok(false)))
        };
        lost(
            decide(&copy, &ro),
            "changed since it was last saved to /persistent/etc/shadow, and /persistent is read-only: remount it",
        );
        lost(
            decide(&copy, &f(np.clone(), None, Some(Err("EACCES".into())))),
            "cannot be compared with /persistent/etc/shadow: EACCES",
        );
        lost(
            decide(&dir, &f(np.clone(), None, None)),
            "a plain directory on the ephemeral root, neither bound nor linked",
        );
        // Trial-s10 F7: the last boot failed it; its cause, not a rerun.
        let failed = Facts {
            failed: Some("not enough free space for a copy of /etc/nixos"),
            ..f(np.clone(), None, None)
        };
        let Standing::Lost(why) = decide(&dir, &failed) else {
            panic!()
        };
        assert!(
            why.contains("(the last `impermctl boot` failed on it: not enough free space")
                && !why.contains("(run `impermctl boot`"),
            "{why}"
        );
        let refused = Some(("/persistent is not a mount point", "mount it"));
        for e in [&copy, &dir] {
            let why = decide(e, &f(np.clone(), refused, Some(Ok(true))));
            lost(why.clone(), "its persistence root /persistent is unusable");
            lost(
                why.clone(),
                "/persistent is not a mount point (fix: mount it)",
            );
            let Standing::Lost(text) = why else { panic!() };
            assert!(!text.contains("run `impermctl boot`"), "{text}");
        }
        for st in [
            EntryState::Bound,
            EntryState::Symlinked,
            EntryState::Missing,
        ] {
            assert_eq!(decide(&dir, &f(st.clone(), refused, None)), Standing::Kept);
            assert_eq!(decide(&copy, &f(st, None, Some(Ok(false)))), Standing::Kept);
        }
    }

    #[test]
    fn pending_entries_are_judged_against_their_seed_like_copy_files() {
        let dir = entry("/var/lib/live", EntryKind::Directory, FileMethod::Auto);
        let f = |in_sync, read_only: Option<&str>| Facts {
            state: EntryState::NotPersisted,
            refused: None,
            in_sync,
            read_only: read_only.map(Into::into),
            pending: Some("write there"),
            failed: None,
            dir_link: None,
            advice: None,
        };
        assert_eq!(decide(&dir, &f(Some(Ok(true)), None)), Standing::Saved);
        for (facts, want) in [
            (
                f(Some(Ok(false)), None),
                "stop its writers, then run `impermctl sync`",
            ),
            (
                f(Some(Ok(false)), Some("/persistent is read-only")),
                "and /persistent is read-only",
            ),
            (
                f(Some(Err("EIO".into())), None),
                "cannot be compared with its seed: EIO",
            ),
        ] {
            let Standing::Lost(why) = decide(&dir, &facts) else {
                panic!("{facts:?}")
            };
            assert!(
                why.contains(want) && why.contains("pending (seeded to /persistent/var/lib/live"),
                "{why}"
            );
            assert!(!why.contains("impermctl boot`"), "{why}");
        }
        let bound = Facts {
            state: EntryState::Bound,
            ..f(Some(Ok(false)), None)
        };
        assert_eq!(decide(&dir, &bound), Standing::Kept);
    }
}
