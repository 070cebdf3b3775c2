//! The ways of writing at a directory besides an fd open for writing,
//! for [`writers_under`](super::writers_under): a working or root
//! directory there, a shared writable mapping of a file there.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use procfs::process::Process;

use super::{Hold, OpenWriter, comm, strip_deleted};

/// `p`'s working directory and root directory (`/proc/PID/cwd`, `root`)
/// when at or below the host path `dir`, each passed to `push` as
/// [`Hold::WorkingDirectory`]; nothing for a process with a controlling
/// terminal (an interactive shell; warned about after the bind instead).
pub(super) fn cwd_or_root(
    proc: &Path,
    p: &Process,
    dir: &Path,
    push: &mut impl FnMut(PathBuf, Hold),
) {
    let base = proc.join(p.pid.to_string());
    let mut found = ["cwd", "root"]
        .into_iter()
        .filter_map(|l| std::fs::read_link(base.join(l)).ok().map(strip_deleted))
        .filter(|d| d.starts_with(dir))
        .peekable();
    if found.peek().is_none() || p.stat().is_ok_and(|s| s.tty_nr != 0) {
        return;
    }
    for d in found {
        push(d, Hold::WorkingDirectory);
    }
}

/// Every process (other than this one) with a file at or below the host
/// path `dir` mapped shared and writable, appended to `out` as
/// [`Hold::Mapped`] (see [`super::maps::shared_writable`]; its path is the
/// one the kernel prints, as for fds). Nothing when `proc` is unreadable.
pub(super) fn mapped(proc: &Path, dir: &Path, out: &mut Vec<OpenWriter>) {
    let Ok(scan) = super::maps::shared_writable(proc) else {
        return;
    };
    for m in scan.mappings {
        let file = Path::new(OsStr::from_bytes(&m.path));
        if m.path.is_empty() || !file.starts_with(dir) {
            continue;
        }
        let p = Process::new_with_root(proc.join(m.pid.to_string()));
        out.push(OpenWriter {
            pid: m.pid as u32,
            comm: p.ok().and_then(|p| comm(&p)).unwrap_or_else(|| "?".into()),
            file: file.to_path_buf(),
            how: Hold::Mapped,
        });
    }
}
