//! From what changed to what matters: each changed entry is classified
//! (`crate::classify`: regenerated, important, ordinary), placed in the
//! group a user would persist, and declared entries that are not actually
//! persisted (judged from the live mount table and links) are losses with
//! their reason, their whole content included.

use std::collections::HashSet;

use foldhash::{HashMap as FastMap, HashSet as FastSet};
use std::path::{Path, PathBuf};

use crate::classify::grouping::{self, Context, Placement};
use crate::classify::{Class, Classifier};
use crate::config::Settings;
use crate::diff::grouped::{Group, GroupClass, path_of};
use crate::diff::{Change, Diff, Item};
use crate::layout;
use crate::root::Root;
use crate::sys::meta::Kind;
use crate::walk::parent;

/// The judgement of a diff.
#[derive(Debug, Default)]
pub struct Judged {
    /// Per item of the diff (same order): its class.
    pub classes: Vec<Class>,
    /// Per item: shown without `--all` (a loss, or a directory holding one).
    pub visible: Vec<bool>,
    /// The groups (with `--all`, regenerated ones too), important first.
    pub groups: Vec<Group>,
    /// Changed non-directory entries hidden as regenerated (the files
    /// `--all`'s regenerated groups hold, summed).
    pub regenerated: u64,
    /// Changed `method = "copy"` files hidden as saved.
    pub saved: u64,
    /// Judged with `--all`.
    pub all: bool,
    /// Would anything be lost? (A loss group, or, when the groups were
    /// not formed, a visible item: each is in a loss group then.)
    pub loses: bool,
}

impl Judged {
    /// Would anything be lost?
    pub fn loses_data(&self) -> bool {
        self.loses
    }
}

/// Declared entries whose content on the ephemeral root is lost: path,
/// is a file, the reason ([`declared::declared`], advised as after a
/// write there: the watcher says it when one lands).
pub fn not_persisted(root: &Root, settings: &Settings) -> Vec<(PathBuf, bool, String)> {
    declared::declared(root, settings, &Layout::observe(root, settings), true).not_persisted
}

/// The layout as one `diff` sees it, observed once for
/// [`not_ephemeral`] and [`declared::declared`]: the state and the
/// checks' verdict (`None`: it could not be observed).
pub struct Layout(Option<(layout::State, layout::Verdict)>);

impl Layout {
    /// Observe `root` and run the layout checks on what was found.
    pub fn observe(root: &Root, settings: &Settings) -> Self {
        Self(layout::observe(root, settings).ok().map(|state| {
            let v = layout::run_checks(&state, settings, &[]);
            (state, v)
        }))
    }

    /// The state and the verdict, if observed.
    pub fn get(&self) -> Option<(&layout::State, &layout::Verdict)> {
        self.0.as_ref().map(|(s, v)| (s, v))
    }
}

/// Why the root is not ephemeral (nothing is discarded at reboot), if so.
/// Judged only when the root is a mount of its own (the live `/`, a
/// `--root` that is a mount point, or a `--mountinfo` table): a plain
/// directory given as `--root` is an image or a test tree.
pub fn not_ephemeral(root: &Root, layout: &Layout) -> Option<String> {
    not_ephemeral_by(root, layout.get()?.1)
}

/// [`not_ephemeral`], from the layout checks' verdict `v`.
pub fn not_ephemeral_by(root: &Root, v: &layout::Verdict) -> Option<String> {
    if !root.is_system() && root.mountinfo_override().is_none() && !is_mount_point(root.dir()) {
        return None;
    }
    v.findings
        .iter()
        .find(|f| f.check == "root-ephemeral" && f.message.contains("not an ephemeral root"))
        .map(|f| f.message.clone())
}

