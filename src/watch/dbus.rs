//! D-Bus: `io.github.Impermctl1` on the system bus, served from a dedicated
//! thread inside `zbus::block_on`; the client side used by `impermctl status`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use zbus::object_server::SignalEmitter;

use super::core::NewGroup;
use super::groups::Writer;
use super::report::{GroupReport, WatchState};

/// The well-known name.
pub const NAME: &str = "io.github.Impermctl1";
/// The object path.
pub const PATH: &str = "/io/github/Impermctl1";

/// One row of `Unpersisted()`: group, files, bytes, first seen and last
/// seen (Unix seconds), writers (`comm` or `comm (unit)`).
pub type Row = (String, u64, u64, u64, u64, Vec<String>);

struct Watcher {
    state: Arc<Mutex<WatchState>>,
}

#[zbus::interface(name = "io.github.Impermctl1.Watcher")]
impl Watcher {
    /// `inotify` or `fanotify`.
    #[zbus(property(emits_changed_signal = "const"))]
    fn backend(&self) -> String {
        self.state
            .lock()
            .map(|s| s.backend.clone())
            .unwrap_or_default()
    }

    /// Directories watched (inotify; 0 for fanotify's filesystem mark).
    #[zbus(property(emits_changed_signal = "false"))]
    fn watched_directories(&self) -> u64 {
        self.state
            .lock()
            .map(|s| s.watched_directories)
            .unwrap_or_default()
    }

    /// When the watcher started (Unix seconds).
    #[zbus(property(emits_changed_signal = "const"))]
    fn since(&self) -> u64 {
        self.state.lock().map(|s| s.since).unwrap_or_default()
    }

    /// The unpersisted groups, biggest first.
    fn unpersisted(&self) -> Vec<Row> {
        let Ok(s) = self.state.lock() else {
            return Vec::new();
        };
        s.groups
            .iter()
            .map(|g| {
                let writers = g
                    .writers
                    .iter()
                    .map(|w| match &w.unit {
                        Some(u) => format!("{} ({u})", w.comm),
                        None => w.comm.clone(),
                    })
                    .collect();
                let path = g.path.to_string_lossy().into_owned();
                (path, g.files, g.bytes, g.first_seen, g.last_seen, writers)
            })
            .collect()
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

#[zbus::proxy(
    interface = "io.github.Impermctl1.Watcher",
    default_service = "io.github.Impermctl1",
    default_path = "/io/github/Impermctl1"
)]
trait WatcherClient {
    fn unpersisted(&self) -> zbus::Result<Vec<Row>>;
    #[zbus(property)]
    fn backend(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn watched_directories(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn since(&self) -> zbus::Result<u64>;
}

/// Ask the running daemon over the system bus (None when it does not answer
/// or the policy refuses us).
pub fn query() -> Option<WatchState> {
    zbus::block_on(async {
        let conn = zbus::Connection::system().await.ok()?;
        let p = WatcherClientProxy::new(&conn).await.ok()?;
        let rows = p.unpersisted().await.ok()?;
        let groups = rows
            .into_iter()
            .map(
                |(path, files, bytes, first_seen, last_seen, writers)| GroupReport {
                    suggest: String::new(),
                    kind: String::new(),
                    path: path.into(),
                    path_hex: None,
                    files,
                    bytes,
                    first_seen,
                    last_seen,
                    writers: writers
                        .into_iter()
                        .map(|w| match w.split_once(" (") {
                            Some((c, u)) => Writer {
                                comm: c.into(),
                                unit: Some(u.trim_end_matches(')').into()),
                            },
                            None => Writer {
                                comm: w,
                                unit: None,
                            },
                        })
                        .collect(),
                    approximate: false,
                    paths: Vec::new(),
                },
            )
            .collect();
        Some(WatchState {
            backend: p.backend().await.ok()?,
            fallback: None,
            pid: 0,
            since: p.since().await.ok()?,
            watched_directories: p.watched_directories().await.ok()?,
            overflows: 0,
            unwatched_directories: 0,
            coverage: None,
            groups,
        })
    })
}
