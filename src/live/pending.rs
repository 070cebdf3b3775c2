//! Entries seeded while processes were writing there. Binding the copy
//! over a directory that a running service writes would send its next
//! writes to the copy while what it still writes through open files lands
//! in the hidden original, which the reboot discards. So: seed, do not
//! bind, record the entry as pending; the shutdown sync (after the services
//! stopped) saves the final data over the seed, and the next boot binds it.

use std::os::fd::AsFd;
use std::path::Path;

use anyhow::Context;

use crate::config::{Entry, Settings};
use crate::root::Root;
use crate::state::{Pending, WriterInfo};
use crate::sys::fs::RenameFlags;

/// Processes holding files at or below `path` open for writing, exactly as
/// `impermctl persist` finds them (`/proc/PID/fd` + `fdinfo` flags), or
/// serving a unix socket there (`listening`: a bind would hide it,
/// trial-s11 N11), with their units: each process and file once, however
/// it holds the file (trial-s10 F8: Python's `mmap` keeps an fd besides
/// the mapping, and the writer was listed twice).
pub fn writers(root: &Root, path: &Path) -> Vec<WriterInfo> {
    let proc = Path::new("/proc");
    let mut found = crate::sys::proc::writers_under(proc, &root.host(path));
    found.sort_by(|a, b| (a.pid, &a.file).cmp(&(b.pid, &b.file)));
    found.dedup_by(|a, b| (a.pid, &a.file) == (b.pid, &b.file));
    found
        .into_iter()
        .map(|w| {
            let unit = (w.pid != 0)
                .then(|| crate::sys::proc::of_pid(proc, w.pid as i32).unit)
                .flatten();
            WriterInfo {
                pid: w.pid,
                comm: w.comm,
                unit,
                listening: w.how == crate::sys::proc::Hold::Listening,
                file: root.logical(&w.file).unwrap_or(w.file),
            }
        })
        .collect()
}

/// What `writers` do there, for a sentence "running processes …": `write
/// there`, or with sockets served there `listen on a unix socket there`
/// or `write or listen on a unix socket there`.
pub fn activity(writers: &[WriterInfo]) -> &'static str {
    match (
        writers.iter().any(|w| !w.listening),
        writers.iter().any(|w| w.listening),
    ) {
        (_, false) => "write there",
        (false, true) => "listen on a unix socket there",
        (true, true) => "write or listen on a unix socket there",
    }
}

/// Is `path` still pending (its entry recorded so in `entries`, from
/// `state.json`) and still declared in `settings`?
pub fn still_pending(entries: &[crate::state::Recorded], settings: &Settings, path: &Path) -> bool {
    let how = crate::state::How::Pending;
    settings.entry(path).is_some() && entries.iter().any(|r| r.path == path && r.how == how)
}

/// What to do after seeding, given the writers found just before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterSeed {
    /// Nobody writes there: bind now (then reconcile racing writes).
    Bind,
    /// Leave it pending until the shutdown sync.
    Pending,
}

/// Decide (pure): writers → pending, none → bind.
pub fn after_seed(writers: &[WriterInfo]) -> AfterSeed {
    if writers.is_empty() {
        AfterSeed::Bind
    } else {
        AfterSeed::Pending
    }
}

/// The systemd units of `writers`, sorted, once each, as `systemctl stop`
/// takes them (`None` when no writer runs in a unit). systemd itself
/// (`init.scope`, holding the sockets of socket units) is not one to stop.
pub fn units(writers: &[WriterInfo]) -> Option<String> {
    let units = writers.iter().filter_map(|w| w.unit.as_deref());
    let mut units: Vec<&str> = units.filter(|u| *u != "init.scope").collect();
    units.sort();
    units.dedup();
    (!units.is_empty()).then(|| units.join(" "))
}

