//! Clients that stop reading their answers (outbox.rs), plain and TLS: they hold no worker,
//! get every answer in order once they read, and are cut off at the queue cap. Raw HTTP/1.1
//! to 127.0.0.1 over sockets with a small receive window, so the answers cannot all sit in
//! the kernel's buffers.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http_client::{modern, raw_mcp, raw_request, Conn, HttpServer};
use crate::ops_support::{tls_connect, tls_over, wait_until, Scrape};
use crate::support::TempDir;

/// Bytes of the file each stalled answer carries: several answers are far more than a
/// loopback socket buffers (about 4 MiB sent plus the small window).
const FILE_BYTES: usize = 3 * 1024 * 1024;
const QUEUED: &str = "mcp_http_stalled_answers_total{outcome=\"queued\"}";
const DROPPED: &str = "mcp_http_stalled_answers_total{outcome=\"dropped\"}";

/// A server with two workers (a stalled client used to hold both) and the large file.
fn server(tag: &str, tls: bool) -> (TempDir, HttpServer) {
    server_with(tag, tls, &[])
}

fn server_with(tag: &str, tls: bool, extra: &[&str]) -> (TempDir, HttpServer) {
    let dir = TempDir::new(tag);
    let line = "lorem ipsum dolor sit amet, consectetur adipiscing elit\n";
    let text = line.repeat(FILE_BYTES / line.len());
    fs::write(dir.path().join("big.md"), &text).expect("big file");
    let (cert, key) = (fixture("a.crt"), fixture("a.key"));
    let mut args = vec!["--workers", "2"];
    args.extend(extra);
    if tls {
        args.extend(["--ssl-certfile", &cert, "--ssl-keyfile", &key]);
    }
    let s = HttpServer::start(dir.path(), &args);
    (dir, s)
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
        .to_str()
        .expect("utf-8")
        .to_owned()
}

/// A socket to the server whose receive buffer is as small as the kernel allows.
fn small_window(port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor this function creates and then hands to
    // TcpStream, which owns and closes it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket");
        let size: libc::c_int = 4096;
        let rc = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "SO_RCVBUF");
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "connect");
        TcpStream::from_raw_fd(fd)
    }
}

fn stalled_conn(s: &HttpServer, tls: bool) -> Conn {
    let tcp = small_window(s.port);
    if tls {
        tls_over(tcp)
    } else {
        Conn::over(Box::new(tcp.try_clone().expect("clone")), tcp)
    }
}

fn read_big(port: u16, id: i64) -> String {
    let (body, headers) = modern(
        id,
        "tools/call",
        json!({"name": "read_file", "arguments": {"path": "big.md"}}),
    );
    raw_mcp(port, &body, &headers)
}

/// A fresh connection (plain or TLS) for one request.
fn fresh(s: &HttpServer, tls: bool) -> Conn {
    if tls {
        tls_connect(s.port)
    } else {
        s.connect()
    }
}

fn metrics(s: &HttpServer, tls: bool) -> Scrape {
    let mut conn = fresh(s, tls);
    conn.send(&raw_request("GET", "/metrics", s.port, &[], None));
    let r = conn.response();
    assert_eq!(r.status, 200, "/metrics");
    Scrape::parse(&r.text())
}

fn health(s: &HttpServer, tls: bool) {
    let mut conn = fresh(s, tls);
    conn.send(&raw_request("GET", "/health", s.port, &[], None));
    assert_eq!(conn.response().status, 200, "/health");
}

/// Regression: a flusher that failed left its outbox marked flushing, so the relay thread
/// waited for it forever and the connection (thread, descriptor, kernel buffer) was never
/// released. Only the scrape's own connection may be left.
fn released(s: &HttpServer) {
    wait_until("the cut-off connection to be closed", || {
        metrics(s, false).get("mcp_http_open_connections") <= 1.0
    });
}

/// The text a read_file answer carries.
fn file_text(answer: &Value) -> usize {
    answer["result"]["content"][0]["text"]
        .as_str()
        .map_or(0, str::len)
}

/// Regression: one connection that pipelined read_file calls and read nothing held every
/// worker (the first blocked writing, the others waiting for their turn behind it), so
/// the server answered nothing, not even /health, until the send timeout (30 s).
fn stalled_client_holds_no_worker(tls: bool) {
    const ANSWERS: i64 = 4; // 12 MiB: past the socket buffers, under the 16 MiB cap
    let (_dir, s) = server(if tls { "stall-tls" } else { "stall" }, tls);
    let mut stalled = stalled_conn(&s, tls);
    for id in 1..=ANSWERS {
        stalled.send(&read_big(s.port, id));
    }
    // Each check needs a free worker within the client's 20 s read timeout.
    wait_until("an answer queued for the stalled client", || {
        metrics(&s, tls).get(QUEUED) >= 1.0
    });
    for _ in 0..5 {
        health(&s, tls);
    }
    // Nothing lost: every answer, complete and in order, once the client reads.
    for id in 1..=ANSWERS {
        let r = stalled.response();
        assert_eq!(r.status, 200);
        let answer = r.json();
        assert_eq!(answer["id"], id, "answers in request order");
        assert!(
            file_text(&answer) >= FILE_BYTES - 64,
            "answer {id} carries the whole file ({} bytes)",
            file_text(&answer)
        );
    }
    wait_until("the queue to empty", || {
        metrics(&s, tls).get("mcp_http_unsent_bytes") == 0.0
    });
    assert_eq!(metrics(&s, tls).get(DROPPED), 0.0);
    // The connection is still usable.
    stalled.send(&raw_request("GET", "/health", s.port, &[], None));
    assert_eq!(stalled.response().status, 200);
}

