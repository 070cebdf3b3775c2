//! The options every subcommand takes (`--config`, `--no-config`,
//! `--root`, `--color`, `-v`) and the argument groups some share
//! (`--mountinfo`, `--json`), with the validation of `--root` and the
//! config's loading.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use serde::Serialize;

use crate::config::{self, Settings};
use crate::exit::Exit;
use crate::root::Root;

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
        let dir = self.root.as_deref().map(check_root_dir).transpose()?;
        if let Some(m) = mountinfo {
            std::fs::File::open(m)
                .with_context(|| format!("--mountinfo {}: cannot open it", m.display()))?;
        }
        Ok(Root::new(dir, mountinfo.map(Path::to_path_buf)))
    }

    /// The usable settings: [`Global::partial_settings`] with its notice
    /// and each refused entry said (file:line:col, field, fix); the command
    /// acts on the others and exits 1 ([`Loaded::finish`]).
    pub fn settings(&self, required: bool) -> anyhow::Result<Loaded> {
        let l = self.partial_settings(required)?;
        if let Some(n) = &l.notice {
            match crate::logging::sink() {
                crate::logging::Sink::Stderr => eprintln!("impermctl: notice: {n}"),
                _ => tracing::info!("{n}"),
            }
        }
        for e in &l.refused.errors {
            say_refused(e, false);
        }
        Ok(l)
    }

    /// The validated settings, the bad entries (and blocks) refused one by
    /// one (in `refused`) instead of failing the whole file: what `boot`
    /// binds. Without a config (`--no-config`, or no file at the default
    /// path), the default layout, with a notice for the missing default
    /// file; an error when the command needs a config (`required`). A file
    /// named by `--config`/`IMPERMCTL_CONFIG` must exist.
    pub fn partial_settings(&self, required: bool) -> anyhow::Result<Loaded> {
        let default = Path::new(config::DEFAULT_PATH);
        let fallback = |file: &Path, notice| {
            let (settings, refused) = (Settings::fallback(file), config::Refused::default());
            Ok(Loaded {
                settings,
                refused,
                notice,
                places: config::Places::new(),
            })
        };
        if self.no_config {
            anyhow::ensure!(
                !required,
                "--no-config: this command acts on the declared paths and needs a config\n  fix: write {} or name a file with --config FILE",
                default.display()
            );
            return fallback(default, None);
        }
        let env = std::env::var_os("IMPERMCTL_CONFIG").filter(|v| !v.is_empty());
        let named = (self.config.clone().map(|f| (f, "--config ")))
            .or_else(|| Some((PathBuf::from(env?), "IMPERMCTL_CONFIG=")));
        if let Some((f, how)) = &named
            && std::fs::metadata(f).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        {
            bail!(
                "{how}{}: no such file\n  fix: correct the path, write the file (impermctl.toml(5)), or pass --no-config to use the default layout without a config",
                f.display()
            );
        }
        let file = named.as_ref().map_or(default, |(f, _)| f.as_path());
        if !required && named.is_none() && !file.exists() {
            let notice = format!(
                "no config at {}: checking the default layout (persistence root /persistent, no declared paths). Write one, point --config / IMPERMCTL_CONFIG at it, or pass --no-config.",
                file.display()
            );
            return fallback(file, Some(notice));
        }
        let config::Partial {
            settings,
            refused,
            places,
        } = config::load_partial(file)?;
        check_skips(&settings)?;
        Ok(Loaded {
            settings,
            refused,
            notice: None,
            places,
        })
    }
}

/// The config as a command uses it.
pub struct Loaded {
    /// The usable settings (every valid entry).
    pub settings: Settings,
    /// The entries (and blocks) refused for their errors.
    pub refused: config::Refused,
    /// Said when the default config file is missing.
    pub notice: Option<String>,
    /// Where each usable entry is declared.
    pub places: config::Places,
}

impl Loaded {
    /// Print `doc` as a versioned JSON document of `kind` with the refused
    /// entries (`refused`, left out when none).
    pub fn print_json<T: Serialize>(&self, kind: &str, doc: &T) -> anyhow::Result<()> {
        #[derive(Serialize)]
        struct WithRefused<'a, T> {
            #[serde(flatten)]
            doc: &'a T,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            refused: Vec<config::RefusedEntry<'a>>,
        }
        let refused = self.refused.json();
        crate::output::print_json(kind, &WithRefused { doc, refused })
    }

    /// End a command: with `json`, [`Loaded::print_json`], else `human`
    /// writes the text on stdout. The exit code is `exit`, at least 1 when
    /// config entries were refused (the others were used).
    pub fn finish<T: Serialize>(
        &self,
        json: bool,
        kind: &str,
        doc: &T,
        exit: Exit,
        human: impl FnOnce(&mut std::io::StdoutLock<'static>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Exit> {
        match json {
            true => self.print_json(kind, doc)?,
            false => human(&mut std::io::stdout().lock())?,
        }
        Ok(exit.max(Exit::findings_if(!self.refused.is_empty())))
    }
}

/// Say a refused config entry (or ignored `[watch]` value), the same in
/// every command: on stderr `impermctl: error: refusing …: FILE:LINE:COL:
/// FIELD: MESSAGE` with `  fix: FIX` below; in the journal one record of
/// one line, `…; fix: FIX` (our journal messages are one line each), a
/// refusal at CRIT (`logging::crit`) when `crit` (`boot` refusing an entry).
pub fn say_refused(e: &config::ConfigError, crit: bool) {
    let text = config::refusing(e);
    if crate::logging::sink() == crate::logging::Sink::Stderr {
        return eprintln!("impermctl: error: {text}");
    }
    let line = text.replace("\n  fix: ", "; fix: ").replace('\n', "; ");
    match crit {
        true => crate::logging::crit("config-entry", &line),
        false => tracing::error!("{line}"),
    }
}

/// `layout.skip_checks` may name only checks that exist and never find
/// anything fatal (a safety check cannot be switched off in the config).
fn check_skips(settings: &Settings) -> anyhow::Result<()> {
    use crate::layout::{CHECKS, Severity};
    let file = settings.file.display();
    for name in &settings.layout.skip_checks {
        match CHECKS.iter().find(|c| c.name == name.as_str()) {
            None => {
                let near = CHECKS
                    .iter()
                    .min_by_key(|c| strsim::levenshtein(c.name, name));
                let near = near.map_or("", |c| c.name);
                bail!(
                    "{file}: layout.skip_checks: no check `{name}`; did you mean `{near}`? (`impermctl verify --list` lists them)"
                )
            }
            Some(c) if c.severity == Severity::Fatal => bail!(
                "{file}: layout.skip_checks: `{name}` guards against losing data and cannot be skipped; if the layout is deliberate, set layout.on_failure = \"warn\""
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
    let dir = d.display();
    let meta = std::fs::metadata(d).with_context(|| format!("--root {dir}"))?;
    anyhow::ensure!(
        meta.is_dir(),
        "--root {dir}: not a directory; give the directory the tree is at"
    );
    std::fs::canonicalize(d).with_context(|| format!("--root {dir}: cannot resolve it"))
}
