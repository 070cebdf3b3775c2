//! Live data that a bind (or a copy-in) would hide or replace while a
//! persistent copy already exists: never dropped silently. It is copied
//! into the persistence root under `impermctl-kept/<UTC time>/<path>`
//! (owner, mode, times, xattrs), and one WARNING says where — unless it
//! holds nothing that the bind would lose ([`nothing_to_keep`]: a fresh
//! root's empty skeleton, files all in the source, a generated machine
//! ID), which every boot of an ephemeral root meets (trial s11 N6, N8).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::FileType;

use crate::config::{Entry, Kind};
use crate::root::{Root, rel};
use crate::sys::dir;
use crate::sys::fs::{self, At, Owner};
use crate::sys::meta::{Meta, stat_at};

/// The directory, directly below a persistence root, that holds kept data.
pub const KEPT_DIR: &str = "impermctl-kept";

/// Why the live data that a bind (or a copy-in) would hide or replace holds
/// nothing to keep aside (decided by `live::keep::nothing_to_keep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Spare {
    /// Only directories, no file of any kind (a fresh root's skeleton such
    /// as `/var/log`, `/var/lib`, `/var/tmp`, all empty).
    OnlyDirectories,
    /// Every file it holds is in the source too, at the same path, with
    /// the same type, owner, mode, extended attributes and content (times
    /// aside); its directories hold nothing else.
    InSource,
    /// `/etc/machine-id` holding only a machine ID (or `uninitialized`),
    /// which systemd or the host generated on the fresh root, while the
    /// source holds the machine's persistent ID: binding it is what every
    /// boot of an ephemeral root does.
    MachineId,
}

impl Spare {
    /// Why, in words (`boot --dry-run`, the log).
    pub fn words(self) -> &'static str {
        match self {
            Spare::OnlyDirectories => "only directories, no files",
            Spare::InSource => "every file of it is in the source, the same",
            Spare::MachineId => "a generated machine ID; the source's is the machine's",
        }
    }
}

/// `<root>/impermctl-kept/<YYYY-MM-DDTHH-MM-SSZ>/<path>` (logical).
pub fn kept_path(root: &Path, path: &Path, now: i64) -> PathBuf {
    let stamp = jiff::Timestamp::from_second(now)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H-%M-%SZ")
        .to_string();
    root.join(KEPT_DIR).join(stamp).join(rel(path))
}

/// Copy the live data at `e`'s target to its kept path; returns that path
/// (logical), or `None` when it holds nothing to keep ([`nothing_to_keep`]:
/// e.g. a seed whose bind was interrupted, a fresh root's empty skeleton).
/// Directories created on the way are root-only (0700): the data may
/// belong to several users.
pub fn keep(root: &Root, e: &Entry) -> anyhow::Result<Option<PathBuf>> {
    let rootfd = fs::open_dir(root.dir())?;
    let pfd = crate::sys::dir::open(rootfd.as_fd(), rel(&e.root))?;
    if let Some(why) = nothing_to_keep(rootfd.as_fd(), pfd.as_fd(), e) {
        let (p, words) = (e.path.display(), why.words());
        tracing::debug!(path = %p, "{p} holds nothing to keep aside ({words})");
        return Ok(None);
    }
    if let Some(k) = kept_before(rootfd.as_fd(), pfd.as_fd(), e)? {
        let (p, shown) = (e.path.display(), k.display());
        tracing::info!(path = %p, "{p} was kept aside at {shown} by an interrupted run and is still the same: not copied again");
        return Ok(Some(k));
    }
    let now = jiff::Timestamp::now().as_second().max(0);
    let base = kept_path(&e.root, &e.path, now).into_os_string();
    let taken = |p: &std::ffi::OsStr| root.host(Path::new(p)).symlink_metadata().is_ok();
    let to = PathBuf::from(fs::free_name(base, 2, taken));
    let (tparent, tname) = crate::copy::open_parent(rootfd.as_fd(), rel(&e.path))?;
    let krel = to.strip_prefix(&e.root).unwrap_or(&to).to_path_buf();
    let (kparent, kname) = fs::split(&krel)?;
    let mut owner = |_| Ok::<Owner, std::io::Error>(Owner::root(0o700));
    let (kdir, _) = crate::sys::dir::mkdir_beneath(pfd.as_fd(), kparent, &mut owner)
        .with_context(|| format!("cannot create {}", e.root.join(kparent).display()))?;
    super::files::copy_at(tparent.as_fd(), tname, &e.path, kdir.as_fd(), kname, &to).with_context(
        || {
            format!(
                "cannot keep the live data of {} at {}",
                e.path.display(),
                to.display()
            )
        },
    )?;
    Ok(Some(to))
}

