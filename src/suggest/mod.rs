//! The config line that persists a path: the Nix line for NixOS
//! (`environment.persistence`) and the TOML entry for
//! `/etc/impermctl/config.toml`, and the paste-ready snippet of several
//! (`diff --suggest`). Which path to persist is
//! [`crate::classify::grouping`]'s call.

use std::path::{Path, PathBuf};

use crate::config::Kind;

mod edit;
mod hint;
mod prune;
pub use edit::{toml_for, toml_for_file};
pub use hint::to_add;
pub use prune::prune;

#[cfg(test)]
mod edit_tests;

/// A Nix string literal for a path (quotes, backslashes and `${` escaped).
pub fn nix_string(p: &Path) -> String {
    quoted(&p.to_string_lossy(), true)
}

/// `s` as a Nix (`nix`) or TOML basic string: quotes and backslashes
/// escaped; Nix: `${` and newlines; TOML: every control character (`\uXXXX`).
fn quoted(s: &str, nix: bool) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' if nix && chars.peek() == Some(&'{') => out.push_str("\\$"),
            '\n' if nix => out.push_str("\\n"),
            c if !nix && c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Why no config can declare `path` by name, if so: Nix and TOML strings
/// hold UTF-8 text only (a lossy string would declare a different path),
/// and the config refuses control characters in paths. The one rule for
/// every snippet here and for `impermctl persist`'s refusal.
pub fn undeclarable(path: &Path) -> Option<&'static str> {
    match path.to_str() {
        None => Some("is not UTF-8"),
        Some(s) if s.chars().any(char::is_control) => Some("has a control character"),
        Some(_) => None,
    }
}

/// What is said instead of a config line for a path [`undeclarable`]
/// says `why` about: never a different path; the fix (rename it, or
/// persist its nearest declarable parent directory if all of it may be
/// kept), e.g. `/srv/b\xffd is not UTF-8, so no config can declare it by
/// name: rename it (e.g. with `mv`), or persist its parent "/srv" instead
/// if all of it may be kept`.
pub fn cannot_declare(path: &Path, why: &str) -> String {
    let shown = crate::names::show(path);
    let parent = path.ancestors().skip(1).find(|a| undeclarable(a).is_none());
    let instead = match parent.filter(|a| a.parent().is_some()) {
        Some(a) => format!(
            ", or persist its parent {} instead if all of it may be kept",
            nix_string(a)
        ),
        None => String::new(),
    };
    format!(
        "{shown} {why}, so no config can declare it by name: rename it (e.g. with `mv`){instead}"
    )
}

/// `lines` with each [`undeclarable`] path turned into a
/// [`Line::Skipped`] that says so ([`cannot_declare`]).
fn declarable(lines: &[Line]) -> Vec<Line> {
    let line = |l: &Line| match l {
        Line::Persist(p, _) | Line::Copy(p) => match undeclarable(p) {
            Some(why) => Line::Skipped(cannot_declare(p, why)),
            None => l.clone(),
        },
        Line::Skipped(_) => l.clone(),
    };
    lines.iter().map(line).collect()
}

/// Why a directory whose only change is its own mode, owner or
/// attributes (`chmod 0700 /etc/ssh`, nothing written inside) is not
/// suggested, and how to keep the change: `diff` says it under the
/// group's line, `--suggest` as the skipped line, the watcher as the
/// suggestion of its warning and in `watch.json` (trial s10 F4: the whole
/// of `/etc/ssh` was proposed, NixOS's links into `/etc/static` with it).
pub const ATTRIBUTES_ONLY: &str = "only the mode, owner or attributes changed, nothing inside: no data to persist (persisted, a copy of the whole directory would be bound over it); to keep the change, make it where the directory is made at boot (NixOS: a `z` line in systemd.tmpfiles.rules)";

/// Is `path`, persisted as `how`, a file that must be declared with
/// `method = "copy"`? True for the well-known files programs replace by
/// rename or re-create (SSH host keys, `/etc/shadow`, shell histories):
/// the knowledge `verify`'s `replaced-files` check warns from
/// ([`crate::classify::replaced::replaced_by`]), so every suggestion is one
/// `verify` accepts without that warning.
pub fn needs_copy(path: &Path, how: Kind) -> bool {
    how == Kind::File && crate::classify::replaced::replaced_by(path).is_some()
}

