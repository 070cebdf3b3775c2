//! `/run/impermctl/persisted.json`: the paths `persist` moved into
//! persistence during this boot, for `boot` to fold into `state.json`.
//! Written atomically (temp file, fsync, rename, fsync of the directory).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Kind;

/// The document's `kind`.
pub const KIND: &str = "Persisted";

/// One path persisted by `impermctl persist`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The live path (logical).
    pub path: PathBuf,
    /// The persistence root.
    pub root: PathBuf,
    /// Where the data lives now (logical): `root` + `path`.
    pub source: PathBuf,
    /// Directory or file.
    pub kind: Kind,
    /// When it was bound (seconds since the epoch).
    pub since: u64,
    /// When the copy began (`state::now_coarse_ns`, the clock of ctimes),
    /// as `state::Recorded::seeded_ns`: an original under the bind with
    /// an older ctime is what was copied, no loss (`diff::shadowed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeded_ns: Option<u64>,
    /// Copied only, not bound (`method = "copy"`, see `persist::Method`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub copy: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Body {
    paths: Vec<Record>,
}

/// The records in `file` (none when it does not exist).
pub fn read(file: &Path) -> anyhow::Result<Vec<Record>> {
    let body: Option<Body> = crate::output::read_file(
        file,
        KIND,
        "remove it (the data stays in persistence; `persist` writes it again)",
    )?;
    Ok(body.unwrap_or_default().paths)
}

/// Add (or replace, by path) `rec` in `file`, atomically.
pub fn upsert(file: &Path, rec: Record) -> anyhow::Result<()> {
    let mut paths = read(file)?;
    paths.retain(|r| r.path != rec.path);
    paths.push(rec);
    paths.sort_by(|a, b| a.path.cmp(&b.path));
    crate::output::write_file(file, KIND, &Body { paths }, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_adds_and_replaces_by_path() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("run/impermctl/persisted.json");
        let rec = |p: &str, since| Record {
            path: p.into(),
            root: "/persistent".into(),
            source: Path::new("/persistent").join(&p[1..]),
            kind: Kind::Directory,
            since,
            seeded_ns: None,
            copy: false,
        };
        upsert(&f, rec("/var/lib/b", 1)).unwrap();
        upsert(&f, rec("/var/lib/a", 2)).unwrap();
        upsert(&f, rec("/var/lib/b", 3)).unwrap();
        let got = read(&f).unwrap();
        assert_eq!(got, vec![rec("/var/lib/a", 2), rec("/var/lib/b", 3)]);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(v["api_version"], "impermctl/v2");
        assert_eq!(v["kind"], "Persisted");
        assert_eq!(v["paths"][0]["kind"], "directory");
        std::fs::write(&f, "{").unwrap();
        let e = format!("{:#}", read(&f).unwrap_err());
        assert!(
            e.contains("persisted.json") && e.contains("remove it"),
            "{e}"
        );
    }
}
