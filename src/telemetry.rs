//! Logging with `tracing`: human-readable lines by default, JSON lines on request.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Logs go to standard error, so standard output stays
/// free for command output (`authzd config`, client commands).
pub fn init(format: LogFormat, filter: &str) {
    // The filter was validated with the configuration; fall back to `info` regardless.
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // `try_init` fails only if a subscriber is already set (tests); keeping the first is right.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
