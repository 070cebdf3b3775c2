//! `--shadowed`: data on the ephemeral root hidden under mount points (a
//! bind over a non-empty directory hides what was there, and the reboot
//! discards it). A helper process (`diff --shadowed-helper DIR`, the same
//! binary) enters a private mount namespace, binds the root non-recursively
//! on DIR, lists what lies under each mount point there, and reports back
//! as JSON on stdout. Nothing it does is visible outside it. Hidden entries
//! that hold what the mount shows at the same place (data just seeded into
//! persistence, then bound) are not listed: hiding them loses nothing;
//! neither are those of an entry `boot` seeded (or `persist` copied) from
//! them and unchanged since (ctime older than the copy, `seeded_ns` in
//! `state.json` or `persisted.json`): the copy's source, whatever the user
//! did through the bind since. A file mapped
//! shared and writable is compared by content only, as `persist` and `boot`
//! compare it (`live::reconcile`): a write through a page dirty before the
//! seed changes no time.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicU64;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::live::keep::KEPT_DIR;
use crate::names::{path_of, show};
use crate::root::Root;
use crate::sys::fs::open_dir;
use crate::sys::meta::{Kind, stat_at};
use crate::sys::mount::{self, Api};
use crate::walk::{self, Entry, Scope, Visit};

/// What lies under one mount point on the ephemeral root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shadowed {
    /// The mount point (logical).
    pub mount_point: String,
    /// Entries hidden under it (logical paths, escaped for display like
    /// `-l`; the mount point itself for a file).
    pub paths: Vec<String>,
    /// Bytes hidden (apparent sizes).
    pub bytes: u64,
}

/// Run the helper (this binary, in a private mount namespace) and collect
/// its report; say on stderr under which mount points it cannot look.
pub fn find(root: &Root) -> anyhow::Result<Vec<Shadowed>> {
    let r = report(root)?;
    for m in &r.unreachable {
        eprintln!(
            "impermctl: note: --shadowed cannot look under {m}: it was mounted from outside this user namespace (locked by the kernel)"
        );
    }
    Ok(r.shadowed)
}

/// What plain `diff` and `status` say of it (trial-s11 N2b: writes into a
/// hidden original were only in `diff --shadowed`): [`find`]'s answer,
/// without its notes, when it is not empty; `None` without root (the
/// helper needs it), with `--mountinfo`, or when the helper fails (logged
/// at debug). A process and a walk of what lies under the mount points
/// (nothing, on a root booted fresh): milliseconds.
pub fn glance(root: &Root) -> Option<Vec<Shadowed>> {
    if root.mountinfo_override().is_some() || !nix::unistd::geteuid().is_root() {
        return None;
    }
    match report(root) {
        Ok(r) => Some(r.shadowed).filter(|s| !s.is_empty()),
        Err(e) => {
            tracing::debug!("not looking under mount points: {e:#}");
            None
        }
    }
}

/// One line for [`glance`]'s answer under one mount point: its size,
/// count and first paths, and where the list is.
pub fn brief(m: &Shadowed) -> String {
    const SHOWN: usize = 3;
    let n = m.paths.len();
    let mut first = m.paths[..n.min(SHOWN)].join(", ");
    if n > SHOWN {
        first.push_str(&format!(" and {} more", n - SHOWN));
    }
    format!(
        "shadowed: {} in {} under the mount point {}, lost at the next reboot: {first} (a program that had it open or as its working directory before the mount writes there; `impermctl diff --shadowed` lists them)",
        crate::human::size(m.bytes),
        crate::human::count(n as u64, "entry", "entries"),
        m.mount_point
    )
}

