//! What to tell the user about a declared entry that is not in place
//! (neither bound nor linked): `status`, `diff` and the watcher say it.
//! Where `boot` would put the persistent version over live data
//! ([`Op::KeepLive`]: the live data is kept only under
//! `<root>/impermctl-kept/<time>/`) — a link replaced by a program's
//! atomic save (tmp + rename), a bind unmounted by hand and written to
//! since — "run `impermctl boot`" would roll back what runs there
//! (trial-s10 F13): the advice says what `boot` would do and gives first
//! the way that keeps the live data. Decided from the plan `boot` would
//! make ([`plan_entry`]); pure.

use std::path::{Path, PathBuf};

use super::{Facts, Op, What, plan_entry};
use crate::config::{Entry, FileMethod, Kind, Settings};
use crate::names::show;

/// The advice when `boot` puts the entry in place without harm, or when
/// what is at its path and source is not known.
pub const RUN_BOOT: &str = "run `impermctl boot`";

/// What [`over_live`]'s advice says first: `boot` would put the
/// persistent version over the live data ([`rolls_back`]).
const ROLLBACK: &str = "holds another version: `impermctl boot` would";

/// Does `advice` (from [`not_in_place`]) say that `boot` would put the
/// persistent version over the live data of its entry?
pub fn rolls_back(advice: &str) -> bool {
    advice.contains(ROLLBACK)
}

/// `advice` for the entry `path`, warned when it tells to run `boot` and
/// `boot` would roll back other entries (`rollbacks`: those whose advice
/// [`rolls_back`]): `boot` acts on every declared entry, so following one
/// entry's advice must not roll back another's live data (trial-s11 F13r).
pub fn mind_others(advice: &str, path: &Path, rollbacks: &[PathBuf]) -> String {
    let others: Vec<String> = (rollbacks.iter())
        .filter(|r| *r != path)
        .map(|r| show(r))
        .collect();
    if others.is_empty() || !advice.contains("run `impermctl boot`") {
        return advice.to_string();
    }
    format!(
        "{advice}; but `impermctl boot` acts on every declared entry: it would also put the persistent version over {} and keep what is there now only in impermctl-kept: follow the advice for {} first",
        others.join(", "),
        if others.len() == 1 { "it" } else { "them" }
    )
}

/// What to do about the declared entry `e` of `settings`, which is not in
/// place, given what is at its path and source (`f`, observed with
/// nothing mounted there): [`RUN_BOOT`]; why `boot` cannot fix it (the
/// plan fails it); or, when `boot` would put the persistent version over
/// the live data, what it would do and the way that keeps the live data.
pub fn not_in_place(settings: &Settings, e: &Entry, f: &Facts) -> String {
    match plan_entry(e, f) {
        What::Fail { error } => format!("`impermctl boot` cannot fix it: {error}"),
        What::Do { ops } if ops.contains(&Op::KeepLive) => over_live(settings, e, &ops),
        _ => RUN_BOOT.into(),
    }
}