/// A copy of the live data at `e`'s target that an earlier run kept aside
/// and that is still the same in every bit ([`crate::copy::compare_trees_at`]:
/// a run killed after keeping it, before its bind), as a path below
/// `impermctl-kept/`: looked for in the newest `<time>` directory that
/// holds `e`'s path (`<path>`, `<path>-2`, … as [`keep`] names them). On the
/// way, what killed runs left in every `<time>` directory is removed: the
/// partial copy beside `e`'s kept path (`.<name>.impermctl-tmp`: a copy
/// renames it only once complete, and only `keep` writes there), then the
/// directories that hold nothing. Errors only when `e`'s target or the
/// `impermctl-kept` directory cannot be read.
fn kept_before(
    rootfd: BorrowedFd<'_>,
    pfd: BorrowedFd<'_>,
    e: &Entry,
) -> anyhow::Result<Option<PathBuf>> {
    let Some(kfd) = crate::sys::optional(dir::open(pfd, KEPT_DIR))? else {
        return Ok(None);
    };
    let (prel, name) = fs::split(rel(&e.path))?;
    let tmp = crate::copy::tmp_name(name);
    let (tdir, tname) = crate::copy::open_parent(rootfd, rel(&e.path))?;
    let nth = |i: u32| {
        let mut n = name.to_os_string();
        if i > 1 {
            n.push(format!("-{i}"));
        }
        n
    };
    let mut stamps = dir::names(kfd.as_fd())?;
    stamps.sort_unstable_by(|a, b| b.cmp(a));
    let (mut found, mut looked) = (None, false);
    for st in stamps {
        let at = Path::new(&st).join(prel);
        let Ok(d) = dir::open(kfd.as_fd(), &at) else {
            continue;
        };
        let shown = e.root.join(KEPT_DIR).join(&at);
        let t = shown.join(&tmp);
        match crate::copy::remove_tree_at(d.as_fd(), &tmp) {
            Ok(true) => tracing::info!(
                "removed {}, left over from an interrupted keep",
                t.display()
            ),
            Ok(false) => {}
            Err(err) => tracing::warn!("cannot remove {}: {err:#}", t.display()),
        }
        prune(kfd.as_fd(), &at);
        // Only the newest copy is compared: older ones hold older data.
        let exists = |n: &OsStr| stat_at(d.as_fd(), n).is_ok();
        if looked || !exists(name) {
            continue;
        }
        looked = true;
        for n in (1..).map(nth) {
            if !exists(&n) {
                break;
            }
            let k = shown.join(&n);
            let (a, b) = (
                crate::copy::End::new(tdir.as_fd(), tname, &e.path),
                crate::copy::End::new(d.as_fd(), &n, &k),
            );
            let bits = crate::copy::Differ { content: true };
            if matches!(crate::copy::compare_trees_at(a, b, bits), Ok(None)) {
                found = Some(k);
                break;
            }
        }
    }
    Ok(found)
}

/// Remove the directories of `at` (a `<time>/<parent>` path below the
/// `impermctl-kept` directory open at `kfd`) that hold nothing, deepest
/// first, each from its parent opened without symlinks.
fn prune(kfd: BorrowedFd<'_>, at: &Path) {
    for a in at.ancestors().filter(|a| !a.as_os_str().is_empty()) {
        let Ok((parent, n)) = fs::split(a) else {
            return;
        };
        let Ok(pd) = dir::open(kfd, parent) else {
            return;
        };
        if fs::unlink_at(pd.as_fd(), n, true).is_err() {
            return;
        }
    }
}

