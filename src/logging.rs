//! Logging: structured journald fields when the journal socket exists,
//! plain stderr otherwise (no timestamps: journald or the terminal adds them).
//!
//! In the journal every field of ours is namespaced: `path = …` becomes
//! `IMPERMCTL_PATH=`, `IMPERMCTL_GROUP` stays as it is; only `message`
//! (`MESSAGE=`), `MESSAGE_ID` and `priority` (a syslog level name that
//! overrides the level's `PRIORITY=`, e.g. `priority = "crit"`) are the
//! journal's own.

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::sys::journal::{Journal, field_name};

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// The systemd journal (native protocol, our fields prefixed `IMPERMCTL_`).
    Journal,
    /// Standard error.
    Stderr,
}

/// The journal's MESSAGE_ID of a boot refusal (explained in
/// `systemd/impermctl.catalog`).
pub const BOOT_REFUSED: &str = "7453d25c65914aa987070e3c0f6c3aa4";

/// Log a refusal at CRIT (`PRIORITY=2`, [`BOOT_REFUSED`], the check in
/// `IMPERMCTL_CHECK`). In the journal it is also printed on a terminal or
/// log file (activation, switch-to-configuration), unless stderr itself is
/// connected to the journal.
pub fn crit(check: &str, msg: &str) {
    tracing::error!(
        MESSAGE_ID = BOOT_REFUSED,
        IMPERMCTL_CHECK = check,
        priority = "crit",
        "{msg}"
    );
    if sink() == Sink::Journal && std::env::var_os("JOURNAL_STREAM").is_none() {
        eprintln!("impermctl: CRIT: {msg}");
    }
}

static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();

/// Where [`init`] sent the log (stderr before it ran).
pub fn sink() -> Sink {
    SINK.get().copied().unwrap_or(Sink::Stderr)
}

/// Install the global subscriber. `verbose` raises the level (0 = INFO).
/// Journald is used when running under systemd (`INVOCATION_ID` or
/// `JOURNAL_STREAM` set) and its socket answers; `IMPERMCTL_LOG=stderr`
/// forces stderr.
pub fn init(verbose: u8) -> Sink {
    let level =
        [LevelFilter::INFO, LevelFilter::DEBUG, LevelFilter::TRACE][verbose.min(2) as usize];
    let want_journal = std::env::var_os("IMPERMCTL_LOG").is_none_or(|v| v != "stderr")
        && (std::env::var_os("INVOCATION_ID").is_some()
            || std::env::var_os("JOURNAL_STREAM").is_some()
            || std::env::var_os("IMPERMCTL_LOG").is_some_and(|v| v == "journal"));
    let journald = want_journal
        .then(|| Journal::connect().ok())
        .flatten()
        .map(JournalLayer);
    let sink = match journald {
        Some(_) => Sink::Journal,
        None => Sink::Stderr,
    };
    let _ = SINK.set(sink);
    // Only the message is printed: the structured fields (`bound=4 …
    // duration_ms=1.3`, `MESSAGE_ID=…`, `IMPERMCTL_PATH=…`) are for the
    // journal, which keeps them (`IMPERMCTL_`-prefixed).
    let fmt = journald.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .without_time()
            .with_target(false)
            .fmt_fields(fields())
    });
    let _ = tracing_subscriber::registry()
        .with(level)
        .with(journald)
        .with(fmt)
        .try_init();
    sink
}

/// The message only, as one line of printable text (`names::printable`:
/// a name quoted in it cannot rewrite the terminal or forge a line).
fn fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    tracing_subscriber::fmt::format::debug_fn(move |w, field, value| {
        if field.name() == "message" {
            write!(w, "{}", crate::names::printable(&format!("{value:?}")))
        } else {
            Ok(())
        }
    })
}

/// Sends every event to the journal with namespaced fields (see the module).
struct JournalLayer(Journal);

