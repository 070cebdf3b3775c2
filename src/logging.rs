//! Logging: structured journald fields when the journal socket exists,
//! plain stderr otherwise (no timestamps: journald or the terminal adds them).

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::prelude::*;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// The systemd journal (native protocol, custom fields without prefix).
    Journal,
    /// Standard error.
    Stderr,
}

/// Install the global subscriber. `verbose` raises the level (0 = INFO).
/// Journald is used when running under systemd (`INVOCATION_ID` or
/// `JOURNAL_STREAM` set) and its socket answers; `IMPERMCTL_LOG=stderr`
/// forces stderr.
pub fn init(verbose: u8) -> Sink {
    let level = match verbose {
        0 => LevelFilter::INFO,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let want_journal = std::env::var_os("IMPERMCTL_LOG").is_none_or(|v| v != "stderr")
        && (std::env::var_os("INVOCATION_ID").is_some()
            || std::env::var_os("JOURNAL_STREAM").is_some()
            || std::env::var_os("IMPERMCTL_LOG").is_some_and(|v| v == "journal"));
    let journald = want_journal
        .then(|| tracing_journald::layer().ok())
        .flatten()
        .map(|l| {
            l.with_syslog_identifier("impermctl".into())
                .with_field_prefix(None)
        });
    let sink = if journald.is_some() {
        Sink::Journal
    } else {
        Sink::Stderr
    };
    // On a terminal only the message is printed: the structured fields
    // (`bound=4 … duration_ms=1.3`, `MESSAGE_ID=…`, `IMPERMCTL_PATH=…`) are
    // for the journal, which keeps them, and for log files and pipes.
    let terminal = std::io::stderr().is_terminal();
    let fmt = journald.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .without_time()
            .with_target(false)
            .fmt_fields(fields(terminal))
    });
    let _ = tracing_subscriber::registry()
        .with(level)
        .with(journald)
        .with(fmt)
        .try_init();
    sink
}

/// The message, then ` key=value` for each other field unless `terminal`.
fn fields(terminal: bool) -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    tracing_subscriber::fmt::format::debug_fn(move |w, field, value| {
        if field.name() == "message" {
            write!(w, "{value:?}")
        } else if terminal {
            Ok(())
        } else {
            write!(w, " {}={value:?}", field.name())
        }
    })
}
