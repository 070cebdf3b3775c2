//! Files `impermctl persist` copied (`method = "copy"`) that the config does
//! not declare yet: `diff` lists them as losses (what is written live now is
//! lost at the next boot unless the entry is added) and says so under the
//! group holding each, in every format that shows them: the grouped summary,
//! `-l` (a line per copy after the list) and `--json` (each group's
//! `undeclared_copies`). The facts are `persist`'s records, as `status`
//! reads them.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::diff::grouped::Group;

/// One copied, undeclared file (in JSON `{path, path_hex?, source}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UndeclaredCopy {
    /// The live path (logical).
    #[serde(serialize_with = "crate::names::lossy")]
    pub path: PathBuf,
    /// The path's bytes in hex when they are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_hex: Option<String>,
    /// Its persistent copy (logical).
    #[serde(serialize_with = "crate::names::lossy")]
    pub source: PathBuf,
}

impl UndeclaredCopy {
    /// A copy of `path` at `source`.
    pub fn new(path: PathBuf, source: PathBuf) -> UndeclaredCopy {
        let path_hex = crate::names::hex(&path);
        UndeclaredCopy {
            path,
            path_hex,
            source,
        }
    }

    /// What to say of it (under its group, or after its path in `-l`).
    pub fn text(&self) -> String {
        format!(
            "copied to {} by `impermctl persist` (method = \"copy\"); not in the config yet: what is written here now is lost at the next boot unless added (`impermctl status` shows the line)",
            crate::names::show(&self.source)
        )
    }
}

/// The copies `persist` recorded this boot (`persist::records`) whose path
/// no config entry declares. Unreadable records: none (`status` names the
/// error).
pub fn find(root: &crate::root::Root, settings: &crate::config::Settings) -> Vec<UndeclaredCopy> {
    let records = crate::persist::records(root).unwrap_or_default();
    let declared = |p: &Path| settings.entries.iter().any(|e| e.path == p);
    records
        .into_iter()
        .filter(|r| r.copy && !declared(&r.path))
        .map(|r| UndeclaredCopy::new(r.path, r.source))
        .collect()
}

/// Give each copy to the innermost group holding its path; a copy no group
/// holds (unchanged since the baseline, outside the PATHs asked for) is
/// not said: `diff` does not list it.
pub fn place(groups: &mut [Group], copies: Vec<UndeclaredCopy>) {
    for c in copies {
        let inner = (groups.iter_mut())
            .filter(|g| c.path.starts_with(&g.path))
            .max_by_key(|g| g.path.as_os_str().len());
        if let Some(g) = inner {
            g.undeclared_copies.push(c);
        }
    }
}

/// `-l`: one line per copy the groups hold, `PATH: copied to …`.
pub fn long(out: &mut impl Write, groups: &[Group]) -> io::Result<()> {
    for c in groups.iter().flat_map(|g| &g.undeclared_copies) {
        let path = crate::names::human(c.path.as_os_str().as_encoded_bytes());
        writeln!(out, "{path}: {}", c.text())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::grouped::GroupClass;

    fn group(p: &str) -> Group {
        Group::new(
            p.into(),
            crate::config::Kind::Directory,
            GroupClass::Ordinary,
        )
    }

    /// Which group says each copy: the innermost holding it, or none.
    #[test]
    fn each_copy_goes_to_the_innermost_group_holding_it() {
        let table: &[(&[&str], &str, Option<&str>)] = &[
            (&["/etc/ssh/key"], "/etc/ssh/key", Some("/etc/ssh/key")),
            (
                &["/etc/ssh", "/etc/ssh/key"],
                "/etc/ssh/key",
                Some("/etc/ssh/key"),
            ),
            (
                &["/etc/ssh/key", "/etc/ssh"],
                "/etc/ssh/key",
                Some("/etc/ssh/key"),
            ),
            (&["/var/lib/app"], "/var/lib/app/key", Some("/var/lib/app")),
            (&["/var/lib/ap"], "/var/lib/app/key", None),
            (&["/root/notes"], "/root/.bash_history", None),
            (&[], "/root/.bash_history", None),
        ];
        for (groups, copy, want) in table {
            let mut gs: Vec<Group> = groups.iter().map(|p| group(p)).collect();
            let c = UndeclaredCopy::new(copy.into(), Path::new("/persistent").join(&copy[1..]));
            place(&mut gs, vec![c.clone()]);
            let holders: Vec<&str> = (gs.iter())
                .filter(|g| g.undeclared_copies == [c.clone()])
                .map(|g| g.path.to_str().unwrap())
                .collect();
            assert_eq!(
                holders,
                want.iter().copied().collect::<Vec<_>>(),
                "{groups:?} {copy}"
            );
            let said: usize = gs.iter().map(|g| g.undeclared_copies.len()).sum();
            assert_eq!(said, usize::from(want.is_some()), "{groups:?} {copy}");
        }
    }

    /// `-l` names the path, escaped as everywhere, then the same sentence.
    #[test]
    fn list_lines_name_the_path_then_the_hint() {
        let mut gs = vec![group("/root")];
        let weird = PathBuf::from("/root/a\nb");
        place(
            &mut gs,
            vec![UndeclaredCopy::new(weird, "/persistent/root/a".into())],
        );
        let mut out = Vec::new();
        long(&mut out, &gs).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("/root/a\\nb: copied to /persistent/root/a by `impermctl persist`"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1, "{text}");
    }
}
