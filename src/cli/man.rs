//! Man pages rendered from the clap definition (clap_mangen) plus the
//! sections clap does not know: EXIT STATUS (the one rule of `exit.rs`),
//! ENVIRONMENT, FILES, EXAMPLES and SEE ALSO. One page per subcommand
//! (`impermctl-diff(1)`, as git and systemd do) and `impermctl.toml(5)`.

use std::io::Write;

use clap_mangen::Man;

/// `impermctl.toml(5)`, hand-written roff (the config file's reference).
pub const CONFIG_PAGE: &str = include_str!("impermctl.toml.5");

/// Every environment variable impermctl reads, with what it does (one a
/// line, as in [`super::EXAMPLES`]: `  NAME  what it does`).
const ENVIRONMENT: &str = "
  IMPERMCTL_CONFIG  The config file, as --config: it must exist (without it and --config, /etc/impermctl/config.toml when present).
  IMPERMCTL_LOG  Where log lines go: \"stderr\" or \"journal\". By default the journal when run by systemd (INVOCATION_ID or JOURNAL_STREAM set), else standard error.
  IMPERMCTL_THREADS  Threads walking the tree (diff, the watcher's scans); default: the CPUs, at most 4.
  IMPERMCTL_CHANGES_CAP  Most changed paths the watcher lists for diff (default 65536; past it diff walks the root). For tests.
  IMPERMCTL_FANOTIFY_MARKS  Most directories the fanotify watcher marks one by one (default: half of fs.fanotify.max_user_marks; past it content events stay on the filesystem mark). For tests.
  IMPERMCTL_MOUNT_API  \"legacy\" binds with mount(2) instead of open_tree(2)/move_mount(2) (debugging).
  NO_COLOR, CLICOLOR, CLICOLOR_FORCE, TERM  Colour under --color=auto: none with NO_COLOR set, CLICOLOR=0 or TERM=dumb; forced with CLICOLOR_FORCE.
  INVOCATION_ID, JOURNAL_STREAM  Set by systemd: log to the journal with structured fields.
  NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID  Set by systemd for Type=notify units: readiness, STATUS= and watchdog pings (boot, watch).";

/// Files impermctl reads or writes (as [`ENVIRONMENT`]).
const FILES: &str = "
  /etc/impermctl/config.toml  The configuration (see impermctl.toml(5)); on NixOS rendered by the module from environment.persistence.
  /run/impermctl/state.json  What boot put in place in this boot, for idempotence and to tell what it left in place for entries removed from the config.
  /run/impermctl/baseline  The manifest of the ephemeral root taken at the end of activation; diff compares against it.
  /run/impermctl/watch.json  The watcher's groups, when D-Bus is not available (status reads it).
  /run/impermctl/changes  The watcher's list of paths changed since the baseline, written when diff asks (SIGUSR1); diff stats only those when the list is complete.
  /run/impermctl/persisted.json  Paths moved with persist in this boot (listed by status until they are in the config).
  /run/impermctl/boot.lock  One boot at a time.";

/// Per subcommand: its EXIT STATUS detail and examples (as in
/// [`super::EXAMPLES`]: `  COMMAND  what it shows`, one a line).
fn details(name: &str) -> (&'static str, &'static str) {
    match name {
        "verify" => (
            "0 healthy (info findings only), 1 warnings, 2 a fatal finding or an error.",
            "  impermctl verify  check the layout
  impermctl verify --list  the checks and their severities
  impermctl verify --skip root-usage --json  for a script",
        ),
        "status" => (
            "As verify: 0 healthy, 1 warnings, 2 fatal or an error.",
            "  impermctl status  the verdict, each declared path, the watcher
  impermctl status --json  the same for a script",
        ),
        "boot" => (
            "0 everything is in place (or rescue mode: nothing to do), 1 some paths failed, or a bound path had an error (writes that raced its bind not carried over) or the record was not written (the others are in place), 2 the layout is refused (nothing mounted) or an error.",
            "  impermctl boot --dry-run  the plan, changing nothing
  impermctl boot --dry-run --json  the plan, with the refusal if refused",
        ),
        "baseline" => (
            "0 the baseline was written, 2 an error.",
            "  impermctl baseline  adopt what this activation changed (the NixOS module runs it)
  impermctl baseline --since all  take everything as it is now",
        ),
        "watch" => (
            "0 stopped cleanly, 2 an error (the unit restarts it).",
            "  systemctl status impermctl-watch  the watcher runs as a unit",
        ),
        "diff" => (
            "0 nothing would be lost, 1 something would be lost or some paths could not be read (the answer is partial), 2 a PATH is missing or unreadable, or an error.",
            "  impermctl diff  what the next reboot discards, grouped
  impermctl diff -l /var/lib  one line per path under /var/lib
  impermctl diff --suggest  the environment.persistence lines that keep it
  impermctl diff -0 | xargs -0 ls -ld  the paths, NUL-separated",
        ),
        "persist" => (
            "0 done (or, with --dry-run, would be done), 2 refused (nothing changed) or an error.",
            "  impermctl persist --dry-run /var/lib/foo  what it would do
  impermctl persist /var/lib/foo /etc/foo.conf  move both now",
        ),
        "sync" => (
            "0 everything saved (or nothing to save), 1 a path could not be saved (its persistent copy is intact), 2 an error.",
            "  impermctl sync  save method = \"copy\" files and pending entries now
  impermctl sync --follow  save copy files shortly after each change; everything on SIGTERM (impermctl-sync.service)",
        ),
        _ => ("", super::EXAMPLES),
    }
}

/// Escape text for roff: backslashes, hyphens, and a leading `.` or `'`.
fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    match s.starts_with(['.', '\'']) {
        true => format!("\\&{s}"),
        false => s,
    }
}

