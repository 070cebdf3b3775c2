//! Preparing `persist`'s steps, without changing anything: observe each path (the
//! live data, the persistence root, the copy's place), decide (`decide`,
//! pure), then the writers scan, the measure and the comparison with an
//! existing copy for the paths that are to move.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::decide::{self, Existing, Probe, Seen, Verdict};
use super::{Action, Method, Options, Refusal, Step, writers_under};
use crate::config::Kind;
use crate::config::Settings;
use crate::copy::{self, Differ, End};
use crate::mountinfo::MountTable;
use crate::names::show;
use crate::root::{self, Root, rel};
use crate::sys::fs;
use crate::sys::meta::stat_fd;

/// Decide what to do for every path. Changes nothing.
pub fn prepare(
    root: &Root,
    settings: &Settings,
    opts: Options<'_>,
    paths: &[PathBuf],
) -> anyhow::Result<Vec<Result<Step, Refusal>>> {
    let table = root.mount_table()?;
    let root_fd = fs::open_dir(root.dir())
        .with_context(|| format!("cannot open the root {}", crate::names::show(root.dir())))?;
    let root_dev = stat_fd(root_fd.as_fd())?.dev;
    let normal: Vec<Option<PathBuf>> = paths.iter().map(|p| root::normalize(p)).collect();
    let mut out = Vec::new();
    for (i, arg) in paths.iter().enumerate() {
        let clash = normal[i].as_ref().and_then(|me| {
            normal.iter().enumerate().find_map(|(j, other)| {
                let other = other.as_ref()?;
                (j != i && me.starts_with(other) && (me != other || j < i)).then_some(other)
            })
        });
        out.push(match clash {
            Some(other) => {
                let (a, o) = (crate::names::show(arg), crate::names::show(other));
                let why = "persist each path once, and a parent without its children";
                refuse(arg, format!("{a} is also given as {o}: {why}"))?
            }
            None => plan_one(root, root_fd.as_fd(), root_dev, &table, settings, opts, arg)?,
        });
    }
    Ok(out)
}

fn refuse(path: &Path, reason: String) -> anyhow::Result<Result<Step, Refusal>> {
    Ok(Err(Refusal {
        path: path.to_path_buf(),
        reason,
        writers: Vec::new(),
    }))
}

/// Look at a logical path below the root without following any symlink.
fn probe(root_fd: BorrowedFd<'_>, p: &Path) -> Probe {
    let shown = crate::names::show(p);
    let fd = match fs::open_beneath(root_fd, rel(p), rustix::fs::OFlags::PATH) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ok(None)),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            let why = "has a symlink in it: persist the real path it points to";
            return Ok(Err(format!("{shown} {why}")));
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot open {shown}"))),
    };
    Ok(Ok(Some(stat_fd(fd.as_fd())?)))
}

/// Why the symlink at `path` is not what to persist when it leads to a
/// directory on the ephemeral root (`walk::data_behind_link`: systemd's `DynamicUser=` link
/// `/var/lib/foo -> private/foo`, an app's link to its state directory):
/// the command that persists the data.
fn behind_link(
    root_fd: BorrowedFd<'_>,
    table: &MountTable,
    settings: &Settings,
    path: &Path,
) -> Option<String> {
    let to = fs::readlink_beneath(root_fd, rel(path)).ok()?;
    let data = crate::walk::data_behind_link(settings, table, path, &to)?;
    // A link to a file is refused as a symlink (below); this is for state
    // directories.
    fs::lstat_beneath(root_fd, rel(&data))
        .ok()??
        .is_dir()
        .then_some(())?;
    let (p, t, d) = (show(path), show(&to), show(&data));
    let link = match crate::walk::systemd_private_link(path, &to) {
        true => " (systemd makes the link again at each start of the DynamicUser= service)",
        false => "",
    };
    Some(format!(
        "{p} is a symlink (to {t}), so its data is in {d}, on the ephemeral root: persist that instead: `impermctl persist {d}`{link}"
    ))
}

