//! Read-only mappings of whole files (the baseline, read on demand by
//! `diff`: only the pages looked at are read, nothing is copied).
//!
//! The second `unsafe` module of the crate (after `fanotify`): `mmap`
//! hands out memory the compiler cannot see the origin of. The mapping is
//! private and read-only and lives as long as the [`Map`]. A file
//! truncated *in place* while mapped makes reads past its new end raise
//! SIGBUS; impermctl replaces its files by rename (`fs::write_file_atomic`),
//! which leaves a mapping of the old file intact.
#![allow(unsafe_code)]

use std::os::fd::AsFd;

use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

/// A read-only private mapping of a file's first `len` bytes.
#[derive(Debug)]
pub struct Map {
    ptr: *mut std::ffi::c_void,
    len: usize,
}

// The mapping is read-only and owned: sharing `&[u8]` views across
// threads is as safe as sharing a `Vec<u8>`.
unsafe impl Send for Map {}
unsafe impl Sync for Map {}

impl Map {
    /// Map the first `len` bytes of `fd` (an empty map when `len` is 0).
    pub fn file(fd: impl AsFd, len: usize) -> std::io::Result<Map> {
        if len == 0 {
            return Ok(Map {
                ptr: std::ptr::null_mut(),
                len: 0,
            });
        }
        // SAFETY: a fresh mapping chosen by the kernel (no address given),
        // read-only and private; it is unmapped once, in `drop`.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::PRIVATE,
                fd.as_fd(),
                0,
            )
        }?;
        Ok(Map { ptr, len })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` maps `len` readable bytes until `drop`, and `&self`
        // keeps the map alive for the slice's lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: the mapping made in `file`, unmapped once; no slice
            // of it outlives `self`.
            let _ = unsafe { munmap(self.ptr, self.len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_mapping_shows_the_file_and_outlives_a_rename_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::File::create(&p)
            .unwrap()
            .write_all(b"hello")
            .unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let m = Map::file(&f, 5).unwrap();
        crate::sys::fs::write_file_atomic(&p, b"other!", 0o600).unwrap();
        assert_eq!(m.bytes(), b"hello");
        assert_eq!(Map::file(&f, 0).unwrap().bytes(), b"");
    }
}
