//! `status`'s list of binds no entry declares any more (trial-s9 F3): an
//! earlier `boot` bound them and recorded it in `state.json`; the entry
//! then left the config (found by `diff::unbound::recorded`, which `diff`
//! says too). The next `boot` undoes them, except while the
//! config has errors (a refused entry may be the same path mistyped).

use std::io::Write;
use std::path::PathBuf;

/// Print the list (nothing when empty); `errors`: the config has errors,
/// so `boot` keeps them bound until they are fixed.
pub(super) fn print(
    out: &mut impl Write,
    list: &[(PathBuf, PathBuf)],
    errors: bool,
) -> std::io::Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let todo = match errors {
        true => {
            "boot keeps them bound until the config errors above are fixed; fix them, then run `impermctl boot` to undo the binds"
        }
        false => "run `impermctl boot` to undo the binds",
    };
    writeln!(
        out,
        "\nbound but no longer declared ({}; {todo}, or declare them again):",
        list.len()
    )?;
    for (path, source) in list {
        let (p, s) = (crate::names::show(path), crate::names::show(source));
        writeln!(
            out,
            "  {p:<28} bound from {s}: written to {s}, which the next reboot does not bind at {p}"
        )?;
    }
    Ok(())
}
