//! Logging setup: human-readable lines on stderr, filtered by `TOLLGATE_LOG` (or `RUST_LOG`),
//! `info` by default. Nothing secret is ever a field: keys are [`crate::config::Secret`]s, the
//! access log carries token ids, never tokens or query strings.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = std::env::var("TOLLGATE_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// A fresh id that ties an error response to its log line.
pub fn reference_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}
