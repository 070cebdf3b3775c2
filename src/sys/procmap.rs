//! `PROCMAP_QUERY` (Linux 6.11+): the `ioctl` on an open `/proc/PID/maps`
//! that asks the kernel for one mapping at a time, filtered by it, with no
//! text formatted for the others. Layout and flags from the kernel's uapi
//! header `include/uapi/linux/fs.h` (`struct procmap_query`,
//! `enum procmap_query_flags`, `PROCMAP_QUERY` = `_IOWR('f', 17, …)`),
//! through `linux-raw-sys`; the semantics from `fs/proc/task_mmu.c`
//! (`do_procmap_query`).
#![allow(unsafe_code)]

use std::os::fd::BorrowedFd;

use linux_raw_sys::general::{procmap_query, procmap_query_flags as F};
use rustix::io::Errno;
use rustix::ioctl::{Opcode, Updater, ioctl, opcode};

const PROCMAP_QUERY: Opcode = opcode::read_write::<procmap_query>(b'f', 17);

/// Shared (`VM_MAYSHARE`, the `s` of the text) and writable (`VM_WRITE`,
/// its `w`) mappings of a file, the first at or after the address asked.
const FLAGS: u64 = F::PROCMAP_QUERY_VMA_SHARED as u64
    | F::PROCMAP_QUERY_VMA_WRITABLE as u64
    | F::PROCMAP_QUERY_FILE_BACKED_VMA as u64
    | F::PROCMAP_QUERY_COVERING_OR_NEXT_VMA as u64;

/// `PATH_MAX`: the kernel's limit on a name it gives (`ENAMETOOLONG` past it).
pub const NAME_MAX: usize = 4096;

/// Every file mapping shared and writable of the process whose
/// `/proc/PID/maps` is open at `maps`, in address order: `each(dev, ino,
/// name)` with the file's superblock's device (`makedev` of the kernel's
/// major and minor), its inode number, and its path from the reader's
/// root as `d_path` gives it (raw bytes, ` (deleted)` appended when
/// unlinked; empty when longer than `PATH_MAX`). `name` is the buffer the
/// kernel writes names into.
///
/// `Ok(false)`: the kernel has no `PROCMAP_QUERY` (before 6.11) and
/// nothing was passed to `each`: read the text. Errors: `ESRCH` when the
/// process exited or has no memory map (a kernel thread); others as the
/// `ioctl` gives them.
pub fn shared_writable(
    maps: BorrowedFd<'_>,
    name: &mut [u8; NAME_MAX],
    mut each: impl FnMut(u64, u64, &[u8]),
) -> Result<bool, Errno> {
    let mut addr = 0;
    let mut named = true;
    loop {
        let mut q = procmap_query {
            size: size_of::<procmap_query>() as u64,
            query_flags: FLAGS,
            query_addr: addr,
            vma_start: 0,
            vma_end: 0,
            vma_flags: 0,
            vma_page_size: 0,
            vma_offset: 0,
            inode: 0,
            dev_major: 0,
            dev_minor: 0,
            vma_name_size: if named { NAME_MAX as u32 } else { 0 },
            build_id_size: 0,
            vma_name_addr: if named { name.as_mut_ptr() as u64 } else { 0 },
            build_id_addr: 0,
        };
        // SAFETY: `q` is a whole `struct procmap_query` whose `size` says
        // so; the kernel writes at most `vma_name_size` bytes (`NAME_MAX`)
        // at `vma_name_addr`, which points at `name`, borrowed mutably for
        // the call (or neither is set); no build ID is asked (both 0).
        let r = unsafe { ioctl(maps, Updater::<PROCMAP_QUERY, procmap_query>::new(&mut q)) };
        match r {
            Ok(()) => {}
            // No (more) matching mapping.
            Err(Errno::NOENT) => return Ok(true),
            Err(e) if addr == 0 && named && lacking(e) => return Ok(false),
            // Past PATH_MAX: asked again without the name.
            Err(Errno::NAMETOOLONG) if named => {
                named = false;
                continue;
            }
            Err(e) => return Err(e),
        }
        // `vma_name_size` counts the terminating NUL.
        let len = (q.vma_name_size as usize).saturating_sub(1).min(NAME_MAX);
        let dev = rustix::fs::makedev(q.dev_major, q.dev_minor);
        each(dev, q.inode, if named { &name[..len] } else { &[] });
        (addr, named) = (q.vma_end, true);
    }
}

/// Does the `ioctl`'s first answer say the kernel has no `PROCMAP_QUERY`:
/// no such `ioctl` on `maps` (`ENOTTY`), or a `struct procmap_query` or
/// flags it does not know (`EINVAL`)?
fn lacking(e: Errno) -> bool {
    matches!(e, Errno::NOTTY | Errno::INVAL)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_enotty_and_einval_mean_an_older_kernel() {
        use rustix::io::Errno;
        for (e, want) in [
            (Errno::NOTTY, true),
            (Errno::INVAL, true),
            (Errno::SRCH, false),
            (Errno::ACCESS, false),
            (Errno::NOENT, false),
        ] {
            assert_eq!(super::lacking(e), want, "{e:?}");
        }
    }
}
