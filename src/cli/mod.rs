//! The command line: `Cli` (global options), the `Command` enum and the
//! dispatch. Each subcommand owns its arguments and `run()` in its own file.

use anyhow::bail;
use clap::{CommandFactory, Parser, Subcommand};

use crate::exit::Exit;

mod baseline;
mod boot;
mod diff;
mod generate;
mod global;
mod man;
mod persist;
mod status;
mod sync;
mod verify;
mod watch;

pub use global::{Global, MountinfoArg, ReportArgs, say_refused};

/// Make an ephemeral-root system safe to live on.
///
/// Verifies the layout (/, /nix, /persistent), bind-mounts the persisted
/// paths at boot, warns about writes that the next reboot will discard, and
/// tells you what you are about to lose.
#[derive(Debug, Parser)]
#[command(
    name = "impermctl",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    max_term_width = 100,
    after_help = EXAMPLES_SHORT,
    after_long_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The first line of `-h` and `--help` alike (clap would drop the period
/// from one of them only).
const ABOUT: &str = "Make an ephemeral-root system safe to live on.";

const LONG_ABOUT: &str = "Make an ephemeral-root system safe to live on.

Verifies the layout (/, /nix, /persistent), bind-mounts the persisted paths at
boot, warns about writes that the next reboot will discard, and tells you what
you are about to lose.";

/// The examples of `impermctl --help` (also the man page's EXAMPLES).
pub const EXAMPLES: &str = "\
Examples:
  impermctl status                  the layout verdict and each declared path
  impermctl diff                    what the next reboot discards
  impermctl diff --suggest          the environment.persistence lines that keep it
  impermctl persist /var/lib/foo    move a directory into persistence now
  impermctl verify --json           the layout checks for a script

Exit status: 0 healthy / nothing lost / done, 1 findings / something would be
lost / partly done, 2 refused / fatal / error (see impermctl(1)).";

const EXAMPLES_SHORT: &str =
    "See 'impermctl --help' for examples, 'man impermctl' for the exit status.";

/// Refuse up front when not root: `what` says why root is needed.
pub fn require_root(command: &str, what: &str) -> anyhow::Result<()> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    bail!("impermctl {command} needs root ({what}); run it as root, e.g. with sudo")
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the layout: /, /nix and the persistence roots.
    Verify(verify::Args),
    /// Show the layout verdict, each declared path's state and the watcher's findings.
    Status(status::Args),
    /// Verify, then bind-mount every declared path (run at boot by NixOS activation and impermctl-boot.service).
    Boot(boot::Args),
    /// Re-capture the baseline diff and the watcher compare with, adopting what changed since
    /// activation began (run by the NixOS module's impermctl-baseline.service after activation).
    Baseline(baseline::Args),
    /// Watch the ephemeral root and warn in the journal about writes that the next reboot discards.
    Watch(watch::Args),
    /// Show what the next reboot will discard.
    Diff(diff::Args),
    /// Move live data into persistence now, bind it back, and print the config line that keeps it.
    Persist(persist::Args),
    /// Save method = "copy" files and pending entries into persistence (run at shutdown).
    Sync(sync::Args),
    /// Write the man pages or shell completions (for packagers).
    #[command(hide = true)]
    Generate(generate::Args),
}

/// Parse the command line, run, and map the outcome to an exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    colour_choice(cli.global.color).write_global();
    crate::logging::init(cli.global.verbose);
    match run(cli) {
        Ok(code) => code.into(),
        Err(e) if is_broken_pipe(&e) => Exit::Ok.into(),
        Err(e) => {
            eprintln!("impermctl: error: {}", shown_error(&e));
            Exit::Error.into()
        }
    }
}

/// An error chain as `context: cause`, each part printable text (a name
/// quoted in it cannot forge a line or rewrite the terminal). Config
/// errors escape their own values; other messages keep only the
/// `\n  fix: …` line break they are written with.
fn shown_error(e: &anyhow::Error) -> String {
    let part = |c: &(dyn std::error::Error + 'static)| {
        let text = c.to_string();
        if c.is::<crate::config::ConfigError>() {
            return text;
        }
        let parts: Vec<String> = text
            .split("\n  fix: ")
            .map(crate::names::printable)
            .collect();
        parts.join("\n  fix: ")
    };
    e.chain().map(part).collect::<Vec<_>>().join(": ")
}

/// clap's `--color` value as anstream's choice (which also reads
/// `NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE` and `TERM=dumb` under `auto`).
fn colour_choice(c: clap::ColorChoice) -> anstream::ColorChoice {
    match c {
        clap::ColorChoice::Auto => anstream::ColorChoice::Auto,
        clap::ColorChoice::Always => anstream::ColorChoice::Always,
        clap::ColorChoice::Never => anstream::ColorChoice::Never,
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
        Command::Sync(a) => sync::run(g, a),
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
    use std::path::Path;

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
        assert_eq!(cli.global.root.as_deref(), Some(Path::new("/tmp/r")));
        let Command::Verify(a) = cli.command else {
            panic!()
        };
        assert!(a.report.json);
        assert_eq!(a.skip, vec!["root-usage"]);
    }
}
