//! Unix sockets bound to a path, for [`writers_under`](super::writers_under):
//! a service listening on a socket inside a directory holds no fd, working
//! directory or mapping there, yet a bind over the directory hides the
//! socket file, and its clients get `ECONNREFUSED` until it restarts and
//! binds again (trial-s11 N11: redis, mysqld, php-fpm, gpg-agent in
//! `~/.gnupg`, docker.sock held by systemd for a socket unit).
//!
//! The kernel lists bound sockets per network namespace in
//! `/proc/PID/net/unix` (`net/unix/af_unix.c`, `unix_seq_show`): `Num:
//! RefCount Protocol Flags Type St Inode Path`, the flags `00010000`
//! (`__SO_ACCEPTCON`) for a listening socket, the path printed raw after one
//! space (an abstract name with a leading `@`, a relative name as it was
//! bound). procfs's parser drops the flags and cuts the path at a space, so
//! the few fields are read here. The owner is the process holding an fd
//! whose link reads `socket:[INODE]`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use procfs::process::Process;

use super::{Hold, OpenWriter, comm};

/// `__SO_ACCEPTCON` in the flags column: the socket listens.
const LISTENING: u32 = 0x0001_0000;
/// `SOCK_DGRAM` in the type column: a bound datagram socket receives at
/// its path (a syslog-like `/dev/log`).
const DGRAM: u16 = 2;

/// A socket that clients reach by its path: a listening stream or
/// seqpacket socket, or a bound datagram socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The socket's inode (the number in `socket:[INODE]`).
    pub inode: u64,
    /// The path it was bound to, raw bytes as the kernel prints them
    /// (absolute, or relative to the binder's working directory then).
    pub path: Vec<u8>,
}

/// The served sockets of one `net/unix` table (`text`, its whole
/// content). Abstract names (`@…`), unbound and connected sockets (an
/// accepted connection shows its listener's path) are left out; so is
/// what follows a newline in a path (its first part is kept: no socket
/// file, [`under`] drops it).
pub fn parse(text: &[u8]) -> Vec<Served> {
    text.split(|&b| b == b'\n')
        .skip(1)
        .filter_map(served)
        .collect()
}

fn served(line: &[u8]) -> Option<Served> {
    let mut rest = line;
    let mut field = || {
        let r: &[u8] = rest;
        let start = r.iter().position(|b| *b != b' ')?;
        let len = r[start..].iter().position(|b| *b == b' ');
        let end = len.map_or(r.len(), |l| start + l);
        rest = &r[end..];
        std::str::from_utf8(&r[start..end]).ok()
    };
    let _slot = field()?.strip_suffix(':')?;
    let (_refs, _proto) = (field()?, field()?);
    let flags = u32::from_str_radix(field()?, 16).ok()?;
    let kind = u16::from_str_radix(field()?, 16).ok()?;
    let _state = field()?;
    let inode = field()?.parse().ok()?;
    let path = rest.strip_prefix(b" ")?;
    let serves = flags & LISTENING != 0 || kind == DGRAM;
    (serves && !path.is_empty() && path[0] != b'@').then(|| Served {
        inode,
        path: path.to_vec(),
    })
}

/// What one pass over the processes gathers for [`under`]: who holds
/// which socket, and one process of each network namespace.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// Socket inode → the pids holding an fd on it.
    holders: HashMap<u64, Vec<i32>>,
    /// Network namespace (its `ns/net` link) → one pid in it.
    netns: HashMap<PathBuf, i32>,
}

impl Seen {
    /// `p` holds an fd on the socket `inode`.
    pub(super) fn socket(&mut self, p: &Process, inode: u64) {
        self.holders.entry(inode).or_default().push(p.pid);
    }

    /// Note `p`'s network namespace.
    pub(super) fn netns(&mut self, proc: &Path, p: &Process) {
        if let Ok(ns) = std::fs::read_link(proc.join(format!("{}/ns/net", p.pid))) {
            self.netns.entry(ns).or_insert(p.pid);
        }
    }
}

