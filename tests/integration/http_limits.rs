//! The http-stream transport's limits and lifecycle through the real binary: the
//! connection cap, idle and slow (slowloris) clients, the file-descriptor limit, SIGTERM
//! draining and 64 concurrent clients. Raw HTTP/1.1 over TcpStream to 127.0.0.1 only.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http_client::{modern, raw_mcp, raw_request, with_json, Conn, HttpServer, JSON_POST};
use crate::support::{initialize, TempDir, BIN, DEADLINE};

fn server(tag: &str, extra: &[&str]) -> (TempDir, HttpServer) {
    let dir = TempDir::new(tag);
    let server = HttpServer::start(dir.path(), extra);
    (dir, server)
}

#[test]
fn connection_cap_answers_503() {
    let (_dir, s) = server("http-cap", &["--max-connections", "2"]);
    let idle: Vec<Conn> = (0..2).map(|_| s.connect()).collect();
    // Wait until both are registered: /health on a third connection is refused.
    let start = Instant::now();
    let refused = loop {
        let mut conn = s.connect();
        conn.send(&raw_request("GET", "/health", s.port, &[], None));
        let r = conn.response();
        if r.status == 503 {
            break r;
        }
        assert!(start.elapsed() < DEADLINE, "cap never reached");
    };
    assert!(refused.header("Retry-After").is_some());
    drop(idle);
    let start = Instant::now();
    loop {
        let mut conn = s.connect();
        conn.send(&raw_request("GET", "/health", s.port, &[], None));
        if conn.response().status == 200 {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "slots never freed");
    }
}

#[test]
fn idle_and_slow_clients_do_not_starve_a_normal_client() {
    let (_dir, s) = server("http-slow", &["--header-timeout", "3s", "--workers", "2"]);
    // 250 connections that send nothing and 250 that trickle an endless head.
    let mut idle = Vec::new();
    let mut slow = Vec::new();
    for _ in 0..250 {
        idle.push(TcpStream::connect(("127.0.0.1", s.port)).expect("connect"));
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        c.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .expect("partial head");
        slow.push(c);
    }
    for c in &mut slow {
        let _ = c.write_all(b"X-Slow: 1\r\n");
    }
    // A normal client is served at once, several times over.
    let started = Instant::now();
    for _ in 0..5 {
        let (body, headers) = modern(1, "tools/list", Value::Null);
        assert_eq!(s.post(&with_json(&headers), &body).status, 200);
        assert_eq!(s.get("/health", &[]).status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "normal client waited {:?}",
        started.elapsed()
    );
    // The slow heads are cut off with 408 after --header-timeout, freeing their threads.
    let last = slow.pop().expect("one");
    let mut probe = Conn::over(Box::new(last.try_clone().expect("clone")), last);
    let r = probe.response();
    assert_eq!(r.status, 408);
    let health = s.get("/health", &[]).json();
    assert!(health["open_connections"].as_u64().expect("count") <= 501);
    drop(idle);
}

#[test]
fn recovers_at_the_file_descriptor_limit() {
    let dir = TempDir::new("http-fd");
    let mut cmd = Command::new("prlimit");
    cmd.args([
        "--nofile=64:64",
        BIN,
        "--transport",
        "http-stream",
        "--port",
        "0",
        "--workspace",
    ])
    .arg(dir.path());
    let mut s = HttpServer::spawn(cmd);
    s.wait_log("lowered to");
    // Far more connections than descriptors: some are served, the rest refused or kept
    // waiting in the backlog, and the server stays up.
    let mut held = Vec::new();
    for _ in 0..100 {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", s.port)) {
            held.push(c);
        }
    }
    for c in &mut held {
        let _ = c.write_all(raw_request("GET", "/health", s.port, &[], None).as_bytes());
    }
    drop(held);
    assert!(
        s.child.try_wait().expect("try_wait").is_none(),
        "server died:\n{}",
        s.log_text()
    );
    // Once they are gone, a normal client is served again.
    let start = Instant::now();
    loop {
        let mut conn = s.connect();
        conn.send(&raw_request("GET", "/health", s.port, &[], None));
        if conn.response().status == 200 {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "never recovered:\n{}",
            s.log_text()
        );
    }
    let (body, headers) = modern(1, "tools/list", Value::Null);
    assert_eq!(s.post(&with_json(&headers), &body).status, 200);
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let (_dir, mut s) = server("http-drain", &["--shutdown-timeout", "15s"]);
    let (body, headers) = modern(9, "tools/list", Value::Null);
    let text = body.to_string();
    let raw = raw_mcp(s.port, &body, &headers);
    let split = raw.len() - text.len() / 2;
    // Two requests in flight: one mid-body, one mid-head.
    let mut mid_body = s.connect();
    mid_body.send(&raw[..split]);
    let mut mid_head = s.connect();
    mid_head.send(&raw[..20]);
    let idle = s.connect();
    // Both are being read before the signal arrives.
    let start = Instant::now();
    while s.get("/health", &[]).json()["requests_in_progress"].as_u64() < Some(3) {
        assert!(start.elapsed() < DEADLINE);
    }
    s.signal(libc::SIGTERM);
    s.wait_log("shutting down");
    mid_body.send(&raw[split..]);
    let r = mid_body.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], 9);
    mid_head.send(&raw[20..]);
    assert_eq!(mid_head.response().json()["id"], 9);
    let mut idle = idle;
    assert!(
        idle.closed(),
        "idle keep-alive connections are closed by the drain"
    );
    assert_eq!(s.wait_exit(), Some(0));
    assert!(
        TcpStream::connect(("127.0.0.1", s.port)).is_err(),
        "listener closed"
    );
}

