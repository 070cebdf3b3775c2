//! What plain `diff` leaves out under `watch.ignore` (`/tmp`, `/var/tmp`):
//! not compared by default, but lost at the next reboot all the same.
//! `watch.ignore` means "not warned about, not listed by default", not
//! "never shown": `--all` compares those paths, and so does `diff PATH`
//! for a PATH at or below one ([`named`]). The note under the totals
//! counts exactly what `--all` lists there ([`note`]): those paths
//! compared as `diff PATH` compares them, judged as `--all` judges them
//! (`judge::judge`). From the watcher's list only the names it kept there
//! are looked at, and the directories it stopped hearing are walked
//! ([`Listed`]); else the paths are walked: the same entries, the same count.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use serde::Serialize;

use crate::baseline::Baseline;
use crate::config::Settings;
use crate::diff::{Diff, Options, compare, fast, judge};
use crate::mountinfo::MountTable;
use crate::root::Root;
use crate::walk::{self, under};

/// The `watch.ignore` paths left out and what changed there (JSON
/// `ignored`: `{paths, changed}`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    /// Logical paths left out (those that exist as directories).
    pub paths: Vec<PathBuf>,
    /// Entries below them `--all` lists (changed since the basis).
    pub changed: u64,
}

/// What the watcher's list says about the ignored directories
/// (`changes::List::ignored_names`, `link_trees`), logical paths.
#[derive(Debug, Default, Clone)]
pub struct Listed {
    /// Every name below them there at the watcher's start or made since
    /// (but below `trees`), sorted.
    pub names: Vec<Vec<u8>>,
    /// Directories it stopped hearing: walked whole.
    pub trees: Vec<Vec<u8>>,
}

/// Does the user ask for a path at or below the ignored path `p`
/// (`diff /tmp`)? Then `p` is compared, as `--all` compares it.
pub fn named(p: &Path, subtrees: &[PathBuf]) -> bool {
    subtrees.iter().any(|s| s.starts_with(p))
}

/// `settings` with only the `watch.ignore` paths `diff` leaves out for
/// `opts`: none with `--all`, none that a PATH asked for lies in.
pub fn narrowed(settings: &Settings, opts: &Options) -> Option<Settings> {
    let ignore = &settings.watch.ignore;
    if !ignore.iter().any(|p| named(p, &opts.subtrees)) {
        return None;
    }
    let mut s = settings.clone();
    s.watch.ignore.retain(|p| !named(p, &opts.subtrees));
    Some(s)
}

/// The ignored paths of `ignore` left out for `subtrees` (in them, all
/// when empty; not asked for themselves) that are not mount points and
/// exist as directories on `root`.
fn left_out(
    root: &Root,
    ignore: &[PathBuf],
    mounts: &MountTable,
    subtrees: &[PathBuf],
) -> Vec<PathBuf> {
    let asked = |p: &Path| subtrees.is_empty() || subtrees.iter().any(|s| p.starts_with(s));
    let dir = |host: &Path| std::fs::symlink_metadata(host).is_ok_and(|m| m.is_dir());
    (ignore.iter())
        .filter(|p| asked(p) && !named(p, subtrees) && !mounts.is_mount_point(p))
        .filter(|p| !mounts.is_mount_point(&root.host(p)) && dir(&root.host(p)))
        .cloned()
        .collect()
}

