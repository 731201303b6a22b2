//! `GET /metrics` through the real binary: every family, each checked by scraping, acting
//! and scraping again; rejections from the workers and from the front; TLS handshake
//! failures; process metrics from /proc.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::http_client::{modern, raw_mcp, raw_request, with_json, HttpServer, JSON_POST};
use crate::ops_support::{call, post_json, scrape, server, tls_connect, wait_until, Scrape};
use crate::support::{initialize, TempDir};

const TOOLS_LIST_OK: &str =
    "mcp_http_requests_total{transport=\"streamable-http\",method=\"tools/list\",outcome=\"ok\"}";

fn rejected(reason: &str) -> String {
    format!("mcp_http_rejected_requests_total{{reason=\"{reason}\"}}")
}

fn requests(transport: &str, method: &str, outcome: &str) -> String {
    format!(
        "mcp_http_requests_total{{transport=\"{transport}\",method=\"{method}\",outcome=\"{outcome}\"}}"
    )
}

fn tools_list(s: &HttpServer) {
    let (body, headers) = modern(1, "tools/list", Value::Null);
    assert_eq!(s.post(&with_json(&headers), &body).status, 200);
}

#[test]
fn request_counters_and_latency_histogram() {
    let (_dir, s) = server("ops-met-req", &[]);
    let before = scrape(&s);
    for _ in 0..3 {
        tools_list(&s);
    }
    // A JSON-RPC error from the core: outcome "error", not a rejection.
    let (body, headers) = modern(2, "tools/call", json!({"name": "nope", "arguments": {}}));
    s.post(&with_json(&headers), &body);
    // An unknown method name is counted as "other": labels stay bounded.
    let (body, headers) = modern(3, "x/unheard-of", Value::Null);
    assert_eq!(s.post(&with_json(&headers), &body).status, 404);
    post_json(&s, "/tools/spec_status", &[], &json!({}));
    call(&s, "GET", "/nowhere", &[], None);
    let after = scrape(&s);
    assert_eq!(after.delta(&before, TOOLS_LIST_OK), 3.0);
    assert_eq!(
        after.delta(&before, &requests("streamable-http", "tools/call", "error")),
        1.0
    );
    assert_eq!(
        after.delta(&before, &requests("streamable-http", "other", "error")),
        1.0
    );
    assert_eq!(
        after.delta(&before, &requests("rest", "tools/call", "ok")),
        1.0
    );
    assert_eq!(
        after.delta(&before, &requests("ops", "none", "rejected")),
        1.0
    );
    assert_eq!(after.delta(&before, &rejected("404")), 1.0, "/nowhere");
    // The scrape itself is an ops request: 1 before, counted by the second scrape.
    assert_eq!(after.delta(&before, &requests("ops", "none", "ok")), 1.0);
    let count = "mcp_http_request_duration_seconds_count{transport=\"streamable-http\"}";
    assert_eq!(after.delta(&before, count), 5.0);
    let inf = "mcp_http_request_duration_seconds_bucket{transport=\"streamable-http\",le=\"+Inf\"}";
    assert_eq!(after.get(inf), after.get(count));
    let slow = "mcp_http_request_duration_seconds_bucket{transport=\"streamable-http\",le=\"10\"}";
    assert!(
        after.get(slow) >= after.get(count) - 0.0,
        "every request under 10 s"
    );
    assert!(
        after.get("mcp_http_request_duration_seconds_sum{transport=\"streamable-http\"}") > 0.0
    );
    assert_eq!(
        after.get("mcp_http_requests_in_flight"),
        1.0,
        "the scrape itself"
    );
    assert_eq!(after.get("mcp_http_queue_depth"), 0.0);
    assert!(after.get("mcp_http_queue_capacity") >= after.get("mcp_http_workers"));
    assert_eq!(
        after.get("mcp_build_info{name=\"mcp-server-spec\",version=\"0.1.0\"}"),
        1.0
    );
}

