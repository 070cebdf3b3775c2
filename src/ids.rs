//! User and group names → ids. On the live root, NSS answers first
//! (`getpwnam`/`getgrnam`, so systemd `DynamicUser=`, LDAP and other
//! sources resolve); for a `--root` tree, and when NSS does not know a name
//! activation has just written, the tree's own `/etc/passwd` and
//! `/etc/group` are read. Numeric ids are taken as they are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::Perms;
use crate::root::Root;
use crate::sys::fs::Owner;

/// Lazily loaded name tables of one root.
#[derive(Debug, Default)]
pub struct Ids {
    passwd: Option<(PathBuf, HashMap<String, u32>)>,
    group: Option<(PathBuf, HashMap<String, u32>)>,
}

/// The records of a passwd or group text (`name:x:id:…`, the shape both
/// share; `/etc/passwd`: `name:x:uid:gid:gecos:home:shell`): the name, the
/// id and the fields after it. Lines without a numeric id are skipped.
pub fn records(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|line| {
        let mut f = line.split(':');
        let (name, _, id) = (f.next()?, f.next()?, f.next()?.parse().ok()?);
        Some((name, id, f.collect()))
    })
}

/// `getpwnam`/`getgrnam` (by the table `file` names), through NSS: on the
/// live root only.
fn nss(root: &Root, file: &str, name: &str) -> Option<u32> {
    use nix::unistd::{Group, User};
    match file {
        _ if !root.is_system() => None,
        "/etc/passwd" => User::from_name(name).ok()?.map(|u| u.uid.as_raw()),
        _ => Group::from_name(name).ok()?.map(|g| g.gid.as_raw()),
    }
}

impl Ids {
    fn lookup(
        slot: &mut Option<(PathBuf, HashMap<String, u32>)>,
        root: &Root,
        file: &str,
        name: &str,
        what: &str,
    ) -> anyhow::Result<u32> {
        // A number is the id; on the live root, NSS answers first.
        if let Some(id) = name.parse().ok().or_else(|| nss(root, file, name)) {
            return Ok(id);
        }
        let (path, table) = slot.get_or_insert_with(|| {
            let p = root.host(Path::new(file));
            let mut t = HashMap::new();
            for (name, id, _) in records(&std::fs::read_to_string(&p).unwrap_or_default()) {
                t.entry(name.to_owned()).or_insert(id);
            }
            (p, t)
        });
        // root is 0 everywhere, even on a tree whose /etc is not populated yet.
        let fallback = (name == "root").then_some(0);
        let nss = match root.is_system() {
            true => " nor known to NSS",
            false => "",
        };
        table.get(name).copied().or(fallback).ok_or_else(|| {
            let path = path.display();
            anyhow::anyhow!(
                "{what} {name:?} does not exist (not in {path}{nss}): create it first, or give a numeric id"
            )
        })
    }

    /// Resolve declared perms to numeric ids; both errors at once when
    /// neither the user nor the group exists.
    pub fn owner(&mut self, root: &Root, p: &Perms) -> anyhow::Result<Owner> {
        let uid = Self::lookup(&mut self.passwd, root, "/etc/passwd", &p.user, "user");
        let gid = Self::lookup(&mut self.group, root, "/etc/group", &p.group, "group");
        match (uid, gid) {
            (Ok(uid), Ok(gid)) => Ok(Owner {
                uid,
                gid,
                mode: p.mode,
            }),
            (Err(u), Err(g)) => Err(anyhow::anyhow!("{u}; {g}")),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\npostgres:x:71:71::/var/lib/postgresql:/bin/false\nbroken\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\npostgres:x:72:\n").unwrap();
        let root = Root::new(Some(d.path().to_path_buf()), None);
        let mut ids = Ids::default();
        let p = |u: &str, g: &str| Perms {
            user: u.into(),
            group: g.into(),
            mode: 0o750,
        };
        assert_eq!(
            ids.owner(&root, &p("postgres", "postgres")).unwrap(),
            Owner {
                uid: 71,
                gid: 72,
                mode: 0o750
            }
        );
        assert_eq!(ids.owner(&root, &p("1000", "100")).unwrap().uid, 1000);
        let e = ids
            .owner(&root, &p("nobody2", "root"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"nobody2\"") && e.contains("etc/passwd"), "{e}");
        let e = ids
            .owner(&root, &p("root", "wheel"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("group \"wheel\""), "{e}");
    }

    /// On the live root, names come from NSS: whatever `getent` knows
    /// resolves, even when the name is not in the file table.
    #[test]
    fn the_live_root_asks_nss() {
        let root = Root::new(None, None);
        let empty = || Some((PathBuf::from("/nonexistent"), HashMap::new()));
        let mut ids = Ids {
            passwd: empty(),
            group: empty(),
        };
        let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .unwrap();
        let grp = nix::unistd::Group::from_gid(nix::unistd::getegid())
            .unwrap()
            .unwrap();
        let p = Perms {
            user: me.name.clone(),
            group: grp.name.clone(),
            mode: 0o700,
        };
        let o = ids.owner(&root, &p).unwrap();
        assert_eq!((o.uid, o.gid), (me.uid.as_raw(), grp.gid.as_raw()));
        let e = ids
            .owner(
                &root,
                &Perms {
                    user: "no-such-user-x".into(),
                    ..p
                },
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("nor known to NSS"), "{e}");
    }
}
