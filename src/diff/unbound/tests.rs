//! [`decide`] over mount tables: which binds from a persistence root the
//! config does not keep, who made them, and the line that keeps them.

use super::*;

fn settings(body: &str) -> Settings {
    let text = format!("version = 1\n[[persistence]]\npath = \"/persistent\"\n{body}");
    crate::config::parse(&text, Path::new("c.toml")).unwrap()
}

/// The root on 0:1, the dataset on 0:2 at /persistent, then `binds`:
/// (mount point, root in the dataset).
fn table(binds: &[(&str, &str)]) -> MountTable {
    let mut t = String::from(
        "1 0 0:1 / / rw - zfs tank/ct/101.impermanence rw\n2 1 0:2 / /persistent rw - zfs tank/ct/101 rw\n3 1 0:3 / /nix ro - zfs tank/ct/101/nix rw\n",
    );
    for (n, (at, root)) in binds.iter().enumerate() {
        t += &format!("{} 1 0:2 {root} {at} rw - zfs tank/ct/101 rw\n", 10 + n);
    }
    MountTable::parse(&t).unwrap()
}

fn paths(found: &[UndeclaredBind]) -> Vec<&str> {
    found.iter().map(|b| b.path.to_str().unwrap()).collect()
}

const DIR: &dyn Fn(&Path) -> Kind = &|_| Kind::Directory;

#[test]
fn only_binds_no_entry_keeps_are_found() {
    let s = settings(
        "directories = [\"/var/lib/svc\", \"/var/lib/outer\"]\nfiles = [\"/etc/machine-id\"]",
    );
    let t = table(&[
        // Declared, and nested in a declared directory from its own place.
        ("/var/lib/svc", "/var/lib/svc"),
        ("/var/lib/outer", "/var/lib/outer"),
        ("/var/lib/outer/inner", "/var/lib/outer/inner"),
        ("/etc/machine-id", "/etc/machine-id"),
        // A declared source bound at another path too: `diff::moved`'s.
        ("/var.old/lib/svc", "/var/lib/svc"),
        // Undeclared.
        ("/var/lib/foo", "/var/lib/foo"),
        ("/srv/x", "/elsewhere/x"),
        // Nested in a declared directory, from another place.
        ("/var/lib/outer/odd", "/odd"),
        // The whole dataset elsewhere: a view, not a path's persistence.
        ("/mnt/p", "/"),
    ]);
    let found = decide(&s, &t, &[], &[], DIR);
    assert_eq!(
        paths(&found),
        ["/srv/x", "/var/lib/foo", "/var/lib/outer/odd"]
    );
    let foo = &found[1];
    assert_eq!(foo.source, Path::new("/persistent/var/lib/foo"));
    assert_eq!(foo.root.as_deref(), Some(Path::new("/persistent")));
    assert_eq!(foo.by, By::Other);
    assert_eq!(
        foo.nix.as_deref(),
        Some(r#""/var/lib/foo"  # into environment.persistence."/persistent".directories = [ … ]"#)
    );
    // Bound from another place: no entry can declare it; said so.
    let x = &found[0];
    assert_eq!(x.source, Path::new("/persistent/elsewhere/x"));
    assert_eq!((x.root.as_ref(), x.nix.as_ref()), (None, None));
    assert!(
        x.text()
            .contains("no config entry can bind /persistent/elsewhere/x at /srv/x"),
        "{}",
        x.text()
    );
    assert!(x.line().is_none());
}

#[test]
fn the_records_say_who_bound_it_and_its_kind() {
    let s = settings("");
    let t = table(&[
        ("/var/lib/foo", "/var/lib/foo"),
        ("/etc/adjtime", "/etc/adjtime"),
        ("/home/u", "/home/u"),
    ]);
    let rec = |p: &str, k| (PathBuf::from(p), Path::new("/persistent").join(&p[1..]), k);
    let persisted = [
        rec("/var/lib/foo", Kind::Directory),
        rec("/etc/adjtime", Kind::File),
    ];
    let booted = [rec("/home/u", Kind::Directory)];
    let found = decide(&s, &t, &persisted, &booted, DIR);
    let got: Vec<(&str, By, Kind)> = found
        .iter()
        .map(|b| (b.path.to_str().unwrap(), b.by, b.kind))
        .collect();
    assert_eq!(
        got,
        [
            ("/etc/adjtime", By::Persist, Kind::File),
            ("/home/u", By::Boot, Kind::Directory),
            ("/var/lib/foo", By::Persist, Kind::Directory),
        ]
    );
    assert!(
        found[0].text().contains("(bound by `impermctl persist`)"),
        "{}",
        found[0].text()
    );
    assert!(
        found[1]
            .text()
            .contains("(its entry was removed from the config; `impermctl boot` leaves it bound until the reboot): the next boot does not bind it"),
        "{}",
        found[1].text()
    );
}

/// A root whose block left the config still holds the data: its binds
/// are found from the records.
#[test]
fn a_root_known_only_from_the_records_counts() {
    let s = settings("");
    let t = MountTable::parse(
        "1 0 0:1 / / rw - zfs root rw\n2 1 0:4 / /data rw - zfs tank/data rw\n3 1 0:4 /srv/app /srv/app rw - zfs tank/data rw\n",
    )
    .unwrap();
    assert!(decide(&s, &t, &[], &[], DIR).is_empty());
    let booted = [(
        PathBuf::from("/srv/app"),
        PathBuf::from("/data/srv/app"),
        Kind::Directory,
    )];
    let found = decide(&s, &t, &[], &booted, DIR);
    assert_eq!(paths(&found), ["/srv/app"]);
    assert_eq!(found[0].root.as_deref(), Some(Path::new("/data")));
}

/// A refused entry is declared (its error is what to fix); a bind hidden
/// under another mount at the same point is not what the system uses.
#[test]
fn refused_entries_and_hidden_binds_are_not_named() {
    let mut s = settings("");
    s.refused.push("/var/lib/bad".into());
    let mut t = String::from("1 0 0:1 / / rw - zfs r rw\n2 1 0:2 / /persistent rw - zfs p rw\n");
    t += "3 1 0:2 /var/lib/bad /var/lib/bad rw - zfs p rw\n";
    t += "4 1 0:2 /var/lib/under /var/lib/under rw - zfs p rw\n5 4 0:9 / /var/lib/under rw - tmpfs t rw\n";
    let found = decide(&s, &MountTable::parse(&t).unwrap(), &[], &[], DIR);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn the_root_is_what_precedes_the_path() {
    let p = |s: &str| PathBuf::from(s);
    assert_eq!(
        root_of(&p("/persistent/var/lib/foo"), &p("/var/lib/foo")),
        Some(p("/persistent"))
    );
    assert_eq!(root_of(&p("/a/b/srv"), &p("/srv")), Some(p("/a/b")));
    assert_eq!(root_of(&p("/persistent/other"), &p("/srv")), None);
    assert_eq!(root_of(&p("/persistent"), &p("/")), None);
}
