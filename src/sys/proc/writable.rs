//! Files open for writing, by every process: a write through a shared
//! mapping that was unmapped while its descriptor stays open sends no
//! event until that descriptor is closed (the mapping is gone from
//! `/proc/PID/maps` too). The write fault moved the file's mtime and ctime
//! (`file_update_time` at `page_mkwrite`; verified on Linux 6.18, tmpfs and
//! ext4, before `munmap` and close), so a file open for writing that
//! changed is found here.
//!
//! Cheap per descriptor: one `stat` through `/proc/PID/fd/N` (the file's
//! type, device, inode and ctime); only a regular file `keep` accepts is
//! `lstat`'ed (the link's mode has `S_IWUSR` when the file is open for
//! writing, `fs/proc/fd.c`), and only one open for writing has its link
//! read.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, openat, readlinkat, statat};

use super::maps::{Mapping, pids};

/// Every regular file open for writing by a process visible in `proc`
/// (normally `/proc`) but this one, whose `stat` (through the descriptor)
/// `keep` accepts, as a [`Mapping`] (pid, `st_dev`, inode, the path the
/// link gives, unlinked or not). A process that exits meanwhile, or whose
/// descriptors cannot be read, is skipped. `Err`: `proc` cannot be read.
pub fn open_for_writing(proc: &Path, keep: &dyn Fn(&Stat) -> bool) -> io::Result<Vec<Mapping>> {
    let dir = crate::sys::fs::open_dir(proc)?;
    let mut out = Vec::new();
    let mut dbuf = crate::sys::dir::DirBuf::default();
    let mut names: Vec<std::ffi::CString> = Vec::new();
    let mut name = String::with_capacity(32);
    for pid in pids(&dir)? {
        use std::fmt::Write;
        name.clear();
        let _ = write!(name, "{pid}/fd");
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let Ok(fds) = openat(&dir, name.as_str(), flags, Mode::empty()) else {
            continue;
        };
        names.clear();
        let listed = crate::sys::dir::read(fds.as_fd(), &mut dbuf, |n, _, _| {
            names.push(n.to_owned());
        });
        if listed.is_err() {
            continue;
        }
        for n in &names {
            // The file first (one call for most descriptors: pipes,
            // sockets, devices, files `keep` refuses), then how it is held.
            let Ok(st) = statat(&fds, n.as_c_str(), AtFlags::empty()) else {
                continue;
            };
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
                || !keep(&st)
                || !statat(&fds, n.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|l| l.st_mode & 0o200 != 0)
            {
                continue;
            }
            // Closed meanwhile: its close is heard.
            if let Ok(link) = readlinkat(&fds, n.as_c_str(), Vec::new()) {
                let raw = link.as_bytes();
                let path = raw.strip_suffix(b" (deleted)");
                out.push(Mapping {
                    pid,
                    dev: st.st_dev,
                    ino: st.st_ino,
                    path: path.unwrap_or(raw).to_vec(),
                    deleted: path.is_some(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::process::{Command, Stdio};

    use super::*;

    /// A child holding the file for writing is listed (its pid, the path,
    /// the inode); one holding it for reading only is not.
    #[test]
    fn a_file_open_for_writing_is_found_and_one_open_for_reading_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("held");
        std::fs::write(&file, b"x").unwrap();
        let ino = std::fs::metadata(&file).unwrap().ino();
        let spawn = |stdin: Stdio, stdout: Stdio| {
            Command::new("sleep")
                .arg("30")
                .stdin(stdin)
                .stdout(stdout)
                .spawn()
                .unwrap()
        };
        let open = |write: bool| {
            std::fs::OpenOptions::new()
                .read(!write)
                .append(write)
                .open(&file)
                .unwrap()
        };
        let mut writer = spawn(Stdio::null(), open(true).into());
        let mut reader = spawn(open(false).into(), Stdio::null());
        let found = open_for_writing(Path::new("/proc"), &|st| st.st_ino == ino).unwrap();
        let _ = (writer.kill(), reader.kill(), writer.wait(), reader.wait());
        let canonical = std::fs::canonicalize(&file).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pid, writer.id() as i32);
        assert_eq!(found[0].path, canonical.as_os_str().as_encoded_bytes());
        assert!(!found[0].deleted);
    }
}
