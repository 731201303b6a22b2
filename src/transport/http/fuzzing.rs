//! The entry point of the `http_request` fuzz target (fuzz/fuzz_targets/http_request.rs):
//! raw client bytes through the HTTP request path, without the public socket, the relay
//! threads or the worker pool. Nothing in the product calls it.
//!
//! ```text
//! raw bytes ─ head.rs (head_end, parse, Chunked, caps) ─ Head::forward ─loopback─>
//!   tiny_http (its parser) ─ recv on the caller's thread ─ endpoint::handle ─> response bytes
//! ```
//! The front's framing runs in-process, composed as `relay.rs` composes it for a client
//! that sends the bytes and then closes its write side. What the relay would forward goes
//! over a fresh loopback connection to a private tiny_http server, as in production,
//! because tiny_http 0.12 builds a `Request` whose response can be read back only from a
//! socket (`TestRequest` writes into `io::sink()`). The request is then handled on the
//! caller's thread, so a panic reaches libFuzzer instead of the pool's `catch_unwind`, and
//! the response is read back and parsed, so the target can check what a client receives.
//!
//! Long-lived streams are capped at zero (they answer 503): a stream thread would outlive
//! the input. Sessions are cleared after every input, so inputs do not depend on each other.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::front::{ConnEntry, Registry};
use super::head::{self, Chunked, Framing, FramingError, Head, MAX_HEAD_BYTES};
use super::request::Request;
use super::sessions::{Kind, NewEntry, Sessions};
use super::sse::Streams;
use super::{auth, elicit, endpoint, headers, ui, App};
use crate::jsonrpc;
use crate::mcp::version::ProtocolVersion;
use crate::mcp::{Server, Session};

/// The bearer token the protected app accepts.
pub const TOKEN: &str = "fuzz-bearer-token-0123";
/// Body cap of the harness (`--max-body-bytes`): small, so 413 is reachable.
pub const MAX_BODY: u64 = 16 * 1024;
/// Requests of one input served at most (pipelined in the raw bytes).
const MAX_REQUESTS: usize = 8;
/// How long tiny_http and the endpoint may take with one request before it counts as hung.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often to look for tiny_http's own answer while waiting for a request.
const POLL: Duration = Duration::from_micros(500);
/// Session timeout of the harness apps (sessions never live past one input anyway).
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// What came back for one request of an input.
#[derive(Debug)]
pub enum Answer {
    /// The front refused the request itself and closed the connection (`relay.rs`).
    Front(u16),
    /// The response tiny_http sent, parsed; `Err` says how it was malformed or missing.
    Http(Result<WireResponse, String>),
}

