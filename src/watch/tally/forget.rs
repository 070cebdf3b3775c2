//! Forgetting what no longer counts (pure): a directory renamed or
//! removed takes every path below it along (`diff` finds them under the
//! new name, or not at all), and a retaken baseline adopts paths the table
//! counted. Paths remembered by name are dropped exactly; a group that
//! also holds paths only by hash (past its sample) cannot tell which of
//! them went, so it is listed for a recount by a walk ([`Table::take_recount`]).

use std::hash::BuildHasher;
use std::path::{Path, PathBuf};

use super::{Group, Table};

impl Group {
    /// Drop the sampled paths `keep` refuses, with their files and bytes;
    /// the group goes into `recount` when it also holds paths by hash (or
    /// past the caps), which cannot be told apart. Returns how many went.
    fn drop_samples(
        &mut self,
        recount: &mut Vec<PathBuf>,
        mut keep: impl FnMut(&Path) -> bool,
    ) -> usize {
        let (before, mut bytes) = (self.samples.len(), 0);
        self.samples.retain(|p, size| {
            let k = keep(p);
            bytes += if k { 0 } else { *size };
            k
        });
        let gone = before - self.samples.len();
        self.dirs.retain(|p| keep(p));
        self.files -= (gone as u64).min(self.files);
        self.bytes -= bytes.min(self.bytes);
        if (!self.hashed.is_empty() || self.approximate) && !recount.contains(&self.path) {
            recount.push(self.path.clone());
        }
        gone
    }
}

impl Table {
    /// The directory `dir` (logical) was renamed away or removed: nothing
    /// at or below it counts any more. A group at or below `dir` is
    /// emptied; a group holding `dir` loses its samples below it, and is
    /// queued for a recount when it also holds hashed paths.
    /// O(groups), plus the samples of the groups holding `dir`.
    pub fn gone_below(&mut self, dir: &Path) {
        for g in self.groups.values_mut() {
            g.dirs.retain(|p| !p.starts_with(dir));
            if g.path.starts_with(dir) {
                self.samples -= g.samples.len();
                self.hashed -= g.hashed.len();
                g.samples.clear();
                g.hashed.clear();
                (g.files, g.bytes, g.approximate) = (0, 0, false);
            } else if dir.starts_with(&g.path) && g.files > 0 {
                self.samples -= g.drop_samples(&mut self.recount, |p| !p.starts_with(dir));
            }
        }
    }

    /// Keep only the sampled paths for which `counts` holds (a retaken
    /// baseline adopted the others); groups that also hold hashed paths
    /// are queued for a recount. Returns how many paths were dropped.
    pub fn retain_counted(&mut self, counts: &mut dyn FnMut(&Path) -> bool) -> usize {
        let mut dropped = 0;
        for g in self.groups.values_mut().filter(|g| g.loses()) {
            dropped += g.drop_samples(&mut self.recount, &mut *counts);
        }
        self.samples -= dropped;
        dropped
    }

    /// Forget what `group` counted (its files, bytes and paths), to count
    /// it again from a walk. Returns the old (files, bytes).
    pub fn forget_counts(&mut self, group: &Path) -> (u64, u64) {
        let Some(g) = self.groups.get_mut(group) else {
            return (0, 0);
        };
        self.samples -= g.samples.len();
        self.hashed -= g.hashed.len();
        g.samples.clear();
        g.hashed.clear();
        g.approximate = false;
        (std::mem::take(&mut g.files), std::mem::take(&mut g.bytes))
    }

    /// Forget the path `path` (logical) wherever it is counted (a held-back
    /// rewrite the baseline turned out to have). True when it was.
    /// O(groups).
    pub fn forget_path(&mut self, path: &Path) -> bool {
        let hash = self.hasher.hash_one(path);
        for g in self.groups.values_mut() {
            let size = (g.samples.remove(path).inspect(|_| self.samples -= 1))
                .or_else(|| g.hashed.remove(&hash).inspect(|_| self.hashed -= 1));
            if let Some(size) = size {
                g.files = g.files.saturating_sub(1);
                g.bytes = g.bytes.saturating_sub(size);
                return true;
            }
            if g.dirs.remove(path) {
                return true;
            }
        }
        false
    }

    /// Groups to count again by a walk (their hashed paths may be gone),
    /// sorted; the queue is emptied.
    pub fn take_recount(&mut self) -> Vec<PathBuf> {
        let mut v = std::mem::take(&mut self.recount);
        v.sort();
        v
    }
}
