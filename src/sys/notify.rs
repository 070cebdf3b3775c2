//! sd_notify(3) without libsystemd: one datagram to `$NOTIFY_SOCKET`.
//! A no-op (returning `Ok(false)`) when not started by systemd.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;

/// Send `state` (e.g. `"READY=1\nSTATUS=…"`) to the service manager.
pub fn notify(state: &str) -> std::io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let addr = match path.as_bytes().strip_prefix(b"@") {
        Some(abs) => SocketAddr::from_abstract_name(abs)?,
        None => SocketAddr::from_pathname(Path::new(&path))?,
    };
    UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr)?;
    Ok(true)
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
        // Safety of set_var: this test binary sets NOTIFY_SOCKET only here.
        let sent = {
            let _g = ENV_LOCK.lock().unwrap();
            // SAFETY: guarded by ENV_LOCK; no other thread reads the environment here.
            unsafe { std::env::set_var("NOTIFY_SOCKET", &sock) };
            let r = super::notify("READY=1\nSTATUS=ok");
            // SAFETY: as above.
            unsafe { std::env::remove_var("NOTIFY_SOCKET") };
            r.unwrap()
        };
        assert!(sent);
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=ok");
    }

    static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
}