#[test]
fn sixty_four_concurrent_clients_all_answered() {
    let (_dir, s) = server("http-64", &[]);
    let port = s.port;
    let clients: Vec<_> = (0..64)
        .map(|c| {
            thread::spawn(move || {
                let mut conn = Conn::plain(port);
                for i in 0..5 {
                    let id = c * 100 + i;
                    let (body, headers) = modern(id, "tools/list", Value::Null);
                    conn.send(&raw_mcp(port, &body, &headers));
                    let r = conn.response();
                    assert_eq!(r.status, 200, "client {c}: {}", r.text());
                    assert_eq!(r.json()["id"], id);
                }
                let session_body = initialize(1, "2025-11-25").to_string();
                conn.send(&raw_request(
                    "POST",
                    "/mcp",
                    port,
                    &JSON_POST,
                    Some(&session_body),
                ));
                let r = conn.response();
                assert_eq!(r.status, 200);
                r.header("Mcp-Session-Id").expect("session").to_string()
            })
        })
        .collect();
    let mut sessions: Vec<String> = clients
        .into_iter()
        .map(|h| h.join().expect("client"))
        .collect();
    sessions.sort();
    sessions.dedup();
    assert_eq!(sessions.len(), 64, "every session id is distinct");
    assert_eq!(s.get("/health", &[]).json()["active_sessions"], 64);
}

/// Regression (fuzz target `http_request`; head.rs `Head::forward`): `Connection:
/// upgrade` made tiny_http hand the worker the raw connection as the request body, so one
/// POST held its worker until the client closed; with one worker, `/health` hung too.
#[test]
fn connection_upgrade_does_not_pin_a_worker() {
    let (_dir, s) = server("http-upgrade", &["--workers", "1"]);
    let (body, headers) = modern(1, "tools/list", Value::Null);
    let mut headers = with_json(&headers);
    headers.push(("Connection", "keep-alive, Upgrade"));
    headers.push(("Upgrade", "websocket"));
    let text = body.to_string();
    let mut conn = s.connect();
    conn.send(&raw_request("POST", "/mcp", s.port, &headers, Some(&text)));
    let r = conn.response();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], 1);
    assert_eq!(s.get("/health", &[]).status, 200);
}

/// Regression (fuzz target `http_request`; head.rs `parse`): a non-ASCII byte in a header
/// made tiny_http close the connection without a response; the front answers 400.
#[test]
fn non_ascii_head_gets_400() {
    let (_dir, s) = server("http-non-ascii", &[]);
    let mut conn = s.connect();
    conn.send_bytes(
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Name: 15\xc2\xb0C\r\n\
          Content-Length: 2\r\n\r\n{}",
    );
    assert_eq!(conn.response().status, 400);
}

/// The threads of a running process (`Threads:` in /proc/PID/status).
fn threads_of(s: &HttpServer) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id()))
        .expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads: line")
}

/// Memory per connection is mostly its threads' stacks: a keep-alive connection that has
/// been answered costs two threads (the front's relay, which also watches tiny_http's
/// socket, and tiny_http's own), not three (a pump per connection copied answers back
/// before workers wrote to the client directly).
#[test]
fn an_open_keep_alive_connection_costs_two_threads() {
    const CONNECTIONS: usize = 32;
    let (_dir, s) = server("http-threads", &["--workers", "2"]);
    assert_eq!(s.get("/health", &[]).status, 200);
    // tiny_http's thread of that closed connection lingers for a while: count from here.
    let before = threads_of(&s);
    let mut conns: Vec<Conn> = (0..CONNECTIONS).map(|_| s.connect()).collect();
    let health = raw_request("GET", "/health", s.port, &[], None);
    for conn in &mut conns {
        conn.send(&health);
        assert_eq!(conn.response().status, 200);
    }
    // At most two each; tiny_http may reuse idle threads of its pool for its half.
    let added = threads_of(&s) - before;
    assert!(
        (CONNECTIONS..=2 * CONNECTIONS).contains(&added),
        "{CONNECTIONS} open connections added {added} threads"
    );
}