/// The journal fields of one event.
#[derive(Default)]
struct Fields {
    list: Vec<(String, String)>,
    priority: Option<u8>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field.name(), &format!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, name: &str, value: &str) {
        let field = match name {
            // One line of printable text; the path fields keep the bytes.
            "message" => ("MESSAGE".to_string(), crate::names::printable(value)),
            "MESSAGE_ID" => (name.to_string(), value.to_string()),
            "priority" => return self.priority = syslog_priority(value),
            _ => (field_name("IMPERMCTL_", name), value.to_string()),
        };
        self.list.push(field);
    }
}

/// A syslog level name (`crit`, `err`, …) as its number.
fn syslog_priority(name: &str) -> Option<u8> {
    let names = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    names.iter().position(|n| *n == name).map(|p| p as u8)
}

impl<S: Subscriber> Layer<S> for JournalLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let meta = event.metadata();
        let level = match *meta.level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            _ => 7,
        };
        let priority = f.priority.unwrap_or(level).to_string();
        let line = meta.line().map(|l| l.to_string());
        let mut fields: Vec<(&str, &[u8])> = vec![
            ("PRIORITY", priority.as_bytes()),
            ("SYSLOG_IDENTIFIER", b"impermctl"),
        ];
        if let (Some(file), Some(line)) = (meta.file(), &line) {
            fields.push(("CODE_FILE", file.as_bytes()));
            fields.push(("CODE_LINE", line.as_bytes()));
        }
        fields.extend(f.list.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
        let _ = self.0.send(&fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_namespaced() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("socket");
        let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let layer = JournalLayer(Journal::connect_to(&path).unwrap());
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, || {
            tracing::error!(
                path = "/var/log",
                bound = 4u64,
                duration_ms = 1.5,
                MESSAGE_ID = "7453d25c65914aa987070e3c0f6c3aa4",
                IMPERMCTL_GROUP = "/var",
                priority = "crit",
                "refusing"
            );
        });
        let mut buf = vec![0u8; 4096];
        let n = server.recv(&mut buf).unwrap();
        let mut got = Vec::new();
        let mut d = &buf[..n];
        while let Some(nl) = d.iter().position(|&b| b == b'\n') {
            let name = String::from_utf8_lossy(&d[..nl]).into_owned();
            let len = u64::from_le_bytes(d[nl + 1..nl + 9].try_into().unwrap()) as usize;
            let value = String::from_utf8_lossy(&d[nl + 9..nl + 9 + len]).into_owned();
            got.push(format!("{name}={value}"));
            d = &d[nl + 10 + len..];
        }
        for want in [
            "PRIORITY=2",
            "SYSLOG_IDENTIFIER=impermctl",
            "MESSAGE=refusing",
            "MESSAGE_ID=7453d25c65914aa987070e3c0f6c3aa4",
            "IMPERMCTL_PATH=/var/log",
            "IMPERMCTL_BOUND=4",
            "IMPERMCTL_DURATION_MS=1.5",
            "IMPERMCTL_GROUP=/var",
        ] {
            assert!(got.iter().any(|g| g == want), "{want} in {got:?}");
        }
        let bare = [
            "PATH=",
            "BOUND=",
            "DURATION_MS=",
            "TARGET=",
            "IMPERMCTL_PRIORITY=",
        ];
        assert!(
            !got.iter().any(|g| bare.iter().any(|b| g.starts_with(b))),
            "{got:?}"
        );
    }

    /// Every MESSAGE_ID we log is explained in the catalog, and the catalog
    /// explains no other.
    #[test]
    fn every_message_id_has_a_catalog_entry() {
        use crate::watch::journal as w;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/impermctl.catalog");
        let text = std::fs::read_to_string(path).unwrap();
        let mut listed: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("-- ")).collect();
        let mut ours = vec![
            w::UNPERSISTED_WRITE,
            w::SUPPRESSED,
            w::DISCARD_SUMMARY,
            w::OVERFLOW,
            w::STARTED,
            BOOT_REFUSED,
        ];
        listed.sort();
        ours.sort();
        assert_eq!(listed, ours);
    }
}