/// A parsed HTTP/1.1 response (body de-chunked).
#[derive(Debug)]
pub struct WireResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WireResponse {
    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The server side of the harness, built once per fuzzing process.
pub struct Harness {
    /// `[open, bearer-token protected]`, sharing one core.
    apps: [Arc<App>; 2],
    entry: Arc<ConnEntry>,
    registry: Arc<Registry>,
    backend: tiny_http::Server,
    backend_addr: SocketAddr,
}

impl Harness {
    /// Builds the apps around `server`; `scratch` receives the token file.
    pub fn new(server: Server, scratch: &Path) -> io::Result<Harness> {
        let private = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let backend_addr = private.local_addr()?;
        let backend = tiny_http::Server::from_listener(private, None).map_err(io::Error::other)?;
        let registry = Arc::new(Registry::default());
        // The connection every request claims to arrive on: a real socket, so draining
        // code that shuts it down would act on something, but nothing reads it.
        let stands_for = {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
            let client = TcpStream::connect(listener.local_addr()?)?;
            drop(listener.accept()?);
            client
        };
        let peer = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 40000));
        let entry = registry.register(peer, Arc::new(stands_for));
        let token_file = scratch.join("fuzz-tokens");
        write_private(&token_file, &format!("{TOKEN}\n"))?;
        let tokens = auth::Tokens::load(&token_file).map_err(io::Error::other)?;
        let server = Arc::new(server);
        let open = app(&server, &registry, backend_addr.port(), None);
        let protected = app(&server, &registry, backend_addr.port(), Some(tokens));
        Ok(Harness {
            apps: [open, protected],
            entry,
            registry,
            backend,
            backend_addr,
        })
    }

    /// The `Host` the apps accept (they are "bound" to loopback).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.backend_addr.port())
    }

    /// Opens a legacy Streamable HTTP session (initialized for `version`) that the next
    /// input may name in `Mcp-Session-Id`; `None` for a version that is not legacy.
    pub fn open_session(&self, protected: bool, version: &str) -> Option<String> {
        let app = &self.apps[usize::from(protected)];
        let version = ProtocolVersion::parse(version).filter(|v| !v.is_modern())?;
        let init = format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"fuzz","version":"0"}}}}}}"#
        );
        let incoming = jsonrpc::decode(init.as_bytes()).ok()?;
        let mut session = Session::default();
        app.server.handle(&mut session, incoming, &mut |_| {});
        let entry = NewEntry {
            kind: Kind::Streamable,
            version: session.legacy_version(),
            session,
            client_info: Value::Object(serde_json::Map::new()),
            outbox: None,
        };
        app.sessions.insert_entry(entry).ok().flatten()
    }

    /// Serves the requests in `raw` (what a client sends before closing its write side),
    /// one answer per request the front reads in full; then forgets every session.
    pub fn exchange(&self, protected: bool, raw: &[u8]) -> Vec<Answer> {
        let app = &self.apps[usize::from(protected)];
        let mut answers = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() && answers.len() < MAX_REQUESTS {
            match frame(rest) {
                Framed::Refused(status) => {
                    answers.push(Answer::Front(status));
                    break;
                }
                Framed::Incomplete => break,
                Framed::Request {
                    message,
                    used,
                    head_only,
                    close,
                    head,
                } => {
                    let answer = self.forward(app, head, &message, head_only);
                    answers.push(Answer::Http(answer));
                    rest = &rest[used..];
                    if close {
                        break;
                    }
                }
            }
        }
        for (id, _) in app.sessions.snapshot() {
            app.sessions.remove(&id);
        }
        answers
    }

    /// One re-framed request through tiny_http and the endpoint, on a fresh connection.
    fn forward(
        &self,
        app: &Arc<App>,
        head: Head,
        message: &[u8],
        head_only: bool,
    ) -> Result<WireResponse, String> {
        let mut conn =
            TcpStream::connect(self.backend_addr).map_err(|e| format!("connect: {e}"))?;
        let local = conn.local_addr().map_err(|e| e.to_string())?;
        self.registry.bind_relay(local, &self.entry);
        // As the relay does: the head is queued before tiny_http sees the request.
        self.entry.forwarded(head);
        let result = self.serve_one(app, &mut conn, message, head_only);
        // A head tiny_http never handed over (it answered 400 itself) must not be taken
        // by the next input's request, and its request is not in flight.
        if self.entry.take_head().is_some() {
            self.entry.finish_request();
        }
        self.registry.unbind_relay(local);
        result
    }

    fn serve_one(
        &self,
        app: &Arc<App>,
        conn: &mut TcpStream,
        message: &[u8],
        head_only: bool,
    ) -> Result<WireResponse, String> {
        conn.set_read_timeout(Some(RESPONSE_TIMEOUT))
            .map_err(|e| e.to_string())?;
        conn.write_all(message).map_err(|e| format!("write: {e}"))?;
        let deadline = Instant::now() + RESPONSE_TIMEOUT;
        loop {
            match self.backend.recv_timeout(POLL) {
                Ok(Some(request)) => {
                    let entry = self.registry.lookup(request.remote_addr());
                    endpoint::handle(app, Request::new(request, entry));
                    break;
                }
                Ok(None) => {}
                Err(e) => return Err(format!("tiny_http: {e}")),
            }
            // tiny_http answers malformed requests itself (400) without a `Request`.
            if has_data(conn)? {
                break;
            }
            if Instant::now() > deadline {
                return Err("neither a request nor an answer from tiny_http".into());
            }
        }
        let response = read_response(conn, head_only)?;
        // One request, one response: once we close, tiny_http closes, and nothing else
        // may have been written.
        let _ = conn.shutdown(std::net::Shutdown::Write);
        let mut extra = Vec::new();
        conn.read_to_end(&mut extra)
            .map_err(|e| format!("reading after the response: {e}"))?;
        if !extra.is_empty() {
            return Err(format!(
                "{} unexpected bytes after the response",
                extra.len()
            ));
        }
        Ok(response)
    }
}

