//! `impermctl baseline`: re-capture the baseline `diff` and the watcher
//! compare with, adopting what changed since activation began. The NixOS
//! module runs it from `impermctl-baseline.service` once activation has
//! finished: at boot (`--since boot --until current-system`) and, through
//! `impermctl-baseline.path`, after every `nixos-rebuild switch` (`--since
//! @<start of switch-to-configuration> --until current-system`).

use crate::baseline::refresh::{Since, Window, changed_at, process_start, refresh};
use std::io::Write;

use crate::exit::Exit;
use crate::names::show;

/// Arguments of `impermctl baseline`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Adopt what changed since WHEN: `activation` (the start of the calling
    /// process, e.g. an activation script that runs this), `boot`,
    /// `all` (take everything as it is now), or `@SECONDS` since the epoch.
    /// Changes older than WHEN keep their earlier record, so they are still
    /// reported as losses. Without a baseline, everything is taken.
    #[arg(long, default_value = "activation", value_name = "WHEN")]
    pub since: String,
    /// Adopt only what changed before WHEN: `now`, `current-system` (when
    /// /run/current-system was last relinked, the last step of NixOS
    /// activation: at boot, what services wrote after it stays reported), or
    /// `@SECONDS`.
    #[arg(long, default_value = "now", value_name = "WHEN")]
    pub until: String,
    /// Print a versioned JSON document.
    #[arg(long)]
    pub json: bool,
}

fn parse_since(s: &str) -> anyhow::Result<Since> {
    Ok(match s {
        "all" => Since::Everything,
        "activation" => {
            let (secs, ns) = process_start(nix::unistd::getppid().as_raw())?;
            Since::Time(secs, ns)
        }
        "boot" => Since::Time(crate::diff::compare::boot_time()?, 0),
        s => match s.strip_prefix('@').and_then(|n| n.parse::<i64>().ok()) {
            Some(n) => Since::Time(n, 0),
            None => anyhow::bail!(
                "--since {s}: expected activation, boot, all or @SECONDS (e.g. @{})",
                crate::diff::compare::boot_time().unwrap_or(0)
            ),
        },
    })
}

fn parse_until(root: &crate::root::Root, s: &str) -> anyhow::Result<Option<(i64, u32)>> {
    Ok(match s {
        "now" => None,
        "current-system" => Some(changed_at(
            &root.host(std::path::Path::new("/run/current-system")),
        )?),
        s => match s.strip_prefix('@').and_then(|n| n.parse::<i64>().ok()) {
            Some(n) => Some((n, 0)),
            None => anyhow::bail!("--until {s}: expected now, current-system or @SECONDS"),
        },
    })
}

/// Run `impermctl baseline`.
pub fn run(g: &super::Global, a: Args) -> anyhow::Result<Exit> {
    let root = g.root(None)?;
    let c = g.settings(false)?;
    let since = parse_since(&a.since)?;
    let until = parse_until(&root, &a.until)?;
    let r = refresh(&root, &c.settings, Window { since, until })?;
    c.finish(a.json, "Baseline", &r, Exit::Ok, |out| {
        let time = crate::human::local_time;
        let from = match (r.fresh, since) {
            (true, _) | (_, Since::Everything) => "everything as it is now".to_owned(),
            (false, Since::Time(s, _)) => format!("what changed since {} ({})", time(s), a.since),
        };
        let from = match until {
            Some((u, _)) => format!("{from}, until {} ({})", time(u), a.until),
            None => from,
        };
        let (file, entries, adopted) = (show(&root.baseline_file()), r.entries, r.adopted);
        let line = format!("{entries} entries, {adopted} adopted ({from})");
        Ok(writeln!(out, "baseline written to {file}: {line}")?)
    })
}
