//! `impermctl persist` (not implemented yet).

use crate::exit::Exit;

/// Arguments of `impermctl persist`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `impermctl persist`.
pub fn run(_g: &super::Global, _a: Args) -> anyhow::Result<Exit> {
    anyhow::bail!("impermctl persist is not implemented yet")
}