/// The processes serving a unix socket whose path lies at or below the
/// host path `dir`, appended to `out` as [`Hold::Listening`], from the
/// table of every network namespace in `seen` (and this process's). A
/// relative name is resolved against its owner's working directory, a
/// path bound in a chroot below the owner's root. Counted only while the
/// path is a socket file (a table entry whose file was removed cannot be
/// reached anyway). One entry per socket and command name (the lowest
/// pid: php-fpm's workers share their master's socket); pid 0 and comm
/// `?` when no visible process holds it.
pub(super) fn under(proc: &Path, dir: &Path, seen: &Seen, out: &mut Vec<OpenWriter>) {
    let mut tables = vec![proc.join("self/net/unix")];
    let mine = std::fs::read_link(proc.join("self/ns/net")).ok();
    let others = seen
        .netns
        .iter()
        .filter(|(ns, _)| Some(*ns) != mine.as_ref());
    let mut pids: Vec<i32> = others.map(|(_, pid)| *pid).collect();
    pids.sort_unstable();
    tables.extend(pids.iter().map(|p| proc.join(format!("{p}/net/unix"))));
    let mut done = std::collections::HashSet::new();
    for s in tables
        .iter()
        .filter_map(|t| std::fs::read(t).ok())
        .flat_map(|t| parse(&t))
    {
        if !done.insert(s.inode) {
            continue;
        }
        let mut owners: Vec<i32> = seen.holders.get(&s.inode).cloned().unwrap_or_default();
        owners.sort_unstable();
        let Some(file) = resolve(proc, &s.path, owners.first().copied()) else {
            continue;
        };
        let is_socket =
            || std::fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_socket());
        if !file.starts_with(dir) || !is_socket() {
            continue;
        }
        let mut named: Vec<String> = Vec::new();
        for pid in &owners {
            let p = Process::new_with_root(proc.join(pid.to_string()));
            let c = p.ok().and_then(|p| comm(&p)).unwrap_or_else(|| "?".into());
            if !named.contains(&c) {
                named.push(c.clone());
                let (pid, how) = (*pid as u32, Hold::Listening);
                out.push(OpenWriter {
                    pid,
                    comm: c,
                    file: file.clone(),
                    how,
                });
            }
        }
        if owners.is_empty() {
            let (comm, how) = ("?".to_string(), Hold::Listening);
            out.push(OpenWriter {
                pid: 0,
                comm,
                file,
                how,
            });
        }
    }
}

/// The host path of a socket bound to `path` by `owner` (when known): a
/// relative name joined to the owner's working directory, an absolute one
/// below the owner's root when that is not `/`. `None`: relative with no
/// owner to resolve it by.
fn resolve(proc: &Path, path: &[u8], owner: Option<i32>) -> Option<PathBuf> {
    let path = Path::new(OsStr::from_bytes(path));
    let link = |l: &str| std::fs::read_link(proc.join(format!("{}/{l}", owner?))).ok();
    if path.is_relative() {
        return Some(super::strip_deleted(link("cwd")?).join(path));
    }
    match link("root") {
        Some(root) if root != Path::new("/") => Some(root.join(path.strip_prefix("/").ok()?)),
        _ => Some(path.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as `/proc/net/unix` prints them (Linux 6.18): listening
    /// stream sockets, a bound datagram socket, an accepted connection, an
    /// abstract name, an unbound socket, a path with spaces.
    #[test]
    fn reads_the_served_sockets_of_a_table() {
        let text = b"Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 23456 /var/lib/redis/redis.sock
0000000000000000: 00000002 00000000 00010000 0005 01    77 /run/seq packet.sock
0000000000000000: 00000002 00000000 00000000 0002 01 23457 /dev/log
0000000000000000: 00000003 00000000 00000000 0001 03 23458 /var/lib/redis/redis.sock
0000000000000000: 00000002 00000000 00010000 0001 01 23459 @/var/lib/redis/abstract
0000000000000000: 00000002 00000000 00000000 0001 01 23460
0000000000000000: 00000002 00000000 00010000 0001 01 23461 private/smtp
0000000000000000: 00000002 00000000 00010000 0001 01 23462 /srv/new
line
";
        let got: Vec<(u64, String)> = parse(text)
            .into_iter()
            .map(|s| (s.inode, String::from_utf8(s.path).unwrap()))
            .collect();
        let want = [
            (23456, "/var/lib/redis/redis.sock"),
            (77, "/run/seq packet.sock"),
            (23457, "/dev/log"),
            (23461, "private/smtp"),
            (23462, "/srv/new"),
        ];
        let want: Vec<(u64, String)> = want.iter().map(|(i, p)| (*i, p.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn resolves_a_relative_name_by_its_owners_working_directory() {
        let proc = Path::new("/proc");
        let me = std::process::id() as i32;
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            resolve(proc, b"private/smtp", Some(me)),
            Some(cwd.join("private/smtp"))
        );
        assert_eq!(resolve(proc, b"private/smtp", None), None);
        let abs = resolve(proc, b"/run/x.sock", Some(me));
        assert_eq!(abs, Some(PathBuf::from("/run/x.sock")));
    }
}