/// Why binding `e`'s source over the live data at its target (or copying
/// it over, `method = "copy"`) loses nothing, or `None` when it may. The
/// target is looked at beneath `rootfd` (the root), the source beneath
/// `pfd` (`e`'s persistence root), never through a symlink. Lost would be
/// any entry that is not a directory (file, symlink, socket, fifo, device)
/// unless the source holds it at the same path with the same type, owner,
/// mode, extended attributes and content (a symlink: its text); the
/// directories themselves (their mode, owner, times) and the times of
/// files are not data. What is mounted below the target is not looked at:
/// `boot` mounts it again on top of the bind. `/etc/machine-id` holding a
/// machine ID (or `uninitialized`) while the source holds one:
/// [`Spare::MachineId`]. An error reading either side: `None`.
pub fn nothing_to_keep(rootfd: BorrowedFd<'_>, pfd: BorrowedFd<'_>, e: &Entry) -> Option<Spare> {
    let srel = e.source.strip_prefix(&e.root).unwrap_or(&e.source);
    let (tdir, tname) = crate::copy::open_parent(rootfd, rel(&e.path)).ok()?;
    let (sdir, sname) = crate::copy::open_parent(pfd, srel).ok()?;
    let (tdir, sdir) = (tdir.as_fd(), sdir.as_fd());
    let t = stat_at(tdir, tname).ok()?;
    if t.file_type == FileType::Directory {
        let tfd = dir::open(tdir, tname).ok()?;
        let sfd = crate::sys::optional(dir::open(sdir, sname)).ok()?;
        let mut files = false;
        let top = (t.dev, t.mnt_id);
        let sfd = sfd.as_ref().map(AsFd::as_fd);
        return (spare_dir(tfd.as_fd(), sfd, top, &mut files).ok()?).then_some(match files {
            true => Spare::InSource,
            false => Spare::OnlyDirectories,
        });
    }
    if same_entry(tdir, tname, &t, sdir, sname).ok()? {
        return Some(Spare::InSource);
    }
    let generated = e.kind == Kind::File
        && e.path == Path::new("/etc/machine-id") // plan::MACHINE_ID (plan uses this module)
        && machine_id(tdir, tname, true)
        && machine_id(sdir, sname, false);
    generated.then_some(Spare::MachineId)
}