/// Run the helper and read its report.
fn report(root: &Root) -> anyhow::Result<Report> {
    if root.mountinfo_override().is_some() {
        bail!("--shadowed reads the live tree: it cannot be combined with --mountinfo");
    }
    let tmp = std::env::temp_dir().join(format!("impermctl-shadowed.{}", std::process::id()));
    std::fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let exe = std::env::current_exe().context("cannot find the impermctl binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--no-config").arg("--root").arg(root.dir());
    cmd.arg("diff").arg("--shadowed-helper").arg(&tmp);
    let out = cmd.output();
    let _ = std::fs::remove_dir(&tmp);
    let out = out.context("cannot run the --shadowed helper")?;
    if !out.status.success() {
        bail!(
            "--shadowed: the helper failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("--shadowed: malformed helper report")
}

/// What the helper reports.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Report {
    shadowed: Vec<Shadowed>,
    /// Mount points it could not look under.
    unreachable: Vec<String>,
}

/// The helper: must be called while single-threaded.
pub fn helper(root: &Root, dir: &Path) -> anyhow::Result<()> {
    let mounts = root.mount_table()?;
    // Mount points whose parent mount is the root filesystem (what is
    // hidden under mounts elsewhere is not on the ephemeral root).
    let on_root = mounts.root().map(|m| m.id);
    let mut points: Vec<PathBuf> = (mounts.mounts().iter())
        .filter(|m| Some(m.parent) == on_root && m.mount_point != Path::new("/"))
        .map(|m| m.mount_point.clone())
        .collect();
    points.sort();
    points.dedup();
    let seeded = seeded(root);
    let host = std::fs::canonicalize(root.dir())?;
    // Hidden entries are on the root's filesystem: its device as `stat`
    // and as the mount table give it (a mapping's line gives the latter).
    let devs: Vec<u64> = (crate::sys::meta::stat_path(&host).ok().map(|m| m.dev))
        .into_iter()
        .chain(mounts.root().map(|m| rustix::fs::makedev(m.major, m.minor)))
        .collect();
    // Asked only for entries seeded this boot (none on a root booted fresh).
    let mapped = match seeded.is_empty() {
        true => Default::default(),
        false => crate::sys::proc::maps::mapped_inodes(Path::new("/proc"), &devs),
    };
    mount::private_namespace().context(
        "--shadowed needs root: it reads the root through a private mount namespace (unshare)",
    )?;
    let mut report = Report::default();
    let (src, dst) = (open_dir(&host)?, open_dir(dir)?);
    let failed = || format!("cannot bind {} on {}", host.display(), dir.display());
    let recursive = match mount::bind(src.as_fd(), dst.as_fd(), Api::from_env()) {
        Ok(()) => false,
        // In a user namespace, mounts made outside it are locked to their
        // parent: a non-recursive bind is refused (EINVAL). Bind the whole
        // tree, then detach the mounts we may (those made inside, e.g. by
        // `boot`); the locked ones stay and are reported as unreachable.
        Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
            mount::bind_recursive(src.as_fd(), dst.as_fd(), Api::from_env())
                .with_context(failed)?;
            true
        }
        Err(e) => return Err(e).with_context(failed),
    };
    let kept = kept_copies(&host, &points);
    for mp in points {
        let under = dir.join(mp.strip_prefix("/").unwrap_or(&mp));
        if recursive && detach_path(&under).is_err() {
            report.unreachable.push(show(&mp));
            continue;
        }
        let Ok(m) = std::fs::symlink_metadata(&under) else {
            continue;
        };
        // What is visible at the mount point (the original tree still has it).
        let visible = host.join(mp.strip_prefix("/").unwrap_or(&mp));
        let seed = seeded.iter().find(|(p, _)| *p == mp).map(|s| s.1);
        let safe = |hidden: &Path, rel: &Path| {
            let logical = mp.join(rel);
            let logical = logical.strip_prefix("/").unwrap_or(&logical);
            seed.is_some_and(|t| changed_before(hidden, t, &mapped))
                || same_content(hidden, &visible.join(rel))
                || kept.iter().any(|k| same_content(hidden, &k.join(logical)))
        };
        let (paths, bytes) = if m.is_dir() {
            list(&under, &mp, &safe)
        } else if m.len() > 0 && !safe(&under, Path::new("")) {
            (vec![show(&mp)], m.len())
        } else {
            (Vec::new(), 0)
        };
        if !paths.is_empty() {
            report.shadowed.push(Shadowed {
                mount_point: show(&mp),
                paths,
                bytes,
            });
        }
    }
    serde_json::to_writer(std::io::stdout().lock(), &report)?;
    Ok(())
}

