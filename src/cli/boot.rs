//! `impermctl boot` (not implemented yet).

use crate::exit::Exit;

/// Arguments of `impermctl boot`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `impermctl boot`.
pub fn run(_g: &super::Global, _a: Args) -> anyhow::Result<Exit> {
    anyhow::bail!("impermctl boot is not implemented yet")
}