/// [`nothing_to_keep`] below the target directory open at `t`, whose
/// counterpart in the source is open at `s` (`None`: missing, or not a
/// directory). `top`: the target's device and mount id; `files`: set when
/// a non-directory was met.
fn spare_dir(
    t: BorrowedFd<'_>,
    s: Option<BorrowedFd<'_>>,
    top: (u64, u64),
    files: &mut bool,
) -> io::Result<bool> {
    for name in dir::names(t)? {
        let m = stat_at(t, &name)?;
        if m.file_type != FileType::Directory {
            *files = true;
            let Some(s) = s else { return Ok(false) };
            if !same_entry(t, &name, &m, s, &name)? {
                return Ok(false);
            }
            continue;
        }
        // Mounted below: mounted again on top of the bind, nothing hidden.
        if (m.dev, m.mnt_id) != top && !(m.dev == top.0 && m.mnt_id == 0) {
            continue;
        }
        let sub = dir::open(t, &name)?;
        // A source side that is missing, or not a directory, holds nothing.
        let ssub = s.and_then(|s| dir::open(s, &name).ok());
        if !spare_dir(sub.as_fd(), ssub.as_ref().map(AsFd::as_fd), top, files)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Is the non-directory `tn` in `td` (whose stat is `tm`) also `sn` in
/// `sd`, the same: type, owner, mode, xattrs and bytes (a regular file), or
/// type, owner and text (a symlink)? Anything else is never the same.
fn same_entry(
    td: BorrowedFd<'_>,
    tn: &OsStr,
    tm: &Meta,
    sd: BorrowedFd<'_>,
    sn: &OsStr,
) -> io::Result<bool> {
    let Some(sm) = crate::sys::optional(stat_at(sd, sn))? else {
        return Ok(false);
    };
    if (tm.file_type, tm.uid, tm.gid) != (sm.file_type, sm.uid, sm.gid) {
        return Ok(false);
    }
    match tm.file_type {
        FileType::Symlink => Ok(fs::readlink_at(td, tn)? == fs::readlink_at(sd, sn)?),
        FileType::RegularFile if (tm.perm, tm.size) == (sm.perm, sm.size) => {
            let a = File::from(fs::open_read_at(td, tn)?);
            let b = File::from(fs::open_read_at(sd, sn)?);
            let xattrs = crate::copy::xattr_diff(At::Fd(a.as_fd()), At::Fd(b.as_fd()));
            Ok(matches!(xattrs, Ok(None)) && crate::copy::same_bytes(&a, &b, None)?)
        }
        _ => Ok(false),
    }
}

/// Does the regular file `name` in `dir` hold a machine ID as systemd
/// writes it (machine-id(5): 32 hexadecimal digits, then a newline or
/// not; never all zeros), or, with `marker`, `uninitialized` (its first
/// boot marker)?
fn machine_id(dir: BorrowedFd<'_>, name: &OsStr, marker: bool) -> bool {
    let Ok(f) = fs::open_read_at(dir, name) else {
        return false;
    };
    let mut buf = [0u8; 40];
    let f = File::from(f);
    let regular = f.metadata().is_ok_and(|m| m.is_file());
    let Ok(n) = crate::copy::read_full_at(&f, &mut buf, 0) else {
        return false;
    };
    let text = &buf[..n];
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let id = text.len() == 32
        && text.iter().all(u8::is_ascii_hexdigit)
        && text.iter().any(|&b| b != b'0');
    regular && n < buf.len() && (id || (marker && text == b"uninitialized"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_paths_name_the_time_and_the_path() {
        assert_eq!(
            kept_path(
                Path::new("/persistent"),
                Path::new("/var/lib/foo"),
                86_400 + 3661
            ),
            Path::new("/persistent/impermctl-kept/1970-01-02T01-01-01Z/var/lib/foo")
        );
    }

    /// The entries `/var` (a directory) and `/etc/machine-id`, `/etc/k`
    /// (files) of a config whose root is `/p`; a tree at `t` holding the
    /// target and source sides, open.
    fn entry(path: &str) -> Entry {
        let kind = if path == "/var" {
            "directories"
        } else {
            "files"
        };
        let text = format!("version = 1\n[[persistence]]\npath = \"/p\"\n{kind} = [\"{path}\"]\n");
        let s = crate::config::parse(&text, Path::new("c.toml")).unwrap();
        s.entries.into_iter().next().unwrap()
    }

    fn judge(t: &Path, e: &Entry) -> Option<Spare> {
        let root = fs::open_dir(t).unwrap();
        let pfd = fs::open_dir(&t.join("p")).unwrap();
        nothing_to_keep(root.as_fd(), pfd.as_fd(), e)
    }

    /// Trial s11 N8 as a table: a fresh root's `/var` skeleton, files all
    /// in the source, and everything that would be lost.
    #[test]
    fn a_directory_holds_nothing_to_keep_when_its_files_are_all_in_the_source() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let e = entry("/var");
        type Make = fn(&Path, &Path);
        let cases: [(&str, Make, Option<Spare>); 9] = [
            ("empty skeleton", |_, _| {}, Some(Spare::OnlyDirectories)),
            (
                "same file",
                |v, p| {
                    std::fs::write(v.join("log/a"), "x").unwrap();
                    std::fs::write(p.join("log/a"), "x").unwrap();
                },
                Some(Spare::InSource),
            ),
            (
                "same link",
                |v, p| {
                    symlink("/run", v.join("run")).unwrap();
                    symlink("/run", p.join("run")).unwrap();
                },
                Some(Spare::InSource),
            ),
            (
                "other bytes",
                |v, p| {
                    std::fs::write(v.join("log/a"), "x").unwrap();
                    std::fs::write(p.join("log/a"), "y").unwrap();
                },
                None,
            ),
            (
                "other mode",
                |v, p| {
                    std::fs::write(v.join("log/a"), "x").unwrap();
                    std::fs::write(p.join("log/a"), "x").unwrap();
                    let mode = std::fs::Permissions::from_mode(0o600);
                    std::fs::set_permissions(v.join("log/a"), mode).unwrap();
                },
                None,
            ),
            (
                "other link",
                |v, p| {
                    symlink("/run", v.join("run")).unwrap();
                    symlink("/srv", p.join("run")).unwrap();
                },
                None,
            ),
            (
                "not in the source",
                |v, _| std::fs::write(v.join("lib/svc/db"), "").unwrap(),
                None,
            ),
            (
                "a link where the source has a file",
                |v, p| {
                    symlink("a", v.join("log/b")).unwrap();
                    std::fs::write(p.join("log/b"), "a").unwrap();
                },
                None,
            ),
            (
                "a fifo",
                |v, p| {
                    for d in [v, p] {
                        let f = d.join("log/fifo");
                        rustix::fs::mknodat(
                            rustix::fs::CWD,
                            &f,
                            rustix::fs::FileType::Fifo,
                            rustix::fs::Mode::from_raw_mode(0o644),
                            0,
                        )
                        .unwrap();
                    }
                },
                None,
            ),
        ];
        for (what, make, want) in cases {
            let t = tempfile::tempdir().unwrap();
            let (v, p) = (t.path().join("var"), t.path().join("p/var"));
            // The live skeleton has more directories than the source.
            for d in ["log", "lib/svc", "tmp"] {
                std::fs::create_dir_all(v.join(d)).unwrap();
            }
            std::fs::create_dir_all(p.join("log")).unwrap();
            std::fs::write(p.join("log/old"), "kept in persistence").unwrap();
            make(&v, &p);
            assert_eq!(judge(t.path(), &e), want, "{what}");
        }
    }

    /// Trial s11 N6: `/etc/machine-id` generated on the fresh root before
    /// boot ran, while the persistent one holds the machine's ID.
    #[test]
    fn a_generated_machine_id_holds_nothing_to_keep() {
        let mid = entry("/etc/machine-id");
        let other = entry("/etc/k");
        let a = "6574474faa06421b852b611c38029e87\n";
        let b = "a75da8e51f3b4f1d99ed1a9c2c80fb6b\n";
        let cases = [
            (&mid, b, a, Some(Spare::MachineId)),
            (
                &mid,
                "a75da8e51f3b4f1d99ed1a9c2c80fb6b",
                a,
                Some(Spare::MachineId),
            ),
            (&mid, "uninitialized\n", a, Some(Spare::MachineId)),
            (&mid, a, a, Some(Spare::InSource)),
            // The source holds no ID yet: the live one is the only one.
            (&mid, b, "uninitialized\n", None),
            (&mid, "my notes\n", a, None),
            (&mid, "00000000000000000000000000000000\n", a, None),
            (&mid, b, "00000000000000000000000000000000\n", None),
            (&mid, &format!("{b}{b}"), a, None),
            // Any other file: only the same content.
            (&other, b, a, None),
            (&other, a, a, Some(Spare::InSource)),
        ];
        for (e, live, persistent, want) in cases {
            let t = tempfile::tempdir().unwrap();
            let name = e.path.file_name().unwrap();
            for (d, text) in [("etc", live), ("p/etc", persistent)] {
                std::fs::create_dir_all(t.path().join(d)).unwrap();
                std::fs::write(t.path().join(d).join(name), text).unwrap();
            }
            assert_eq!(
                judge(t.path(), e),
                want,
                "{:?} {live:?} {persistent:?}",
                e.path
            );
        }
    }
}