fn app(
    server: &Arc<Server>,
    registry: &Arc<Registry>,
    port: u16,
    auth: Option<auth::Tokens>,
) -> Arc<App> {
    Arc::new(App {
        server: Arc::clone(server),
        sessions: Arc::new(Sessions::new(SESSION_TIMEOUT)),
        streams: Arc::new(Streams::new(0)),
        registry: Arc::clone(registry),
        allowed_origins: headers::default_origins(port, false),
        loopback_bound: true,
        tls: false,
        max_body: MAX_BODY,
        started: Instant::now(),
        ui: ui::Dashboard::new(server.workspace.root()),
        parked: elicit::Parked::default(),
        auth,
        rest: true,
        transport: "http-stream",
        workers_started: Arc::new(std::sync::atomic::AtomicUsize::new(1)),
        workers_max: 1,
        queue_capacity: 1,
    })
}

/// Writes a file only its owner may read (`--auth-token-file` refuses anything else).
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// The front's reading of the start of a client byte stream.
enum Framed {
    /// The front answers this status and closes.
    Refused(u16),
    /// The client closed before the request was complete: closed without a word.
    Incomplete,
    Request {
        /// What the relay forwards to tiny_http: the re-framed head and the body.
        message: Vec<u8>,
        /// Bytes of the input the request occupied.
        used: usize,
        head_only: bool,
        close: bool,
        /// The parsed head, which goes to the worker beside the forwarded bytes.
        head: Head,
    },
}

/// `relay.rs`'s `read_head` and `read_body`, for a client that has sent `buf` and then
/// closed its write side: the same head.rs calls, caps and statuses.
fn frame(buf: &[u8]) -> Framed {
    let Some(end) = head::head_end(buf) else {
        // EOF inside a head: 431 past the cap, else 400.
        return Framed::Refused(if buf.len() > MAX_HEAD_BYTES { 431 } else { 400 });
    };
    if end > MAX_HEAD_BYTES {
        return Framed::Refused(refusal(&FramingError::HeadTooLarge));
    }
    let head = match head::parse(&buf[..end]) {
        Ok(head) => head,
        Err(e) => return Framed::Refused(refusal(&e)),
    };
    let (body, used): (Cow<'_, [u8]>, usize) = match head.framing {
        Framing::Length(n) if n > MAX_BODY => {
            return Framed::Refused(refusal(&FramingError::BodyTooLarge))
        }
        Framing::Length(n) => {
            let total = end + n as usize;
            if buf.len() < total {
                return Framed::Incomplete;
            }
            (Cow::Borrowed(&buf[end..total]), total)
        }
        Framing::Chunked => {
            let mut chunked = Chunked::default();
            match chunked.advance(&buf[end..], MAX_BODY) {
                Ok(Some(n)) => (Cow::Owned(chunked.body), end + n),
                Ok(None) => return Framed::Incomplete,
                Err(e) => return Framed::Refused(refusal(&e)),
            }
        }
    };
    let mut message = head.forward(body.len());
    message.extend_from_slice(&body);
    Framed::Request {
        message,
        used,
        head_only: head.method == "HEAD",
        close: head.close,
        head,
    }
}

/// The status the front answers a framing error with (as `relay.rs`'s `answer_for`).
fn refusal(e: &FramingError) -> u16 {
    match e {
        FramingError::HeadTooLarge => 431,
        FramingError::Malformed(_) => 400,
        FramingError::UnsupportedCoding => 501,
        FramingError::BodyTooLarge => 413,
    }
}

