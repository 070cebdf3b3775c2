//! The sections of `diff`'s output around the groups: `--shadowed` and
//! `--orphans` on stdout, what could not be read and the progress line on
//! stderr.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::diff::orphans::Orphan;
use crate::diff::shadowed::Shadowed;
use crate::human::size;
use crate::names::human as escape;

/// Extra sections of the report.
#[derive(Debug, Default)]
pub struct Extras<'a> {
    /// Data hidden under mount points: asked (`--shadowed`), or found by
    /// plain `diff` (`shadowed::glance`: only when there is some).
    pub shadowed: Option<Vec<Shadowed>>,
    /// `--shadowed`: `shadowed` is listed path by path; else in brief
    /// (`shadowed::brief`).
    pub shadowed_listed: bool,
    /// `--all`: every shadowed path, not the first [`SHADOWED_SHOWN`].
    pub all: bool,
    /// `--orphans`.
    pub orphans: Option<Vec<Orphan>>,
    /// Config entries refused for their errors (`refused[]` in JSON).
    pub refused: Vec<crate::config::RefusedEntry<'a>>,
    /// What plain `diff` left out under `watch.ignore` (JSON `ignored`;
    /// `None` with `--all`, which compares it).
    pub ignored: Option<crate::diff::ignored::Ignored>,
    /// Declared binds found at another path (JSON `moved_binds`).
    pub moved: Vec<crate::diff::moved::MovedBind>,
    /// Binds from persistence that no entry declares (JSON `undeclared_binds`).
    pub unbound: Vec<crate::diff::unbound::UndeclaredBind>,
    /// The config file (the TOML that keeps `unbound` names its lines).
    pub config: std::path::PathBuf,
    /// `--shadowed`: filesystems hidden under a declared directory's bind.
    pub hidden_mounts: Vec<crate::layout::HiddenMount>,
    /// `method = "copy"` files deleted since boot (`live::files::deleted`):
    /// the deletion is kept, nothing is lost.
    pub deleted_copies: Vec<crate::config::Entry>,
}

/// Say on stderr which paths could not be read (the first ten, then a count).
pub fn unreadable(unreadable: &[(Vec<u8>, String)]) {
    const SHOWN: usize = 10;
    if unreadable.is_empty() {
        return;
    }
    let n = unreadable.len() as u64;
    eprintln!(
        "impermctl: could not read {} (not compared: what is under {} is not counted above){}:",
        crate::human::counted(n, "path"),
        if n == 1 { "it" } else { "them" },
        if nix::unistd::geteuid().is_root() {
            ""
        } else {
            "; run as root to see everything"
        }
    );
    for (p, e) in unreadable.iter().take(SHOWN) {
        eprintln!("  {}: {e}", escape(p));
    }
    if unreadable.len() > SHOWN {
        eprintln!("  … and {} more", unreadable.len() - SHOWN);
    }
}

/// Hidden paths listed per mount point by `--shadowed` without `--all`.
pub const SHADOWED_SHOWN: usize = 20;

/// The `--shadowed` and `--orphans` sections for humans (after the groups or `-l`).
pub fn extras(out: &mut impl Write, x: &Extras) -> io::Result<()> {
    for e in &x.deleted_copies {
        let (p, s) = (crate::names::show(&e.path), crate::names::show(&e.source));
        let kept = crate::names::show(&e.root.join(crate::live::keep::KEPT_DIR));
        writeln!(
            out,
            "deleted since boot: {p} (method = \"copy\"); the deletion is kept: impermctl-sync.service moves {s} aside to {kept}/ within a second and at shutdown, so the next boot does not bring it back"
        )?;
    }
    for m in &x.moved {
        writeln!(out, "{}", m.text())?;
    }
    for b in &x.unbound {
        writeln!(out, "{}", b.text())?;
    }
    let mut by_root = std::collections::BTreeMap::new();
    for (root, line) in x.unbound.iter().filter_map(|b| b.line()) {
        by_root.entry(root).or_insert_with(Vec::new).push(line);
    }
    write!(
        out,
        "{}",
        crate::suggest::to_add(&x.config, &by_root, "Add")
    )?;
    if let (Some(s), false) = (&x.shadowed, x.shadowed_listed) {
        for m in s {
            writeln!(out, "{}", crate::diff::shadowed::brief(m))?;
        }
    }
    if let (Some(s), true) = (&x.shadowed, x.shadowed_listed) {
        if s.is_empty() && x.hidden_mounts.is_empty() {
            writeln!(out, "shadowed: nothing hidden under mount points")?;
        }
        for h in &x.hidden_mounts {
            writeln!(out, "shadowed: {}", h.text())?;
        }
        for m in s {
            writeln!(
                out,
                "shadowed: {} under the mount point {} ({}), lost at the next reboot:",
                size(m.bytes),
                m.mount_point,
                crate::human::count(m.paths.len() as u64, "entry", "entries")
            )?;
            // A mount over a populated tree hides thousands: the first
            // ones and a count, unless `--all` (JSON and `-0` list all).
            let shown = if x.all { m.paths.len() } else { SHADOWED_SHOWN };
            for p in m.paths.iter().take(shown) {
                writeln!(out, "  {p}")?;
            }
            if let Some(more) = m.paths.len().checked_sub(shown).filter(|n| *n > 0) {
                let more = crate::human::count(more as u64, "entry", "entries");
                writeln!(out, "  … and {more} more (--all lists every one)")?;
            }
        }
    }
    if let Some(o) = &x.orphans {
        if o.is_empty() {
            writeln!(
                out,
                "orphans: every item under the persistence roots is declared"
            )?;
        }
        for i in o {
            writeln!(
                out,
                "orphan: {:>10}  {} ({}; no declared entry covers it; kept, never deleted)",
                size(i.bytes),
                escape(i.path.as_os_str().as_encoded_bytes()),
                crate::human::count(i.entries, "entry", "entries")
            )?;
        }
    }
    Ok(())
}

