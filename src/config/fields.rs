//! Validating single values of the config: paths (absolute, normalised, no
//! `..`), owners and modes, and the `[watch]` table.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::locate::Locator;
use super::mode::{parse_duration, parse_mode};
use super::raw::{Lax, RawDuration, RawWatch};
use super::validate::{Result, noted};
use super::{ConfigError, Perms, Watch};

/// The longest path the kernel takes (`PATH_MAX` is 4096 with the NUL).
pub const PATH_MAX: usize = 4095;
/// The longest name of one component (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// An absolute path, lexically normalised.
pub(super) fn abs_path(p: &Spanned<String>, field: &str, loc: &Locator<'_>) -> Result<PathBuf> {
    let s = p.get_ref();
    let err = |message: &str, fix: &str| Err(loc.error(Some(p.span()), field, message, fix));
    if s.is_empty() {
        return err("empty path", "write an absolute path, e.g. /var/lib/foo");
    }
    if s.contains('\0') {
        return err(
            "the path contains a NUL byte",
            "remove the \\u0000 from the path",
        );
    }
    if s.chars().any(char::is_control) {
        let shown = crate::names::human(s.as_bytes());
        return err(
            &format!("`{shown}` contains a control character (shown escaped)"),
            "write the path without newlines, tabs or escape characters: such a name would break log lines and mount tables, so impermctl does not persist it",
        );
    }
    if !s.starts_with('/') {
        let example = format!("/{}", s.trim_start_matches("./"));
        return err(
            &format!("`{s}` is a relative path"),
            &format!("write it as an absolute path, e.g. {example}"),
        );
    }
    // Too long for Linux at all (a component, or the whole): checked before
    // anything is created.
    if let Some(c) = s.split('/').find(|c| c.len() > NAME_MAX) {
        let shown: String = c.chars().take(40).collect();
        return err(
            &format!(
                "the path component `{shown}…` is {} bytes long; Linux allows at most {NAME_MAX} bytes per name",
                c.len()
            ),
            &format!("shorten that name to {NAME_MAX} bytes or fewer"),
        );
    }
    if s.len() > PATH_MAX {
        return err(
            &format!(
                "the path is {} bytes long; Linux allows at most {PATH_MAX} bytes per path",
                s.len()
            ),
            "persist a shorter path (a parent directory of it, for example)",
        );
    }
    match crate::root::normalize(Path::new(s)) {
        Some(p) => Ok(p),
        None => err(
            &format!("`{}` contains `..`", crate::names::printable(s)),
            &dotdot_fix(s),
        ),
    }
}

/// The fix for a path with `..`, with the path resolved (`/a/b/../c` →
/// `/a/c`) when it stays below `/`.
fn dotdot_fix(s: &str) -> String {
    let mut out = PathBuf::from("/");
    for c in Path::new(s).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if !out.pop() => return "write the path without `..`".into(),
            _ => {}
        }
    }
    format!("write the path without `..`, e.g. {}", out.display())
}

/// Owner and mode of an entry (or its `parent`); each bad value goes to
/// `errors` and reads as the default.
pub(super) fn perms(
    [user, group, mode]: [&Lax<Spanned<String>>; 3],
    field: &str,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Perms {
    let d = Perms::default();
    let mut ok = |r: Result<Option<String>>| noted(r, errors).flatten();
    let user = ok(owner(user.0.as_ref(), &format!("{field}.user"), loc)).unwrap_or(d.user);
    let group = ok(owner(group.0.as_ref(), &format!("{field}.group"), loc)).unwrap_or(d.group);
    let mode = match mode.0.as_ref() {
        None => d.mode,
        Some(m) => parse_mode(m.get_ref()).unwrap_or_else(|| {
            errors.push(loc.error(
                Some(m.span()),
                format!("{field}.mode"),
                format!("`{}` is not a mode", crate::names::printable(m.get_ref())),
                "write an octal mode such as \"0750\" or a symbolic one such as \"u=rwx,g=rx,o=\"",
            ));
            d.mode
        }),
    };
    Perms { user, group, mode }
}

/// A user or group: a name or numeric id, checked for shape only (the
/// account may not exist until activation creates it).
fn owner(v: Option<&Spanned<String>>, field: &str, loc: &Locator<'_>) -> Result<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    let s = v.get_ref();
    let bad = |c: char| c.is_whitespace() || c == ':' || c == '/' || c.is_control();
    if s.is_empty() || s.chars().any(bad) {
        return Err(loc.error(
            Some(v.span()),
            field,
            format!("`{s}` is not a user or group name"),
            "write a name such as \"postgres\" or a numeric id such as \"1000\"",
        ));
    }
    Ok(Some(s.clone()))
}

/// `[watch]`; each bad value goes to `errors` and reads as the default.
pub(super) fn watch(
    raw: Option<RawWatch>,
    loc: &Locator<'_>,
    errors: &mut Vec<ConfigError>,
) -> Watch {
    let mut w = Watch::default();
    let Some(raw) = raw else { return w };
    if let Some(list) = raw.ignore.0 {
        let paths = list.iter().enumerate();
        let paths = paths.map(|(i, p)| abs_path(p, &format!("watch.ignore[{i}]"), loc));
        w.ignore = paths.filter_map(|r| noted(r, errors)).collect();
    }
    if let Some(v) = raw.warn_every.0 {
        let parsed = match v.get_ref() {
            RawDuration::Seconds(n) if *n >= 1 => Ok(Duration::from_secs(*n as u64)),
            RawDuration::Seconds(n) => Err(format!("{n} seconds is not a positive interval")),
            RawDuration::Text(t) => {
                let bad = || format!("`{}` is not a duration", crate::names::printable(t));
                parse_duration(t).ok_or_else(bad)
            }
        };
        match parsed {
            Ok(d) => w.warn_every = d,
            Err(what) => errors.push(loc.error(
                Some(v.span()),
                "watch.warn_every",
                what,
                "write a duration as systemd.time(7) does, such as \"30s\", \"10min\", \"10 minutes\" or \"1h 30m\", or a positive integer number of seconds",
            )),
        }
    }
    if let Some(b) = raw.backend.0 {
        w.backend = b;
    }
    if let Some(m) = raw.max_warnings_per_minute.0 {
        match u32::try_from(*m.get_ref()).ok().filter(|n| *n >= 1) {
            Some(n) => w.max_warnings_per_minute = n,
            None => errors.push(loc.error(
                Some(m.span()),
                "watch.max_warnings_per_minute",
                format!("{} is out of range", m.get_ref()),
                "write a whole number of at least 1, e.g. max_warnings_per_minute = 10",
            )),
        }
    }
    w
}
