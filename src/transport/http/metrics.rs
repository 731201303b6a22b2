//! Prometheus metrics of the HTTP server, served on `GET /metrics` in the text exposition
//! format (version 0.0.4).
//!
//! Counters and the latency histogram live in one process-wide [`METRICS`] of plain
//! atomics, updated with relaxed adds: the request path takes no lock and allocates
//! nothing for them, and concurrent workers never wait on each other. Label values come
//! from fixed tables (transport, MCP method, outcome, rejection status), so the number of
//! series stays bounded whatever clients send; a method we do not know counts as `other`.
//! Gauges (connections, sessions, streams, queue) are read from the server's own state at
//! scrape time, and process metrics from `/proc` ([`super::process`]). Series that are
//! still zero are left out, as client libraries do for label sets not yet seen.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use super::ops::Gauges;
use super::process;
use super::sessions::Kind;

/// The process-wide metrics.
pub static METRICS: Metrics = Metrics::new();

/// `Content-Type` of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How a request reached the server: the `transport` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `/mcp`.
    StreamableHttp,
    /// `/sse` and `/messages`.
    Sse,
    /// The REST mirror and the connection API.
    Rest,
    /// `/health`, `/info`, `/metrics` and unknown paths.
    Ops,
}

const TRANSPORTS: [&str; 4] = ["streamable-http", "sse", "rest", "ops"];

impl Transport {
    /// The label value.
    pub fn label(self) -> &'static str {
        TRANSPORTS[self.index()]
    }

    fn index(self) -> usize {
        match self {
            Transport::StreamableHttp => 0,
            Transport::Sse => 1,
            Transport::Rest => 2,
            Transport::Ops => 3,
        }
    }
}

/// How a request ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with a result (or accepted: 202).
    Ok,
    /// The core answered with a JSON-RPC error.
    Error,
    /// Refused by the HTTP layer before or instead of the core (4xx, 5xx).
    Rejected,
}

const OUTCOMES: [&str; 3] = ["ok", "error", "rejected"];

/// MCP methods with a label value of their own; `other` for any other method name and
/// `none` for requests that carry none (operations endpoints, GET streams).
const METHODS: [&str; 18] = [
    "initialize",
    "ping",
    "notifications/initialized",
    "notifications/cancelled",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "subscriptions/listen",
    "response",
    "other",
    "none",
];
const METHOD_OTHER: usize = METHODS.len() - 2;
const METHOD_NONE: usize = METHODS.len() - 1;

/// Statuses counted by `mcp_http_rejected_requests_total`; anything else is `other`.
const REJECTED: [&str; 14] = [
    "400", "401", "403", "404", "405", "406", "408", "413", "415", "431", "500", "501", "503",
    "other",
];

