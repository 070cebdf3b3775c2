//! Hard links the watcher saw made (in a watched or a `watch.ignore`
//! directory): a write through one name changes the others, which no event
//! names, so the list stops standing for a walk. It stands again once no
//! such link is left and the baseline was taken after the inode last
//! changed (its ctime: the link's removal moves it too), since then the
//! baseline holds that inode as it is and only its remaining name can
//! change it (session 6's finding 8: before, only a restart did). Each
//! link's inode is held by an `O_PATH` descriptor, so it is looked at
//! whatever became of its names.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::sys::meta::{Kind, stat_fd};

/// Links followed one by one; past it the list stops standing for a walk
/// until the watcher restarts.
pub const MOST: usize = 64;

/// The hard links made since the watcher started that still matter.
#[derive(Debug, Default)]
pub struct Links {
    /// Logical name heard, and its inode.
    held: Vec<(Box<[u8]>, File)>,
    /// Past [`MOST`] (or an inode that could not be held): the first name.
    lost: Option<Box<[u8]>>,
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
        let Ok(f) = opened else { return };
        let Ok(m) = stat_fd(f.as_fd()) else { return };
        if m.kind() != Kind::File || m.nlink < 2 {
            return;
        }
        let name: Box<[u8]> = p.as_os_str().as_bytes().into();
        if self.held.len() >= MOST {
            self.lost = Some(self.held[0].0.clone());
            self.held = Vec::new();
        } else {
            self.held.push((name, f));
        }
    }

    /// Why the list cannot stand for a walk, if a link still matters for a
    /// baseline whose oldest record is from `origin` (none: every link
    /// does). A link matters while its inode has other names, or changed
    /// at or after `origin`.
    pub fn gap(&mut self, origin: Option<(i64, u32)>) -> Option<String> {
        if let Some(l) = &self.lost {
            return Some(format!(
                "more than {MOST} hard links were made, the first: {} (the watcher restarted vouches again)",
                crate::names::human(l)
            ));
        }
        self.held.retain(|(_, f)| match stat_fd(f.as_fd()) {
            Ok(m) => m.nlink > 1 || origin.is_none_or(|o| (m.ctime.0, m.ctime.1) >= o),
            Err(_) => true,
        });
        let (l, _) = self.held.first()?;
        Some(format!(
            "a hard link was made: {} (vouched for again once the link is gone and a baseline taken after)",
            crate::names::human(l)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first link kept.
    fn first(c: &Links) -> Option<&[u8]> {
        c.lost.as_deref().or(c.held.first().map(|(l, _)| &l[..]))
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
        assert_eq!(c.gap(None), None);
        std::fs::hard_link(r.join("one"), r.join("two")).unwrap();
        c.created(&r.join("two"), Path::new("/tmp/two"));
        c.created(&r.join("one"), Path::new("/srv/one"));
        assert_eq!(first(&c), Some(&b"/tmp/two"[..]));
        let later = (i64::MAX, 0);
        let gap = c.gap(Some(later)).unwrap();
        assert!(gap.contains("/tmp/two"), "{gap}");
        std::fs::remove_file(r.join("two")).unwrap();
        // Gone, but the baseline is older than the removal.
        assert!(c.gap(Some((0, 0))).is_some());
        assert!(c.gap(None).is_some());
        // A baseline taken after: vouched for again.
        assert_eq!(c.gap(Some(later)), None);
        assert_eq!(
            c.gap(Some((0, 0))),
            None,
            "forgotten once it no longer matters"
        );
    }
}
