//! Symlinks as data. Some state is a symlink (`/etc/localtime` set by hand,
//! a state directory that is a link to elsewhere). impermctl never follows
//! such a link; it persists the link itself: the link found at the target
//! is stored as the persistent source (same text, same owner), and a link
//! stored as the source is recreated at the missing target at boot.
//! impermanence cannot do this (it refuses or follows them).
//!
//! Not for a *directory* entry whose link leads to data on the ephemeral
//! root: storing the link would keep none of the data. systemd makes such
//! links for every `DynamicUser=` service (`/var/lib/foo -> private/foo`,
//! the data in `/var/lib/private/foo`: systemd.exec(5), "StateDirectory=");
//! an app may symlink its state directory the same way. Such an entry is
//! refused with the line that declares the directory itself (what
//! impermanence users are told to persist: its issues #93, #230, #254),
//! see `walk::data_behind_link`.

use std::path::{Path, PathBuf};

use super::{Facts, Node, Op, What, Why, act, fail};
use crate::config::{Entry, Settings};
use crate::mountinfo::MountTable;
use crate::suggest::dir_link_refusal;
use crate::walk::entry_link_data;

/// `walk::data_behind_link` for the directory entry `e` given what is at its
/// target and source: its live link, else (nothing at the target: the
/// service has not run since the reboot) the link stored as its source.
/// `None` for file entries (a file's link is its data: `/etc/localtime`).
pub fn dir_link_data(
    settings: &Settings,
    mounts: &MountTable,
    e: &Entry,
    target: &Node,
    source: &Node,
) -> Option<PathBuf> {
    match (target, source) {
        (Node::Symlink { to }, _) | (Node::Missing, Node::Symlink { to }) => {
            entry_link_data(settings, mounts, e, to)
        }
        _ => None,
    }
}

/// A directory entry whose link leads to `data` on the ephemeral root:
/// refused ([`dir_link_refusal`]).
pub(super) fn plan_dir_link(e: &Entry, f: &Facts, data: &Path) -> What {
    match (&f.target, &f.source) {
        (Node::Symlink { to }, _) => fail(dir_link_refusal(e, to, data, false)),
        (_, Node::Symlink { to }) => fail(dir_link_refusal(e, to, data, true)),
        // Nothing at either: the service's data is in persistence under private/.
        _ => {
            let (p, s, d) = (e.path.display(), e.source.display(), data.display());
            let copy = e.root.join(crate::root::rel(data));
            let line = crate::suggest::nix_line(&e.root, data, crate::config::Kind::Directory);
            fail(format!(
                "{p} and its persistent copy {s} are missing, but {copy} holds the data of a DynamicUser= service, which systemd keeps in {d} behind the link {p} it makes at each start of the service: a directory bound at {p} would make systemd fail to start it; declare the directory itself instead of {p}: {line}",
                copy = copy.display(),
            ))
        }
    }
}

/// The source is a stored symlink (to `stored`): recreate it at the target,
/// keep it when the same link is there, store the live one when the target
/// is another link (the live system changed it), refuse real data.
pub(super) fn plan_stored_link(e: &Entry, f: &Facts, stored: &Path) -> What {
    let (p, s, link) = (e.path.display(), e.source.display(), stored.display());
    match &f.target {
        Node::Missing => act(vec![Op::RestoreLink]),
        Node::Symlink { to } if to == stored => What::Skip(Why::LinkInPlace),
        Node::Symlink { to } if *to == e.source => fail(format!(
            "{p} links to its own persistent source {s}, which is itself a symlink (to {link}): remove {p} so that the stored link is recreated"
        )),
        Node::Symlink { .. } => act(vec![Op::StoreLink]),
        Node::Unprobed => What::Skip(Why::LinkInPlace),
        other => fail(format!(
            "{p} is a {} on the ephemeral root, but its persistent copy {s} is a symlink (to {link}): keep one of them: move {p} away to get the stored link back, or remove the link {s} to persist the {} instead",
            node_word(other),
            e.kind.word(),
        )),
    }
}

