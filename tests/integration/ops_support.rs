//! Test-only helpers for the operations tests (ops_*.rs): any request on a fresh
//! connection, `/metrics` scrapes parsed into samples, a legacy HTTP+SSE client over a raw
//! socket, a TLS client that trusts any certificate, and waiting with a deadline.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use serde_json::Value;

use crate::http_client::{raw_request, Conn, HttpResponse, HttpServer};
use crate::https::Recording;
use crate::support::{TempDir, DEADLINE};

/// Starts the HTTP server in a fresh workspace.
pub fn server(tag: &str, extra: &[&str]) -> (TempDir, HttpServer) {
    let dir = TempDir::new(tag);
    let server = HttpServer::start(dir.path(), extra);
    (dir, server)
}

/// `method path` with headers and an optional body, on a fresh connection.
pub fn call(
    s: &HttpServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpResponse {
    let mut conn = s.connect();
    conn.send(&raw_request(method, path, s.port, headers, body));
    conn.response()
}

/// A JSON body POSTed to `path`.
pub fn post_json(s: &HttpServer, path: &str, extra: &[(&str, &str)], body: &Value) -> HttpResponse {
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend_from_slice(extra);
    call(s, "POST", path, &headers, Some(&body.to_string()))
}

/// Polls `check` until it holds, failing the test after [`DEADLINE`].
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// One `/metrics` scrape: `name{labels}` → value.
#[derive(Debug, Clone)]
pub struct Scrape(pub BTreeMap<String, f64>);

impl Scrape {
    /// Parses the text exposition format; comments must be HELP or TYPE lines.
    pub fn parse(text: &str) -> Scrape {
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') {
                assert!(
                    line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                    "{line}"
                );
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            samples.insert(series.to_string(), value);
        }
        Scrape(samples)
    }

    /// A sample's value; 0 when the series is absent (not seen yet).
    pub fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    /// How much a series grew since `before`.
    pub fn delta(&self, before: &Scrape, series: &str) -> f64 {
        self.get(series) - before.get(series)
    }
}

/// `GET /metrics` (with optional extra headers, e.g. a bearer token).
pub fn scrape_with(s: &HttpServer, headers: &[(&str, &str)]) -> Scrape {
    let r = call(s, "GET", "/metrics", headers, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    Scrape::parse(&r.text())
}

pub fn scrape(s: &HttpServer) -> Scrape {
    scrape_with(s, &[])
}

/// A legacy HTTP+SSE client: the open `GET /sse` stream and the POST endpoint it announced.
pub struct SseClient {
    pub stream: Conn,
    pub endpoint: String,
    /// Everything read from the stream (head, chunk framing and events).
    text: String,
    /// How much of `text` earlier events used up.
    seen: usize,
}

impl SseClient {
    /// Opens `GET /sse` and reads the `endpoint` event.
    pub fn open(s: &HttpServer, headers: &[(&str, &str)]) -> SseClient {
        let mut all = vec![("Accept", "text/event-stream")];
        all.extend_from_slice(headers);
        let mut stream = s.connect();
        stream.send(&raw_request("GET", "/sse", s.port, &all, None));
        let mut client = SseClient {
            stream,
            endpoint: String::new(),
            text: String::new(),
            seen: 0,
        };
        let event = client.next_event("endpoint");
        assert!(
            client.text.starts_with("HTTP/1.1 200")
                && client.text.contains("Content-Type: text/event-stream"),
            "{}",
            client.text
        );
        client.endpoint = event;
        client
    }

    /// POSTs one message to the announced endpoint.
    pub fn post(&self, s: &HttpServer, message: &Value) -> HttpResponse {
        post_json(s, &self.endpoint, &[], message)
    }

    /// The next response (a message with `id` and no `method`), and the messages before it.
    pub fn response(&mut self, id: i64) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let message = self.next_message();
            if message["id"] == id && message.get("method").is_none() {
                return (message, before);
            }
            before.push(message);
        }
    }

    /// The next `message` event's JSON.
    pub fn next_message(&mut self) -> Value {
        let data = self.next_event("message");
        serde_json::from_str(&data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data}"))
    }

    /// The data of the next event named `name` (events of other names are skipped).
    pub fn next_event(&mut self, name: &str) -> String {
        let marker = format!("event: {name}\ndata: ");
        loop {
            let unread = &self.text[self.seen..];
            if let Some(at) = unread.find(&marker) {
                let data_start = at + marker.len();
                if let Some(len) = unread[data_start..].find("\n\n") {
                    let data = unread[data_start..data_start + len].to_string();
                    self.seen += data_start + len + 2;
                    return data;
                }
            }
            self.read_more();
        }
    }

    /// Whether the server ended the stream (the last chunk, or EOF) within the deadline.
    pub fn ended(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if self.text[self.seen..].contains("\r\n0\r\n\r\n") {
                return true;
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return true,
                Ok(n) => self.text.push_str(&String::from_utf8_lossy(&chunk[..n])),
            }
        }
        false
    }

    fn read_more(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.stream.read(&mut chunk) {
            Ok(0) => panic!("the SSE stream closed; so far:\n{}", self.text),
            Ok(n) => self.text.push_str(&String::from_utf8_lossy(&chunk[..n])),
            Err(e) => panic!(
                "no SSE data within the deadline ({e}); so far:\n{}",
                self.text
            ),
        }
    }
}

/// A TLS connection to the server (handshake done).
pub fn tls_connect(port: u16) -> Conn {
    tls_over(TcpStream::connect(("127.0.0.1", port)).expect("connect"))
}

/// A TLS client session over a socket the test connected itself.
pub fn tls_over(tcp: TcpStream) -> Conn {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        // Any certificate is accepted (the fixtures are self-signed); signatures still checked.
        .with_custom_certificate_verifier(Arc::new(Recording::new(provider, true)))
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("name");
    let conn = ClientConnection::new(Arc::new(config), name).expect("client");
    tcp.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut stream = StreamOwned::new(conn, tcp.try_clone().expect("clone"));
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("TLS handshake");
    }
    Conn::over(Box::new(stream), tcp)
}
