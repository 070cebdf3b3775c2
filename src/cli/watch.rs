//! `impermctl watch`: the watcher daemon (run by `impermctl-watch.service`).

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Backend;
use crate::exit::Exit;
use crate::watch::tally::Limits;
use crate::watch::{self, Options};

/// Arguments of `impermctl watch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which kernel interface to use: fanotify (a filesystem mark, with the
    /// writer's pid) or inotify (a watch per directory); `auto` tries
    /// fanotify and falls back to inotify, saying why. Default: the
    /// config's `watch.backend`, else auto.
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Do not serve D-Bus (state is still written to /run/impermctl/watch.json).
    #[arg(long)]
    pub no_dbus: bool,
    /// Paths remembered by name per group (beyond it, counted by hash).
    #[arg(long, default_value_t = 1000, hide = true)]
    pub sample_paths: usize,
    /// Minimum seconds between writes of watch.json.
    #[arg(long, default_value_t = 3.0, hide = true)]
    pub json_every: f64,
    /// Seconds between rescans while the inotify watch limit leaves
    /// directories unwatched.
    #[arg(long, default_value_t = 60.0, hide = true)]
    pub rescan_every: f64,
}

/// `--backend`, as the user types it (the config's `Backend` knows no clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// fanotify if the kernel and privileges allow, else inotify.
    Auto,
    /// fanotify only (fail otherwise).
    Fanotify,
    /// inotify only.
    Inotify,
}

/// Run `impermctl watch`.
pub fn run(g: &super::Global, a: Args) -> anyhow::Result<Exit> {
    let root = g.root(None)?;
    super::require_root("watch", "it watches the whole ephemeral root")?;
    // A refused entry is not bound: its writes are warned about like others.
    let stamp =
        |c: &super::global::Loaded| watch::config_stamp::ConfigStamp::new(c.settings.file.clone());
    let c = g.settings(false)?;
    // Looked at each tick: an edit is read again (as on SIGHUP).
    let config = Some(stamp(&c));
    let settings = &c.settings;
    // What diff counts as declared but not persisted, the watcher too;
    // read again when the mount table changes and on SIGHUP.
    let declared = |c: &super::global::Loaded, root: &crate::root::Root| {
        let mut d = crate::diff::judge::not_persisted(root, &c.settings);
        d.extend(c.refused.losses());
        d
    };
    let (g2, root2) = (g.clone(), root.clone());
    // An unreadable edit is said once (file:line:col and the fix), and its
    // fix too; meanwhile the last good config stays in use (trial s9 F4).
    let said = std::sync::Mutex::new(None::<String>);
    let redeclare = move || {
        let read = g2.partial_settings(false).map_err(|e| format!("{e:#}"));
        let mut said = said.lock().ok()?;
        match &read {
            Err(e) if said.as_ref() != Some(e) => tracing::error!(
                "cannot read the edited config: {e}; the watcher keeps the last good config until it is fixed"
            ),
            Ok(c) if said.is_some() => {
                tracing::info!(
                    "the config {} is readable again: the watcher took the new config",
                    c.settings.file.display()
                )
            }
            _ => {}
        }
        *said = read.as_ref().err().cloned();
        Some(declared(&read.ok()?, &root2))
    };
    let redeclare = Some(watch::remount::Redeclare(std::sync::Arc::new(redeclare)));
    let declared = declared(&c, &root);
    let limits = Limits {
        warn_every: settings.watch.warn_every,
        per_minute: settings.watch.max_warnings_per_minute.max(1),
        sample_paths: a.sample_paths,
        total_samples: a.sample_paths.max(Limits::default().total_samples),
        ..Limits::default()
    };
    let first = settings.roots.first();
    let persist_root = first.map_or_else(|| PathBuf::from("/persistent"), |r| r.path.clone());
    watch::run(Options {
        root,
        backend: match a.backend {
            None => settings.watch.backend,
            Some(BackendArg::Auto) => Backend::Auto,
            Some(BackendArg::Fanotify) => Backend::Fanotify,
            Some(BackendArg::Inotify) => Backend::Inotify,
        },
        limits,
        persist_root,
        json_every: Duration::from_secs_f64(a.json_every.max(0.0)),
        dbus: !a.no_dbus,
        ignore: settings.watch.ignore.clone(),
        rescan_every: Duration::from_secs_f64(a.rescan_every.max(0.1)),
        declared,
        redeclare,
        config,
    })?;
    Ok(Exit::Ok)
}
