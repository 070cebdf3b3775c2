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
            clap_complete::generate_to(shell, &mut visible(), "impermctl", &a.dir)
                .with_context(|| format!("cannot write {shell} completions"))?;
        }
    }
    Ok(Exit::Ok)
}

/// The command line without hidden subcommands and flags: clap_complete
/// would offer them (`generate`, `--shadowed-helper`, `--sample-paths`, …).
pub fn visible() -> clap::Command {
    let mut full = super::command();
    full.build();
    prune(&full, "impermctl")
}

fn prune(cmd: &clap::Command, name: &'static str) -> clap::Command {
    let mut out = clap::Command::new(name)
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .disable_help_subcommand(true)
        .disable_help_flag(true)
        .disable_version_flag(true);
    if cmd.get_version().is_some() {
        out = out.version(env!("CARGO_PKG_VERSION"));
    }
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        // clap wants 'static names; this runs once, for packagers.
        let n: &'static str = Box::leak(sub.get_name().to_owned().into_boxed_str());
        out = out.subcommand(prune(sub, n));
    }
    out
}

#[cfg(test)]
mod tests {
    /// Every name a command offers, with whether it is hidden: subcommands
    /// and long flags, at any depth.
    fn names(cmd: &clap::Command, out: &mut Vec<(String, bool)>) {
        for sub in cmd.get_subcommands() {
            out.push((sub.get_name().to_owned(), sub.is_hide_set()));
            for a in sub.get_arguments() {
                out.extend(a.get_long().map(|l| (l.to_owned(), a.is_hide_set())));
            }
            names(sub, out);
        }
    }

    #[test]
    fn completions_offer_nothing_hidden() {
        let cmd = super::visible();
        cmd.clone().debug_assert();
        let (mut full, mut offered) = (crate::cli::command(), Vec::new());
        full.build();
        let mut all = Vec::new();
        names(&full, &mut all);
        names(&cmd, &mut offered);
        let hidden: Vec<&str> = all.iter().filter(|n| n.1).map(|n| n.0.as_str()).collect();
        assert!(
            hidden.len() >= 5 && hidden.contains(&"generate"),
            "{hidden:?}"
        );
        for h in hidden {
            assert!(!offered.iter().any(|(n, _)| n == h), "{h} offered");
        }
        for shown in ["diff", "persist", "suggest", "root", "color", "mountinfo"] {
            assert!(offered.iter().any(|(n, _)| n == shown), "{shown} missing");
        }
    }
}
