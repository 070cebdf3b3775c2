//! D-Bus: `io.github.Impermctl1` on the system bus, served from a dedicated
//! thread inside `zbus::block_on`; the client side used by `impermctl status`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use zbus::object_server::SignalEmitter;

use super::core::NewGroup;
use super::report::{GroupReport, WatchState};

/// The well-known name.
pub const NAME: &str = "io.github.Impermctl1";
/// The object path.
pub const PATH: &str = "/io/github/Impermctl1";
/// The interface.
const INTERFACE: &str = "io.github.Impermctl1.Watcher";

struct Watcher {
    state: Arc<Mutex<WatchState>>,
}

impl Watcher {
    /// A field of the state (its default when the lock is poisoned).
    fn get<T: Default>(&self, field: impl FnOnce(&WatchState) -> T) -> T {
        self.state.lock().map(|s| field(&s)).unwrap_or_default()
    }
}

#[zbus::interface(name = "io.github.Impermctl1.Watcher")]
impl Watcher {
    /// `inotify` or `fanotify`.
    #[zbus(property(emits_changed_signal = "const"))]
    fn backend(&self) -> String {
        self.get(|s| s.backend.clone())
    }

    /// Directories watched (inotify; 0 for fanotify's filesystem mark).
    #[zbus(property(emits_changed_signal = "false"))]
    fn watched_directories(&self) -> u64 {
        self.get(|s| s.watched_directories)
    }

    /// When the watcher started (Unix seconds).
    #[zbus(property(emits_changed_signal = "const"))]
    fn since(&self) -> u64 {
        self.get(|s| s.since)
    }

    /// Why the watcher fell back (empty array when it did not): why
    /// fanotify was not used, or why its content events come from the
    /// filesystem mark (then set while it runs).
    #[zbus(property(emits_changed_signal = "false"))]
    fn fallback(&self) -> Option<String> {
        self.get(|s| s.fallback.clone())
    }

    /// The daemon's pid.
    #[zbus(property(emits_changed_signal = "const"))]
    fn pid(&self) -> u32 {
        self.get(|s| s.pid)
    }

    /// Queue overflows so far (each followed by a rescan).
    #[zbus(property(emits_changed_signal = "false"))]
    fn overflows(&self) -> u64 {
        self.get(|s| s.overflows)
    }

    /// Directories the inotify watch limit leaves unwatched (everything
    /// below them too; a periodic rescan covers them).
    #[zbus(property(emits_changed_signal = "false"))]
    fn unwatched_directories(&self) -> u64 {
        self.get(|s| s.unwatched_directories)
    }

    /// What is not watched and why (empty array: everything is).
    #[zbus(property(emits_changed_signal = "false"))]
    fn coverage(&self) -> Option<String> {
        self.get(|s| s.coverage.clone())
    }

    /// The unpersisted groups, biggest first.
    fn unpersisted(&self) -> Vec<GroupReport> {
        self.get(|s| s.groups.clone())
    }

    /// A group was written for the first time: its path, the written path,
    /// and the config line that persists it.
    #[zbus(signal)]
    async fn unpersisted_group(
        emitter: &SignalEmitter<'_>,
        group: &str,
        path: &str,
        suggest: &str,
    ) -> zbus::Result<()>;
}

/// The served connection.
#[derive(Debug, Clone)]
pub struct Service {
    conn: zbus::Connection,
}

/// Connect to the system bus, own the name and serve `state`. `None` (after
/// a log line) when there is no bus or the name cannot be had.
pub fn serve(state: Arc<Mutex<WatchState>>) -> Option<Service> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("dbus".into())
        .spawn(move || {
            zbus::block_on(async move {
                let built = zbus::connection::Builder::system()
                    .name(NAME)
                    .serve_at(PATH, Watcher { state })
                    .build()
                    .await;
                let ok = built.is_ok();
                let _ = tx.send(built);
                if ok {
                    std::future::pending::<()>().await;
                }
            })
        });
    if let Err(e) = spawned {
        tracing::warn!("D-Bus disabled: cannot start its thread: {e}");
        return None;
    }
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(conn)) => Some(Service { conn }),
        Ok(Err(e)) => {
            tracing::warn!("D-Bus disabled (still watching and logging; state in watch.json): {e}");
            None
        }
        Err(_) => {
            tracing::warn!("D-Bus disabled: the system bus did not answer within 10 s");
            None
        }
    }
}

