//! One client connection in the front: read whole requests under deadlines and caps and
//! forward them to tiny_http over a private loopback socket (backend.rs). The workers
//! write the answers to the client themselves (request.rs); this thread also watches the
//! backend socket while it waits for the client, for what tiny_http writes on its own.
//!
//! One thread per connection (and tiny_http's thread for its backend connection, opened
//! with the first request). Deadlines:
//! - the first request head must be complete within `--header-timeout` of accept (TLS
//!   handshake included), and every later head within the same time of its first byte;
//! - a body must arrive within [`BODY_TIMEOUT`];
//! - a keep-alive connection with nothing in flight closes after [`IDLE_TIMEOUT`];
//! - writes to the client fail after `--send-timeout` without progress (a client that
//!   stops reading; answers a stalled client has not taken must also keep a minimum pace,
//!   outbox.rs).
//!
//! Errors the front answers itself (400, 408, 413, 431, 501, 503) always close the
//! connection, after any responses already in flight have been relayed.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backend::{Backend, Ready};
use super::front::{ClientWriter, ConnEntry, FrontCtx};
use super::head::{self, Chunked, Framing, FramingError, Head, MAX_HEAD_BYTES};
use super::metrics::METRICS;
use crate::transport::tls::TlsReader;

/// A keep-alive connection with nothing in flight closes after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time a request body has to arrive in full once its head is in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes read from the client per call: requests are mostly well under 1 KiB, and this
/// buffer is on every relay thread's stack (memory per connection).
const READ_CHUNK_BYTES: usize = 4 * 1024;
/// Most requests of one connection in flight at once; a pipelining client's next request
/// is not read until an answer completes (its bytes wait in the kernel, TCP pushes back).
const MAX_PIPELINED: usize = 32;
/// How long the relay waits for room in the pipeline before it looks at tiny_http again.
const PIPELINE_WAIT: Duration = Duration::from_millis(200);

/// How the read loop ended.
enum End {
    /// Client gone, idle or drained: close without a word.
    Quiet,
    /// The client asked to close after this request (`Connection: close`, HTTP/1.0):
    /// read no more, but what is in flight (a stream, say) goes on to its end.
    AfterLast,
    /// The front answers this status, then closes.
    Answer(u16, &'static str),
}

/// The read side of the client connection.
enum ClientReader {
    /// The shared socket, read through `&TcpStream` (no `dup`, so no extra descriptor).
    Plain(Arc<TcpStream>),
    Tls(TlsReader),
}

impl ClientReader {
    /// Whether a read can return data without the socket becoming readable first.
    fn buffered(&self) -> bool {
        match self {
            ClientReader::Plain(_) => false,
            ClientReader::Tls(tls) => tls.buffered(),
        }
    }
}

impl Read for ClientReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientReader::Plain(sock) => (&**sock).read(buf),
            ClientReader::Tls(tls) => tls.read(buf),
        }
    }
}

/// Runs one connection to its end.
pub fn run(ctx: &Arc<FrontCtx>, entry: &Arc<ConnEntry>) {
    let accepted = Instant::now();
    let sock = Arc::clone(&entry.sock);
    let _ = sock.set_nodelay(true);
    let _ = sock.set_write_timeout(Some(ctx.registry.send_timeout()));
    let (reader, writer) = match &ctx.tls {
        None => (
            ClientReader::Plain(Arc::clone(&sock)),
            ClientWriter::Plain(Arc::clone(&sock)),
        ),
        Some(acceptor) => match acceptor.start(Arc::clone(&sock)) {
            Ok((r, w)) => (ClientReader::Tls(r), ClientWriter::Tls(w)),
            Err(e) => {
                log::warn!("{}: TLS session not started: {e}", entry.peer);
                METRICS.tls_handshake_failed();
                return;
            }
        },
    };
    entry.set_client_writer(writer.clone());
    let mut conn = Conn {
        ctx,
        entry,
        control: sock,
        reader,
        writer,
        buf: Vec::new(),
        backend: None,
        read_timeout: None,
    };
    let end = conn.serve(accepted);
    if let ClientWriter::Tls(tls) = &conn.writer {
        if !tls.handshake_done() {
            METRICS.tls_handshake_failed();
        }
    }
    conn.finish(end);
}

