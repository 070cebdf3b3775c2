//! Issue 14 (items 3–6): hostile users, hostile names, broken records.
//! Every input named in the issue is a test here, run as root in private
//! mount namespaces with unprivileged steps through `setpriv` and a real
//! non-root uid.

mod commands;
mod names;
mod privacy;
mod records;
mod watcher;

/// `setpriv` prefix that runs a command as uid/gid `id` with no groups.
pub const AS_ALICE: &str = "setpriv --reuid 1000 --regid 1000 --clear-groups";
/// The same for `nobody`.
pub const AS_NOBODY: &str = "setpriv --reuid 65534 --regid 65534 --clear-groups";
