//! Live changes without loss (what `boot` does on a running system, and
//! what happens to files that programs replace):
//!
//! - `method = "copy"` files ([`files`]): copied onto the ephemeral root at
//!   boot, saved back into persistence atomically when they change
//!   ([`saver`], debounced) and once more at shutdown ([`sync`]).
//! - Pending entries ([`pending`]): seeding a path that processes are
//!   writing seeds it but does not bind it; the shutdown sync saves the
//!   final data after the services stopped, the next boot binds it.
//! - Reconciling ([`reconcile`]): writes that raced the copy and landed in
//!   the now-hidden original are carried over into the bound copy.
//! - Hidden live data ([`keep`]): kept in persistence before a bind hides it.
//! - Well-known replaced-by-rename files ([`checks`]).
//! - Seeds not saved yet ([`unsaved`]): marked durably beside the seed, so
//!   a boot after a hard reset says that the seed it binds is old.

pub mod checks;
pub mod files;
pub mod keep;
pub mod pending;
pub mod reconcile;
pub mod saver;
pub mod status;
pub mod sync;
pub mod unsaved;
