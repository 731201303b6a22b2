//! Test-only HTTP/1.1 over raw sockets (plain or TLS): spawning the server with `--port 0`,
//! finding the bound port in its log, writing requests by hand and reading responses
//! (Content-Length, chunked, SSE) with deadlines. Talks to 127.0.0.1 only.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{BIN, DEADLINE};

/// A running `--transport http-stream` server; killed (by handle) on drop.
pub struct HttpServer {
    pub child: Child,
    pub port: u16,
    pub https: bool,
    log: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    /// Spawns the binary on 127.0.0.1 with `--port 0` plus `extra` args.
    pub fn start(workspace: &Path, extra: &[&str]) -> HttpServer {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "--transport",
            "http-stream",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .arg("--workspace")
        .arg(workspace)
        .args(extra);
        HttpServer::spawn(cmd)
    }

    /// Spawns a prepared command (e.g. under `prlimit`) and waits for its bound URL.
    pub fn spawn(mut cmd: Command) -> HttpServer {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the server binary");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("log lock").push(line);
            }
        });
        let mut server = HttpServer {
            child,
            port: 0,
            https: false,
            log,
        };
        // "listening on http(s)://": at --log-level debug tiny_http logs its private
        // loopback address as "Server listening on 127.0.0.1:N" first.
        let line = server.wait_log("listening on http");
        let url = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("a URL after 'listening on'");
        server.https = url.starts_with("https://");
        server.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {url}"));
        server
    }

    /// Waits (up to [`DEADLINE`]) for a log line containing `needle`; returns it.
    pub fn wait_log(&mut self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self
                .log
                .lock()
                .expect("log lock")
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "server exited ({status}) before logging '{needle}':\n{}",
                    self.log_text()
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no log line with '{needle}' within {DEADLINE:?}:\n{}",
                self.log_text()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill(2) on the child this test spawned and still owns.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal})");
    }

    /// Waits for exit; the exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        crate::support::wait_with_deadline(&mut self.child)
    }

    /// A new plain connection to the server.
    pub fn connect(&self) -> Conn {
        Conn::plain(self.port)
    }

    /// `GET path` on a fresh connection.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let mut conn = self.connect();
        conn.send(&raw_request("GET", path, self.port, headers, None));
        conn.response()
    }

    /// `POST /mcp` of a JSON value on a fresh connection.
    pub fn post(&self, headers: &[(&str, &str)], body: &Value) -> HttpResponse {
        let mut conn = self.connect();
        conn.send(&raw_request(
            "POST",
            "/mcp",
            self.port,
            headers,
            Some(&body.to_string()),
        ));
        conn.response()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 request with `Host` and, for a body, `Content-Length`.
pub fn raw_request(
    method: &str,
    path: &str,
    port: u16,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    } else {
        text.push_str("\r\n");
    }
    text
}

/// Headers of a JSON POST that accepts both response types.
pub const JSON_POST: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json, text/event-stream"),
];

/// A parsed response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// The JSON messages of an SSE body (`data:` lines).
    pub fn sse_messages(&self) -> Vec<Value> {
        sse_messages(&self.text())
    }
}

pub fn sse_messages(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("SSE data is JSON"))
        .collect()
}

/// Any byte stream a test can talk HTTP over.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One client connection with its own read buffer (keep-alive, pipelining).
pub struct Conn {
    pub stream: Box<dyn Stream>,
    pub tcp: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn plain(port: u16) -> Conn {
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        Conn::over(Box::new(tcp.try_clone().expect("clone")), tcp)
    }

    pub fn over(stream: Box<dyn Stream>, tcp: TcpStream) -> Conn {
        tcp.set_read_timeout(Some(DEADLINE)).expect("timeout");
        Conn {
            stream,
            tcp,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, raw: &str) {
        self.send_bytes(raw.as_bytes());
    }

    pub fn send_bytes(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("write request");
        self.stream.flush().expect("flush request");
    }

    /// Reads more bytes; false on EOF or error.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Whether the server closed the connection (EOF) within the deadline.
    pub fn closed(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            let mut chunk = [0u8; 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return true,
            }
        }
        false
    }

    /// Reads one full response (fails the test after the deadline or on EOF).
    pub fn response(&mut self) -> HttpResponse {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                self.fill(),
                "connection closed before a response head: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut response = HttpResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if status == 100 {
            return response;
        }
        if response
            .header("Transfer-Encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            response.body = self.chunked_body();
        } else {
            let len: usize = response
                .header("Content-Length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while self.buf.len() < len {
                assert!(self.fill(), "connection closed inside a body");
            }
            response.body = self.buf.drain(..len).collect();
        }
        response
    }

    fn chunked_body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                assert!(self.fill(), "connection closed inside a chunked body");
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.trim(), 16).expect("chunk size");
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                assert!(self.fill(), "connection closed inside a chunk");
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return body;
            }
        }
    }

    /// Reads a response head, then body chunks until the body text contains `needle`;
    /// for long-lived SSE streams. Returns (status, headers, text so far).
    pub fn stream_until(&mut self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let text = decode_partial_chunks(&self.buf);
            if text.contains(needle) {
                return text;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "stream never contained {needle:?}: {text}"
            );
            assert!(self.fill(), "stream closed before {needle:?}: {text}");
        }
    }

    /// The raw bytes received so far (for streams).
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    pub fn shutdown(&self) {
        let _ = self.tcp.shutdown(Shutdown::Both);
    }
}

/// The text of a chunked body received so far (after the head), ignoring framing.
fn decode_partial_chunks(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let Some((_, body)) = text.split_once("\r\n\r\n") else {
        return String::new();
    };
    body.to_string()
}

/// `_meta`-carrying modern request plus the headers the binding requires.
pub fn modern(id: i64, method: &str, params: Value) -> (Value, Vec<(String, String)>) {
    let body = crate::support::modern_request(serde_json::json!(id), method, params.clone());
    let mut headers = vec![
        ("MCP-Protocol-Version".to_string(), "2026-07-28".to_string()),
        ("Mcp-Method".to_string(), method.to_string()),
    ];
    let name = params
        .get("name")
        .or_else(|| params.get("uri"))
        .and_then(Value::as_str);
    if let (Some(name), true) = (
        name,
        matches!(method, "tools/call" | "prompts/get" | "resources/read"),
    ) {
        headers.push(("Mcp-Name".to_string(), name.to_string()));
    }
    (body, headers)
}

/// A raw `POST /mcp` of `body` with JSON_POST headers plus `extra` (as [`modern`] returns
/// them), for tests that write to a connection themselves.
pub fn raw_mcp(port: u16, body: &serde_json::Value, extra: &[(String, String)]) -> String {
    raw_request(
        "POST",
        "/mcp",
        port,
        &with_json(extra),
        Some(&body.to_string()),
    )
}

/// JSON_POST headers plus `extra`, as borrowed pairs.
pub fn with_json(extra: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut all: Vec<(&str, &str)> = JSON_POST.to_vec();
    all.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    all
}
