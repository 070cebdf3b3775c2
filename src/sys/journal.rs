//! The systemd journal's native protocol (`systemd.journal-fields(7)`,
//! `sd_journal_sendv(3)` without libsystemd): one datagram of fields to
//! `/run/systemd/journal/socket`, each field `NAME\n<u64 LE length>value\n`,
//! so values may hold newlines and any bytes.
//!
//! Field names are what journald accepts: `A–Z`, `0–9` and `_`, not
//! starting with `_` or a digit, at most 64 bytes ([`field_name`] makes one).
//! A datagram too large for the socket is sent again with every value cut
//! to 32 KiB (journald's memfd path is not used).

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use rustix::io::Errno;

/// Where journald listens for native messages.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// A connection to journald.
#[derive(Debug)]
pub struct Journal {
    sock: UnixDatagram,
}

impl Journal {
    /// Connect to journald's socket; fails when journald is not there.
    pub fn connect() -> io::Result<Journal> {
        Journal::connect_to(Path::new(SOCKET))
    }

    /// Connect to a journal socket at `path`.
    pub fn connect_to(path: &Path) -> io::Result<Journal> {
        let sock = UnixDatagram::unbound()?;
        sock.connect(path)?;
        Ok(Journal { sock })
    }

    /// Send one entry made of `fields` (names as [`field_name`] makes them).
    pub fn send(&self, fields: &[(&str, &[u8])]) -> io::Result<()> {
        match self.sock.send(&encode(fields, usize::MAX)) {
            Err(e)
                if matches!(
                    Errno::from_io_error(&e),
                    Some(Errno::MSGSIZE | Errno::NOBUFS)
                ) =>
            {
                self.sock.send(&encode(fields, 32 << 10)).map(drop)
            }
            r => r.map(drop),
        }
    }
}

/// The datagram for `fields`, every value cut to at most `max` bytes.
pub fn encode(fields: &[(&str, &[u8])], max: usize) -> Vec<u8> {
    let mut d = Vec::new();
    for (k, v) in fields {
        let v = &v[..v.len().min(max)];
        d.extend_from_slice(k.as_bytes());
        d.push(b'\n');
        d.extend_from_slice(&(v.len() as u64).to_le_bytes());
        d.extend_from_slice(v);
        d.push(b'\n');
    }
    d
}

/// A valid journal field name from `name`: upper case, characters other
/// than `A–Z0–9_` replaced by `_`, `prefix` put in front unless the name
/// already starts with it, at most 64 bytes.
pub fn field_name(prefix: &str, name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| match c.to_ascii_uppercase() {
            c @ ('A'..='Z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect();
    if !s.starts_with(prefix) {
        s.insert_str(0, prefix);
    }
    s.truncate(64);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_datagrams() {
        assert_eq!(field_name("IMPERMCTL_", "path"), "IMPERMCTL_PATH");
        assert_eq!(
            field_name("IMPERMCTL_", "duration_ms"),
            "IMPERMCTL_DURATION_MS"
        );
        assert_eq!(
            field_name("IMPERMCTL_", "IMPERMCTL_GROUP"),
            "IMPERMCTL_GROUP"
        );
        assert_eq!(field_name("IMPERMCTL_", "a.b-c"), "IMPERMCTL_A_B_C");
        assert_eq!(field_name("IMPERMCTL_", &"x".repeat(100)).len(), 64);
        let d = encode(&[("MESSAGE", b"a\nb"), ("PRIORITY", b"2")], usize::MAX);
        assert_eq!(
            d,
            b"MESSAGE\n\x03\0\0\0\0\0\0\0a\nb\nPRIORITY\n\x01\0\0\0\0\0\0\x002\n"
        );
        assert_eq!(encode(&[("M", b"abcdef")], 2), b"M\n\x02\0\0\0\0\0\0\0ab\n");
    }

    #[test]
    fn sends_to_a_socket() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("socket");
        let server = UnixDatagram::bind(&path).unwrap();
        let j = Journal::connect_to(&path).unwrap();
        j.send(&[("MESSAGE", b"hello")]).unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], encode(&[("MESSAGE", b"hello")], usize::MAX));
    }
}
