//! `impermctl generate {man,completions} DIR`: packaging artefacts rendered
//! from the same clap definition as the parser. Hidden commands and flags
//! (`generate` itself, `--shadowed-helper`, `--capture-baseline`, …) appear
//! in neither.

use std::path::PathBuf;

use anyhow::Context;

use crate::exit::Exit;

/// What to write.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `man` or `completions`.
    #[arg(value_parser = ["man", "completions"])]
    what: String,
    /// Output directory.
    dir: PathBuf,
}

/// Write the artefacts.
pub fn run(a: Args) -> anyhow::Result<Exit> {
    std::fs::create_dir_all(&a.dir)
        .with_context(|| format!("cannot create {}", a.dir.display()))?;
    if a.what == "man" {
        for (name, text) in super::man::pages().context("cannot render the man pages")? {
            let p = a.dir.join(&name);
            std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
        }
    } else {
        use clap_complete::Shell;
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            clap_complete::generate_to(shell, &mut super::command(), "impermctl", &a.dir)
                .with_context(|| format!("cannot write {shell} completions"))?;
        }
    }
    Ok(Exit::Ok)
}
