//! Creating what an entry needs: the directory levels of its source (beneath
//! its persistence root) and of its target (beneath the root), each level
//! with the owner and mode `levels` decides, and an empty target file.

use std::io;
use std::os::fd::{AsFd, BorrowedFd as Fd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use tracing::info;

use super::Cx;
use super::levels::{level_perms, system_perms};
use super::ops::{DIR, ctx, open, parent_of, persist_fd, root_owned, srel};
use crate::config::{Entry, Kind, Perms};
use crate::root::rel;
use crate::sys::dir;
use crate::sys::fs::{self, Owner};
use crate::sys::meta::Meta;

/// Which tree a directory is made in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// Beneath the persistence root: created levels get the conventional
    /// perms of a system directory (not the entry itself), else, unless
    /// the entry declares its own owner or mode, owner and mode of the
    /// live directory at that path when one exists (as a seed copy would:
    /// an empty `/var/tmp` stays 1777, `/root` 0700), else the entry's
    /// perms (the last, when `leaf`) or the parent perms.
    Source,
    /// On the ephemeral root: each created level gets the conventional
    /// perms of a system directory (see `levels`), else copies owner and
    /// mode from its persistent counterpart when that exists (as
    /// impermanence does), else gets the declared perms.
    Target,
}

/// Make sure the directory `dir` exists on `side` (its missing levels
/// created with the perms `side` says; the last one is the entry's own
/// directory when `leaf`).
pub(super) fn ensure_dir(
    cx: &mut Cx,
    e: &Entry,
    dir: &Path,
    leaf: bool,
    side: Side,
) -> anyhow::Result<()> {
    let h = cx.h;
    let pfd = persist_fd(cx, e)?;
    let n = dir.components().count();
    let (ids, root, homes) = (&mut cx.ids, cx.root, &cx.homes);
    let levels: Vec<PathBuf> = dir.ancestors().map(Path::to_path_buf).collect();
    let live = h.root.as_fd();
    let mut from_live = Vec::new();
    let mut owner = |i: usize| {
        let (prefix, last) = (&levels[n - 1 - i], leaf && i + 1 == n);
        if side == Side::Source {
            let declared = if last { &e.perms } else { &e.parent };
            let system = !last && system_perms(&Path::new("/").join(prefix)).is_some();
            if !system
                && e.home.is_none()
                && *declared == Perms::default()
                && let Ok(Some(m)) = fs::lstat_beneath(live, prefix)
                && m.is_dir()
            {
                from_live.push(prefix.clone());
                return Ok(owner_of(&m));
            }
        }
        if side == Side::Target {
            // Conventional system directories first: a drifted persistent copy
            // never makes /var/lib or /var/lib/private world-readable or closed.
            if !last && let Some(p) = system_perms(&Path::new("/").join(prefix)) {
                return perms_owner(ids, root, &p);
            }
            if let Ok(Some(m)) = fs::lstat_beneath(pfd, prefix)
                && m.is_dir()
            {
                return Ok(owner_of(&m));
            }
        }
        perms_owner(ids, root, &level_perms(e, homes, prefix, last))
    };
    let (base, shown) = match side {
        Side::Target => (h.root.as_fd(), Path::new("/").join(dir)),
        Side::Source => (pfd, e.root.join(dir)),
    };
    let (_, created) = ctx(dir::mkdir_beneath(base, dir, &mut owner), base, dir, &shown)?;
    for c in created.into_iter().filter(|_| side == Side::Source) {
        let p = e.root.join(&c);
        info!(path = %p.display(), "created persistent directory {}", p.display());
        // Its live directory gone meanwhile: owner and mode are enough.
        if from_live.contains(&c)
            && let Ok(l) = dir::open(live, &c)
        {
            let s = dir::open(pfd, &c)?;
            crate::copy::copy_dir_xattrs(l.as_fd(), s.as_fd(), &Path::new("/").join(&c), &p)?;
        }
    }
    Ok(())
}

