//! The integration suite: one binary, one module per area. Tests run the
//! real `impermctl` binary against fake roots and, as root, against real
//! mounts in private mount namespaces (see `util`).

mod config;
mod deb;
mod nix;
mod util;
mod verify;
