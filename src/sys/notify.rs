//! sd_notify(3) without libsystemd: one datagram to `$NOTIFY_SOCKET`.
//! A no-op (returning `Ok(false)`) when not started by systemd.

use std::ffi::OsStr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;

/// Send `state` (e.g. `"READY=1\nSTATUS=…"`) to the service manager.
pub fn notify(state: &str) -> std::io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) => notify_to(&socket, state).map(|()| true),
        None => Ok(false),
    }
}

/// Send `state` to the notification socket `socket` (a path, or `@name`
/// for an abstract socket, as in `$NOTIFY_SOCKET`).
pub fn notify_to(socket: &OsStr, state: &str) -> std::io::Result<()> {
    let addr = match socket.as_bytes().strip_prefix(b"@") {
        Some(abs) => SocketAddr::from_abstract_name(abs)?,
        None => SocketAddr::from_pathname(Path::new(socket))?,
    };
    UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

/// The watchdog interval requested by systemd (`$WATCHDOG_USEC`), if it is
/// meant for this process.
pub fn watchdog_interval() -> Option<std::time::Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok()? != std::process::id()
    {
        return None;
    }
    (usec > 0).then(|| std::time::Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sends_the_state_to_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("notify");
        let server = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
        super::notify_to(sock.as_os_str(), "READY=1\nSTATUS=ok").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=ok");
    }
}