/// The target is a symlink (to `to`) that is not impermctl's own link to
/// the source: with no persistent copy it is stored as one; a persistent
/// file or directory is never replaced by it.
pub(super) fn plan_live_link(e: &Entry, f: &Facts, to: &Path) -> What {
    let (p, s) = (e.path.display(), e.source.display());
    if *to == e.source {
        return fail(format!(
            "{p} is a symlink to its own persistent source {s}; a declared directory is bound, not linked: remove the link and run `impermctl boot` again"
        ));
    }
    match &f.source {
        Node::Missing | Node::MissingParent => act(vec![Op::StoreLink]),
        other => fail(format!(
            "{p} is a symlink (to {}), but its persistent copy {s} is a {}: keep one of them: remove the link to use the persistent data (then run `impermctl boot` again), or move {s} away to persist the link",
            to.display(),
            node_word(other),
        )),
    }
}

fn node_word(n: &Node) -> &'static str {
    match n {
        Node::Dir { .. } => "directory",
        Node::File { .. } => "regular file",
        Node::Symlink { .. } => "symlink",
        _ => "special file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;
    use crate::plan::plan_entry;
    use crate::plan::tests::facts;

    fn entry(kind: Kind, path: &str) -> Entry {
        crate::config::parse(
            &format!(
                "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.{}]]\npath = \"{path}\"\n",
                kind.list()
            ),
            Path::new("c.toml"),
        )
        .unwrap()
        .entries
        .remove(0)
    }

    fn link(to: &str) -> Node {
        Node::Symlink { to: to.into() }
    }

    fn ops(w: What) -> Vec<Op> {
        match w {
            What::Do { ops } => ops,
            w => panic!("{w:?}"),
        }
    }

    #[test]
    fn links_are_stored_and_recreated() {
        let zone = "/etc/zoneinfo/Europe/Prague";
        for kind in [Kind::File, Kind::Directory] {
            let e = entry(kind, "/etc/localtime");
            // Live link, no persistent copy: stored (parents created by the op).
            for s in [Node::Missing, Node::MissingParent] {
                assert_eq!(ops(plan_entry(&e, &facts(link(zone), s))), [Op::StoreLink]);
            }
            // Stored link, fresh root: recreated.
            assert_eq!(
                ops(plan_entry(&e, &facts(Node::Missing, link(zone)))),
                [Op::RestoreLink]
            );
            // Same link on both sides: nothing to do (idempotent).
            assert_eq!(
                plan_entry(&e, &facts(link(zone), link(zone))),
                What::Skip(Why::LinkInPlace)
            );
            // Changed on the live system: the live link is stored.
            assert_eq!(
                ops(plan_entry(
                    &e,
                    &facts(link("/etc/zoneinfo/UTC"), link(zone))
                )),
                [Op::StoreLink]
            );
            // Real data on one side, a link on the other: refused, with both named.
            for (t, s) in [
                (Node::File { len: 3 }, link(zone)),
                (Node::Dir { empty: false }, link(zone)),
                (link(zone), Node::File { len: 3 }),
                (link(zone), Node::Dir { empty: true }),
            ] {
                match plan_entry(&e, &facts(t.clone(), s.clone())) {
                    What::Fail { error } => {
                        assert!(error.contains("keep one of them"), "{error}")
                    }
                    w => panic!("{t:?} {s:?}: {w:?}"),
                }
            }
        }
        // A directory entry linked to its own source is not data.
        let e = entry(Kind::Directory, "/var/lib/app");
        assert!(matches!(
            plan_entry(&e, &facts(link("/persistent/var/lib/app"), Node::Missing)),
            What::Fail { .. }
        ));
        // A directory whose link leads to data on the ephemeral root:
        // refused, whether the link is live or stored (see below).
        let e = entry(Kind::Directory, "/var/lib/foo");
        for (t, s) in [
            (link("private/foo"), Node::Missing),
            (link("private/foo"), link("private/foo")),
            (Node::Missing, link("private/foo")),
        ] {
            let f = Facts {
                link_data: Some("/var/lib/private/foo".into()),
                spare: None,
                ..facts(t, s)
            };
            match plan_entry(&e, &f) {
                What::Fail { error } => assert!(
                    error.contains(r#""/var/lib/private/foo"  # into environment.persistence."#),
                    "{error}"
                ),
                w => panic!("{w:?}"),
            }
        }
        // A file entry linked to its own source is impermctl's link.
        let e = entry(Kind::File, "/etc/adjtime");
        assert_eq!(
            plan_entry(&e, &facts(link("/persistent/etc/adjtime"), Node::Missing)),
            What::Skip(Why::AlreadyLinked)
        );
    }
}
