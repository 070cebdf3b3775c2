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
    /// `method = "copy"` files whose live content is saved.
    pub saved: Vec<PathBuf>,
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
}

/// Where `e` stands given `f`.
pub fn decide(e: &Entry, f: &Facts<'_>) -> Standing {
    if f.state != EntryState::NotPersisted {
        return Standing::Kept;
    }
    let what = match e.kind {
        EntryKind::File => "file",
        EntryKind::Directory => "directory",
    };
    if let Some((message, remedy)) = f.refused {
        return Standing::Lost(format!(
            "its persistence root {} is unusable, so `impermctl boot` refuses it: {message} (fix: {remedy})",
            e.root.display()
        ));
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
            "a plain {what} on the ephemeral root, neither bound nor linked from {} (run `impermctl boot`; `impermctl status` shows every entry)",
            e.source.display()
        )),
    }
}

fn is_copy(e: &Entry) -> bool {
    e.kind == EntryKind::File && e.method == FileMethod::Copy
}

/// Observe and judge every declared entry of `settings` on `root`.
pub fn declared(root: &Root, settings: &Settings) -> Declared {
    let Ok(state) = layout::observe(root, settings) else {
        return Declared::default();
    };
    let v = layout::run_checks(&state, settings, &[]);
    let refused = v.refused_roots(settings);
    let mut out = Declared::default();
    for e in &settings.entries {
        let st = layout::entry_state(&state, e);
        let in_sync = (is_copy(e) && st == EntryState::NotPersisted)
            .then(|| crate::live::files::in_sync(root, e).map_err(|err| format!("{err:#}")));
        let facts = Facts {
            state: st,
            refused: refused
                .iter()
                .find(|(r, _)| *r == e.root)
                .map(|(_, f)| (f.message.as_str(), f.remedy.as_str())),
            in_sync,
            read_only: (is_copy(e) && crate::live::status::read_only(&root.host(&e.root)))
                .then(|| crate::live::status::remount_fix(&e.root, "impermctl sync")),
        };
        match decide(e, &facts) {
            Standing::Kept => {}
            Standing::Saved => out.saved.push(e.path.clone()),
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

/// Is `p` a saved copy file of `saved`?
pub fn is_saved(saved: &[PathBuf], p: &Path) -> bool {
    saved.iter().any(|s| s == p)
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
}
