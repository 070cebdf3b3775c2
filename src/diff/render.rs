//! Rendering a diff: the grouped human summary, `-l` (one line per path)
//! and `-0` (NUL-separated paths); the JSON document is `diff::json`, the
//! sections around the groups `diff::sections`. Colour as `--color` and the
//! environment say (`human::colour`).

use std::io::{self, Write};

use crate::classify::Class;
use crate::diff::grouped::{Group, GroupClass};
use crate::diff::judge::Judged;
use crate::diff::{Basis, Change, Diff};
use crate::sys::meta::Kind;

/// ANSI colours, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    on: bool,
}

impl Style {
    /// Colour when `on`.
    pub fn new(on: bool) -> Style {
        Style { on }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        match self.on {
            true => format!("\x1b[{code}m{s}\x1b[0m"),
            false => s.to_owned(),
        }
    }
}

pub use crate::human::size;
use crate::names::human as escape;

/// One line saying what the diff compared against.
pub fn basis_line(b: &Basis) -> String {
    match b {
        Basis::Baseline { created } => {
            format!(
                "basis: the baseline of {} (the root as it was then; `impermctl baseline` retakes it)",
                crate::human::local_time(*created)
            )
        }
        Basis::BootTime { btime } => format!(
            "basis: no baseline (/run/impermctl/baseline is missing): listing everything changed since boot (ctime after {})",
            crate::human::local_time(*btime)
        ),
    }
}

/// What plain `diff` leaves out (`--all` shows it).
#[derive(Debug, Default, Clone)]
pub struct Hidden {
    /// Changed files the system regenerates at every boot.
    pub regenerated: u64,
    /// `method = "copy"` files saved in their persistent copy.
    pub saved: u64,
    /// Under `watch.ignore` on the compared filesystem: not compared with
    /// the baseline (default with `--all`, which compares them).
    pub ignored: crate::diff::ignored::Ignored,
}

impl Hidden {
    /// The hint line naming every class left out, if any.
    pub fn hint(&self) -> Option<String> {
        use crate::human::count;
        let mut shown = Vec::new();
        if self.regenerated > 0 {
            shown.push(format!(
                "{} the system regenerates at every boot",
                count(self.regenerated, "file", "files")
            ));
        }
        if self.saved > 0 {
            shown.push(format!(
                "{} saved to persistence by impermctl sync (copy files, pending entries)",
                count(self.saved, "entry", "entries")
            ));
        }
        let ig = &self.ignored;
        if ig.changed > 0 {
            let list: Vec<String> = ig.paths.iter().map(|p| p.display().to_string()).collect();
            shown.push(format!(
                "{} under watch.ignore {}, lost at the next reboot too",
                count(ig.changed, "changed entry", "changed entries"),
                list.join(", ")
            ));
        }
        (!shown.is_empty()).then(|| format!("(not shown: {}; --all lists them)", shown.join("; ")))
    }
}

/// The grouped summary: losses (important first, with the consequence,
/// the copies `persist` made that the config lacks), then, with `--all`,
/// what the system regenerates (labelled), then what was left out
/// ([`Hidden::hint`]). `below`: a section after this says of something
/// else that the next reboot loses it (a bind no entry declares, a moved
/// bind): no group is then not "nothing would be lost".
pub fn human(
    out: &mut impl Write,
    d: &Diff,
    groups: &[Group],
    hidden: &Hidden,
    below: bool,
    st: Style,
) -> io::Result<()> {
    writeln!(out, "{}\n{}", basis_line(&d.basis), d.source)?;
    let losses: Vec<&Group> = groups.iter().filter(|g| g.is_loss()).collect();
    let w = Widths::of(groups);
    for g in groups {
        group_line(out, g, &w, st)?;
    }
    let outside = match hidden.ignored.changed {
        0 => "",
        _ => ", not counting watch.ignore",
    };
    if losses.is_empty() && below {
        writeln!(
            out,
            "no changed file would be lost at the next reboot{outside}; but see below"
        )?;
    } else if losses.is_empty() {
        writeln!(out, "nothing would be lost at the next reboot{outside}")?;
    } else {
        let (files, bytes) = losses
            .iter()
            .fold((0, 0), |(f, b), g| (f + g.files, b + g.bytes));
        let total = format!(
            "total: {} in {} and {} would be lost at the next reboot{outside}",
            size(bytes),
            crate::human::counted(files, "file"),
            crate::human::counted(losses.len() as u64, "group")
        );
        writeln!(out, "{}", st.paint("1;31", &total))?;
    }
    if let Some(h) = hidden.hint() {
        writeln!(out, "{h}")?;
    }
    Ok(())
}

/// Column widths of the group lines: every column aligns whatever the
/// sizes, counts and labels.
struct Widths {
    size: usize,
    count: usize,
    label: usize,
}

