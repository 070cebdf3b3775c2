//! Every syscall impermctl makes lives below this module: thin wrappers with
//! no policy, so that the logic above can be tested with data and fake roots.
//! One module per concept; every wrapper returns `std::io::Result`. Only
//! `fanotify` (file handles, event descriptors) and `procmap` (an `ioctl`
//! with a struct) may use `unsafe`.

pub mod dir;
pub mod fanotify;
pub mod fs;
pub mod inotify;
pub mod journal;
pub mod meta;
pub mod mount;
pub mod notify;
pub mod poll;
pub mod proc;
pub mod procmap;
pub mod utab;

/// `r`, with "not found" (`ENOENT`) as `Ok(None)`: the one mapping for
/// lookups where a missing path is an answer, not an error.
pub fn optional<T>(r: std::io::Result<T>) -> std::io::Result<Option<T>> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        r => r.map(Some),
    }
}
