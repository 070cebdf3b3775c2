//! Reading a directory with raw `getdents64(2)` into a reused buffer: names
//! and `d_type` only, no `fdopendir`/`rewinddir` overhead (the watcher's
//! start-up walk reads every directory of the root filesystem).

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::libc;

/// `DT_DIR`.
pub const DT_DIR: u8 = libc::DT_DIR;
/// `DT_UNKNOWN`: the filesystem does not say; stat the entry.
pub const DT_UNKNOWN: u8 = libc::DT_UNKNOWN;

/// Call `each(name, d_type)` for every entry of the open directory `fd`
/// except `.` and `..`. `buf` is scratch space (32 KiB is plenty).
pub fn for_each(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    each: &mut dyn FnMut(&[u8], u8),
) -> Result<(), Errno> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes; the kernel writes at most that.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(Errno::last());
        }
        if n == 0 {
            return Ok(());
        }
        let mut rec = &buf[..n as usize];
        // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
        while rec.len() >= 19 {
            let reclen = u16::from_ne_bytes([rec[16], rec[17]]) as usize;
            if reclen < 19 || reclen > rec.len() {
                break;
            }
            let d_type = rec[18];
            let raw = &rec[19..reclen];
            let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
            if name != b"." && name != b".." {
                each(name, d_type);
            }
            rec = &rec[reclen..];
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_names_and_types() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("f"), b"").unwrap();
        let dir = std::fs::File::open(t.path()).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4096];
        super::for_each(std::os::fd::AsFd::as_fd(&dir), &mut buf, &mut |n, t| {
            got.push((String::from_utf8_lossy(n).into_owned(), t == super::DT_DIR))
        })
        .unwrap();
        got.sort();
        assert_eq!(got, vec![("d".into(), true), ("f".into(), false)]);
    }
}
