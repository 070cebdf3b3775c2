//! Hard links the watcher saw made (in a watched or a `watch.ignore`
//! directory), or found in the ignored directories at start: a write
//! through one name changes the others, which no event names. Each link's
//! inode is held by an `O_PATH` descriptor, so it is looked at whatever
//! became of its names. Its other names are looked up in the baseline (by
//! inode, once per baseline: [`Links::poll`]) and the inode is polled
//! (an `fstat` per link, every tick and before every answer): a change
//! seen through any name is recorded for the names outside `watch.ignore`
//! (trial-s8 finding 9: a write through `/tmp/alias` to
//! `/var/lib/db/data` was never warned about). The list stands for a walk
//! while every name of such an inode is known ([`Links::gap`]); a link
//! whose other name is not in the baseline stops it until the link is
//! gone and a baseline is taken after (session 6's finding 8).

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::baseline::Baseline;
use crate::sys::meta::{Kind, Meta, Time, lstat_path, stat_fd};

/// Links followed one by one; past it the list stops standing for a walk
/// until the watcher restarts.
pub const MOST: usize = 64;

/// Which baseline file a lookup was made in (its mtime and inode).
pub type BaselineId = (SystemTime, u64);

/// One link followed.
#[derive(Debug)]
struct Link {
    /// Logical name heard (or found at start).
    name: Box<[u8]>,
    fd: File,
    /// Size, mtime and ctime when last looked at.
    last: (u64, Time, Time),
    /// The inode's names in the baseline outside `watch.ignore` (logical),
    /// looked up in the baseline `looked`.
    other: Vec<Box<[u8]>>,
    looked: Option<BaselineId>,
}

/// The hard links that still matter.
#[derive(Debug, Default)]
pub struct Links {
    held: Vec<Link>,
    /// Past [`MOST`] (or an inode that could not be held): the first name.
    lost: Option<Box<[u8]>>,
}

fn state(m: &Meta) -> (u64, Time, Time) {
    (m.size, m.mtime, m.ctime)
}