/// The one WARNING for a new pending entry.
pub fn warning(e: &Entry, writers: &[WriterInfo]) -> String {
    let list: Vec<String> = writers.iter().map(ToString::to_string).collect();
    let mut sockets: Vec<String> = (writers.iter())
        .filter(|w| w.listening)
        .map(|w| w.file.display().to_string())
        .collect();
    sockets.sort();
    sockets.dedup();
    if sockets.is_empty() {
        let restart = units(writers).map_or_else(String::new, |u| {
            format!("; to bind it now instead: `systemctl stop {u}` then `impermctl boot`")
        });
        return format!(
            "{} is written by running processes ({}): seeded {} but NOT bound yet (pending); impermctl-sync.service saves the final data at shutdown after the services stopped, and the next boot binds it{restart}",
            e.path.display(),
            list.join(", "),
            e.source.display()
        );
    }
    let restart = match units(writers) {
        Some(u) => format!(
            "`systemctl stop {u}`, `impermctl boot`, then `systemctl start {u}` (it binds its socket again, on the bound directory)"
        ),
        None => "stop them, run `impermctl boot`, then start them again (they bind their sockets again, on the bound directory)".into(),
    };
    let systemd = writers.iter().any(|w| w.pid == 1).then_some(
        "; systemd (pid 1) listens there for a socket unit: stop and start that unit too (`systemctl list-sockets` names it)",
    );
    format!(
        "{} is in use by running processes ({}): seeded {} but NOT bound yet (pending), since a bind now would hide the unix socket {} and its clients would get \"Connection refused\" until the service restarts; impermctl-sync.service saves the final data at shutdown after the services stopped, and the next boot binds it before they start; to bind it now instead: {restart}{}",
        e.path.display(),
        list.join(", "),
        e.source.display(),
        sockets.join(", "),
        systemd.unwrap_or_default()
    )
}

/// Save the live data of a pending entry over its seed, atomically: copy
/// it to `.<name>.impermctl-sync` beside the source, exchange the two names
/// (`RENAME_EXCHANGE`), remove the old seed. Killed at any point, the source
/// is the old seed or the new copy, never a mix, and a rerun completes
/// (the live data is still there until the reboot). A seed directory that
/// is a mount point of its own (no rename can move it) is refilled in place
/// instead ([`crate::copy::fill::refill_at`], as safe). Returns what was
/// copied.
pub fn save_over_seed(root: &Root, p: &Pending) -> anyhow::Result<crate::copy::CopyStats> {
    let live = root.host(&p.path);
    let source = root.host(&p.source);
    let (parent, name) = crate::sys::fs::split(&source)?;
    let staged = crate::sys::fs::sibling_name(name, ".impermctl-sync");
    let dir = crate::sys::fs::open_dir(parent)
        .with_context(|| format!("cannot open {}", parent.display()))?;
    let is_dir = std::fs::symlink_metadata(&source).is_ok_and(|m| m.is_dir());
    if is_dir && mount_point(&source) == Some(true) {
        let (lparent, lname) = crate::sys::fs::split(&live)?;
        let ldir = crate::sys::fs::open_dir(lparent)
            .with_context(|| format!("cannot open {}", lparent.display()))?;
        let from = crate::copy::End::new(ldir.as_fd(), lname, &live);
        let to = crate::copy::End::new(dir.as_fd(), name, &source);
        return crate::copy::fill::refill_at(from, to, &mut |_| {});
    }
    crate::copy::remove_tree_at(dir.as_fd(), &staged)?;
    // The new copy is made beside the seed: both must fit at once.
    crate::copy::room(
        &p.path,
        &source,
        &crate::copy::measure(&live)?,
        "impermctl sync",
    )?;
    let stats = crate::copy::copy_tree_atomic(&live, &parent.join(&staged), &mut |_| {})?;
    crate::sys::fs::rename(dir.as_fd(), &staged, name, RenameFlags::EXCHANGE)
        .with_context(|| format!("cannot exchange {} with its new copy", p.source.display()))?;
    crate::sys::fs::fsync(dir.as_fd())?;
    crate::copy::remove_tree_at(dir.as_fd(), &staged)?;
    crate::sys::fs::fsync(dir.as_fd())?;
    Ok(stats)
}