impl Service {
    /// Emit `UnpersistedGroup` for a new group.
    pub fn signal(&self, g: &NewGroup) {
        let r = zbus::block_on(async {
            let e = SignalEmitter::new(&self.conn, PATH)?;
            Watcher::unpersisted_group(
                &e,
                &g.group.to_string_lossy(),
                &g.path.to_string_lossy(),
                &g.suggest,
            )
            .await
        });
        if let Err(e) = r {
            tracing::debug!("cannot emit UnpersistedGroup: {e}");
        }
    }
}

/// Ask the running daemon over the system bus. None when it is not there,
/// the policy refuses us, or it does not answer a call within
/// [`crate::services::dbus::CALL_TIMEOUT`] (a stopped or stuck watcher:
/// `status` then reads `watch.json`); why is said at debug level.
pub fn query() -> Option<WatchState> {
    let asked = zbus::block_on(async {
        let timeout = crate::services::dbus::CALL_TIMEOUT;
        let conn = crate::services::dbus::system_bus(timeout).await?;
        // Read once: no cache (its GetAll and match rule are calls too).
        let p: zbus::Proxy<'_> = zbus::proxy::Builder::new(&conn)
            .destination(NAME)
            .path(PATH)
            .interface(INTERFACE)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?;
        let rows: Vec<GroupReport> = p.call("Unpersisted", &()).await?;
        zbus::Result::Ok(WatchState {
            backend: p.get_property("Backend").await?,
            fallback: p.get_property("Fallback").await?,
            pid: p.get_property("Pid").await?,
            since: p.get_property("Since").await?,
            watched_directories: p.get_property("WatchedDirectories").await?,
            overflows: p.get_property("Overflows").await?,
            unwatched_directories: p.get_property("UnwatchedDirectories").await?,
            coverage: p.get_property("Coverage").await?,
            groups: rows.into_iter().map(GroupReport::exact).collect(),
        })
    });
    asked
        .inspect_err(|e| tracing::debug!("the watcher over D-Bus: {e}"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::attribution::Writer;
    use std::os::unix::ffi::OsStrExt;
    use zbus::wire::serialized::Context;
    use zbus::wire::{LE, to_bytes};
    use zbus::zvariant::Type;

    #[test]
    fn a_group_crosses_the_bus_whole_even_with_odd_names() {
        let g = GroupReport {
            path: std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b"/var/lib/d\xffmo")),
            path_hex: Some("2f7661722f6c69622f64ff6d6f".into()),
            kind: "directory".into(),
            suggest: "\"/var/lib/demo\"  # into environment.persistence.\"/persistent\".directories = [ … ]"
                .into(),
            files: 3,
            bytes: 42,
            first_seen: 1,
            last_seen: 2,
            writers: vec![
                Writer {
                    comm: "we (ird) (x".into(),
                    unit: Some("a.service".into()),
                },
                Writer {
                    comm: "plain".into(),
                    unit: None,
                },
            ],
            approximate: true,
            paths: vec!["/var/lib/demo/db".into()],
            dirs: 2,
        };
        assert_eq!(GroupReport::SIGNATURE.to_string(), "(ssstttta(sas)basast)");
        let wire = to_bytes(Context::new(LE, 0), &g).unwrap();
        let (back, _): (GroupReport, _) = wire.deserialize().unwrap();
        assert_eq!(back.exact(), g);
    }
}