impl Widths {
    fn of(groups: &[Group]) -> Widths {
        let max = |f: &dyn Fn(&Group) -> usize| groups.iter().map(f).max().unwrap_or(0);
        Widths {
            size: max(&|g| size(g.bytes).len()),
            count: max(&|g| crate::human::thousands(g.files).len()),
            label: max(&|g| label_of(g.class).len()),
        }
    }

    /// Where the text under a group line starts (the label column).
    fn indent(&self) -> usize {
        self.size + 2 + self.count + " files".len() + 2
    }
}

fn label_of(c: GroupClass) -> &'static str {
    match c {
        GroupClass::Important => "important ",
        GroupClass::Regenerated => "regenerated ",
        GroupClass::Ordinary => "",
    }
}

/// What changed in a group of `files` non-directories and `dirs`
/// directories, `new` of them new and `modified` modified (the two add up
/// to files + dirs), for the group line: `new`, `modified`,
/// `3 new, 1 modified`, with the directories said so that the numbers add
/// up (`new, plus 1 new dir`, `2,022 new, 100 modified, 20 of them dirs`);
/// a group of directories only counts them (`1 new dir`,
/// `2 dirs: mode, owner or attributes changed`; one directory: `mode, owner
/// or attributes changed`).
fn what_changed(files: u64, dirs: u64, new: u64, modified: u64) -> String {
    use crate::human::{count, counted, thousands};
    let (n, m) = (thousands(new), thousands(modified));
    let attrs = "mode, owner or attributes changed";
    match (files, dirs, new, modified) {
        (_, 0, _, 0) => "new".to_owned(),
        (_, 0, 0, _) => "modified".to_owned(),
        (_, 0, _, _) => format!("{n} new, {m} modified"),
        (0, d, _, 0) => count(d, "new dir", "new dirs"),
        (0, 1, 0, _) => attrs.to_owned(),
        (0, d, 0, _) => format!("{}: {attrs}", counted(d, "dir")),
        (0, d, _, _) => format!("{}: {n} new, {m} with {attrs}", counted(d, "dir")),
        (_, d, _, 0) => format!("new, plus {}", count(d, "new dir", "new dirs")),
        (_, d, 0, _) => format!(
            "modified, plus {}",
            count(d, "modified dir", "modified dirs")
        ),
        (_, 1, _, _) => format!("{n} new, {m} modified, 1 of them a dir"),
        (_, d, _, _) => format!("{n} new, {m} modified, {} of them dirs", thousands(d)),
    }
}

fn group_line(out: &mut impl Write, g: &Group, w: &Widths, st: Style) -> io::Result<()> {
    let what = what_changed(g.files, g.dirs, g.new, g.modified);
    let text = format!("{:<width$}", label_of(g.class), width = w.label);
    let label = match g.class {
        GroupClass::Important => st.paint("1;31", &text),
        GroupClass::Regenerated => st.paint("2", &text),
        GroupClass::Ordinary => text,
    };
    let mut line = format!(
        "{:>sw$}  {:>cw$} {:<5}  {label}{}  ({what}",
        size(g.bytes),
        crate::human::thousands(g.files),
        if g.files == 1 { "file" } else { "files" },
        st.paint("1", &escape(g.path.as_os_str().as_encoded_bytes())),
        sw = w.size,
        cw = w.count,
    );
    if g.replaced {
        line.push_str(", replaced by rename: persist it with method = \"copy\"");
    }
    if !g.writers.is_empty() {
        // `comm in unit`: a unit in parentheses would nest in the group's.
        let ws: Vec<String> = g
            .writers
            .iter()
            .map(|w| match &w.unit {
                Some(u) => format!("{} in {u}", w.comm),
                None => w.comm.clone(),
            })
            .collect();
        line.push_str(&format!("; written by {}", ws.join(", ")));
    }
    writeln!(out, "{line})")?;
    let pad = " ".repeat(w.indent());
    if let Some(c) = &g.consequence {
        writeln!(out, "{pad}{}", st.paint("31", c))?;
    }
    if let Some(why) = &g.declared {
        writeln!(out, "{pad}declared, but not persisted: {why}")?;
    }
    if let Some(why) = &g.regenerated {
        writeln!(out, "{pad}not a loss: {why}")?;
    }
    if let Some(why) = g.attributes_only().filter(|_| g.is_loss()) {
        writeln!(out, "{pad}not suggested: {why}")?;
    }
    for c in &g.undeclared_copies {
        writeln!(out, "{pad}{}", c.text())?;
    }
    Ok(())
}

