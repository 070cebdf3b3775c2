//! systemd's view of its services over D-Bus (`org.freedesktop.systemd1`):
//! running and enabled services and their `StateDirectory=`,
//! `CacheDirectory=`, `LogsDirectory=`, `DynamicUser=`.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use zbus::OwnedObjectPath;

use super::UnitDirs;

type UnitRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn list_units(&self) -> zbus::Result<Vec<UnitRow>>;
    fn list_unit_files_by_patterns(
        &self,
        states: &[&str],
        patterns: &[&str],
    ) -> zbus::Result<Vec<(String, String)>>;
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1"
)]
trait Service {
    #[zbus(property)]
    fn state_directory(&self) -> zbus::Result<Vec<String>>;
    #[zbus(property)]
    fn cache_directory(&self) -> zbus::Result<Vec<String>>;
    #[zbus(property)]
    fn logs_directory(&self) -> zbus::Result<Vec<String>>;
    #[zbus(property)]
    fn dynamic_user(&self) -> zbus::Result<bool>;
}

/// How long a D-Bus method call (a property read too) waits for its reply
/// before it fails: `status` and `verify` answer even when the peer hangs
/// (trial-s10 F17: a stopped watcher left `status` waiting forever). The
/// peers answer from memory; at load 15 a reply takes well under a second.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A client connection to the system bus on which every method call fails
/// with `zbus::Error::InputOutput` (`TimedOut`) after `timeout` without a
/// reply (zbus' `connection::Builder::method_timeout`). Every D-Bus client
/// of impermctl connects through it.
pub async fn system_bus(timeout: Duration) -> zbus::Result<zbus::Connection> {
    zbus::connection::Builder::system()
        .method_timeout(timeout)
        .build()
        .await
}

/// Did `e` come from a call that got no reply in time ([`system_bus`])?
fn timed_out(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::InputOutput(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

/// Services that run or are enabled, with their directories. An error when
/// systemd does not answer a call within [`CALL_TIMEOUT`].
pub fn units() -> anyhow::Result<Vec<UnitDirs>> {
    zbus::block_on(async {
        let conn = system_bus(CALL_TIMEOUT)
            .await
            .context("cannot connect to the system bus")?;
        let m = ManagerProxy::new(&conn)
            .await
            .context("cannot reach systemd over D-Bus")?;
        let units = m.list_units().await.context("ListUnits")?;
        let active = |r: &UnitRow| matches!(r.3.as_str(), "active" | "activating" | "reloading");
        let mut names: BTreeSet<String> = units
            .into_iter()
            .filter(|r| r.0.ends_with(".service") && active(r))
            .map(|r| r.0)
            .collect();
        // Enabled services (not templates), by the name of their unit file.
        let files = m.list_unit_files_by_patterns(&["enabled"], &["*.service"]);
        let files = files.await.unwrap_or_default();
        let files = files.iter().filter_map(|(path, _)| path.rsplit('/').next());
        names.extend(files.filter(|n| !n.contains("@.")).map(str::to_owned));
        let mut out = Vec::new();
        for name in names {
            let path = match m.load_unit(&name).await {
                Ok(path) => path,
                // A hung systemd: give up at once, not once per unit.
                Err(e) if timed_out(&e) => return Err(e).context("LoadUnit"),
                Err(_) => continue,
            };
            let s = ServiceProxy::builder(&conn).path(path).build().await?;
            let u = UnitDirs {
                state: s.state_directory().await.unwrap_or_default(),
                cache: s.cache_directory().await.unwrap_or_default(),
                logs: s.logs_directory().await.unwrap_or_default(),
                dynamic_user: s.dynamic_user().await.unwrap_or(false),
                unit: name,
            };
            if !(u.state.is_empty() && u.cache.is_empty() && u.logs.is_empty()) {
                out.push(u);
            }
        }
        Ok(out)
    })
}
