//! The baseline: a manifest of the ephemeral root right after activation
//! (path, type, inode, size, mtime, ctime), written once per boot by `boot`
//! and read by `diff`. (Owned by the diff work; stub.)

use crate::config::Settings;
use crate::root::Root;

/// Walk the ephemeral root and write `/run/impermctl/baseline` atomically,
/// unless it already exists (the first `boot` of a boot wins).
/// Returns whether a new baseline was written.
pub fn capture_if_missing(root: &Root, settings: &Settings) -> anyhow::Result<bool> {
    let _ = (root, settings);
    Ok(false)
}