/// The `  NAME  text` lines of `text` as (name, text) pairs.
fn pairs(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("  ")?.split_once("  "))
        .map(|(c, what)| (c, what.trim_start()))
        .collect()
}

fn section(
    out: &mut Vec<u8>,
    title: &str,
    items: &[(impl AsRef<str>, &str)],
) -> std::io::Result<()> {
    writeln!(out, ".SH \"{title}\"")?;
    for (k, v) in items {
        writeln!(out, ".TP\n\\fB{}\\fR\n{}", roff(k.as_ref()), roff(v))?;
    }
    Ok(())
}

/// Render one page: clap's sections, then ours. `sub` is the subcommand's
/// name (`None` for `impermctl(1)`).
fn render(cmd: clap::Command, sub: Option<&str>) -> std::io::Result<Vec<u8>> {
    let man = Man::new(cmd).manual("impermctl");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    if sub.is_none() {
        man.render_subcommands_section(&mut out)?;
    }
    let rule = crate::exit::RULE.map(|(c, t)| (c.to_string(), t));
    section(&mut out, "EXIT STATUS", &rule)?;
    let (detail, examples) = details(sub.unwrap_or(""));
    if !detail.is_empty() {
        writeln!(out, ".PP\n{}", roff(detail))?;
    }
    section(&mut out, "ENVIRONMENT", &pairs(ENVIRONMENT))?;
    section(&mut out, "FILES", &pairs(FILES))?;
    section(&mut out, "EXAMPLES", &pairs(examples))?;
    writeln!(out, ".SH \"SEE ALSO\"")?;
    let mut see: Vec<String> = SUBCOMMANDS
        .iter()
        .filter(|s| Some(**s) != sub)
        .map(|s| format!("impermctl\\-{s}(1)"))
        .collect();
    if sub.is_some() {
        see.insert(0, "impermctl(1)".into());
    }
    see.push("impermctl.toml(5), systemd.time(7), journalctl(1), findmnt(8)".into());
    writeln!(out, "{}", see.join(", "))?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// The documented subcommands (hidden ones have no page).
pub const SUBCOMMANDS: &[&str] = &[
    "verify", "status", "boot", "baseline", "watch", "diff", "persist", "sync",
];

/// Every page as (file name, roff text).
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = super::command();
    cmd.build();
    let mut pages = vec![("impermctl.1".to_string(), render(cmd.clone(), None)?)];
    for name in SUBCOMMANDS {
        let sub = cmd
            .find_subcommand(name)
            .unwrap_or_else(|| panic!("no subcommand {name}"))
            .clone();
        let full = format!("impermctl-{name}");
        // clap wants a 'static name; this runs once, for packagers.
        let leaked: &'static str = Box::leak(full.clone().into_boxed_str());
        let sub = sub
            .name(leaked)
            .bin_name(format!("impermctl {name}"))
            .version(env!("CARGO_PKG_VERSION"));
        pages.push((format!("{full}.1"), render(sub, Some(name))?));
    }
    pages.push(("impermctl.toml.5".into(), CONFIG_PAGE.as_bytes().to_vec()));
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_subcommand_has_a_page() {
        let cmd = super::super::command();
        let visible: Vec<&str> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name())
            .collect();
        assert_eq!(visible, SUBCOMMANDS);
    }

    #[test]
    fn roff_escapes() {
        assert_eq!(roff("a-b"), "a\\-b");
        assert_eq!(roff(".x"), "\\&.x");
        assert_eq!(roff("a\\b"), "a\\eb");
    }
}
