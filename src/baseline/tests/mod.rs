//! The baseline's tests that span the format and the index.

mod fuzz;
pub(super) mod index;