#[test]
fn a_client_that_stops_reading_holds_no_worker() {
    stalled_client_holds_no_worker(false);
}

#[test]
fn a_tls_client_that_stops_reading_holds_no_worker() {
    stalled_client_holds_no_worker(true);
}

/// Memory stays bounded: a client that asks for far more than it reads is closed at the
/// per-connection cap (16 MiB unsent), and the server goes on serving others.
#[test]
fn a_client_that_never_reads_is_cut_off_at_the_queue_cap() {
    const ANSWERS: i64 = 10; // 30 MiB asked for
    let (_dir, s) = server("stall-cap", false);
    let mut stalled = stalled_conn(&s, false);
    for id in 1..=ANSWERS {
        stalled.send(&read_big(s.port, id));
    }
    wait_until("the stalled connection to be dropped", || {
        metrics(&s, false).get(DROPPED) >= 1.0
    });
    assert!(stalled.closed(), "the server closed the connection");
    assert!(s
        .log_text()
        .contains("its client is not reading its answers"));
    wait_until("the queue to empty", || {
        metrics(&s, false).get("mcp_http_unsent_bytes") == 0.0
    });
    released(&s);
    // Others are served, large answers included.
    let mut other = s.connect();
    other.send(&read_big(s.port, 99));
    let answer = other.response().json();
    assert_eq!(answer["id"], 99);
    assert!(file_text(&answer) >= FILE_BYTES - 64);
}

/// `Connection: close` after answers the client has not read yet: the front closes only
/// once the queue is out (the queue counts as in flight), so the last answer is whole.
#[test]
fn connection_close_waits_for_the_queued_answers() {
    const ANSWERS: i64 = 3;
    let (_dir, s) = server("stall-close", false);
    let mut stalled = stalled_conn(&s, false);
    for id in 1..=ANSWERS {
        let (body, mut headers) = modern(
            id,
            "tools/call",
            json!({"name": "read_file", "arguments": {"path": "big.md"}}),
        );
        if id == ANSWERS {
            headers.push(("Connection".into(), "close".into()));
        }
        stalled.send(&raw_mcp(s.port, &body, &headers));
    }
    wait_until("an answer queued for the stalled client", || {
        metrics(&s, false).get(QUEUED) >= 1.0
    });
    for id in 1..=ANSWERS {
        let r = stalled.response();
        assert_eq!(r.status, 200);
        let answer = r.json();
        assert_eq!(answer["id"], id);
        assert!(file_text(&answer) >= FILE_BYTES - 64, "answer {id} whole");
    }
    assert!(stalled.closed(), "closed after the last answer");
}

/// Regression: the send timeout bounded one write without progress, not the whole queue,
/// so a client reading a little now and then kept its queued answers (up to 16 MiB of the
/// shared 128 MiB), its flusher and its relay thread as long as it liked: 12 MiB at the
/// 10 KiB/s this client reads would have taken 20 minutes. Now it is cut off once it falls
/// behind 32 KiB/s after `--send-timeout`, and the server goes on serving.
#[test]
fn a_client_that_trickles_is_cut_off_once_it_falls_behind_the_minimum_rate() {
    const ANSWERS: i64 = 4; // 12 MiB, under the per-connection cap
    let (_dir, s) = server_with("stall-trickle", false, &["--send-timeout", "1s"]);
    let mut trickle = small_window(s.port);
    for id in 1..=ANSWERS {
        trickle
            .write_all(read_big(s.port, id).as_bytes())
            .expect("send");
    }
    trickle
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let start = Instant::now();
    let (mut received, mut cut_off) = (0usize, false);
    // 1 KiB every 100 ms, for at most 30 s.
    for _ in 0..300 {
        let mut chunk = [0u8; 1024];
        match trickle.read(&mut chunk) {
            Ok(0) | Err(_) => {
                cut_off = true;
                break;
            }
            Ok(n) => received += n,
        }
        thread::sleep(Duration::from_millis(100));
    }
    let took = start.elapsed();
    assert!(
        cut_off,
        "still connected after {took:?} ({received} bytes read)"
    );
    assert!(
        took < Duration::from_secs(20),
        "cut off only after {took:?}"
    );
    assert!(
        received < FILE_BYTES,
        "{received} bytes read: the answers were not all sent"
    );
    assert!(metrics(&s, false).get(DROPPED) >= 1.0);
    let log = s.log_text();
    assert!(
        log.contains("queued answers not delivered: the client took"),
        "the log says why: {log}"
    );
    wait_until("the queue to empty", || {
        metrics(&s, false).get("mcp_http_unsent_bytes") == 0.0
    });
    released(&s);
    health(&s, false);
    let mut other = s.connect();
    other.send(&read_big(s.port, 99));
    let answer = other.response().json();
    assert_eq!(answer["id"], 99);
    assert!(file_text(&answer) >= FILE_BYTES - 64);
}