/// The advice for `e` when `boot`'s `ops` would bind (or copy) its
/// persistent version over the live data.
fn over_live(settings: &Settings, e: &Entry, ops: &[Op]) -> String {
    let (p, s) = (show(&e.path), show(&e.source));
    let kept = show(&e.root.join(crate::live::keep::KEPT_DIR));
    let verb = if ops.contains(&Op::CopyIn) {
        "copy"
    } else {
        "bind"
    };
    let what = match e.kind {
        Kind::Directory => "what is here now",
        Kind::File => "this file",
    };
    let boot = format!(
        "{s} {ROLLBACK} {verb} it over {p} and keep {what} only in {kept}/<time>/, out of reach of what runs here (a rollback if {what} is newer)"
    );
    let mv = format!("move {s} away (`mv {s} {s}.old`)");
    let keep = match (e.kind, e.method) {
        (Kind::Directory, _) => {
            let to = match settings.roots.first() {
                Some(r) if r.path != e.root => format!("--to {} ", show(&e.root)),
                _ => String::new(),
            };
            format!(
                "to keep {what} instead, {mv} and run `impermctl persist {to}{p}`: it copies {what} to {s} and binds it there"
            )
        }
        (Kind::File, FileMethod::Copy) => {
            format!("to keep {what} instead, run `impermctl sync` first: it saves {what} to {s}")
        }
        (Kind::File, _) => format!(
            "to keep {what} instead, {mv}, change its entry to `{}` (TOML: method = \"copy\"; a program that saves by rename replaces a link, and fails with EBUSY over a bind), then run `impermctl boot`: it saves {what} to {s}",
            crate::suggest::nix_item(&e.path, true)
        ),
    };
    format!("{boot}; {keep}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Mounted, Node};

    fn settings(text: &str) -> Settings {
        let head = "version = 1\n[[persistence]]\npath = \"/persistent\"\n";
        crate::config::parse(&format!("{head}{text}"), std::path::Path::new("c.toml")).unwrap()
    }

    fn facts(target: Node, source: Node) -> Facts {
        Facts {
            target,
            source,
            mounted: Mounted::No,
            link_data: None,
            spare: None,
        }
    }

    /// Trial-s10 F13, as a table: "run `impermctl boot`" only where boot
    /// keeps the live data; where it would put the persistent version over
    /// it, what it would do and the way that keeps the live data.
    #[test]
    fn boot_is_advised_only_where_it_keeps_the_live_data() {
        let s = settings(concat!(
            "directories = [\"/var/lib/app\"]\n",
            "files = [\"/var/lib/s.json\", { path = \"/etc/k\", method = \"copy\" }]\n",
            "[[persistence]]\npath = \"/p2\"\ndirectories = [\"/srv/two\"]\n",
        ));
        let e = |p: &str| s.entry(std::path::Path::new(p)).unwrap();
        let (dir, empty) = (Node::Dir { empty: false }, Node::Dir { empty: true });
        let file = |len| Node::File { len };
        let say = |p: &str, t: Node, src: Node| not_in_place(&s, e(p), &facts(t, src));
        // Boot keeps the live data (seeds it) or there is none: boot.
        for (p, t, src) in [
            ("/var/lib/app", dir.clone(), Node::Missing),
            ("/var/lib/app", empty.clone(), dir.clone()),
            ("/var/lib/app", Node::Missing, dir.clone()),
            ("/var/lib/app", dir.clone(), empty.clone()),
            ("/var/lib/s.json", file(8), Node::Missing),
            ("/var/lib/s.json", file(0), file(8)),
            ("/etc/k", file(8), Node::Missing),
        ] {
            assert_eq!(
                say(p, t.clone(), src.clone()),
                RUN_BOOT,
                "{p} {t:?} {src:?}"
            );
        }
        // A directory unmounted by hand and written to since.
        let d = say("/var/lib/app", dir.clone(), dir.clone());
        for want in [
            "/persistent/var/lib/app holds another version: `impermctl boot` would bind it over /var/lib/app and keep what is here now only in /persistent/impermctl-kept/<time>/",
            "to keep what is here now instead, move /persistent/var/lib/app away (`mv /persistent/var/lib/app /persistent/var/lib/app.old`) and run `impermctl persist /var/lib/app`",
        ] {
            assert!(d.contains(want), "{want}\n{d}");
        }
        assert!(!d.contains(RUN_BOOT), "{d}");
        let d = say("/srv/two", dir.clone(), dir.clone());
        assert!(d.contains("`impermctl persist --to /p2 /srv/two`"), "{d}");
        // A file whose link a rename replaced: method = "copy".
        let f = say("/var/lib/s.json", file(8), file(7));
        for want in [
            "/persistent/var/lib/s.json holds another version: `impermctl boot` would bind it over /var/lib/s.json and keep this file only in /persistent/impermctl-kept/<time>/",
            "change its entry to `{ file = \"/var/lib/s.json\"; method = \"copy\"; }`",
            "fails with EBUSY over a bind",
        ] {
            assert!(f.contains(want), "{want}\n{f}");
        }
        let c = say("/etc/k", file(8), file(7));
        assert!(c.contains("would copy it over /etc/k"), "{c}");
        assert!(c.contains("run `impermctl sync` first"), "{c}");
        // A plan that fails says why.
        let x = say("/var/lib/app", file(3), Node::Missing);
        assert!(x.starts_with("`impermctl boot` cannot fix it: "), "{x}");
        // Trial-s11 F13r: the file's advice ends with `boot`, which would
        // also roll back the directory: said, for every advice to boot.
        assert!(rolls_back(&d) && rolls_back(&f) && !rolls_back(RUN_BOOT));
        let rb = [
            PathBuf::from("/var/lib/app"),
            PathBuf::from("/var/lib/s.json"),
        ];
        let p = |s: &str| PathBuf::from(s);
        let minded = mind_others(&f, &p("/var/lib/s.json"), &rb);
        assert!(
            minded.ends_with("it would also put the persistent version over /var/lib/app and keep what is there now only in impermctl-kept: follow the advice for it first"),
            "{minded}"
        );
        let minded = mind_others(RUN_BOOT, &p("/etc/x"), &rb);
        assert!(
            minded.contains("over /var/lib/app, /var/lib/s.json and keep"),
            "{minded}"
        );
        // No boot in the advice, or nothing else rolled back: as it was.
        assert_eq!(mind_others(&d, &p("/var/lib/app"), &rb), d);
        assert_eq!(mind_others(&f, &p("/var/lib/s.json"), &rb[1..]), f);
    }
}