#[test]
fn gauges_follow_connections_sessions_and_streams() {
    let (_dir, s) = server("ops-met-gauges", &[]);
    let before = scrape(&s);
    assert_eq!(before.get("mcp_open_streams"), 0.0);
    let r = s.post(&JSON_POST, &initialize(1, "2025-11-25"));
    let session = r.header("Mcp-Session-Id").expect("session").to_string();
    let connection = post_json(&s, "/connect", &[], &json!({})).json()["connection_id"]
        .as_str()
        .expect("id")
        .to_string();
    let idle = s.connect(); // an open TCP connection with nothing in flight
    let mut stream = s.connect();
    stream.send(&raw_request(
        "GET",
        "/mcp",
        s.port,
        &[
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", &session),
            ("MCP-Protocol-Version", "2025-11-25"),
        ],
        None,
    ));
    stream.stream_until("stream open");
    let during = scrape(&s);
    assert_eq!(
        during.get("mcp_sessions{transport=\"streamable-http\"}"),
        1.0
    );
    assert_eq!(during.get("mcp_rest_connections"), 1.0);
    assert_eq!(during.get("mcp_open_streams"), 1.0);
    assert!(
        during.get("mcp_http_open_connections") >= 3.0,
        "idle, stream, scrape"
    );
    drop(idle);
    stream.shutdown();
    call(
        &s,
        "DELETE",
        &format!("/disconnect/{connection}"),
        &[],
        None,
    );
    let with_session = [("Mcp-Session-Id", session.as_str())];
    assert_eq!(call(&s, "DELETE", "/mcp", &with_session, None).status, 204);
    wait_until("the stream to close", || {
        scrape(&s).get("mcp_open_streams") == 0.0
    });
    let after = scrape(&s);
    assert_eq!(
        after.get("mcp_sessions{transport=\"streamable-http\"}"),
        0.0
    );
    assert_eq!(after.get("mcp_rest_connections"), 0.0);
    assert!(after.get("mcp_uptime_seconds") >= 0.0);
}

#[test]
fn rejections_by_reason_from_workers_and_front() {
    let (_dir, s) = server(
        "ops-met-rej",
        &["--max-body-bytes", "1KiB", "--max-streams", "1"],
    );
    let before = scrape(&s);
    // 415 and 406 from the workers.
    let r = call(
        &s,
        "POST",
        "/mcp",
        &[("Content-Type", "text/plain")],
        Some("{}"),
    );
    assert_eq!(r.status, 415);
    let accept_xml = [("Content-Type", "application/json"), ("Accept", "text/xml")];
    assert_eq!(
        call(&s, "POST", "/mcp", &accept_xml, Some("{}")).status,
        406
    );
    // 403: a foreign Origin.
    assert_eq!(
        call(
            &s,
            "GET",
            "/info",
            &[("Origin", "https://evil.example")],
            None
        )
        .status,
        403
    );
    // 413 from the front, before any worker sees the request.
    let big = "x".repeat(4096);
    assert_eq!(call(&s, "POST", "/mcp", &JSON_POST, Some(&big)).status, 413);
    // 503: the second long-lived stream over --max-streams 1.
    let (body, headers) = modern(1, "subscriptions/listen", json!({"notifications": {}}));
    let mut first = s.connect();
    first.send(&raw_mcp(s.port, &body, &headers));
    first.stream_until("notifications/subscriptions/acknowledged");
    assert_eq!(
        call(&s, "GET", "/sse", &[("Accept", "text/event-stream")], None).status,
        503
    );
    let after = scrape(&s);
    for (reason, n) in [
        ("415", 1.0),
        ("406", 1.0),
        ("403", 1.0),
        ("413", 1.0),
        ("503", 1.0),
    ] {
        assert_eq!(
            after.delta(&before, &rejected(reason)),
            n,
            "reason {reason}"
        );
    }
    assert_eq!(
        after.delta(&before, &requests("sse", "none", "rejected")),
        1.0
    );
    first.shutdown();
}

#[test]
fn expired_sessions_are_counted() {
    let (_dir, s) = server("ops-met-exp", &["--session-timeout", "300ms"]);
    let before = scrape(&s);
    post_json(&s, "/connect", &[], &json!({}));
    s.post(&JSON_POST, &initialize(1, "2025-03-26"));
    let rest = "mcp_sessions_expired_total{kind=\"rest\"}";
    let mcp = "mcp_sessions_expired_total{kind=\"streamable-http\"}";
    wait_until("both entries to expire", || {
        let now = scrape(&s);
        now.delta(&before, rest) == 1.0 && now.delta(&before, mcp) == 1.0
    });
}

