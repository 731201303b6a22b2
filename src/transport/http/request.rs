//! A request as the workers see it: tiny_http's parsed request plus the front connection
//! it arrived on, so that its answer is written straight to the client's socket.
//!
//! Why: the answer used to go back the way the request came (worker -> tiny_http's
//! loopback socket -> the front's pump thread -> client): a second copy of every response
//! through the kernel and one more thread wake-up per request, most of the gap to the
//! benchmark's ceiling. Now the worker writes to the client (plain or TLS) itself.
//! tiny_http's writer for the request is still taken and held until the answer is out:
//! its first flush waits until the answers to earlier pipelined requests on the connection
//! are complete, and dropping it lets the next one go, so pipelined answers keep their
//! order (RFC 9112 §9.3.2). What tiny_http writes on its own (a 400 for a head it cannot
//! parse) still reaches the client through the relay thread (backend.rs).

use std::io::{self, Write};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::front::{ClientWriter, ConnEntry};
use super::head::Head;
use super::outbox;

/// A tiny_http request and the connection it came from (`None`: not through the front).
pub struct Request {
    /// `Some` until the answer has begun ([`Request::into_writer`]).
    inner: Option<tiny_http::Request>,
    entry: Option<Arc<ConnEntry>>,
    /// The head as the front parsed it, with every header field (tiny_http is forwarded
    /// only the request line and the framing, head.rs).
    head: Option<Head>,
}

impl Request {
    /// Takes the connection's next queued head: tiny_http hands over a connection's
    /// requests in the order the front forwarded them. A head that does not match the
    /// request line is not used (then only tiny_http's fields are seen, which lack
    /// everything a request needs to pass its checks); it cannot happen while the front
    /// forwards only heads tiny_http accepts.
    pub fn new(inner: tiny_http::Request, entry: Option<Arc<ConnEntry>>) -> Request {
        let head = entry.as_ref().and_then(|e| e.take_head()).filter(|head| {
            let same = head.method == inner.method().as_str() && head.target == inner.url();
            if !same {
                log::error!(
                    "queued head {} {} does not match the request {} {}",
                    head.method,
                    head.target,
                    inner.method(),
                    inner.url()
                );
            }
            same
        });
        Request {
            inner: Some(inner),
            entry,
            head,
        }
    }

    /// The front connection the request arrived on.
    pub fn entry(&self) -> Option<&Arc<ConnEntry>> {
        self.entry.as_ref()
    }

    /// The front closes the connection after this request (its head asked to, or is
    /// HTTP/1.0 without keep-alive): the decision the relay acts on, so the answer can say it.
    pub fn closes_after(&self) -> bool {
        self.head.as_ref().is_some_and(|head| head.close)
    }

    /// A request header's value (first occurrence; names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        match &self.head {
            Some(head) => head.get(name),
            None => self
                .headers()
                .iter()
                .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
                .map(|h| h.value.as_str()),
        }
    }

    /// Where the answer goes: the client's socket once it is this answer's turn, or
    /// tiny_http's own writer for a request whose connection has no client writer (the
    /// fuzz harness reads answers back from the loopback socket).
    pub fn into_writer(mut self) -> Box<dyn Write + Send> {
        let inner = self.inner.take().expect("a request is answered once");
        writer_for(inner, self.entry.as_ref())
    }
}

fn writer_for(inner: tiny_http::Request, entry: Option<&Arc<ConnEntry>>) -> Box<dyn Write + Send> {
    let turn = inner.into_writer();
    match entry.and_then(|e| Some((e, e.client_writer()?))) {
        Some((entry, client)) => Box::new(Direct {
            turn,
            waited: false,
            client: client.clone(),
            entry: Arc::clone(entry),
        }),
        None => turn,
    }
}

impl Deref for Request {
    type Target = tiny_http::Request;

    fn deref(&self) -> &tiny_http::Request {
        self.inner
            .as_ref()
            .expect("a request is read before it is answered")
    }
}

impl DerefMut for Request {
    fn deref_mut(&mut self) -> &mut tiny_http::Request {
        self.inner
            .as_mut()
            .expect("a request is read before it is answered")
    }
}

/// A request dropped unanswered (a handler panicked) gets a 500, as tiny_http would send
/// it, but in its turn on the client's socket, so later pipelined answers cannot pass it.
impl Drop for Request {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let mut out = writer_for(inner, self.entry.as_ref());
            let _ = out.write_all(UNANSWERED);
            let _ = out.flush();
        }
    }
}

/// What an unanswered request gets (tiny_http's `Response::empty(500)`).
const UNANSWERED: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";

/// Writes to the client once tiny_http says it is this answer's turn; holds the turn
/// until dropped. Never waits for the client: what it does not take at once is queued
/// (outbox.rs).
struct Direct {
    turn: Box<dyn Write + Send>,
    waited: bool,
    client: ClientWriter,
    entry: Arc<ConnEntry>,
}

impl Direct {
    fn wait_turn(&mut self) -> io::Result<()> {
        if !self.waited {
            // tiny_http's sequential writer blocks here until the writers of earlier
            // requests on this connection are dropped; it has nothing buffered to send.
            self.turn.flush()?;
            self.waited = true;
        }
        Ok(())
    }
}

impl Write for Direct {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.wait_turn()?;
        outbox::send(&self.entry, &self.client, data)?;
        Ok(data.len())
    }

    /// Everything written is on the socket or queued behind the answers before it.
    fn flush(&mut self) -> io::Result<()> {
        self.wait_turn()
    }
}
