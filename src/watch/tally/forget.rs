//! Forgetting what no longer counts (pure): a directory renamed or
//! removed takes every path below it along (`diff` finds them under the
//! new name, or not at all), and a retaken baseline adopts paths the table
//! counted. Paths remembered by name are dropped exactly; a group that
//! also holds paths only by hash (past its sample) cannot tell which of
//! them went, so it is listed for a recount by a walk ([`Table::take_recount`]).

use std::hash::BuildHasher;
use std::path::{Path, PathBuf};

use super::Table;

impl Table {
    /// The directory `dir` (logical) was renamed away or removed: nothing
    /// at or below it counts any more. A group at or below `dir` is
    /// emptied; a group holding `dir` loses its samples below it, and is
    /// queued for a recount when it also holds hashed paths.
    /// O(groups), plus the samples of the groups holding `dir`.
    pub fn gone_below(&mut self, dir: &Path) {
        let mut recount = Vec::new();
        for g in self.groups.values_mut() {
            if g.path.starts_with(dir) {
                self.samples -= g.samples.len();
                self.hashed -= g.hashed.len();
                g.samples.clear();
                g.hashed.clear();
                (g.files, g.bytes, g.approximate) = (0, 0, false);
            } else if dir.starts_with(&g.path) && g.files > 0 {
                let before = g.samples.len();
                let mut bytes = 0;
                g.samples.retain(|p, size| {
                    let keep = !p.starts_with(dir);
                    bytes += if keep { 0 } else { *size };
                    keep
                });
                let gone = (before - g.samples.len()) as u64;
                self.samples -= before - g.samples.len();
                g.files -= gone.min(g.files);
                g.bytes -= bytes.min(g.bytes);
                if !g.hashed.is_empty() || g.approximate {
                    recount.push(g.path.clone());
                }
            }
        }
        self.queue_recount(recount);
    }

    /// Keep only the sampled paths for which `counts` holds (a retaken
    /// baseline adopted the others); groups that also hold hashed paths
    /// are queued for a recount. Returns how many paths were dropped.
    pub fn retain_counted(&mut self, counts: &mut dyn FnMut(&Path) -> bool) -> usize {
        let mut dropped = 0;
        let mut recount = Vec::new();
        for g in self.groups.values_mut() {
            if g.files == 0 {
                continue;
            }
            let mut bytes = 0;
            let mut gone = 0;
            g.samples.retain(|p, size| {
                let keep = counts(p);
                if !keep {
                    bytes += *size;
                    gone += 1;
                }
                keep
            });
            self.samples -= gone;
            dropped += gone;
            g.files -= (gone as u64).min(g.files);
            g.bytes -= bytes.min(g.bytes);
            if !g.hashed.is_empty() || g.approximate {
                recount.push(g.path.clone());
            }
        }
        self.queue_recount(recount);
        dropped
    }

    /// Forget the path `path` (logical) wherever it is counted (a held-back
    /// rewrite the baseline turned out to have). True when it was.
    /// O(groups).
    pub fn forget_path(&mut self, path: &Path) -> bool {
        let hash = self.hasher.hash_one(path);
        for g in self.groups.values_mut() {
            let size = match g.samples.remove(path) {
                Some(s) => {
                    self.samples -= 1;
                    s
                }
                None => match g.hashed.remove(&hash) {
                    Some(s) => {
                        self.hashed -= 1;
                        s
                    }
                    None => continue,
                },
            };
            g.files = g.files.saturating_sub(1);
            g.bytes = g.bytes.saturating_sub(size);
            return true;
        }
        false
    }

    fn queue_recount(&mut self, groups: Vec<PathBuf>) {
        for g in groups {
            if !self.recount.contains(&g) {
                self.recount.push(g);
            }
        }
    }

    /// Groups to count again by a walk (their hashed paths may be gone),
    /// sorted; the queue is emptied.
    pub fn take_recount(&mut self) -> Vec<PathBuf> {
        let mut v = std::mem::take(&mut self.recount);
        v.sort();
        v
    }
}