#[test]
fn process_metrics_from_proc() {
    let (_dir, s) = server("ops-met-proc", &[]);
    let m = scrape(&s);
    assert!(m.get("process_resident_memory_bytes") > 100_000.0);
    assert!(m.get("process_virtual_memory_bytes") >= m.get("process_resident_memory_bytes"));
    assert!(m.get("process_open_fds") >= 4.0);
    assert!(m.get("process_max_fds") >= m.get("process_open_fds"));
    assert!(m.get("process_threads") >= 5.0, "workers and the front");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let started = m.get("process_start_time_seconds");
    assert!(
        (now - started).abs() < 120.0,
        "start {started} vs now {now}"
    );
    assert!(m.get("process_cpu_seconds_total") >= 0.0);
    // Opening connections shows in the descriptor count.
    let held: Vec<_> = (0..10).map(|_| s.connect()).collect();
    wait_until("the front to accept them", || {
        scrape(&s).get("process_open_fds") >= m.get("process_open_fds") + 10.0
    });
    drop(held);
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

#[test]
fn tls_handshake_failures() {
    let dir = TempDir::new("ops-met-tls");
    let (cert, key) = (fixture("a.crt"), fixture("a.key"));
    let (cert, key) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let s = HttpServer::start(dir.path(), &["--ssl-certfile", cert, "--ssl-keyfile", key]);
    let scrape_tls = || {
        let mut conn = tls_connect(s.port);
        conn.send(&raw_request("GET", "/metrics", s.port, &[], None));
        let r = conn.response();
        assert_eq!(r.status, 200);
        Scrape::parse(&r.text())
    };
    let failures = "mcp_tls_handshake_failures_total";
    let before = scrape_tls();
    let mut plain = s.connect();
    plain.send(&raw_request("GET", "/health", s.port, &[], None));
    assert!(plain.closed(), "plain HTTP on the TLS port is dropped");
    wait_until("the failure to be counted", || {
        scrape_tls().delta(&before, failures) == 1.0
    });
    assert_eq!(
        scrape_tls().delta(&before, failures),
        1.0,
        "good handshakes don't count"
    );
}

/// `packaging/grafana-dashboard.json` is valid JSON and charts only families the server
/// exposes (the `# TYPE` lines of a fresh scrape).
#[test]
fn the_grafana_dashboard_charts_real_metrics() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/grafana-dashboard.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("JSON");
    let (_dir, s) = server("ops-met-grafana", &[]);
    let exposition = call(&s, "GET", "/metrics", &[], None).text();
    let families: Vec<&str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let mut charted = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !(word.starts_with("mcp_") || word.starts_with("process_")) {
                    continue;
                }
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| word.strip_suffix(suffix))
                    .filter(|f| families.contains(f))
                    .unwrap_or(word);
                assert!(families.contains(&family), "{word} in {expr}");
                charted += 1;
            }
        }
    }
    assert!(
        charted >= 20,
        "the dashboard charts the families: {charted}"
    );
}

/// The worker pool starts with one worker per core and grows on demand up to `--workers`
/// (pool.rs), so a server configured for many workers does not start them all.
#[test]
fn the_worker_pool_starts_with_one_worker_per_core() {
    const MAX: f64 = 64.0;
    let (_dir, s) = server("ops-met-workers", &["--workers", "64"]);
    let m = scrape(&s);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    assert_eq!(m.get("mcp_http_workers_max"), MAX);
    let running = m.get("mcp_http_workers");
    assert!(
        (1.0..=cores.min(MAX)).contains(&running),
        "{running} workers running at start on {cores} cores"
    );
    if cores <= 16.0 {
        assert!(
            m.get("process_threads") < MAX,
            "{} threads: every worker was started",
            m.get("process_threads")
        );
    }
    assert_eq!(
        m.get("mcp_http_queue_capacity"),
        MAX * 32.0,
        "sized by the cap"
    );
}
