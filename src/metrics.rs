//! Counters and gauges, rendered in Prometheus text format on the admin listener.
//! Plain atomics: nothing on the hot path takes a lock to count.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use dashmap::DashMap;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A Prometheus histogram on atomics.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    fn render(&self, s: &mut String, name: &str, help: &str) {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += self.counts[i].load(Relaxed);
            let _ = writeln!(s, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        cum += self.counts[BUCKETS.len()].load(Relaxed);
        let _ = writeln!(s, "{name}_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(
            s,
            "{name}_sum {}\n{name}_count {cum}",
            self.sum_micros.load(Relaxed) as f64 / 1e6
        );
    }
}

#[derive(Default)]
pub struct Metrics {
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
    /// Connections closed by the gateway, by reason (see [`CLOSE_REASONS`]).
    closed: [AtomicU64; 4],
    /// Requests whose response body is still being sent.
    pub in_flight: AtomicI64,
    /// Responses by status class: index 1 = 1xx ... 5 = 5xx.
    responses: [AtomicU64; 6],
    pub rejected_total: AtomicU64,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub views_counted: AtomicU64,
    pub revocations: AtomicU64,
    /// Data-plane requests by route prefix and outcome code (`ok` when admitted).
    by_route: DashMap<Arc<str>, DashMap<&'static str, AtomicU64>>,
    pub latency: Histogram,
    pub store_commit_latency: Histogram,
    pub store_commits: AtomicU64,
    pub store_ops: AtomicU64,
}

/// Decrements the in-flight gauge when dropped.
pub struct InFlight(Arc<Metrics>);

impl InFlight {
    pub fn sent(&self, n: usize) {
        self.0.bytes_sent.fetch_add(n as u64, Relaxed);
    }
}

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

/// Why the gateway closes a connection: a deadline of `server::guard`, or the per-address cap.
pub const CLOSE_REASONS: [&str; 4] = [
    "header_read_timeout",
    "idle_timeout",
    "send_timeout",
    "max_connections_per_ip",
];

impl Metrics {
    /// Counts a connection the gateway closed for `reason` (one of [`CLOSE_REASONS`]).
    pub fn conn_closed(&self, reason: &str) {
        if let Some(i) = CLOSE_REASONS.iter().position(|r| *r == reason) {
            self.closed[i].fetch_add(1, Relaxed);
        }
    }

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

    /// Counts a finished request; allocates only the first time a (route, outcome) is seen.
    pub fn request_done(&self, route: &Arc<str>, outcome: &'static str, took: Duration) {
        self.latency.observe(took);
        if let Some(outcomes) = self.by_route.get(route.as_ref())
            && let Some(c) = outcomes.get(outcome)
        {
            c.fetch_add(1, Relaxed);
            return;
        }
        self.by_route
            .entry(route.clone())
            .or_default()
            .entry(outcome)
            .or_default()
            .fetch_add(1, Relaxed);
    }

    pub fn store_commit(&self, took: Duration, ops: usize) {
        self.store_commit_latency.observe(took);
        self.store_commits.fetch_add(1, Relaxed);
        self.store_ops.fetch_add(ops as u64, Relaxed);
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
        let _ = writeln!(
            s,
            "# HELP tollgate_connections_closed_total Connections the gateway closed, by reason.\n# TYPE tollgate_connections_closed_total counter"
        );
        for (reason, c) in CLOSE_REASONS.iter().zip(&self.closed) {
            let _ = writeln!(
                s,
                "tollgate_connections_closed_total{{reason=\"{reason}\"}} {}",
                c.load(Relaxed)
            );
        }
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
        let _ = writeln!(
            s,
            "# HELP tollgate_requests_total Data-plane requests by route and outcome.\n# TYPE tollgate_requests_total counter"
        );
        for r in self.by_route.iter() {
            for o in r.value().iter() {
                let _ = writeln!(
                    s,
                    "tollgate_requests_total{{route=\"{}\",outcome=\"{}\"}} {}",
                    r.key(),
                    o.key(),
                    o.value().load(Relaxed)
                );
            }
        }
        self.latency.render(
            &mut s,
            "tollgate_request_duration_seconds",
            "Time to the response head of data-plane requests.",
        );
        counter(
            &mut s,
            "tollgate_bytes_sent_total",
            "Response body bytes sent on the data plane.",
            self.bytes_sent.load(Relaxed),
        );
        counter(
            &mut s,
            "tollgate_views_counted_total",
            "Views counted against view-limited tokens.",
            self.views_counted.load(Relaxed),
        );
        counter(
            &mut s,
            "tollgate_revocations_total",
            "Revocations recorded through the API.",
            self.revocations.load(Relaxed),
        );
        self.store_commit_latency.render(
            &mut s,
            "tollgate_store_commit_seconds",
            "Duration of one durable state commit (a batch of operations).",
        );
        counter(
            &mut s,
            "tollgate_store_commits_total",
            "Durable state commits.",
            self.store_commits.load(Relaxed),
        );
        counter(
            &mut s,
            "tollgate_store_ops_total",
            "State operations committed (ops / commits = mean batch size).",
            self.store_ops.load(Relaxed),
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
