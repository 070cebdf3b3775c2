//! `impermctl diff` (not implemented yet).

use crate::exit::Exit;

/// Arguments of `impermctl diff`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `impermctl diff`.
pub fn run(_g: &super::Global, _a: Args) -> anyhow::Result<Exit> {
    anyhow::bail!("impermctl diff is not implemented yet")
}