impl Links {
    /// `host` (logical `p`) was created: kept if it is a regular file with
    /// more than one link. A name already gone is not.
    pub fn created(&mut self, host: &Path, p: &Path) {
        if self.lost.is_some() {
            return;
        }
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_PATH | nix::libc::O_NOFOLLOW)
            .open(host);
        let Ok(fd) = opened else { return };
        let Ok(m) = stat_fd(fd.as_fd()) else { return };
        if m.kind() != Kind::File || m.nlink < 2 {
            return;
        }
        let name: Box<[u8]> = p.as_os_str().as_bytes().into();
        if self.held.len() >= MOST {
            self.lost = Some(self.held[0].name.clone());
            self.held = Vec::new();
        } else {
            let (other, looked) = (Vec::new(), None);
            let last = state(&m);
            self.held.push(Link {
                name,
                fd,
                last,
                other,
                looked,
            });
        }
    }

    /// Look each link's inode up in `base` (once per baseline file) and
    /// look at each inode: the host paths (below `root`) of the names
    /// outside `watch.ignore` (`ignored`, logical) of every inode changed
    /// since the last look or just looked up, to be compared with the
    /// baseline (`Core::record_if_changed`).
    pub fn poll(
        &mut self,
        root: &Path,
        base: Option<(&Baseline, BaselineId)>,
        ignored: &dyn Fn(&[u8]) -> bool,
    ) -> Vec<PathBuf> {
        let fresh = self.look_up(base, ignored);
        let mut out = Vec::new();
        for (i, l) in self.held.iter_mut().enumerate() {
            let Ok(m) = stat_fd(l.fd.as_fd()) else {
                continue;
            };
            if state(&m) != l.last || fresh.contains(&i) {
                l.last = state(&m);
                let host = |o: &[u8]| root.join(std::ffi::OsStr::from_bytes(&o[1..]));
                out.extend(l.other.iter().map(|o| host(o)));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Fill in the other names of the links not yet looked up in `base`
    /// (one pass over it); their indices.
    fn look_up(
        &mut self,
        base: Option<(&Baseline, BaselineId)>,
        ignored: &dyn Fn(&[u8]) -> bool,
    ) -> Vec<usize> {
        let Some((b, id)) = base else {
            return Vec::new();
        };
        let stale: Vec<usize> = (0..self.held.len())
            .filter(|&i| self.held[i].looked != Some(id))
            .collect();
        if stale.is_empty() {
            return stale;
        }
        let mut inos: HashMap<u64, Vec<Box<[u8]>>> = HashMap::new();
        for &i in &stale {
            if let Ok(m) = stat_fd(self.held[i].fd.as_fd()) {
                inos.insert(m.ino, Vec::new());
            }
        }
        for (p, r) in b.iter() {
            if r.kind == Kind::File && !ignored(&p) && p.starts_with(b"/") {
                inos.entry(r.ino).and_modify(|v| v.push(p.into()));
            }
        }
        for &i in &stale {
            let l = &mut self.held[i];
            let ino = stat_fd(l.fd.as_fd()).map(|m| m.ino);
            l.other = ino
                .ok()
                .and_then(|n| inos.get(&n).cloned())
                .unwrap_or_default();
            l.looked = Some(id);
        }
        stale
    }

    /// Why the list cannot stand for a walk, if a link still matters for a
    /// baseline whose oldest record is from `origin` (none: every link
    /// does). A link no longer matters once its inode has one name left and
    /// that name is followed ([`Links::poll`]) or the inode did not change
    /// since `origin`. It matters while its inode has a name the watcher
    /// does not know (`root`: the host root, to check the names).
    pub fn gap(&mut self, origin: Option<(i64, u32)>, root: &Path) -> Option<String> {
        if let Some(l) = &self.lost {
            return Some(format!(
                "more than {MOST} hard links were made, the first: {} (the watcher restarted vouches again)",
                crate::names::human(l)
            ));
        }
        let known = self.known_names(root);
        let mut i = 0;
        self.held.retain(|l| {
            let (k, m) = (known[i], stat_fd(l.fd.as_fd()));
            i += 1;
            match m {
                Ok(m) => m.nlink > 1 || (k == 0 && origin.is_none_or(|o| m.ctime >= o)),
                Err(_) => true,
            }
        });
        let known = self.known_names(root);
        let l =
            self.held.iter().zip(known).find(|(l, k)| {
                stat_fd(l.fd.as_fd()).is_ok_and(|m| (m.nlink as usize) > *k || *k == 0)
            });
        let (l, _) = l?;
        Some(format!(
            "a hard link was made: {} (its other name is not in the baseline; vouched for again once the link is gone and a baseline taken after)",
            crate::names::human(&l.name)
        ))
    }

    /// For each link: how many names of its inode the watcher follows
    /// (below `root`): its other names in the baseline and the names heard
    /// for it, that still name it. 0 when its other names are unknown.
    fn known_names(&self, root: &Path) -> Vec<usize> {
        let names_it = |ino: u64, p: &[u8]| {
            let host = root.join(std::ffi::OsStr::from_bytes(
                p.strip_prefix(b"/").unwrap_or(p),
            ));
            lstat_path(&host).is_ok_and(|m| m.ino == ino)
        };
        let mut by_ino: HashMap<u64, (usize, usize)> = HashMap::new();
        let inos: Vec<Option<u64>> = (self.held.iter())
            .map(|l| stat_fd(l.fd.as_fd()).ok().map(|m| m.ino))
            .collect();
        for (l, ino) in self.held.iter().zip(&inos) {
            let Some(ino) = *ino else { continue };
            let e = by_ino.entry(ino).or_default();
            e.0 += usize::from(names_it(ino, &l.name));
            if e.1 == 0 {
                e.1 = l.other.iter().filter(|o| names_it(ino, o)).count();
            }
        }
        inos.iter()
            .map(|ino| {
                ino.and_then(|n| by_ino.get(&n))
                    .map_or(0, |&(h, o)| if o == 0 { 0 } else { h + o })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first link kept.
    fn first(c: &Links) -> Option<&[u8]> {
        c.lost.as_deref().or(c.held.first().map(|l| &l.name[..]))
    }

    /// A link matters while it is there, and after until a baseline is
    /// taken after its inode last changed.
    #[test]
    fn a_link_matters_until_it_is_gone_and_a_baseline_is_taken_after() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        std::fs::write(r.join("one"), "1").unwrap();
        std::fs::create_dir(r.join("d")).unwrap();
        let mut c = Links::default();
        for name in ["one", "gone", "d"] {
            c.created(&r.join(name), Path::new(name));
        }
        assert_eq!(first(&c), None);
        assert_eq!(c.gap(None, r), None);
        std::fs::hard_link(r.join("one"), r.join("two")).unwrap();
        c.created(&r.join("two"), Path::new("/tmp/two"));
        c.created(&r.join("one"), Path::new("/srv/one"));
        assert_eq!(first(&c), Some(&b"/tmp/two"[..]));
        let later = (i64::MAX, 0);
        let gap = c.gap(Some(later), r).unwrap();
        assert!(gap.contains("/tmp/two"), "{gap}");
        std::fs::remove_file(r.join("two")).unwrap();
        // Gone, but the baseline is older than the removal.
        assert!(c.gap(Some((0, 0)), r).is_some());
        assert!(c.gap(None, r).is_some());
        // A baseline taken after: vouched for again.
        assert_eq!(c.gap(Some(later), r), None);
        assert_eq!(
            c.gap(Some((0, 0)), r),
            None,
            "forgotten once it no longer matters"
        );
    }

    /// A link to a file the baseline has: the inode is looked at through
    /// the descriptor, a change is reported for its name outside
    /// `watch.ignore`, and the list stands while every name is known
    /// (trial-s8 finding 9).
    #[test]
    fn a_link_to_a_baseline_file_is_followed_by_its_other_name() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        std::fs::create_dir_all(r.join("srv")).unwrap();
        std::fs::create_dir_all(r.join("tmp")).unwrap();
        std::fs::write(r.join("srv/data"), "1").unwrap();
        std::fs::write(r.join("srv/lone"), "1").unwrap();
        let rec = |p: &str| {
            let m = lstat_path(&r.join(p)).unwrap();
            (format!("/{p}").into_bytes(), crate::baseline::Rec::from(&m))
        };
        let mut entries = vec![rec("srv"), rec("srv/data"), rec("srv/lone")];
        let b = Baseline::decode(crate::baseline::encode(0, &mut entries)).unwrap();
        let id = (SystemTime::UNIX_EPOCH, 1);
        std::fs::hard_link(r.join("srv/data"), r.join("tmp/alias")).unwrap();
        let mut c = Links::default();
        c.created(&r.join("tmp/alias"), Path::new("/tmp/alias"));
        let ignored = |p: &[u8]| p.starts_with(b"/tmp/");
        let later = Some((i64::MAX, 0));
        assert_eq!(
            c.gap(later, r).map(|g| g.contains("/tmp/alias")),
            Some(true)
        );
        // Looked up: the other name is compared with the baseline once.
        assert_eq!(
            c.poll(r, Some((&b, id)), &ignored),
            vec![r.join("srv/data")]
        );
        assert_eq!(c.gap(later, r), None, "every name is known");
        assert!(
            c.poll(r, Some((&b, id)), &ignored).is_empty(),
            "nothing new"
        );
        std::fs::write(r.join("tmp/alias"), "12").unwrap();
        assert_eq!(
            c.poll(r, Some((&b, id)), &ignored),
            vec![r.join("srv/data")]
        );
        // A third name the watcher never heard of: no longer vouched for.
        std::fs::hard_link(r.join("srv/data"), r.join("srv/third")).unwrap();
        assert!(c.gap(later, r).is_some());
        std::fs::remove_file(r.join("srv/third")).unwrap();
        std::fs::remove_file(r.join("tmp/alias")).unwrap();
        assert_eq!(c.gap(later, r), None);
        assert!(c.held.is_empty(), "one name left, followed: forgotten");
    }
}