/// One item of a Nix `directories`/`files` list: the quoted path, or
/// `{ file = "…"; method = "copy"; }` when `copy`.
pub fn nix_item(path: &Path, copy: bool) -> String {
    match copy {
        true => format!("{{ file = {}; {COPY} }}", nix_string(path)),
        false => nix_string(path),
    }
}

/// How every Nix line here says `method = "copy"`.
const COPY: &str = "method = \"copy\";";

/// Does the Nix line `line` (from [`nix_line_replaced`], e.g. the
/// watcher's suggestion in `watch.json`) persist its file with
/// `method = "copy"`? (Its item, before [`NIX_INTO`], says so; a
/// [`cannot_declare`] sentence never does.)
pub fn says_copy(line: &str) -> bool {
    (line.split_once(NIX_INTO))
        .is_some_and(|(item, _)| item.starts_with("{ file = ") && item.contains(COPY))
}

/// The one-line Nix hint that persists `group` under `root`: the item, then
/// a Nix comment naming the list it goes into, e.g.
/// `"/var/lib/demo"  # into environment.persistence."/persistent".directories = [ … ]`
/// (a file [`needs_copy`] is written `{ file = …; method = "copy"; }`).
/// Paste-safe like [`nix_snippet`], whose items it shares: the item goes
/// into the existing list; a `….directories = [ … ];` definition pasted
/// beside a configuration's `environment.persistence."<root>" = { … };`
/// block fails, "attribute 'directories' already defined" (trial s10 F16).
pub fn nix_line(root: &Path, group: &Path, how: Kind) -> String {
    nix_line_replaced(root, group, how, false)
}

/// [`nix_line`] for a file seen `replaced` by rename (the watcher heard a
/// rename land on it: `sed -i`, `passwd`, an editor's temporary): written
/// with `method = "copy"` too, since a rename onto a bind-mounted file
/// fails with `EBUSY`. A directory keeps its line (renames inside a bound
/// directory work).
pub fn nix_line_replaced(root: &Path, group: &Path, how: Kind, replaced: bool) -> String {
    if let Some(why) = undeclarable(group) {
        return cannot_declare(group, why);
    }
    let line = match replaced {
        true => Line::recorded(group, how, true),
        false => Line::Persist(group.to_path_buf(), how),
    };
    let (list, item) = nix_entry(&line).expect("a path is never skipped");
    format!(
        "{item}  {NIX_INTO}environment.persistence.{}.{list} = [ … ]",
        nix_string(root)
    )
}

/// The list of `environment.persistence."<root>"` a line goes into and
/// its item there (`"/etc/b"`, or `{ file = …; method = "copy"; }` for a
/// copy or a file [`needs_copy`]); `None` for a skipped line. The one
/// place [`nix_snippet`] and [`nix_line_replaced`] take both from.
fn nix_entry(l: &Line) -> Option<(&'static str, String)> {
    match l {
        Line::Skipped(_) => None,
        Line::Persist(p, how) => Some((how.list(), nix_item(p, needs_copy(p, *how)))),
        Line::Copy(p) => Some((Kind::File.list(), nix_item(p, true))),
    }
}

/// The TOML equivalent for `/etc/impermctl/config.toml` (with
/// `method = "copy"` when [`needs_copy`]; a `# ` comment saying why for a
/// path [`undeclarable`]).
pub fn toml_entry(group: &Path, how: Kind) -> String {
    toml_item(group, how, needs_copy(group, how))
}

/// [`toml_entry`], with `method = "copy"` when `copy`.
pub fn toml_item(group: &Path, how: Kind, copy: bool) -> String {
    if let Some(why) = undeclarable(group) {
        return format!("# {}", cannot_declare(group, why));
    }
    let (table, path) = (how.list(), quoted(&group.to_string_lossy(), false));
    let method = if copy { "\nmethod = \"copy\"" } else { "" };
    format!("[[persistence.{table}]]\npath = {path}{method}")
}

/// One line of a snippet, in the order the groups came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Persist this path, as a directory or a file.
    Persist(PathBuf, Kind),
    /// Persist this file with `method = "copy"`: it was seen replaced by
    /// rename (a bind-mounted file cannot be renamed over).
    Copy(PathBuf),
    /// Not suggested, and why (shown as a `# skipped:` comment).
    Skipped(String),
}