/// `-l`: one line per path (`+` new, `M` modified, `D` unchanged but in a
/// declared entry that is not persisted, `R` regenerated with `--all`, `!` after the sign for important entries).
pub fn long(out: &mut impl Write, d: &Diff, j: &Judged, all: bool, st: Style) -> io::Result<()> {
    writeln!(out, "{}\n{}", basis_line(&d.basis), d.source)?;
    for (n, i) in d.items.iter().enumerate() {
        let class = j.classes.get(n);
        if !(all || j.visible.get(n).copied().unwrap_or(true)) {
            continue;
        }
        let regen = class.is_some_and(|c| !c.is_loss()) && i.change != Change::Unchanged;
        let s = match i.change {
            _ if regen => st.paint("2", "R"),
            // Unchanged, but inside a declared entry that is not persisted.
            Change::Unchanged if j.visible.get(n).copied().unwrap_or(false) => st.paint("33", "D"),
            Change::New => st.paint("32", "+"),
            Change::Modified => st.paint("33", "M"),
            Change::Unchanged => " ".to_owned(),
        };
        let mark = match class {
            Some(Class::Important { .. }) => "!",
            _ => " ",
        };
        let slash = if i.kind == Kind::Dir { "/" } else { "" };
        let p = escape(&i.path);
        writeln!(out, "{s}{mark}{:>10}  {p}{slash}", size(i.size))?;
    }
    Ok(())
}

/// `-0`: NUL-terminated raw paths (what `-l` lists).
pub fn nul(out: &mut impl Write, d: &Diff, j: &Judged, all: bool) -> io::Result<()> {
    for (n, i) in d.items.iter().enumerate() {
        if all || j.visible.get(n).copied().unwrap_or(true) {
            out.write_all(&i.path)?;
            out.write_all(b"\0")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines `group_line` writes for `g` alone, uncoloured.
    fn lines_of(g: &Group) -> String {
        let w = Widths::of(std::slice::from_ref(g));
        let mut out = Vec::new();
        group_line(&mut out, g, &w, Style::new(false)).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Every combination of files or not, one or more dirs or none, all
    /// new, all modified or both reads as English whose numbers add up,
    /// the dirs counted in (the trial read "(new, 1 dir)": which was
    /// new?). A group of directories whose own mode, owner or attributes
    /// changed says under its line why it is not suggested (trial s10 F4).
    #[test]
    fn every_combination_of_counts_reads_well() {
        // (files, dirs, new, modified): new + modified = files + dirs.
        let table = [
            ((1, 0, 1, 0), "new"),
            ((3, 0, 0, 3), "modified"),
            ((3, 0, 2, 1), "2 new, 1 modified"),
            ((0, 1, 1, 0), "1 new dir"),
            ((0, 3, 3, 0), "3 new dirs"),
            ((0, 1, 0, 1), "mode, owner or attributes changed"),
            ((0, 2, 0, 2), "2 dirs: mode, owner or attributes changed"),
            (
                (0, 3, 2, 1),
                "3 dirs: 2 new, 1 with mode, owner or attributes changed",
            ),
            ((1, 1, 2, 0), "new, plus 1 new dir"),
            ((5, 2, 7, 0), "new, plus 2 new dirs"),
            ((1, 1, 0, 2), "modified, plus 1 modified dir"),
            ((4, 2, 0, 6), "modified, plus 2 modified dirs"),
            ((2, 1, 2, 1), "2 new, 1 modified, 1 of them a dir"),
            (
                (2102, 20, 2022, 100),
                "2,022 new, 100 modified, 20 of them dirs",
            ),
        ];
        for ((f, d, n, m), want) in table {
            assert_eq!(n + m, f + d, "bad row {want}");
            let mut g = Group::new(
                "/g".into(),
                crate::config::Kind::Directory,
                GroupClass::Ordinary,
            );
            (g.files, g.dirs, g.new, g.modified) = (f, d, n, m);
            let text = lines_of(&g);
            let mut lines = text.lines();
            let said = (lines.next().and_then(|l| l.split_once("/g  (")))
                .map(|(_, r)| r.trim_end_matches(')'));
            assert_eq!(
                said,
                Some(want),
                "{f} files, {d} dirs, {n} new, {m} modified: {text}"
            );
            let why = lines.next().map(|l| l.trim_start());
            let why = why.and_then(|l| l.strip_prefix("not suggested: "));
            assert_eq!(why, g.attributes_only(), "{text}");
            assert_eq!(why.is_some(), f == 0 && n == 0, "{text}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(escape(b"/a\nb\xff"), "/a\\nb\\xff");
    }

    /// A baseline does not record who took it (boot, activation, `diff
    /// --capture-baseline`, a user's `impermctl baseline`): the basis line
    /// says only what is true of every one (the trial found "taken at
    /// boot, retaken after activation" under a captured baseline).
    #[test]
    fn the_basis_line_claims_nothing_the_baseline_does_not_record() {
        let line = basis_line(&Basis::Baseline { created: 0 });
        assert!(line.starts_with("basis: the baseline of "), "{line}");
        for claim in ["boot", "activation"] {
            assert!(!line.contains(claim), "{line}");
        }
    }
}