/// The entries `boot` bound after seeding them from the root's original
/// (`state.json`) or `persist` bound after copying it (`persisted.json`),
/// and when the copy began (none from a file that cannot be read).
fn seeded(root: &Root) -> Vec<(PathBuf, u64)> {
    let booted = match crate::state::read(&root.state_file()) {
        Ok(Some(st)) => st.entries,
        _ => Vec::new(),
    };
    let booted = (booted.into_iter())
        .filter(|r| r.how == crate::state::How::Bound)
        .filter_map(|r| r.seeded_ns.map(|t| (r.path, t)));
    let persisted = (crate::persist::records(root)
        .unwrap_or_default()
        .into_iter())
    .filter(|r| !r.copy)
    .filter_map(|r| r.seeded_ns.map(|t| (r.path, t)));
    booted.chain(persisted).collect()
}

/// Was `p` last changed (ctime, not following a final symlink) before
/// `t` (nanoseconds since the epoch)? Never for a file whose inode is in
/// `mapped` (mapped shared and writable: its times say nothing).
fn changed_before(p: &Path, t: u64, mapped: &std::collections::HashSet<u64>) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p).is_ok_and(|m| {
        let ns = i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec());
        ns < i128::from(t) && !(m.is_file() && mapped.contains(&m.ino()))
    })
}

/// Detach the mount at `path` (reached without following a final symlink).
fn detach_path(path: &Path) -> std::io::Result<()> {
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    mount::detach(fd.as_fd())
}

/// Does the hidden entry `hidden` hold what `visible` shows (same type, and
/// for files the same bytes, for links the same target)? Then hiding it
/// loses nothing (e.g. data just seeded into persistence).
pub fn same_content(hidden: &Path, visible: &Path) -> bool {
    let (Ok(h), Ok(v)) = (
        std::fs::symlink_metadata(hidden),
        std::fs::symlink_metadata(visible),
    ) else {
        return false;
    };
    if h.file_type() != v.file_type() {
        return false;
    }
    if h.is_dir() {
        return true;
    }
    if h.file_type().is_symlink() {
        return std::fs::read_link(hidden).ok() == std::fs::read_link(visible).ok();
    }
    if !h.is_file() || h.len() != v.len() {
        return false;
    }
    match (std::fs::File::open(hidden), std::fs::File::open(visible)) {
        (Ok(a), Ok(b)) => crate::copy::same_bytes(&a, &b, None).unwrap_or(false),
        _ => false,
    }
}

/// The `impermctl-kept/<time>/` directories of the persistence roots
/// mounted on the root (host paths): where `boot` kept live data before a
/// bind hid it. A hidden entry with the same content there is safe.
fn kept_copies(host: &Path, points: &[PathBuf]) -> Vec<PathBuf> {
    let kept = |p: &PathBuf| host.join(p.strip_prefix("/").unwrap_or(p)).join(KEPT_DIR);
    let mut out: Vec<PathBuf> = (points.iter())
        .filter_map(|p| std::fs::read_dir(kept(p)).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .collect();
    out.sort();
    out
}

/// Every entry under `host` (sorted as a depth-first listing would be)
/// that is not `safe` (given its host path and its path relative to
/// `host`: same content visible, or kept), with the logical prefix
/// `logical`, and the bytes of its files.
fn list(host: &Path, logical: &Path, safe: &dyn Fn(&Path, &Path) -> bool) -> (Vec<String>, u64) {
    struct Listing;
    impl Visit for Listing {
        type Acc = Vec<(Vec<u8>, u64)>;
        fn visit(&self, e: &Entry<'_>, acc: &mut Self::Acc) -> std::io::Result<bool> {
            let size = match e.kind {
                Kind::Dir => 0,
                _ => stat_at(e.dir, e.name)?.size,
            };
            acc.push((e.path.to_vec(), size));
            Ok(true)
        }
    }
    // Most mount points hide nothing: no walk for an empty directory.
    if std::fs::read_dir(host).is_ok_and(|mut d| d.next().is_none()) {
        return (Vec::new(), 0);
    }
    let (scope, count) = (Scope::tree(host), AtomicU64::new(0));
    let Ok(out) = walk::walk_auto(&scope, &Listing, &count) else {
        return (Vec::new(), 0);
    };
    let mut found: Vec<(Vec<u8>, u64)> = out.accs.into_iter().flatten().collect();
    found.sort_by(|a, b| path_of(&a.0).cmp(path_of(&b.0)));
    let (mut paths, mut bytes) = (Vec::new(), 0);
    for (p, size) in found {
        let rel = path_of(&p[1..]);
        if !safe(&host.join(rel), rel) {
            paths.push(show(&logical.join(rel)));
            bytes += size;
        }
    }
    (paths, bytes)
}