/// Before the bind of directory entry `e` whose perms are the defaults
/// (root:root 0755, which every rendered entry carries: declared or not,
/// they cannot be told apart): its persistent directory (`src`, open at
/// `sfd`) still 0:0 0755 while the live one (`live`) is not was created
/// so by an impermctl older than [`ensure_dir`]'s copy of the live owner
/// and mode (trial N12), and the bind would give the live path that
/// mode. When the live mode only tightens it (same owner, no bit added
/// but the sticky one: `/root` 0700), the persistent directory takes it;
/// else (another owner, or a wider mode: `/var/tmp` 1777, a service's
/// 0700 state directory) a warning names both and the commands that
/// align it: boot never opens a directory or hands it to another owner
/// by itself. A failed change is a warning too: the bind goes on.
pub(super) fn tighten_to_live(cx: &mut Cx, e: &Entry, sfd: Fd, src: &Meta, live: &Meta) {
    let old = (0, 0, 0o755);
    if e.kind != Kind::Directory || e.home.is_some() || e.perms != Perms::default() {
        return;
    }
    let (now, was) = (
        (src.uid, src.gid, src.perm),
        (live.uid, live.gid, live.perm),
    );
    if now != old || was == old || !live.is_dir() {
        return;
    }
    let (p, s, mode) = (e.path.display(), e.source.display(), live.perm);
    let tightens = (live.uid, live.gid) == (0, 0) && mode & !0o1755 == 0;
    // Opened again for the change from the `O_PATH` handle: the same inode.
    let changed =
        tightens.then(|| dir::open(sfd, "").and_then(|fd| fs::chmod(fs::At::Fd(fd.as_fd()), mode)));
    let msg = match changed {
        Some(Ok(())) => {
            info!(path = %p, "{s} is now {mode:04o} as the live {p} was (an older impermctl created it 0755)");
            return;
        }
        Some(Err(err)) => format!("cannot make {s} {mode:04o} as the live {p} was: {err}"),
        None => format!(
            "{p} is {}:{} {mode:04o} on the ephemeral root, but its persistent directory {s} is 0:0 0755 (created so by an older impermctl?), which the bind gives {p}; boot never opens a directory or gives it to another owner by itself: if the live one is right, run `chown {}:{} {s} && chmod {mode:04o} {s}`",
            live.uid, live.gid, live.uid, live.gid
        ),
    };
    tracing::warn!(path = %p, "{msg}");
    cx.warnings.push(msg);
}

/// The owner and mode of an existing file or directory.
fn owner_of(m: &crate::sys::meta::Meta) -> Owner {
    Owner {
        uid: m.uid,
        gid: m.gid,
        mode: m.perm,
    }
}

fn perms_owner(
    ids: &mut crate::ids::Ids,
    root: &crate::root::Root,
    p: &Perms,
) -> io::Result<Owner> {
    ids.owner(root, p)
        .map_err(|e| io::Error::other(format!("{e:#}")))
}

pub(super) fn create_source(cx: &mut Cx, e: &Entry) -> anyhow::Result<()> {
    match e.kind {
        Kind::Directory => ensure_dir(cx, e, srel(e), true, Side::Source),
        Kind::File => ensure_dir(cx, e, parent_of(srel(e)), false, Side::Source),
    }
}

pub(super) fn create_target(cx: &mut Cx, e: &Entry) -> anyhow::Result<()> {
    let trel = rel(&e.path);
    if e.kind == Kind::Directory {
        return ensure_dir(cx, e, trel, true, Side::Target);
    }
    let (parent, name) = fs::split(trel)?;
    ensure_dir(cx, e, parent, false, Side::Target)?;
    let rfd = cx.h.root.as_fd();
    let dfd = open(rfd, parent, DIR, &e.path)?;
    let pfd = persist_fd(cx, e)?;
    let o = match fs::lstat_beneath(pfd, srel(e)) {
        Ok(Some(m)) => owner_of(&m),
        _ => root_owned(0o644),
    };
    fs::create_file_at(dfd.as_fd(), name, o)
        .with_context(|| format!("cannot create the empty file {}", e.path.display()))
}