/// Whether the peer has written something (or closed), without blocking.
fn has_data(conn: &TcpStream) -> Result<bool, String> {
    conn.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut byte = [0u8; 1];
    let peeked = conn.peek(&mut byte);
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    match peeked {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(format!("peek: {e}")),
    }
}

/// Reads exactly one response (RFC 9112 §6.3 framing) and checks nothing follows it.
fn read_response(conn: &mut TcpStream, head_only: bool) -> Result<WireResponse, String> {
    let mut reader = Wire {
        conn,
        buf: Vec::new(),
        pos: 0,
    };
    let head = reader.line_block()?;
    let head = std::str::from_utf8(&head).map_err(|_| "non-UTF-8 response head".to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = parse_status_line(status_line)?;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line without ':': {line:?}"))?;
        if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(format!("bad header name: {name:?}"));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(format!("control byte in header {name}: {value:?}"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = WireResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let no_body = head_only || status < 200 || status == 204 || status == 304;
    let chunked = response
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if no_body {
    } else if chunked {
        response.body = reader.chunked_body()?;
    } else if let Some(length) = response.header("Content-Length") {
        let n: usize = length
            .parse()
            .map_err(|_| format!("bad Content-Length: {length:?}"))?;
        response.body = reader.exact(n)?;
    } else {
        response.body = reader.until_close()?;
    }
    reader.expect_end()?;
    Ok(response)
}

fn parse_status_line(line: &str) -> Result<u16, String> {
    let mut parts = line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(format!("bad status line: {line:?}"));
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(format!("bad status line: {line:?}"));
    }
    match code.parse::<u16>() {
        Ok(status) if code.len() == 3 && (100..=599).contains(&status) => Ok(status),
        _ => Err(format!("bad status code: {line:?}")),
    }
}

/// A buffered reader over the response bytes.
struct Wire<'a> {
    conn: &'a mut TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Wire<'_> {
    /// Reads more; `false` at EOF.
    fn fill(&mut self) -> Result<bool, String> {
        let mut chunk = [0u8; 16 * 1024];
        match self.conn.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) => Err(format!("reading the response: {e}")),
        }
    }

    /// Everything up to the next `\r\n\r\n` (exclusive), consumed with it.
    fn line_block(&mut self) -> Result<Vec<u8>, String> {
        self.until(b"\r\n\r\n", "incomplete response head")
    }

    fn until(&mut self, delimiter: &[u8], missing: &str) -> Result<Vec<u8>, String> {
        loop {
            let rest = &self.buf[self.pos..];
            if let Some(i) = rest.windows(delimiter.len()).position(|w| w == delimiter) {
                let found = rest[..i].to_vec();
                self.pos += i + delimiter.len();
                return Ok(found);
            }
            if !self.fill()? {
                return Err(missing.to_string());
            }
        }
    }

    fn exact(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() - self.pos < n {
            if !self.fill()? {
                return Err(format!("body shorter than its length {n}"));
            }
        }
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }

    fn chunked_body(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line = self.until(b"\r\n", "incomplete chunk size line")?;
            let text = String::from_utf8_lossy(&line);
            let size_text = text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| format!("bad chunk size line: {text:?}"))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !self.until(b"\r\n", "incomplete trailers")?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.exact(size)?);
            if !self.exact(2)?.eq(b"\r\n") {
                return Err("chunk data longer than its size".into());
            }
        }
    }

    /// A close-delimited body: our side closes first, so tiny_http closes after it.
    fn until_close(&mut self) -> Result<Vec<u8>, String> {
        let _ = self.conn.shutdown(std::net::Shutdown::Write);
        while self.fill()? {}
        let out = self.buf[self.pos..].to_vec();
        self.pos = self.buf.len();
        Ok(out)
    }

    /// Nothing may follow the response: one request, one response.
    fn expect_end(&mut self) -> Result<(), String> {
        if self.pos < self.buf.len() {
            return Err(format!(
                "{} unexpected bytes after the response",
                self.buf.len() - self.pos
            ));
        }
        Ok(())
    }
}
