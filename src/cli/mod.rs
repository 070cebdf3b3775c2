//! The command line: `Cli` (global options), the `Command` enum and the
//! dispatch. Each subcommand owns its arguments and `run()` in its own file.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{self, Settings};
use crate::exit::Exit;
use crate::root::Root;

mod baseline;
mod boot;
mod diff;
mod generate;
mod man;
mod persist;
mod status;
mod sync;
mod verify;
mod watch;

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

/// Options every subcommand takes.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The config file, which must exist [default: $IMPERMCTL_CONFIG, else
    /// /etc/impermctl/config.toml, where a missing file means no config].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use no config file: the default layout (persistence root /persistent,
    /// no declared paths). Not for `boot` and `sync`, which need one.
    #[arg(long, global = true, conflicts_with = "config")]
    pub no_config: bool,
    /// Work on the tree at DIR (an absolute path) instead of / (image builders, tests).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// When to colour the output: auto (a terminal, unless NO_COLOR is set or TERM=dumb), always or never.
    #[arg(long, global = true, value_enum, default_value_t = clap::ColorChoice::Auto, value_name = "WHEN")]
    pub color: clap::ColorChoice,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `--mountinfo FILE`, offered by the commands that only read the layout
/// (`verify`, `status`, `diff`).
#[derive(Debug, Clone, clap::Args)]
pub struct MountinfoArg {
    /// Read the mount table from FILE instead of /proc/self/mountinfo (its
    /// mount points are taken as seen from the root; the tree is not probed).
    #[arg(long, value_name = "FILE")]
    pub mountinfo: Option<PathBuf>,
}

/// What `verify` and `status` share: `--json` and `--mountinfo`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Print a versioned JSON document.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub mi: MountinfoArg,
}

impl Global {
    /// The root to work on, validated: `--root` must be an absolute path to
    /// an existing directory (symlinks resolved), `--mountinfo` a readable
    /// file. Every command calls this once, before anything else.
    pub fn root(&self, mountinfo: Option<&Path>) -> anyhow::Result<Root> {
        let dir = match &self.root {
            None => None,
            Some(d) => Some(check_root_dir(d)?),
        };
        if let Some(m) = mountinfo {
            std::fs::File::open(m)
                .with_context(|| format!("--mountinfo {}: cannot open it", m.display()))?;
        }
        Ok(Root::new(dir, mountinfo.map(Path::to_path_buf)))
    }

    /// The validated settings. Without a config (`--no-config`, or no file
    /// at the default path), the default layout, with a notice for the
    /// missing default file; an error when the command needs a config
    /// (`required`). A file named by `--config`/`IMPERMCTL_CONFIG` must exist.
    pub fn settings(&self, required: bool) -> anyhow::Result<(Settings, Option<String>)> {
        let default = Path::new(config::DEFAULT_PATH);
        if self.no_config {
            if required {
                bail!(
                    "--no-config: this command acts on the declared paths and needs a config\n  fix: write {} or name a file with --config FILE",
                    default.display()
                );
            }
            return Ok((Settings::fallback(default), None));
        }
        let env = std::env::var_os("IMPERMCTL_CONFIG").filter(|v| !v.is_empty());
        let named = match (&self.config, &env) {
            (Some(f), _) => Some((f.clone(), "--config ")),
            (None, Some(v)) => Some((PathBuf::from(v), "IMPERMCTL_CONFIG=")),
            (None, None) => None,
        };
        let file = match &named {
            Some((f, how)) => {
                if let Err(e) = std::fs::metadata(f)
                    && e.kind() == std::io::ErrorKind::NotFound
                {
                    bail!(
                        "{how}{}: no such file\n  fix: correct the path, write the file (impermctl.toml(5)), or pass --no-config to use the default layout without a config",
                        f.display()
                    );
                }
                f.as_path()
            }
            None => default,
        };
        if !required && named.is_none() && !file.exists() {
            let notice = format!(
                "no config at {}: checking the default layout (persistence root /persistent, no declared paths). Write one, point --config / IMPERMCTL_CONFIG at it, or pass --no-config.",
                file.display()
            );
            return Ok((Settings::fallback(file), Some(notice)));
        }
        let settings = config::load(file)?;
        check_skips(&settings)?;
        Ok((settings, None))
    }
}

/// `layout.skip_checks` may name only checks that exist and never find
/// anything fatal (a safety check cannot be switched off in the config).
fn check_skips(settings: &Settings) -> anyhow::Result<()> {
    use crate::layout::{CHECKS, Severity};
    for name in &settings.layout.skip_checks {
        match CHECKS.iter().find(|c| c.name == name.as_str()) {
            None => {
                let near = CHECKS
                    .iter()
                    .min_by_key(|c| strsim::levenshtein(c.name, name))
                    .map_or("", |c| c.name);
                bail!(
                    "{}: layout.skip_checks: no check `{name}`; did you mean `{near}`? (`impermctl verify --list` lists them)",
                    settings.file.display()
                )
            }
            Some(c) if c.severity == Severity::Fatal => bail!(
                "{}: layout.skip_checks: `{name}` guards against losing data and cannot be skipped; if the layout is deliberate, set layout.on_failure = \"warn\"",
                settings.file.display()
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

/// `--root DIR`: absolute, existing, a directory; returned with symlinks resolved.
fn check_root_dir(d: &Path) -> anyhow::Result<PathBuf> {
    if !d.is_absolute() {
        let shown = crate::names::show(d);
        // `std::path::absolute`: joined to the working directory, `.` dropped.
        match (std::env::current_dir(), std::path::absolute(d)) {
            (Ok(cwd), Ok(abs)) => bail!(
                "--root {shown}: not an absolute path; --root must be absolute (the tree's top directory): relative to the current directory {} that is --root {}",
                crate::names::show(&cwd),
                crate::names::show(&abs)
            ),
            _ => bail!(
                "--root {shown}: not an absolute path; --root must be absolute (the tree's top directory), e.g. --root /mnt/image"
            ),
        }
    }
    let meta = std::fs::metadata(d).with_context(|| format!("--root {}", d.display()))?;
    if !meta.is_dir() {
        bail!(
            "--root {}: not a directory; give the directory the tree is at",
            d.display()
        );
    }
    std::fs::canonicalize(d).with_context(|| format!("--root {}: cannot resolve it", d.display()))
}

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
        Err(e) => {
            if is_broken_pipe(&e) {
                return Exit::Ok.into();
            }
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
    e.chain()
        .map(|c| {
            if c.is::<crate::config::ConfigError>() {
                return c.to_string();
            }
            let text = c.to_string();
            let parts: Vec<String> = text
                .split("\n  fix: ")
                .map(crate::names::printable)
                .collect();
            parts.join("\n  fix: ")
        })
        .collect::<Vec<_>>()
        .join(": ")
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