/// Plan one path: observe, decide, then (for a move) scan for writers,
/// measure, and compare with an existing copy.
fn plan_one(
    root: &Root,
    root_fd: BorrowedFd<'_>,
    root_dev: u64,
    table: &MountTable,
    settings: &Settings,
    opts: Options<'_>,
    arg: &Path,
) -> anyhow::Result<Result<Step, Refusal>> {
    let (path, proot) = match decide::target(arg, settings, opts.to) {
        Ok(t) => t,
        Err(reason) => return refuse(arg, reason),
    };
    if let Some(why) = behind_link(root_fd, table, settings, &path) {
        return refuse(arg, why);
    }
    let source = proot.join(rel(&path));
    let seen = Seen {
        live: probe(root_fd, &path),
        proot: probe(root_fd, &proot),
        existing: probe(root_fd, &source),
        root_dev,
    };
    let verdict = decide::decide(&path, &proot, settings, table, seen)?;
    let (kind, existing) = match verdict {
        Err(reason) => return refuse(arg, reason),
        Ok(Verdict::Done(kind)) => (kind, None),
        Ok(Verdict::Move(kind, existing)) => (kind, Some(existing)),
    };
    let declared = settings.entry(&path);
    let copy = match method(root_fd, root, settings, opts.method, (&path, kind)) {
        Ok(copy) => copy,
        Err(reason) => return refuse(arg, reason),
    };
    let mut step = Step {
        kind,
        root: proot,
        action: Action::Done,
        method: if copy { Method::Copy } else { Method::Bind },
        stale_tmp: false,
        entries: 0,
        bytes: 0,
        declared: declared.is_some(),
        writers: Vec::new(),
        separated: Vec::new(),
        merge: false,
        host: root.host(&path),
        source_host: root.host(&source),
        source,
        path,
    };
    let Some(existing) = existing else {
        return Ok(Ok(step));
    };
    let found = writers_under(opts.proc, &step.host);
    if !found.is_empty() && !opts.force {
        return Ok(Err(Refusal {
            path: arg.to_path_buf(),
            reason: decide::writers_reason(&step.path, &found),
            writers: found,
        }));
    }
    step.writers = found;
    let usage = copy::measure(&step.host)?;
    (step.entries, step.bytes) = (usage.entries, usage.file_bytes);
    step.separated = copy::separated(root, &step.path, &usage);
    match existing {
        Existing::Mismatch(reason) => return refuse(arg, reason),
        // An empty directory (made by hand, a dataset mounted there) or a
        // fill a killed run left: filled (`copy::fill`), as `boot` seeds it.
        Existing::Same if kind == Kind::Directory && empty_or_filling(root_fd, &step.source) => {
            step.action = Action::Copy;
        }
        // Holding only the sources of entries declared inside, bound from
        // there: the live data is merged in around them (`carry`, as
        // `boot` seeds it; trial s11 N20).
        Existing::Same
            if kind == Kind::Directory && only_nested(root_fd, settings, table, &step) =>
        {
            (step.action, step.merge) = (Action::Copy, true);
        }
        Existing::Same => {
            if let Some(diff) = compare(root_fd, &step)? {
                let s = crate::names::show(&step.source);
                return refuse(
                    arg,
                    format!(
                        "{s} already exists and differs from the live data ({diff}): the live data changed since it was copied, or the persistent copy was there before. Move {s} away and rerun to copy the live data again"
                    ),
                );
            }
            step.action = Action::Bind;
        }
        Existing::None => {
            step.action = Action::Copy;
            step.stale_tmp = copy::stale_tmp_exists(&step.source_host);
        }
    }
    // Refused before anything is copied when it cannot fit (trial-s10 F7).
    let again = "impermctl persist";
    let fits = (step.action == Action::Copy)
        .then(|| copy::room(&step.path, &step.source_host, &usage, again))
        .transpose();
    if let Err(e) = fits {
        return refuse(arg, format!("{e:#}"));
    }
    Ok(Ok(step))
}

