//! Checks about declared entries themselves: redundant entries covered by a
//! declared directory, and declared owner/mode that the existing persistent
//! directory does not have.

use super::{Ctx, Finding, Severity, finding};

pub(super) fn covered_entries(c: &Ctx) -> Vec<Finding> {
    c.settings
        .covered()
        .into_iter()
        .map(|(e, d)| {
            finding(
                "covered-entries",
                Severity::Info,
                Some(&e.path),
                format!(
                    "{} is redundant: it is inside the declared directory {}, whose bind already persists it (covered; impermctl does nothing for it)",
                    e.path.display(),
                    d.path.display()
                ),
                format!("remove {} from the config", e.path.display()),
            )
        })
        .collect()
}

pub(super) fn declared_perms(c: &Ctx) -> Vec<Finding> {
    c.state
        .drift
        .iter()
        .map(|d| {
            let p = &d.declared;
            let s = d.source.display();
            let (u, g, m) = d.actual;
            finding(
                "declared-perms",
                Severity::Warning,
                Some(&d.path),
                format!(
                    "{} is declared {}:{} {:04o}, but its persistent directory {s} is {u}:{g} {m:04o} (owner and mode are applied only when impermctl creates the directory; nothing was changed)",
                    d.path.display(),
                    p.user,
                    p.group,
                    p.mode
                ),
                format!(
                    "chown {}:{} {s} && chmod {:04o} {s}; or change the declaration to match",
                    p.user, p.group, p.mode
                ),
            )
        })
        .collect()
}