/// Is `dir` (symlinks followed) something mounted on? `statx`'s
/// `STATX_ATTR_MOUNT_ROOT` (Linux 5.8), else the live mount table.
fn is_mount_point(dir: &Path) -> bool {
    let attr = rustix::fs::statx(
        rustix::fs::CWD,
        dir,
        rustix::fs::AtFlags::empty(),
        rustix::fs::StatxFlags::BASIC_STATS,
    );
    let root = rustix::fs::StatxAttributes::MOUNT_ROOT;
    match attr {
        Ok(x) if x.stx_attributes_mask.contains(root) => x.stx_attributes.contains(root),
        _ => {
            let live = crate::mountinfo::MountTable::read(Path::new("/proc/self/mountinfo"));
            let dir = std::fs::canonicalize(dir);
            matches!((live, dir), (Ok(t), Ok(d)) if t.is_mount_point(&d))
        }
    }
}

/// Directories under `/etc` that existed at the baseline among the items'
/// ancestors (the only ones placement asks about: `grouping::place`).
fn existed(items: &[Item]) -> HashSet<PathBuf> {
    let new_dirs: FastSet<&[u8]> = items
        .iter()
        .filter(|i| i.kind == Kind::Dir && i.change == Change::New && i.path.starts_with(b"/etc/"))
        .map(|i| i.path.as_slice())
        .collect();
    let mut out: FastSet<&[u8]> = FastSet::default();
    for i in items.iter().filter(|i| i.path.starts_with(b"/etc/")) {
        // Up to the first new directory, or one already in.
        ancestors(&i.path).all(|d| !new_dirs.contains(d) && out.insert(d));
    }
    out.into_iter().map(|d| path_of(d).to_path_buf()).collect()
}

/// The strict ancestors of the logical path `p`, `/` included.
fn ancestors(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::successors(Some(p), |&a| (a != b"/").then(|| parent(a))).skip(1)
}

/// Classify, place and group the items of `d`. `all` keeps regenerated
/// groups (labelled); `state_dirs` are the services' state directories.
/// `grouped: false` (for output that shows no groups, e.g. `-0`) forms
/// no groups unless `all`: each item is still classified and judged
/// visible or not, and [`Judged::loses_data`] is whether one is visible
/// (without `all` every group holds only visible items, all losses);
/// `regenerated` and `saved` are not counted (0).
pub fn judge(d: &Diff, root: &Root, cx: &mut Context, all: bool, grouped: bool) -> Judged {
    let c = Classifier::load_catalog(root);
    let in_declared = |p: &[u8]| {
        cx.not_persisted
            .iter()
            .any(|(d, _, _)| path_of(p).starts_with(d))
    };
    let classes: Vec<Class> = d
        .items
        .iter()
        .map(|i| match declared::saved_why(&cx.saved, path_of(&i.path)) {
            Some(why) => Class::Regenerated { why: why.into() },
            None => c.classify(&i.path, i.kind == Kind::Symlink),
        })
        .collect();
    let losses = |i: usize| {
        let it = &d.items[i];
        (it.change != Change::Unchanged || in_declared(&it.path)) && classes[i].is_loss()
    };
    // A directory is shown when it holds a loss (an empty new directory
    // or one holding only regenerated entries loses nothing), or is one:
    // modified, its mode, owner or attributes changed (`Rec::matches`),
    // which the reboot reverts as it reverts a file's.
    let own = |it: &Item| it.kind != Kind::Dir || it.change == Change::Modified;
    let mut holders: FastSet<&[u8]> = FastSet::default();
    for (i, it) in d.items.iter().enumerate() {
        if losses(i) && own(it) {
            // Once one is in, so are its ancestors.
            ancestors(&it.path).all(|a| holders.insert(a));
        }
    }
    // An unreadable directory may hold anything: it counts as holding a loss.
    for (p, _) in &d.unreadable {
        holders.insert(p);
        holders.extend(ancestors(p));
    }
    let visible: Vec<bool> = (d.items.iter().enumerate())
        .map(|(i, it)| losses(i) && (own(it) || holders.contains(it.path.as_slice())))
        .collect();
    let (mut regenerated, mut saved) = (0, 0);
    if !grouped && !all {
        return Judged {
            loses: visible.contains(&true),
            classes,
            visible,
            groups: Vec::new(),
            regenerated,
            saved,
            all,
        };
    }
    cx.existed = existed(&d.items);
    let mut groups = Grouper::default();
    for (i, it) in d.items.iter().enumerate() {
        if it.change == Change::Unchanged && !in_declared(&it.path) {
            continue;
        }
        let class = &classes[i];
        if !visible[i] {
            if declared::saved_why(&cx.saved, path_of(&it.path)).is_some() {
                saved += 1;
            } else if !class.is_loss() && it.kind != Kind::Dir {
                // Files, as the groups `--all` lists count them.
                regenerated += 1;
            }
            if !all || class.is_loss() {
                continue;
            }
        }
        let pl = grouping::place(path_of(&it.path), it.kind == Kind::Dir, class, cx);
        groups.add(it, class, pl);
    }
    let groups = groups.finish();
    Judged {
        loses: groups.iter().any(Group::is_loss),
        classes,
        visible,
        groups,
        regenerated,
        saved,
        all,
    }
}

