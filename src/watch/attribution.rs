//! Who wrote: what `/proc` says about a pid (comm, cmdline, systemd unit:
//! [`crate::sys::proc`]), as a writer of a group.

pub use crate::sys::proc::{Attribution, by_open_file, of_pid};

/// A writer of a group, when the command is known.
pub fn writer(a: &Attribution) -> Option<Writer> {
    Some(Writer {
        comm: a.comm.clone()?,
        unit: a.unit.clone(),
    })
}

/// A process seen writing to a group: in `watch.json`, on D-Bus and in
/// `diff`'s groups. Displayed as `comm (unit)`, or `comm` without a unit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "dbus", derive(zbus::zvariant::Type))]
pub struct Writer {
    /// `/proc/PID/comm`.
    pub comm: String,
    /// The systemd unit from `/proc/PID/cgroup`, if any.
    pub unit: Option<String>,
}

impl std::fmt::Display for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.unit {
            Some(u) => write!(f, "{} ({u})", self.comm),
            None => f.write_str(&self.comm),
        }
    }
}