impl Line {
    /// The line for `path`, persisted as `how` by a bind, or copied when
    /// `copy` (`method = "copy"`; files only): what `persist` did, as its
    /// step or record says. Every config line printed for a recorded
    /// entry (`persist`, `status`, `diff`) is made here, so none drops the
    /// method (trial s10 F1: `status` printed a copied file's line
    /// without it, and the bind it declared made the next `sed -i` fail
    /// with `EBUSY`).
    pub fn recorded(path: &Path, how: Kind, copy: bool) -> Line {
        match copy && how == Kind::File {
            true => Line::Copy(path.to_path_buf()),
            false => Line::Persist(path.to_path_buf(), how),
        }
    }

    /// The one-line Nix config of this line under `root`
    /// ([`nix_line_replaced`]); a skipped line: its `# skipped:` note.
    pub fn nix(&self, root: &Path) -> String {
        match self {
            Line::Persist(p, how) => nix_line_replaced(root, p, *how, false),
            Line::Copy(p) => nix_line_replaced(root, p, Kind::File, true),
            Line::Skipped(why) => format!("# skipped: {why}"),
        }
    }

    /// The TOML entry of this line ([`toml_item`], `method = "copy"`
    /// when copied or [`needs_copy`]); a skipped line: its note.
    pub fn toml(&self) -> String {
        match self {
            Line::Persist(p, how) => toml_entry(p, *how),
            Line::Copy(p) => toml_item(p, Kind::File, true),
            Line::Skipped(why) => format!("# skipped: {why}"),
        }
    }
}

/// A paste-safe Nix suggestion: the skipped notes, then the items to add,
/// each under the name of its list in `environment.persistence."<root>"`
/// (`# into directories = [ … ]:`), indented by two spaces. Not a whole
/// `environment.persistence."<root>" = { directories = [ … ]; };` block,
/// nor a `….directories = [ … ];` line: a configuration that has the
/// block already (every vpsFree impermanence one) then defines the list
/// twice in one attribute set, which Nix refuses ("attribute
/// 'directories' already defined", trial s10 F16); the module system
/// merges lists only across modules.
pub fn nix_snippet(root: &Path, lines: &[Line]) -> String {
    let (mut dirs, mut files, mut s) = (String::new(), String::new(), String::new());
    for l in &declarable(lines) {
        match (l, nix_entry(l)) {
            (Line::Skipped(why), _) => s += &format!("# skipped: {why}\n"),
            (_, Some(("directories", item))) => dirs += &format!("  {item}\n"),
            (_, Some((_, item))) => files += &format!("  {item}\n"),
            (_, None) => {}
        }
    }
    if dirs.is_empty() && files.is_empty() {
        // Skipped losses are losses still: never "nothing would be lost".
        s.push_str(match s.is_empty() {
            true => "# nothing to persist: nothing would be lost at the next reboot\n",
            false => "# nothing to add to the config: what would be lost is skipped above, with the reason\n",
        });
        return s;
    }
    s += &nix_where(root);
    for (name, list) in [("directories", dirs), ("files", files)] {
        if !list.is_empty() {
            s += &format!("{NIX_INTO}{name} = [ … ]:\n{list}");
        }
    }
    s
}

/// The comment above [`nix_snippet`]'s items: where they go.
fn nix_where(root: &Path) -> String {
    format!(
        "# add to environment.persistence.{} in your NixOS configuration, each item\n\
         # into its list there (a list the block lacks: write it, e.g. `files = [ … ];`;\n\
         # a second `directories = …` in one attribute set is an error):\n",
        nix_string(root)
    )
}

/// How [`nix_snippet`] names the list the items below it go into
/// (`# into files = [ … ]:`).
const NIX_INTO: &str = "# into ";

/// The TOML equivalent, to append under the `[[persistence]]` block of `root`.
pub fn toml_snippet(root: &Path, lines: &[Line]) -> String {
    let root = nix_string(root);
    let mut s = format!("# append after the [[persistence]] block with path = {root}\n");
    for l in &declarable(lines) {
        s += &match l {
            Line::Skipped(why) => format!("# skipped: {why}\n"),
            Line::Persist(p, how) => toml_entry(p, *how) + "\n",
            Line::Copy(p) => toml_item(p, Kind::File, true) + "\n",
        };
    }
    s
}