/// A group's path, whether it is a loss, and (regenerated groups) the
/// reason: one loss group per path, important if anything in it is.
type GroupKey = (PathBuf, bool, Option<String>);

#[derive(Default)]
struct Grouper {
    /// Keyed by group, class, and (regenerated groups) the reason, so each
    /// reason is listed with what it covers.
    map: FastMap<GroupKey, (Group, FastSet<u64>)>,
}

impl Grouper {
    fn add(&mut self, it: &Item, class: &Class, pl: Placement) {
        let (gc, why) = match class {
            Class::Important { .. } => (GroupClass::Important, None),
            Class::Ordinary => (GroupClass::Ordinary, None),
            Class::Regenerated { why } => (GroupClass::Regenerated, Some(why)),
        };
        let key = (pl.group, class.is_loss(), why.cloned());
        // Looked up before the key is given away: no copy of it per item.
        let (g, inodes) = match self.map.get_mut(&key) {
            Some(v) => v,
            None => {
                let g = Group::new(key.0.clone(), pl.persist, gc);
                self.map.entry(key).or_insert((g, FastSet::default()))
            }
        };
        g.class = g.class.min(gc);
        if let Class::Important { consequence, .. } = class {
            g.consequence = Some(consequence.clone());
        }
        g.regenerated = why.cloned().or(g.regenerated.take());
        g.declared = pl.declared.or(g.declared.take());
        g.replaced |= it.replaced && g.persist == crate::config::Kind::File;
        if it.kind == Kind::Dir {
            g.dirs += 1;
        } else {
            g.files += 1;
        }
        match it.change {
            Change::Modified => g.modified += 1,
            _ => g.new += 1,
        }
        if it.nlink <= 1 || inodes.insert(it.ino) {
            g.bytes += it.size;
        }
    }

    fn finish(self) -> Vec<Group> {
        // A regenerated group of directories only says nothing.
        let mut out: Vec<Group> = self
            .map
            .into_values()
            .map(|(g, _)| g)
            .filter(|g| g.is_loss() || g.files > 0)
            .collect();
        super::grouped::drop_holders(&mut out);
        // By class, then largest first.
        out.sort_by(|a, b| (a.class, b.bytes, &a.path).cmp(&(b.class, a.bytes, &b.path)));
        out
    }
}

/// Add the whole content of declared entries that are not persisted (what
/// the baseline already had there is lost too), as unchanged items.
pub fn merge_declared(
    root: &Root,
    settings: &Settings,
    d: &mut Diff,
    cx: &Context,
) -> anyhow::Result<()> {
    if cx.not_persisted.is_empty() {
        return Ok(());
    }
    let opts = crate::diff::Options {
        all: true,
        subtrees: cx.not_persisted.iter().map(|(p, _, _)| p.clone()).collect(),
        progress: false,
        walk: true,
    };
    let more = crate::diff::compute(root, settings, &opts)?;
    let have: HashSet<Vec<u8>> = d.items.iter().map(|i| i.path.clone()).collect();
    d.items
        .extend(more.items.into_iter().filter(|i| !have.contains(&i.path)));
    d.items.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    Ok(())
}

pub mod declared;

#[cfg(test)]
mod tests;