struct Conn<'a> {
    ctx: &'a Arc<FrontCtx>,
    entry: &'a Arc<ConnEntry>,
    /// The client socket, for read timeouts.
    control: Arc<TcpStream>,
    reader: ClientReader,
    writer: ClientWriter,
    /// Bytes read from the client and not yet forwarded.
    buf: Vec<u8>,
    backend: Option<Backend>,
    /// The read timeout last set on the client socket.
    read_timeout: Option<Duration>,
}

impl Conn<'_> {
    fn serve(&mut self, accepted: Instant) -> End {
        let mut first = true;
        loop {
            if self.ctx.registry.draining() {
                return End::Quiet;
            }
            let idle_deadline = if first {
                accepted + self.ctx.header_timeout
            } else {
                Instant::now() + IDLE_TIMEOUT
            };
            first = false;
            let (head, head_len) = match self.read_head(idle_deadline) {
                Ok(Some(found)) => found,
                Ok(None) => return End::Quiet,
                Err(end) => return end,
            };
            let body = match self.read_body(&head, head_len) {
                Ok(body) => body,
                Err(end) => return end,
            };
            let close = head.close;
            if let Err(end) = self.forward(head, &body) {
                return end;
            }
            if close {
                return End::AfterLast;
            }
        }
    }

    /// Reads until a whole head is buffered. `Ok(None)`: the connection should close
    /// quietly (EOF, idle, reset).
    fn read_head(&mut self, mut idle_deadline: Instant) -> Result<Option<(Head, usize)>, End> {
        let mut started = (!self.buf.is_empty()).then(Instant::now);
        if started.is_some() {
            self.entry.begin_reading();
        }
        loop {
            if let Some(end) = head::head_end(&self.buf) {
                if end > MAX_HEAD_BYTES {
                    return Err(answer_for(FramingError::HeadTooLarge));
                }
                return head::parse(&self.buf[..end])
                    .map(|h| Some((h, end)))
                    .map_err(answer_for);
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return Err(answer_for(FramingError::HeadTooLarge));
            }
            let deadline = match started {
                Some(t0) => t0 + self.ctx.header_timeout,
                None => idle_deadline,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                if started.is_some() {
                    return Err(End::Answer(408, "request head not received in time"));
                }
                if self.entry.in_flight() > 0 {
                    // A response (an SSE stream, say) is still going out: not idle.
                    idle_deadline = Instant::now() + IDLE_TIMEOUT;
                    continue;
                }
                return Ok(None);
            }
            match self.read_more(left) {
                Ok(0) if self.buf.is_empty() => return Ok(None),
                Ok(0) => return Err(End::Answer(400, "connection closed inside a request head")),
                Ok(_) if started.is_none() => {
                    started = Some(Instant::now());
                    self.entry.begin_reading();
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(_) => return Ok(None),
            }
        }
    }

    /// One read from the client with a timeout, appended to `buf`. While a backend
    /// connection is open, tiny_http is watched too: what it writes itself is copied to
    /// the client (then a timeout error, so the caller re-checks its deadline), and its
    /// close ends the connection (an error).
    fn read_more(&mut self, timeout: Duration) -> io::Result<usize> {
        if let Some(backend) = &self.backend {
            if !self.reader.buffered() {
                match backend.wait(&self.control, timeout)? {
                    Ready::Client => {}
                    Ready::Timeout => return Err(io::ErrorKind::TimedOut.into()),
                    Ready::Backend if backend.copy_once(self.entry, &self.writer)? => {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                    Ready::Backend => {
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "the request queue closed the connection",
                        ));
                    }
                }
            }
        }
        // A timeout already set that is close to the one needed is kept (overshoot at most
        // 1/16): the caller re-checks its deadline after every read, and one setsockopt
        // per request was a tenth of the front's system calls.
        let keep = self
            .read_timeout
            .is_some_and(|set| set <= timeout + timeout / 16 && set >= timeout / 2);
        if !keep {
            self.control.set_read_timeout(Some(timeout))?;
            self.read_timeout = Some(timeout);
        }
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        let n = self.reader.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads the whole body; the head (`head_len` bytes) stays at the front of `buf`
    /// until [`Conn::forward`] consumes both.
    fn read_body(&mut self, head: &Head, head_len: usize) -> Result<Body, End> {
        let max = self.ctx.max_body;
        let reserve = match head.framing {
            Framing::Length(n) if n > max => return Err(answer_for(FramingError::BodyTooLarge)),
            Framing::Length(n) => n,
            Framing::Chunked => max,
        };
        let Some(permit) = BufferPermit::take(self.ctx, reserve) else {
            return Err(End::Answer(503, "request buffers full"));
        };
        if head.expect_continue && self.buf.len() == head_len && self.entry.in_flight() == 0 {
            let _ = self.writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let deadline = Instant::now() + BODY_TIMEOUT;
        let mut chunked = Chunked::default();
        loop {
            let done = match head.framing {
                Framing::Length(n) => {
                    let total = head_len + n as usize;
                    (self.buf.len() >= total).then_some((None, total))
                }
                Framing::Chunked => chunked
                    .advance(&self.buf[head_len..], max)
                    .map_err(answer_for)?
                    .map(|used| (Some(std::mem::take(&mut chunked.body)), head_len + used)),
            };
            if let Some((decoded, consumed)) = done {
                return Ok(Body {
                    decoded,
                    head_len,
                    consumed,
                    _permit: permit,
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(End::Answer(408, "request body not received in time"));
            }
            match self.read_more(left) {
                Ok(0) => return Err(End::Quiet),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(_) => return Err(End::Quiet),
            }
        }
    }

    /// Sends the re-framed request to tiny_http and drops it from `buf`; its parsed head
    /// goes to the connection's queue for the dispatcher.
    fn forward(&mut self, head: Head, body: &Body) -> Result<(), End> {
        if self.backend.is_none() {
            self.backend = Some(self.connect_backend()?);
        }
        self.wait_for_room()?;
        let payload: &[u8] = match &body.decoded {
            Some(decoded) => decoded,
            None => &self.buf[body.head_len..body.consumed],
        };
        let mut message = head.forward(payload.len());
        message.extend_from_slice(payload);
        self.entry.forwarded(head);
        let backend = self.backend.as_ref().map(|b| &b.stream);
        if let Some(mut stream) = backend {
            if stream.write_all(&message).is_err() {
                self.entry.finish_request();
                return Err(End::Answer(503, "backend connection lost"));
            }
        }
        self.buf.drain(..body.consumed);
        Ok(())
    }

    /// Holds a pipelining client's next request (already read, so also while draining: it
    /// was accepted) until fewer than [`MAX_PIPELINED`] are in flight. Between waits it
    /// looks at tiny_http: if that closed the connection, the requests it never handed
    /// over will never be answered.
    fn wait_for_room(&mut self) -> Result<(), End> {
        while !self.entry.wait_for_room(MAX_PIPELINED, PIPELINE_WAIT) {
            if let Some(backend) = &self.backend {
                let ready = backend.wait(&self.control, Duration::ZERO);
                if let Ok(Ready::Backend) = ready {
                    if !backend.copy_once(self.entry, &self.writer).unwrap_or(false) {
                        return Err(End::Quiet);
                    }
                }
            }
        }
        Ok(())
    }

    /// After the client's last request (`Connection: close`, HTTP/1.0): waits until every
    /// answer on the connection is out (a stream may take long), copying what tiny_http
    /// writes itself. True when all were answered and tiny_http's side is still open.
    fn settle(&self, backend: &Backend) -> bool {
        loop {
            if self.entry.wait_for_room(1, PIPELINE_WAIT) {
                return self.entry.settled();
            }
            match backend.wait(&self.control, Duration::ZERO) {
                Ok(Ready::Backend) => {
                    if !backend.copy_once(self.entry, &self.writer).unwrap_or(false) {
                        return false;
                    }
                }
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    fn connect_backend(&mut self) -> Result<Backend, End> {
        let backend = Backend::get(self.ctx).map_err(|e| {
            log::warn!("{}: cannot reach the request queue: {e}", self.entry.peer);
            End::Answer(503, "server busy")
        })?;
        self.ctx.registry.bind_relay(backend.local, self.entry);
        Ok(backend)
    }

    /// Orderly close: let tiny_http finish what is in flight, then answer and close.
    fn finish(mut self, end: End) {
        self.entry.abandon_reading();
        if !matches!(end, End::AfterLast) {
            self.entry.client_gone.store(true, Ordering::SeqCst);
        }
        if let Some(backend) = self.backend.take() {
            let local = backend.local;
            // A client that left between requests, or whose last request is answered,
            // leaves tiny_http waiting for the next head: that connection can serve the
            // next client (unbound first, so nothing on it is taken for this one).
            let clean = match end {
                End::Quiet => self.entry.settled(),
                End::AfterLast => self.settle(&backend),
                End::Answer(..) => false,
            };
            let left = if clean {
                self.ctx.registry.unbind_relay(local);
                self.ctx.registry.parked.put(backend).err()
            } else {
                Some(backend)
            };
            if let Some(backend) = left {
                backend.drain(self.entry, &self.writer);
                self.ctx.registry.unbind_relay(local);
            }
        }
        // Answers still queued for the client (outbox.rs) go out before anything the front
        // writes itself, and before the close: tiny_http closed once every worker had
        // handed its answer over, not once the client had it.
        self.entry.wait_flushed(PIPELINE_WAIT);
        if let End::Answer(status, why) = end {
            METRICS.rejected(status);
            log::info!(
                target: "access",
                remote_addr:% = self.entry.peer,
                status = status,
                reason = why,
                transport = "front";
                "{} - - {status} 0ms front: {why}",
                self.entry.peer
            );
            let _ = write_error(&mut self.writer, status, why);
        }
        self.writer.close();
    }
}

/// A fully read request body.
struct Body {
    /// The de-chunked body; `None` when it sits in `buf` after the head as is.
    decoded: Option<Vec<u8>>,
    head_len: usize,
    /// Bytes of `buf` the request occupies (head and framed body).
    consumed: usize,
    _permit: BufferPermit,
}

/// A reservation against the front's body-buffer budget, released on drop.
struct BufferPermit {
    ctx: Arc<FrontCtx>,
    bytes: u64,
}

impl BufferPermit {
    fn take(ctx: &Arc<FrontCtx>, bytes: u64) -> Option<BufferPermit> {
        let reserved = ctx.buffered.fetch_add(bytes, Ordering::SeqCst) + bytes;
        if reserved > ctx.buffer_budget && bytes > 0 {
            ctx.buffered.fetch_sub(bytes, Ordering::SeqCst);
            return None;
        }
        Some(BufferPermit {
            ctx: Arc::clone(ctx),
            bytes,
        })
    }
}

impl Drop for BufferPermit {
    fn drop(&mut self) {
        self.ctx.buffered.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

fn answer_for(e: FramingError) -> End {
    match e {
        FramingError::HeadTooLarge => End::Answer(431, "request head too large"),
        FramingError::Malformed(why) => End::Answer(400, why),
        FramingError::UnsupportedCoding => End::Answer(501, "unsupported transfer coding"),
        FramingError::BodyTooLarge => End::Answer(413, "request body too large"),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A front-generated error response with a JSON body, closing the connection.
fn write_error(w: &mut impl Write, status: u16, why: &str) -> io::Result<()> {
    let body = serde_json::json!({ "error": why, "status": status }).to_string();
    let retry = if status == 503 {
        "Retry-After: 1\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\n{retry}Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    w.write_all(head.as_bytes())?;
    w.write_all(body.as_bytes())?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        _ => "Service Unavailable",
    }
}
