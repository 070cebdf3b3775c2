//! Who wrote: what `/proc` says about a pid (comm, cmdline, systemd unit:
//! [`crate::sys::proc`]), as a writer of a group.

use super::groups::Writer;
pub use crate::sys::proc::{Attribution, by_open_file, of_pid};

/// A writer of a group, when the command is known.
pub fn writer(a: &Attribution) -> Option<Writer> {
    Some(Writer {
        comm: a.comm.clone()?,
        unit: a.unit.clone(),
    })
}
