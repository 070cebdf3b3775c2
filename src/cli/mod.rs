//! The command line: `Cli` (global options), the `Command` enum and the
//! dispatch. Each subcommand owns its arguments and `run()` in its own file.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{self, Settings};
use crate::exit::Exit;
use crate::root::Root;

mod baseline;
mod boot;
mod diff;
mod generate;
mod persist;
mod status;
mod verify;
mod watch;

/// impermctl: make an ephemeral-root system safe to live on.
///
/// Verifies the layout (/, /nix, /persistent), bind-mounts the persisted
/// paths at boot, warns about writes that the next reboot will discard, and
/// tells you what you are about to lose.
#[derive(Debug, Parser)]
#[command(name = "impermctl", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// The config file.
    #[arg(long, global = true, env = "IMPERMCTL_CONFIG", default_value = config::DEFAULT_PATH, value_name = "FILE")]
    pub config: PathBuf,
    /// Work on the tree at DIR instead of / (image builders, tests).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Read the mount table from FILE instead of /proc/self/mountinfo (its
    /// mount points are taken as seen from the root; the tree is not probed).
    #[arg(long, global = true, value_name = "FILE")]
    pub mountinfo: Option<PathBuf>,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Global {
    /// The root to work on.
    pub fn root(&self) -> Root {
        Root::new(self.root.clone(), self.mountinfo.clone())
    }

    /// The validated settings. A missing file is an error when `required`;
    /// otherwise the fallback settings are used and a notice is returned.
    pub fn settings(&self, required: bool) -> anyhow::Result<(Settings, Option<String>)> {
        if !required && !self.config.exists() {
            let notice = format!(
                "no config at {}: checking the default layout (persistence root /persistent, no declared paths). Write one, or point --config / IMPERMCTL_CONFIG at it.",
                self.config.display()
            );
            return Ok((Settings::fallback(&self.config), Some(notice)));
        }
        Ok((config::load(&self.config)?, None))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the layout: /, /nix and the persistence roots (exit 0 healthy, 1 warnings, 2 fatal).
    Verify(verify::Args),
    /// Show the layout verdict, each declared path's state and the watcher's findings.
    Status(status::Args),
    /// Verify, then bind-mount every declared path (run at boot by NixOS activation and impermctl-boot.service).
    Boot(boot::Args),
    /// Re-capture the baseline diff and the watcher compare with, adopting what changed since
    /// activation began (run by the NixOS module at the end of activation).
    Baseline(baseline::Args),
    /// Watch the ephemeral root and warn in the journal about writes that the next reboot discards.
    Watch(watch::Args),
    /// Show what the next reboot will discard (exit 0 nothing, 1 something, 2 error).
    Diff(diff::Args),
    /// Move live data into persistence now, bind it back, and print the config line that keeps it.
    Persist(persist::Args),
    /// Write the man page or shell completions (for packagers).
    #[command(hide = true)]
    Generate(generate::Args),
}

/// Parse the command line, run, and map the outcome to an exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    crate::logging::init(cli.global.verbose);
    match run(cli) {
        Ok(code) => code.into(),
        Err(e) => {
            if is_broken_pipe(&e) {
                return Exit::Ok.into();
            }
            eprintln!("impermctl: error: {e:#}");
            Exit::Error.into()
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let g = &cli.global;
    match cli.command {
        Command::Verify(a) => verify::run(g, a),
        Command::Status(a) => status::run(g, a),
        Command::Boot(a) => boot::run(g, a),
        Command::Watch(a) => watch::run(g, a),
        Command::Baseline(a) => baseline::run(g, a),
        Command::Diff(a) => diff::run(g, a),
        Command::Persist(a) => persist::run(g, a),
        Command::Generate(a) => generate::run(a),
    }
}

/// The clap command, for the man page and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_global_options_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "impermctl",
            "verify",
            "--json",
            "--root",
            "/tmp/r",
            "--skip",
            "root-usage",
        ])
        .unwrap();
        assert_eq!(
            cli.global.root.as_deref(),
            Some(std::path::Path::new("/tmp/r"))
        );
        let Command::Verify(a) = cli.command else {
            panic!()
        };
        assert!(a.json);
        assert_eq!(a.skip, vec!["root-usage"]);
    }
}
