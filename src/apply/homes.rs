//! Observing the users' homes for `plan::homes`: the root's `/etc/passwd`
//! and the owner of each candidate home directory, live first, then in
//! each persistence root (in config order).

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::facts::{Handles, rel};
use crate::config::Settings;
use crate::plan::homes::{Home, candidates, decide, parse_passwd, unresolved};
use crate::root::Root;
use crate::sys::fs;

/// The homes the entries of `settings` lie in (an unreadable passwd is an
/// empty one: only existing `/home/<name>` directories count then), and the
/// `/home/<name>` above entries that are nobody's yet (`unresolved`).
pub fn observe(root: &Root, h: &Handles, settings: &Settings) -> (Vec<Home>, Vec<PathBuf>) {
    let text = std::fs::read_to_string(root.host(Path::new("/etc/passwd"))).unwrap_or_default();
    let passwd = parse_passwd(&text);
    let paths = settings.entries.iter().map(|e| e.path.as_path());
    let mut existing = BTreeMap::new();
    let cands = candidates(&passwd, paths);
    for c in cands.iter().cloned() {
        let persist = settings
            .roots
            .iter()
            .filter_map(|r| h.persist(&r.path).ok());
        let owner = std::iter::once(h.root.as_fd())
            .chain(persist)
            .find_map(|fd| match fs::lstat_beneath(fd, rel(&c)) {
                Ok(Some(m)) if m.is_dir() => Some((m.uid, m.gid)),
                _ => None,
            });
        if let Some(o) = owner {
            existing.insert(c, o);
        }
    }
    let unknown = unresolved(&cands, &passwd, &existing);
    (decide(&passwd, &existing), unknown)
}