/// What a shutdown sync killed while it saved a pending entry over its
/// seed ([`save_over_seed`]) left beside the source `name` in `dir` (the
/// source's directory, open for reading; `source`: the source's logical
/// path, for messages), cleaned where it can be proven to be nothing
/// more: the partial copy `..<name>.impermctl-sync.impermctl-tmp` (a copy
/// renames it only once complete) is removed; so is the staged
/// `.<name>.impermctl-sync` when it is the old seed, exchanged with the new
/// copy and not yet removed (born before the source, by `statx` birth
/// times). A staged copy born after the source is the complete new copy
/// the kill stopped before the exchange: left, and returned (logical path)
/// for the caller to say; so is one whose birth times cannot be told.
pub fn clean_interrupted_save(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    source: &Path,
) -> anyhow::Result<Option<std::path::PathBuf>> {
    use crate::sys::meta::stat_at;
    let staged = crate::sys::fs::sibling_name(name, ".impermctl-sync");
    let parent = source.parent().unwrap_or(Path::new("/"));
    let tmp = crate::copy::tmp_name(&staged);
    if crate::copy::remove_tree_at(dir, &tmp)
        .with_context(|| format!("cannot remove {}", parent.join(&tmp).display()))?
    {
        let t = parent.join(&tmp);
        tracing::info!(
            "removed {}, the partial copy of an interrupted `impermctl sync`",
            t.display()
        );
    }
    let Some(st) = crate::sys::optional(stat_at(dir, &staged))? else {
        return Ok(None);
    };
    let born = |m: &crate::sys::meta::Meta| m.btime;
    let shown = parent.join(&staged);
    match (
        born(&st),
        crate::sys::optional(stat_at(dir, name))?.and_then(|m| born(&m)),
    ) {
        (Some(a), Some(b)) if a < b => {
            crate::copy::remove_tree_at(dir, &staged)
                .with_context(|| format!("cannot remove {}", shown.display()))?;
            crate::sys::fs::fsync(dir)?;
            tracing::info!(
                "removed {}, the old seed an interrupted `impermctl sync` had replaced with the live data",
                shown.display()
            );
            Ok(None)
        }
        _ => Ok(Some(shown)),
    }
}