/// What plain `diff` (for `opts`) left out under `watch.ignore` and how
/// many entries `--all` lists there: nothing with `--all`, which lists
/// them. `cx`: the main diff's placement context (not changed).
pub fn note(
    root: &Root,
    settings: &Settings,
    d: &Diff,
    opts: &Options,
    cx: &crate::classify::grouping::Context,
) -> anyhow::Result<Ignored> {
    if opts.all {
        return Ok(Ignored::default());
    }
    let mounts = root.mount_table()?;
    let paths = left_out(root, &settings.watch.ignore, &mounts, &opts.subtrees);
    if paths.is_empty() {
        return Ok(Ignored::default());
    }
    let mut items = compared(root, settings, &mounts, &paths, d.ignored.as_ref())?;
    // A hard link there to a changed file plain diff lists is that
    // file's change, counted once (trial-s8 finding 9).
    let listed: std::collections::HashSet<u64> = (d.items.iter())
        .filter(|i| i.nlink > 1 && i.ino != 0)
        .map(|i| i.ino)
        .collect();
    items.retain(|i| i.nlink < 2 || !listed.contains(&i.ino));
    let below = Diff {
        basis: d.basis,
        source: d.source.clone(),
        items,
        unreadable: Vec::new(),
        entries: 0,
        ignored: None,
    };
    let j = judge::judge(&below, root, &mut cx.clone(), true, true);
    let changed = j.groups.iter().map(|g| g.new + g.modified).sum();
    Ok(Ignored { paths, changed })
}

/// The items below `paths` (ignored, left out by plain `diff`) as `diff
/// PATH...` finds them: from the watcher's names there when it vouches for
/// them (`listed`) and they can stand for a walk, else by a walk.
fn compared(
    root: &Root,
    settings: &Settings,
    mounts: &MountTable,
    paths: &[PathBuf],
    listed: Option<&Listed>,
) -> anyhow::Result<Vec<compare::Item>> {
    let mut scope = walk::Scope::ephemeral(root.dir(), settings, mounts, false, paths);
    scope.check_dev = root.mountinfo_override().is_some();
    let baseline = Baseline::open(root)?;
    let btime = compare::boot_time()?;
    let count = AtomicU64::new(0);
    let bytes: Vec<&[u8]> = paths.iter().map(|p| p.as_os_str().as_bytes()).collect();
    let inside = |n: &Vec<u8>| bytes.iter().any(|p| under(p, n));
    if let Some(l) = listed {
        let visit = compare::Classify::new(baseline.as_ref(), btime, false);
        let list = fast::List {
            paths: l.names.iter().filter(|n| inside(n)).cloned().collect(),
            trees: l.trees.iter().filter(|n| inside(n)).cloned().collect(),
            ignored_links_heard: true,
            ..Default::default()
        };
        if let Ok((o, _)) = fast::classify(&scope, &visit, &list, None, paths, &count)? {
            return Ok(o.accs.into_iter().flat_map(|f| f.items).collect());
        }
    }
    let baseline = baseline.map(Baseline::into_resident).transpose()?;
    let visit = compare::Classify::new(baseline.as_ref(), btime, false);
    let o = walk::walk(&scope, &visit, walk::default_threads(), &count)?;
    Ok(o.accs.into_iter().flat_map(|f| f.items).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PATH at or below an ignored path is compared (not left out, not
    /// in the note); one above it leaves it out.
    #[test]
    fn a_path_asked_for_in_watch_ignore_is_compared() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in ["tmp/a", "var/tmp", "srv"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        let root = Root::new(Some(r.to_path_buf()), None);
        let mounts = MountTable::default();
        let ignore = [
            PathBuf::from("/tmp"),
            PathBuf::from("/var/tmp"),
            PathBuf::from("/gone"),
        ];
        let v = |s: &[&str]| s.iter().map(PathBuf::from).collect::<Vec<_>>();
        for (asked, out) in [
            (v(&[]), v(&["/tmp", "/var/tmp"])),
            (v(&["/tmp"]), v(&[])),
            (v(&["/tmp/a"]), v(&[])),
            (v(&["/var"]), v(&["/var/tmp"])),
            (v(&["/var", "/var/tmp/x"]), v(&[])),
            (v(&["/srv"]), v(&[])),
            (v(&["/"]), v(&["/tmp", "/var/tmp"])),
        ] {
            assert_eq!(left_out(&root, &ignore, &mounts, &asked), out, "{asked:?}");
            for p in &ignore {
                assert_eq!(named(p, &asked), asked.iter().any(|a| a.starts_with(p)));
            }
        }
    }
}
