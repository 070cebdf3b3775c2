//! Every syscall impermctl makes lives below this module: thin wrappers with
//! no policy, so that the logic above can be tested with data and fake roots.
#![allow(unsafe_code)]

pub mod copy;
pub mod fanotify;
pub mod fs;
pub mod inotify;
pub mod mount;
pub mod notify;
pub mod utab;
pub mod walk;