/// Is the host path `path` a mount point (of its own mount, not its
/// parent's)? `None` when it cannot be told (or is missing).
pub fn mount_point(path: &Path) -> Option<bool> {
    use crate::sys::meta::{stat_at, stat_fd};
    let (parent, name) = crate::sys::fs::split(path).ok()?;
    let dir = crate::sys::fs::open_dir(parent).ok()?;
    let (d, m) = (stat_fd(dir.as_fd()).ok()?, stat_at(dir.as_fd(), name).ok()?);
    Some(d.mnt_id != m.mnt_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trial s11 N26: what a shutdown sync killed during its save left
    /// beside the seed. The partial copy goes; a staged copy born before
    /// the source is the old seed (exchanged, not yet removed): it goes; one
    /// born after it is the complete new copy: left, and named.
    #[test]
    fn an_interrupted_save_leaves_only_a_newer_complete_copy() {
        use std::os::fd::AsFd;
        for staged_first in [true, false] {
            let t = tempfile::tempdir().unwrap();
            let (src, staged) = (t.path().join("q"), t.path().join(".q.impermctl-sync"));
            let partial = t.path().join("..q.impermctl-sync.impermctl-tmp");
            let order = if staged_first {
                [&staged, &src]
            } else {
                [&src, &staged]
            };
            for d in order {
                std::fs::create_dir(d).unwrap();
                std::fs::write(d.join("f"), "x").unwrap();
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            std::fs::create_dir(&partial).unwrap();
            std::fs::write(partial.join("f"), "x").unwrap();
            let dir = crate::sys::fs::open_dir(t.path()).unwrap();
            let shown = Path::new("/persistent/var/lib/q");
            let left = clean_interrupted_save(dir.as_fd(), "q".as_ref(), shown).unwrap();
            assert!(!partial.exists());
            assert!(src.join("f").exists());
            match staged_first {
                true => assert_eq!((left, staged.exists()), (None, false)),
                false => assert_eq!(
                    (left, staged.exists()),
                    (Some("/persistent/var/lib/.q.impermctl-sync".into()), true)
                ),
            }
        }
    }

    #[test]
    fn writers_make_it_pending() {
        assert_eq!(after_seed(&[]), AfterSeed::Bind);
        let w = WriterInfo {
            pid: 7,
            comm: "live-writer".into(),
            unit: Some("live.service".into()),
            file: "/var/lib/live/wal".into(),
            listening: false,
        };
        assert_eq!(after_seed(std::slice::from_ref(&w)), AfterSeed::Pending);
        assert_eq!(
            w.to_string(),
            "live-writer[7] in live.service writing /var/lib/live/wal"
        );
    }

    /// Trial-s11 N11: a listener makes the entry pending like a writer;
    /// the WARNING names the socket, the process and its unit, and how to
    /// bind now (stop, boot, start); systemd holding a socket unit's socket
    /// (pid 1, `init.scope`) is no unit to stop but named apart.
    #[test]
    fn a_listener_makes_it_pending_and_the_warning_says_what_to_do() {
        let w = |pid, unit: &str, file: &str, listening| WriterInfo {
            pid,
            comm: if pid == 1 { "systemd" } else { "redis-server" }.into(),
            unit: Some(unit.into()),
            file: file.into(),
            listening,
        };
        let sock = "/var/lib/redis/redis.sock";
        let ws = [
            w(1, "init.scope", sock, true),
            w(42, "redis.service", sock, true),
        ];
        assert_eq!(after_seed(&ws), AfterSeed::Pending);
        assert_eq!(activity(&ws), "listen on a unix socket there");
        assert_eq!(units(&ws).as_deref(), Some("redis.service"));
        let text = "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [\"/var/lib/redis\"]\n";
        let e = crate::config::parse(text, Path::new("c.toml"))
            .unwrap()
            .entries[0]
            .clone();
        let text = warning(&e, &ws);
        for want in [
            "/var/lib/redis is in use by running processes (systemd[1] in init.scope listening on /var/lib/redis/redis.sock, redis-server[42] in redis.service listening on /var/lib/redis/redis.sock)",
            "would hide the unix socket /var/lib/redis/redis.sock and its clients would get \"Connection refused\"",
            "`systemctl stop redis.service`, `impermctl boot`, then `systemctl start redis.service`",
            "systemd (pid 1) listens there for a socket unit",
        ] {
            assert!(text.contains(want), "{want}\n{text}");
        }
        let writing = w(7, "db.service", "/var/lib/redis/wal", false);
        assert_eq!(
            activity(&[writing.clone(), ws[1].clone()]),
            "write or listen on a unix socket there"
        );
        assert!(!warning(&e, &[writing]).contains("socket"));
    }

    /// Trial-s10 F8: "python3[40] writing X, python3[40] writing X": a
    /// process holding a file both open for writing and mapped (Python's
    /// `mmap` keeps a duplicate of the fd) is one writer of that file.
    #[test]
    fn a_writer_holding_a_file_two_ways_is_listed_once() {
        use std::io::BufRead;
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("var/lib/db");
        std::fs::create_dir_all(&dir).unwrap();
        let code = "import mmap,os,sys,time\nfd=os.open(sys.argv[1],os.O_RDWR|os.O_CREAT)\nos.ftruncate(fd,4096)\nm=mmap.mmap(fd,4096,mmap.MAP_SHARED)\nprint(1,flush=True)\ntime.sleep(30)";
        let mut c = std::process::Command::new("python3")
            .args(["-c", code])
            .arg(dir.join("data.mdb"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(c.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let root = Root::new(Some(d.path().to_path_buf()), None);
        let found = writers(&root, Path::new("/var/lib/db"));
        c.kill().unwrap();
        c.wait().unwrap();
        let ours: Vec<&Path> = (found.iter())
            .filter(|w| w.pid == c.id())
            .map(|w| w.file.as_path())
            .collect();
        assert_eq!(ours, [Path::new("/var/lib/db/data.mdb")], "{found:?}");
    }
}
