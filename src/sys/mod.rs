//! Every syscall impermctl makes lives below this module: thin wrappers with
//! no policy, so that the logic above can be tested with data and fake roots.
//! One module per concept; every wrapper returns `std::io::Result`. Only
//! `fanotify` (file handles, event descriptors) may use `unsafe`.

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
pub mod utab;