/// Print `scanning: N entries` on stderr every 200 ms until `done`.
pub fn progress(count: &AtomicU64, done: &AtomicBool) {
    let mut shown = false;
    let mut waited = 0;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        waited += 50;
        if waited >= 300 && waited % 200 < 50 {
            eprint!("\rscanning: {} entries", count.load(Ordering::Relaxed));
            shown = true;
        }
    }
    if shown {
        eprint!("\r\x1b[2K");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_count_one_entry_in_the_singular() {
        let x = Extras {
            shadowed: Some(vec![Shadowed {
                mount_point: "/srv/data".into(),
                paths: vec!["/srv/data/hidden".into()],
                bytes: 5,
            }]),
            orphans: Some(vec![Orphan {
                root: "/persistent".into(),
                path: "/persistent/old".into(),
                bytes: 3,
                entries: 1,
            }]),
            shadowed_listed: true,
            all: false,
            refused: Vec::new(),
            ignored: None,
            moved: Vec::new(),
            unbound: Vec::new(),
            config: Default::default(),
            hidden_mounts: Vec::new(),
            deleted_copies: Vec::new(),
        };
        let mut out = Vec::new();
        extras(&mut out, &x).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("/srv/data (1 entry), lost"), "{out}");
        assert!(!out.contains("more"), "{out}");
        assert!(
            out.contains("/persistent/old (1 entry; no declared"),
            "{out}"
        );
    }

    /// Session 5's trial: `--shadowed` printed 3,032 lines per mount point.
    #[test]
    fn shadowed_lists_the_first_paths_and_a_count_unless_all() {
        let paths: Vec<String> = (0..25).map(|i| format!("/srv/data/f{i}")).collect();
        let mut x = Extras {
            shadowed: Some(vec![Shadowed {
                mount_point: "/srv/data".into(),
                paths,
                bytes: 25,
            }]),
            orphans: None,
            shadowed_listed: true,
            all: false,
            refused: Vec::new(),
            ignored: None,
            moved: Vec::new(),
            unbound: Vec::new(),
            config: Default::default(),
            hidden_mounts: Vec::new(),
            deleted_copies: Vec::new(),
        };
        let text = |x: &Extras| {
            let mut out = Vec::new();
            extras(&mut out, x).unwrap();
            String::from_utf8(out).unwrap()
        };
        let short = text(&x);
        assert_eq!(
            short.lines().filter(|l| l.starts_with("  /")).count(),
            20,
            "{short}"
        );
        assert!(short.contains("/srv/data (25 entries)"), "{short}");
        assert!(
            short.contains("  … and 5 entries more (--all lists every one)"),
            "{short}"
        );
        x.all = true;
        let all = text(&x);
        assert_eq!(
            all.lines().filter(|l| l.starts_with("  /")).count(),
            25,
            "{all}"
        );
        assert!(!all.contains("more"), "{all}");
        // Plain diff (trial-s11 N2b): one line, size, count, first paths.
        x.shadowed_listed = false;
        let brief = text(&x);
        assert_eq!(
            brief.lines().collect::<Vec<_>>(),
            [concat!(
                "shadowed: 25 B in 25 entries under the mount point /srv/data, lost at the next reboot: ",
                "/srv/data/f0, /srv/data/f1, /srv/data/f2 and 22 more (a program that had it open or as its ",
                "working directory before the mount writes there; `impermctl diff --shadowed` lists them)"
            )],
            "{brief}"
        );
    }
}
