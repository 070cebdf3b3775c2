//! `status`'s list of binds whose entry left the config (trial-s9 F3,
//! trial-s10 F10): an earlier `boot` bound them (its record in
//! `state.json`), and `boot` leaves them bound until the reboot, which
//! does not bind them. Found and said as `diff` says them
//! (`diff::unbound`), each with the line that declares it again.

use std::io::Write;

use crate::diff::unbound::{By, UndeclaredBind};

/// The binds of `binds` that `boot` made for an entry since removed.
pub(super) fn left(binds: Vec<UndeclaredBind>) -> Vec<UndeclaredBind> {
    binds.into_iter().filter(|b| b.by == By::Boot).collect()
}

/// Print the list (nothing when empty).
pub(super) fn print(out: &mut impl Write, left: &[UndeclaredBind]) -> std::io::Result<()> {
    if left.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nbound but no longer declared ({}; left bound until the reboot, which does not bind them):",
        left.len()
    )?;
    for b in left {
        writeln!(out, "  {}", b.text())?;
        if let Some(nix) = &b.nix {
            writeln!(
                out,
                "       to keep it after the reboot, declare it again: {nix}"
            )?;
        }
    }
    Ok(())
}