/// Copy (`method = "copy"`) rather than bind the logical `path`: as
/// declared; else as `--method` (`chosen`) says; else as `diff` decides
/// (a well-known replaced file, or one replaced by rename since the
/// baseline or as the watcher heard). `Err`: a refusal (`--method` against
/// the config, or copy for a directory).
fn method(
    root_fd: BorrowedFd<'_>,
    root: &Root,
    settings: &Settings,
    chosen: Option<Method>,
    (path, kind): (&Path, Kind),
) -> anyhow::Result<bool, String> {
    let p = crate::names::show(path);
    if kind == Kind::Directory {
        return match chosen {
            Some(Method::Copy) => Err(format!(
                "{p} is a directory: --method copy is for files (a directory is bind-mounted)"
            )),
            _ => Ok(false),
        };
    }
    let declared = settings
        .entry(path)
        .map(|e| e.method == crate::config::FileMethod::Copy);
    let live = || probe(root_fd, path).ok().and_then(|l| l.ok().flatten());
    match (declared, chosen) {
        (Some(d), Some(c)) if d != (c == Method::Copy) => {
            let (file, was) = (
                crate::names::show(&settings.file),
                if d { "copy" } else { "bind" },
            );
            Err(format!(
                "{p} is declared in {file} with method = \"{was}\": change it there, or leave out --method"
            ))
        }
        (Some(d), _) => Ok(d),
        (None, Some(c)) => Ok(c == Method::Copy),
        (None, None) => Ok(crate::suggest::needs_copy(path, kind)
            || live().is_some_and(|m| replaced_file(root, path, &m))),
    }
}

/// Is the directory at the logical `p` empty, or a fill in progress?
fn empty_or_filling(root_fd: BorrowedFd<'_>, p: &Path) -> bool {
    crate::sys::dir::is_empty(root_fd, rel(p)).unwrap_or(false)
        || copy::fill::only_partial(root_fd, rel(p))
        || copy::fill::unfinished(root_fd, rel(p))
}

/// Does the persistent copy's place of the directory `step` hold only
/// the sources of entries declared inside it ([`crate::apply::only_nested_at`])?
fn only_nested(
    root_fd: BorrowedFd<'_>,
    settings: &Settings,
    table: &MountTable,
    step: &Step,
) -> bool {
    let at = (
        step.root.as_path(),
        step.path.as_path(),
        step.source.as_path(),
    );
    crate::sys::dir::open(root_fd, rel(&step.root))
        .is_ok_and(|p| crate::apply::only_nested_at(p.as_fd(), settings, table, &[], at))
}

/// How the live data and its existing persistent copy differ, if they do.
fn compare(root_fd: BorrowedFd<'_>, step: &Step) -> anyhow::Result<Option<String>> {
    let (ld, ln) = copy::open_parent(root_fd, rel(&step.path))?;
    let (sd, sn) = copy::open_parent(root_fd, rel(&step.source))?;
    let live = End::new(ld.as_fd(), ln, &step.host);
    let copy = End::new(sd.as_fd(), sn, &step.source_host);
    copy::compare_trees_at(live, copy, Differ::default())
}

/// `diff`'s decision for the regular file at the logical `path` (`live`:
/// its metadata now): replaced by rename since the baseline
/// ([`crate::baseline::replaced`]) or as the watcher heard it
/// (`WatchState::heard_replaced`), so kept with `method = "copy"`. False
/// when neither knows (no baseline, no watcher state).
pub fn replaced_file(root: &Root, path: &Path, live: &crate::sys::meta::Meta) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let baseline = crate::baseline::Baseline::open(root).ok().flatten();
    let rec = baseline.and_then(|b| b.get(path.as_os_str().as_bytes()));
    crate::baseline::replaced(rec, Some(live))
        || crate::watch::report::read_state(root).is_some_and(|(_, s)| s.heard_replaced(path))
}
