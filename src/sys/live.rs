//! Renames for saving files into persistence: replace a name atomically,
//! exchange two names atomically (`renameat2(RENAME_EXCHANGE)`). Thin
//! wrappers, no policy.

use std::ffi::OsStr;
use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::{RenameFlags, renameat, renameat_with};

/// `renameat(dir, from, dir, to)`: `to` is replaced atomically if it exists.
pub fn rename_replace(dir: BorrowedFd<'_>, from: &OsStr, to: &OsStr) -> io::Result<()> {
    Ok(renameat(dir, from, dir, to)?)
}

/// `renameat2(dir, a, dir, b, RENAME_EXCHANGE)`: both names must exist;
/// afterwards each names what the other did, in one atomic step.
pub fn exchange(dir: BorrowedFd<'_>, a: &OsStr, b: &OsStr) -> io::Result<()> {
    Ok(renameat_with(dir, a, dir, b, RenameFlags::EXCHANGE)?)
}
