//! Counters and gauges, rendered in Prometheus text format on the admin listener.
//! Plain atomics: nothing on the hot path takes a lock to count.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Metrics {
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
    /// Requests whose response body is still being sent.
    pub in_flight: AtomicI64,
    /// Responses by status class: index 1 = 1xx ... 5 = 5xx.
    responses: [AtomicU64; 6],
    pub rejected_total: AtomicU64,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
}

/// Decrements the in-flight gauge when dropped.
pub struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// Decrements the open-connections gauge when dropped.
pub struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }

    pub fn connection_opened(self: &Arc<Self>) -> OpenConnection {
        self.connections_open.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
        OpenConnection(self.clone())
    }

    pub fn response(&self, status: u16) {
        let class = (status / 100).min(5) as usize;
        self.responses[class].fetch_add(1, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut s = String::with_capacity(1024);
        let gauge = |s: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |s: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        gauge(
            &mut s,
            "tollgate_connections_open",
            "Data-plane connections currently open.",
            self.connections_open.load(Relaxed),
        );
        counter(
            &mut s,
            "tollgate_connections_total",
            "Data-plane connections accepted.",
            self.connections_total.load(Relaxed),
        );
        counter(
            &mut s,
            "tollgate_tls_handshake_failures_total",
            "TLS handshakes that failed or timed out.",
            self.tls_handshake_failures.load(Relaxed),
        );
        gauge(
            &mut s,
            "tollgate_requests_in_flight",
            "Requests whose response is still being sent.",
            self.in_flight.load(Relaxed),
        );
        let _ = writeln!(
            s,
            "# HELP tollgate_responses_total Responses by status class.\n# TYPE tollgate_responses_total counter"
        );
        for (i, c) in self.responses.iter().enumerate().skip(1) {
            let _ = writeln!(
                s,
                "tollgate_responses_total{{class=\"{i}xx\"}} {}",
                c.load(Relaxed)
            );
        }
        counter(
            &mut s,
            "tollgate_rejected_total",
            "Requests refused by a filter or by path checks.",
            self.rejected_total.load(Relaxed),
        );
        counter(
            &mut s,
            "tollgate_reloads_total",
            "Config reloads that took effect.",
            self.reloads_ok.load(Relaxed),
        );
        counter(
            &mut s,
            "tollgate_reload_failures_total",
            "Config reloads refused (the old config stays).",
            self.reloads_failed.load(Relaxed),
        );
        s
    }
}
