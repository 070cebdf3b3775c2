//! `impermctl watch` (not implemented yet).

use crate::exit::Exit;

/// Arguments of `impermctl watch`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `impermctl watch`.
pub fn run(_g: &super::Global, _a: Args) -> anyhow::Result<Exit> {
    anyhow::bail!("impermctl watch is not implemented yet")
}