/// Why a directory entry whose link (text `to`, live or `stored` in
/// persistence) leads to `data` on the ephemeral root is refused, with the
/// exact line that persists the data instead.
pub fn dir_link_refusal(e: &crate::config::Entry, to: &Path, data: &Path, stored: bool) -> String {
    let (p, s, t) = (e.path.display(), e.source.display(), to.display());
    let line = nix_line(&e.root, data, Kind::Directory);
    let copy = e.root.join(crate::root::rel(data));
    let is = match stored {
        false => format!("{p} is a symlink (to {t})"),
        true => format!("{p} is missing and its persistent copy {s} is a symlink (to {t})"),
    };
    let link = match crate::walk::systemd_private_link(&e.path, to) {
        true => format!(
            "systemd makes {p} -> {t} again at each start of the DynamicUser= service: the link needs no entry; impermctl keeps {} root 0700, as systemd requires",
            data.parent().unwrap_or(data).display()
        ),
        false => format!(
            "to keep the link as well, declare it as a file: {}",
            nix_line(&e.root, &e.path, Kind::File)
        ),
    };
    let remove = match stored {
        true => format!(", and remove the link {s}"),
        false => String::new(),
    };
    format!(
        "{is}, so its data is in {data}, on the ephemeral root: keeping the link keeps none of it (lost at reboot); declare the directory itself instead of {p}: {line} (its persistent copy is then {copy}){remove}; {link}",
        data = data.display(),
        copy = copy.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_paste_ready() {
        assert_eq!(
            nix_line(
                Path::new("/persistent"),
                Path::new("/var/lib/demo"),
                Kind::Directory
            ),
            r#""/var/lib/demo"  # into environment.persistence."/persistent".directories = [ … ]"#
        );
        assert_eq!(
            nix_line(
                Path::new("/persistent"),
                Path::new("/etc/a\"${x}"),
                Kind::File
            ),
            r#""/etc/a\"\${x}"  # into environment.persistence."/persistent".files = [ … ]"#
        );
        let copied = r#"{ file = "/etc/app/conf"; method = "copy"; }  # into environment.persistence."/persistent".files = [ … ]"#;
        let conf = Path::new("/etc/app/conf");
        assert_eq!(
            nix_line_replaced(Path::new("/persistent"), conf, Kind::File, true),
            copied
        );
        assert!(!nix_line(Path::new("/persistent"), conf, Kind::File).contains("copy"));
        assert!(
            !nix_line_replaced(Path::new("/persistent"), conf, Kind::Directory, true)
                .contains("copy")
        );
        assert_eq!(
            toml_entry(Path::new("/var/lib/demo"), Kind::Directory),
            "[[persistence.directories]]\npath = \"/var/lib/demo\""
        );
        // What `diff` reads back from the watcher's suggestion.
        let root = Path::new("/persistent");
        assert!(says_copy(copied));
        assert!(!says_copy(&nix_line(root, conf, Kind::File)));
        assert!(!says_copy(
            "/etc/x is already declared, but not persisted: method = \"copy\";"
        ));
        // `diff --suggest` for a file seen replaced by rename.
        let lines = [
            Line::Copy(conf.into()),
            Line::Persist("/etc/b".into(), Kind::File),
        ];
        assert_eq!(
            nix_snippet(root, &lines),
            nix_where(root)
                + "# into files = [ … ]:\n  { file = \"/etc/app/conf\"; method = \"copy\"; }\n  \"/etc/b\"\n"
        );
        assert!(
            toml_snippet(root, &lines).contains(
                "path = \"/etc/app/conf\"\nmethod = \"copy\"\n[[persistence.files]]\npath = \"/etc/b\"\n"
            )
        );
    }

    /// Trial s10 F1: the line of a recorded copy says `method = "copy"`
    /// in both flavours, a bind's does not, a directory is never copied.
    #[test]
    fn a_recorded_copy_keeps_its_method() {
        let (root, conf) = (Path::new("/persistent"), Path::new("/etc/app/app.conf"));
        let copy = Line::recorded(conf, Kind::File, true);
        assert_eq!(
            copy.nix(root),
            r#"{ file = "/etc/app/app.conf"; method = "copy"; }  # into environment.persistence."/persistent".files = [ … ]"#
        );
        assert_eq!(
            copy.toml(),
            "[[persistence.files]]\npath = \"/etc/app/app.conf\"\nmethod = \"copy\""
        );
        assert!(
            !Line::recorded(conf, Kind::File, false)
                .nix(root)
                .contains("copy")
        );
        let dir = Path::new("/var/lib/a");
        assert_eq!(
            Line::recorded(dir, Kind::Directory, true),
            Line::Persist(dir.into(), Kind::Directory)
        );
    }

    /// Session 5's trial: a declared entry refused at boot (its root
    /// missing) is a loss `diff` reports; `--suggest` said "nothing would
    /// be lost".
    #[test]
    fn a_skipped_loss_is_never_nothing_lost() {
        let root = Path::new("/persistent");
        let why = "/var/lib/x is already declared, but not persisted: its root is missing";
        let s = nix_snippet(root, &[Line::Skipped(why.into())]);
        assert!(s.starts_with(&format!("# skipped: {why}\n")), "{s}");
        assert!(!s.contains("nothing would be lost"), "{s}");
        let none = nix_snippet(root, &[]);
        assert!(none.contains("nothing would be lost"), "{none}");
    }

    /// Trial s8 #11: a name that is not UTF-8 was suggested lossily
    /// (U+FFFD), declaring a path that does not exist; a control character
    /// is refused by the config. Every snippet says it cannot be declared,
    /// with the fix, and never prints another path.
    #[test]
    fn an_undeclarable_path_is_never_suggested_as_another() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let root = Path::new("/persistent");
        let bad = Path::new(OsStr::from_bytes(b"/srv/b\xffd"));
        let deep = Path::new(OsStr::from_bytes(b"/srv/b\xffd/sub"));
        let ctl = Path::new("/srv/a\nb");
        let top = Path::new(OsStr::from_bytes(b"/\xff"));
        for (p, how, parent) in [
            (bad, Kind::Directory, Some("\"/srv\"")),
            (deep, Kind::File, Some("\"/srv\"")),
            (ctl, Kind::File, Some("\"/srv\"")),
            (top, Kind::Directory, None),
        ] {
            let lines = [
                Line::Persist(p.into(), how),
                Line::Persist("/srv/ok".into(), how),
            ];
            let all = [
                nix_line(root, p, how),
                nix_line_replaced(root, p, how, true),
                toml_entry(p, how),
                nix_snippet(root, &lines),
                toml_snippet(root, &lines),
            ];
            let shown = crate::names::show(p);
            for s in all {
                assert!(
                    !s.contains('\u{fffd}') && !s.contains('\n') || s.contains("# "),
                    "{s}"
                );
                assert!(s.contains(&format!("{shown} ")), "{s}");
                assert!(
                    s.contains("no config can declare it by name: rename it"),
                    "{s}"
                );
                let instead = parent.map(|a| format!("or persist its parent {a} instead"));
                assert_eq!(
                    instead.is_some_and(|i| s.contains(&i)),
                    parent.is_some(),
                    "{s}"
                );
                assert!(
                    !s.contains(&format!("= [ \"{}", p.to_string_lossy())),
                    "{s}"
                );
            }
            let snip = nix_snippet(root, &lines);
            assert!(snip.starts_with("# skipped: "), "{snip}");
            assert!(snip.contains("\"/srv/ok\""), "{snip}");
            let toml = toml_snippet(root, &lines);
            assert!(
                toml.contains("\n# skipped: ") && toml.contains("path = \"/srv/ok\""),
                "{toml}"
            );
        }
    }

    /// The refusal of a directory whose link leads to data on the ephemeral
    /// root names the exact line and what becomes of the link.
    #[test]
    fn a_directory_link_refusal_gives_the_line_for_the_data() {
        let text = "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [ \"/var/lib/foo\" ]\n";
        let s = crate::config::parse(text, Path::new("c.toml")).unwrap();
        let e = &s.entries[0];
        let why = dir_link_refusal(
            e,
            Path::new("private/foo"),
            Path::new("/var/lib/private/foo"),
            false,
        );
        for needle in [
            r#""/var/lib/private/foo"  # into environment.persistence."/persistent".directories = [ … ]"#,
            "its persistent copy is then /persistent/var/lib/private/foo",
            "systemd makes /var/lib/foo -> private/foo again",
            "keeps /var/lib/private root 0700",
        ] {
            assert!(why.contains(needle), "{why} lacks {needle}");
        }
        let why = dir_link_refusal(e, Path::new("/srv/app"), Path::new("/srv/app"), true);
        for needle in [
            "/var/lib/foo is missing and its persistent copy /persistent/var/lib/foo is a symlink (to /srv/app)",
            r#""/srv/app"  # into environment.persistence."/persistent".directories = [ … ]"#,
            r#""/var/lib/foo"  # into environment.persistence."/persistent".files = [ … ]"#,
            "remove the link /persistent/var/lib/foo",
        ] {
            assert!(why.contains(needle), "{why} lacks {needle}");
        }
    }
}