/// Upper bounds of the latency buckets, in microseconds (0.5 ms to 10 s).
const BUCKETS_MICROS: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// A latency histogram: per-bucket counts (not cumulative), total and sum.
struct Histogram {
    buckets: [AtomicU64; BUCKETS_MICROS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS_MICROS.len()],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = BUCKETS_MICROS.iter().position(|&le| micros <= le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// Every counter and the instantaneous gauges the request path maintains.
pub struct Metrics {
    requests: [[[AtomicU64; OUTCOMES.len()]; METHODS.len()]; TRANSPORTS.len()],
    latency: [Histogram; TRANSPORTS.len()],
    rejected: [AtomicU64; REJECTED.len()],
    in_flight: AtomicI64,
    queued: AtomicI64,
    tls_handshake_failures: AtomicU64,
    expired: [AtomicU64; Kind::ALL.len()],
    sse_messages: AtomicU64,
    backends_opened: AtomicU64,
    backends_reused: AtomicU64,
    answers_queued: AtomicU64,
    answers_dropped: AtomicU64,
}

impl Metrics {
    const fn new() -> Metrics {
        Metrics {
            requests: [const { [const { [const { AtomicU64::new(0) }; OUTCOMES.len()] }; METHODS.len()] };
                TRANSPORTS.len()],
            latency: [const { Histogram::new() }; TRANSPORTS.len()],
            rejected: [const { AtomicU64::new(0) }; REJECTED.len()],
            in_flight: AtomicI64::new(0),
            queued: AtomicI64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
            expired: [const { AtomicU64::new(0) }; Kind::ALL.len()],
            sse_messages: AtomicU64::new(0),
            backends_opened: AtomicU64::new(0),
            backends_reused: AtomicU64::new(0),
            answers_queued: AtomicU64::new(0),
            answers_dropped: AtomicU64::new(0),
        }
    }

    /// A request was handed to the worker queue.
    pub fn queued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// The queue refused it after all (full).
    pub fn unqueued(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    /// A worker took a request off the queue.
    pub fn started(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A worker finished a request: counts it, its latency and any rejection.
    pub fn finished(
        &self,
        transport: Transport,
        method: Option<&str>,
        outcome: Outcome,
        status: u16,
        elapsed: Duration,
    ) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let outcome_index = match outcome {
            Outcome::Ok => 0,
            Outcome::Error => 1,
            Outcome::Rejected => 2,
        };
        self.requests[transport.index()][method_index(method)][outcome_index]
            .fetch_add(1, Ordering::Relaxed);
        self.latency[transport.index()].observe(elapsed);
        if outcome == Outcome::Rejected {
            self.rejected(status);
        }
    }

    /// A request refused with this status (also by the front, before any worker).
    pub fn rejected(&self, status: u16) {
        let label = status.to_string();
        let i = REJECTED
            .iter()
            .position(|s| *s == label)
            .unwrap_or(REJECTED.len() - 1);
        self.rejected[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn session_expired(&self, kind: Kind) {
        self.expired[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The front opened a private connection to tiny_http (connect and warm-up).
    pub fn backend_opened(&self) {
        self.backends_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// A new client connection took a parked private connection instead of opening one.
    pub fn backend_reused(&self) {
        self.backends_reused.fetch_add(1, Ordering::Relaxed);
    }

    /// A client did not take an answer at once: it went to a flusher thread (outbox.rs).
    pub fn answer_queued(&self) {
        self.answers_queued.fetch_add(1, Ordering::Relaxed);
    }

    /// Queued answers were given up (the client timed out, reset, or passed a cap).
    pub fn answer_dropped(&self) {
        self.answers_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// A message was queued for a legacy HTTP+SSE stream.
    pub fn sse_message(&self) {
        self.sse_messages.fetch_add(1, Ordering::Relaxed);
    }

    /// The whole exposition: counters, histograms, the given gauges, process metrics.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::with_capacity(8 * 1024);
        self.render_info(&mut out);
        self.render_requests(&mut out);
        self.render_latency(&mut out);
        self.render_gauges(&mut out, g);
        self.render_counters(&mut out);
        if let Some(p) = process::read() {
            process::render(&mut out, &p);
        }
        out
    }

    fn render_info(&self, out: &mut String) {
        family(
            out,
            "mcp_build_info",
            "gauge",
            "Build information; always 1.",
        );
        let _ = writeln!(
            out,
            "mcp_build_info{{name=\"{}\",version=\"{}\"}} 1",
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION")
        );
    }

    fn render_requests(&self, out: &mut String) {
        family(
            out,
            "mcp_http_requests_total",
            "counter",
            "HTTP requests answered by the workers, by transport, MCP method and outcome.",
        );
        for (t, transport) in TRANSPORTS.iter().enumerate() {
            for (m, method) in METHODS.iter().enumerate() {
                for (o, outcome) in OUTCOMES.iter().enumerate() {
                    let n = self.requests[t][m][o].load(Ordering::Relaxed);
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "mcp_http_requests_total{{transport=\"{transport}\",method=\"{method}\",outcome=\"{outcome}\"}} {n}"
                        );
                    }
                }
            }
        }
    }

    fn render_latency(&self, out: &mut String) {
        let name = "mcp_http_request_duration_seconds";
        family(
            out,
            name,
            "histogram",
            "Time from a worker taking a request to its response being written, by transport.",
        );
        for (t, transport) in TRANSPORTS.iter().enumerate() {
            let h = &self.latency[t];
            let count = h.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (i, le) in BUCKETS_MICROS.iter().enumerate() {
                cumulative += h.buckets[i].load(Ordering::Relaxed);
                let le = *le as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{transport=\"{transport}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "{name}_bucket{{transport=\"{transport}\",le=\"+Inf\"}} {count}\n\
                 {name}_sum{{transport=\"{transport}\"}} {sum}\n\
                 {name}_count{{transport=\"{transport}\"}} {count}"
            );
        }
    }

    fn render_gauges(&self, out: &mut String, g: &Gauges) {
        let in_flight = self.in_flight.load(Ordering::Relaxed).max(0);
        let queued = self.queued.load(Ordering::Relaxed).max(0);
        let gauges: [(&str, &str, String); 9] = [
            (
                "mcp_http_requests_in_flight",
                "Requests a worker is handling now.",
                in_flight.to_string(),
            ),
            (
                "mcp_http_queue_depth",
                "Requests waiting for a worker.",
                queued.to_string(),
            ),
            (
                "mcp_http_queue_capacity",
                "Requests the worker queue holds before answering 503.",
                g.queue_capacity.to_string(),
            ),
            (
                "mcp_http_workers",
                "Request worker threads running (started on demand).",
                g.workers.to_string(),
            ),
            (
                "mcp_http_workers_max",
                "Request worker threads the pool may grow to (--workers).",
                g.workers_max.to_string(),
            ),
            (
                "mcp_http_open_connections",
                "Open client TCP connections.",
                g.connections.to_string(),
            ),
            (
                "mcp_open_streams",
                "Open long-lived SSE streams.",
                g.streams.to_string(),
            ),
            (
                "mcp_rest_connections",
                "Live REST connections (POST /connect).",
                g.rest_connections.to_string(),
            ),
            (
                "mcp_uptime_seconds",
                "Seconds since the server started serving.",
                g.uptime_seconds.to_string(),
            ),
        ];
        for (name, help, value) in gauges {
            family(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
        family(
            out,
            "mcp_sessions",
            "gauge",
            "Live legacy MCP sessions, by transport.",
        );
        let _ = writeln!(
            out,
            "mcp_sessions{{transport=\"streamable-http\"}} {}\nmcp_sessions{{transport=\"sse\"}} {}",
            g.sessions, g.sse_sessions
        );
    }

    fn render_counters(&self, out: &mut String) {
        family(
            out,
            "mcp_http_rejected_requests_total",
            "counter",
            "Requests refused by the HTTP layer, by status (front and workers).",
        );
        for (i, reason) in REJECTED.iter().enumerate() {
            let n = self.rejected[i].load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "mcp_http_rejected_requests_total{{reason=\"{reason}\"}} {n}"
                );
            }
        }
        family(
            out,
            "mcp_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed (bad client hello, protocol or certificate alert).",
        );
        let _ = writeln!(
            out,
            "mcp_tls_handshake_failures_total {}",
            self.tls_handshake_failures.load(Ordering::Relaxed)
        );
        family(
            out,
            "mcp_sessions_expired_total",
            "counter",
            "Sessions and connections removed after --session-timeout without a request.",
        );
        for kind in Kind::ALL {
            let _ = writeln!(
                out,
                "mcp_sessions_expired_total{{kind=\"{}\"}} {}",
                kind.as_str(),
                self.expired[kind.index()].load(Ordering::Relaxed)
            );
        }
        family(
            out,
            "mcp_sse_messages_total",
            "counter",
            "JSON-RPC messages queued for legacy HTTP+SSE streams.",
        );
        let _ = writeln!(
            out,
            "mcp_sse_messages_total {}",
            self.sse_messages.load(Ordering::Relaxed)
        );
        counters(
            out,
            "mcp_front_backend_connections_total",
            "Client connections by how the front got their private connection to the request \
             queue: opened new, or reused one a closed client connection left clean.",
            "how",
            [
                ("opened", &self.backends_opened),
                ("reused", &self.backends_reused),
            ],
        );
        counters(
            out,
            "mcp_http_stalled_answers_total",
            "Answers a client did not read at once, by what became of them: queued for a \
             flusher thread (the worker went on), or dropped with the connection.",
            "outcome",
            [
                ("queued", &self.answers_queued),
                ("dropped", &self.answers_dropped),
            ],
        );
        family(
            out,
            "mcp_http_unsent_bytes",
            "gauge",
            "Answer bytes queued for clients that are not reading.",
        );
        let _ = writeln!(
            out,
            "mcp_http_unsent_bytes {}",
            super::outbox::queued_total()
        );
    }
}

/// A counter family with one label, one series per value.
fn counters<const N: usize>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    series: [(&str, &AtomicU64); N],
) {
    family(out, name, "counter", help);
    for (value, n) in series {
        let _ = writeln!(
            out,
            "{name}{{{label}=\"{value}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
}

/// `# HELP` and `# TYPE` of a family.
pub(super) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn method_index(method: Option<&str>) -> usize {
    match method {
        None => METHOD_NONE,
        Some(m) => METHODS[..METHOD_OTHER]
            .iter()
            .position(|known| *known == m)
            .unwrap_or(METHOD_OTHER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauges() -> Gauges {
        Gauges {
            uptime_seconds: 5,
            sessions: 2,
            sse_sessions: 1,
            rest_connections: 3,
            streams: 1,
            connections: 4,
            busy: 0,
            tls: false,
            workers: 2,
            workers_max: 8,
            queue_capacity: 256,
            transport: "http-stream",
        }
    }

    #[test]
    fn counts_land_in_bounded_series() {
        let m = Metrics::new();
        m.queued();
        m.started();
        m.finished(
            Transport::StreamableHttp,
            Some("tools/list"),
            Outcome::Ok,
            200,
            Duration::from_micros(700),
        );
        m.queued();
        m.started();
        m.finished(
            Transport::Rest,
            Some("x/made-up"),
            Outcome::Rejected,
            413,
            Duration::from_secs(60),
        );
        m.rejected(418);
        let text = m.render(&gauges());
        for line in [
            "mcp_http_requests_total{transport=\"streamable-http\",method=\"tools/list\",outcome=\"ok\"} 1",
            "mcp_http_requests_total{transport=\"rest\",method=\"other\",outcome=\"rejected\"} 1",
            "mcp_http_request_duration_seconds_bucket{transport=\"streamable-http\",le=\"0.0005\"} 0",
            "mcp_http_request_duration_seconds_bucket{transport=\"streamable-http\",le=\"0.001\"} 1",
            "mcp_http_request_duration_seconds_bucket{transport=\"rest\",le=\"10\"} 0",
            "mcp_http_request_duration_seconds_bucket{transport=\"rest\",le=\"+Inf\"} 1",
            "mcp_http_request_duration_seconds_count{transport=\"rest\"} 1",
            "mcp_http_rejected_requests_total{reason=\"413\"} 1",
            "mcp_http_rejected_requests_total{reason=\"other\"} 1",
            "mcp_http_requests_in_flight 0",
            "mcp_http_queue_depth 0",
            "mcp_sessions{transport=\"sse\"} 1",
            "mcp_rest_connections 3",
            "# TYPE mcp_http_request_duration_seconds histogram",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("transport=\"ops\""), "zero series left out");
    }

    /// What the metrics add to one request, and what a scrape costs with every series
    /// populated (documentation for BENCHMARKS.md, not a check). Run it optimized:
    /// `cargo test --release --lib metrics_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    #[allow(clippy::print_stderr)]
    fn metrics_cost() {
        use std::time::Instant;
        let m = Metrics::new();
        let one_request = |m: &Metrics| {
            m.queued();
            m.started();
            m.finished(
                Transport::StreamableHttp,
                Some("tools/list"),
                Outcome::Ok,
                200,
                Duration::from_micros(180),
            );
        };
        const N: u32 = 5_000_000;
        let t0 = Instant::now();
        for _ in 0..N {
            one_request(std::hint::black_box(&m));
        }
        let single = t0.elapsed() / N;
        let t0 = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| (0..N / 2).for_each(|_| one_request(std::hint::black_box(&m))));
            }
        });
        let contended = t0.elapsed() / N;
        for (t, _) in TRANSPORTS.iter().enumerate() {
            for (i, method) in METHODS.iter().enumerate() {
                for outcome in [Outcome::Ok, Outcome::Error, Outcome::Rejected] {
                    let transport = [
                        Transport::StreamableHttp,
                        Transport::Sse,
                        Transport::Rest,
                        Transport::Ops,
                    ][t];
                    m.queued();
                    m.started();
                    let micros = 100 * (i as u64 + 1);
                    m.finished(
                        transport,
                        Some(method),
                        outcome,
                        503,
                        Duration::from_micros(micros),
                    );
                }
            }
        }
        let g = gauges();
        const SCRAPES: u32 = 2_000;
        let t0 = Instant::now();
        let mut bytes = 0;
        for _ in 0..SCRAPES {
            bytes = m.render(std::hint::black_box(&g)).len();
        }
        let scrape = t0.elapsed() / SCRAPES;
        eprintln!(
            "| metrics per request, one thread | {} ns |",
            single.as_nanos()
        );
        eprintln!(
            "| metrics per request, two threads on one series | {} ns |",
            contended.as_nanos()
        );
        eprintln!(
            "| full scrape (every series, /proc included): {bytes} bytes | {} us |",
            scrape.as_micros()
        );
    }

    #[test]
    fn every_line_is_a_comment_or_a_sample() {
        let text = Metrics::new().render(&gauges());
        for line in text.lines() {
            let sample = line
                .rsplit_once(' ')
                .is_some_and(|(_, v)| v.parse::<f64>().is_ok());
            assert!(
                line.starts_with("# HELP ") || line.starts_with("# TYPE ") || sample,
                "{line}"
            );
        }
    }
}
