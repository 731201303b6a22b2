//! Server-Sent Events responses and the bounded set of long-lived stream threads.
//!
//! An [`SseWriter`] takes over a tiny_http request's connection (`into_writer`) and writes
//! the response itself with chunked framing, flushing every event: tiny_http's own
//! chunked encoder buffers 8 KiB before sending, which would hold events back. The
//! connection stays usable for keep-alive once the stream ends.
//!
//! Request-scoped streams (progress notifications, then the response) are short and run
//! on the request worker. Long-lived ones (`subscriptions/listen` in 2026-07-28, the
//! legacy GET stream) run on their own threads, at most `--max-streams` of them, and never
//! pin a request worker. They wait on the core's change feed in short ticks so shutdown
//! and session deletion are noticed promptly, and send an SSE comment as keep-alive.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::jsonrpc::{self, Notification};
use crate::mcp::{Server, Session};

/// Quiet time after which a long-lived stream sends a `: keep-alive` comment.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// How often a long-lived stream checks for shutdown and session end.
pub const STREAM_TICK: Duration = Duration::from_millis(250);

/// An open SSE response.
pub struct SseWriter {
    out: Box<dyn Write + Send>,
    /// HTTP/1.1 framing. An HTTP/1.0 client knows no chunked coding (RFC 9112 §7.1), so it
    /// gets the events as they are and the end of the body is the end of the connection.
    chunked: bool,
}

impl SseWriter {
    /// Writes the response head and takes over the connection.
    pub fn start(
        request: super::request::Request,
        extra_headers: &[(String, String)],
    ) -> io::Result<SseWriter> {
        let chunked = *request.http_version() != tiny_http::HTTPVersion(1, 0);
        let mut head = String::from(if chunked {
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
        } else {
            "HTTP/1.0 200 OK\r\nConnection: close\r\n"
        });
        head.push_str(
            "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n",
        );
        for (name, value) in extra_headers {
            super::respond::push_field(&mut head, name, value);
        }
        head.push_str("\r\n");
        let mut out = request.into_writer();
        out.write_all(head.as_bytes())?;
        out.flush()?;
        Ok(SseWriter { out, chunked })
    }

    /// One `message` event carrying a JSON-RPC message.
    pub fn event<T: Serialize + ?Sized>(&mut self, message: &T) -> io::Result<()> {
        let text = jsonrpc::encode(message);
        log::trace!("sse -> {text}");
        self.chunk(format!("event: message\ndata: {text}\n\n").as_bytes())
    }

    /// An event with a name and one line of already-encoded data (the 2024-11-05
    /// `endpoint` event; `message` events of pre-encoded JSON-RPC messages).
    pub fn named(&mut self, name: &str, data: &str) -> io::Result<()> {
        debug_assert!(!data.contains('\n'), "SSE data is one line");
        log::trace!("sse -> {name}: {data}");
        self.chunk(format!("event: {name}\ndata: {data}\n\n").as_bytes())
    }

    /// An SSE comment line (ignored by clients): keep-alive and stream-open markers.
    pub fn comment(&mut self, text: &str) -> io::Result<()> {
        self.chunk(format!(": {text}\n\n").as_bytes())
    }

    /// Ends the response (the last chunk); the connection may carry further requests.
    pub fn finish(mut self) -> io::Result<()> {
        if self.chunked {
            self.out.write_all(b"0\r\n\r\n")?;
        }
        self.out.flush()
    }

    fn chunk(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.chunked {
            self.out.write_all(data)?;
            return self.out.flush();
        }
        write!(self.out, "{:x}\r\n", data.len())?;
        self.out.write_all(data)?;
        self.out.write_all(b"\r\n")?;
        self.out.flush()
    }
}

/// The long-lived stream threads: a cap, a stop flag, and their handles to join.
#[derive(Default)]
pub struct Streams {
    active: AtomicUsize,
    max: usize,
    stopping: AtomicBool,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

/// A reserved stream slot; released when dropped.
pub struct Permit(Arc<Streams>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Streams {
    pub fn new(max: usize) -> Streams {
        Streams {
            max,
            ..Streams::default()
        }
    }

    /// Reserves a slot, or `None` at `--max-streams` (the caller answers 503).
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let before = self.active.fetch_add(1, Ordering::SeqCst);
        if before >= self.max || self.stopping() {
            self.active.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Permit(Arc::clone(self)))
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Runs `body` on a named stream thread holding `permit` until it ends.
    pub fn spawn<F>(&self, permit: Permit, body: F) -> io::Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        let handle = thread::Builder::new()
            .name("mcp-stream".into())
            .spawn(move || {
                body();
                drop(permit);
            })?;
        let mut handles = self.handles.lock().unwrap_or_else(PoisonError::into_inner);
        handles.retain(|h| !h.is_finished());
        handles.push(handle);
        Ok(())
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Asks every stream to end (shutdown): each sends what ends it and closes.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Joins every stream thread (after [`Streams::stop`]).
    pub fn join_all(&self) {
        let handles: Vec<_> = self
            .handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for handle in handles {
            let _ = handle.join();
        }
    }
}

/// What ends a long-lived stream besides shutdown and a dead client.
pub trait StreamScope {
    /// False once the stream's owner (a legacy session) is gone.
    fn alive(&self) -> bool;
    /// Called each tick so an open stream keeps its session from expiring.
    fn touch(&self) {}
}

/// Serves a long-lived stream: change notifications through `flush_changes`, keep-alive
/// comments, and on shutdown the completion responses of open subscriptions.
pub fn run_long_lived(
    server: &Server,
    streams: &Streams,
    session: &Mutex<Session>,
    scope: &dyn StreamScope,
    mut out: SseWriter,
) -> io::Result<()> {
    let lock = || session.lock().unwrap_or_else(PoisonError::into_inner);
    let mut seen = server.changes.generation();
    let mut last_write = Instant::now();
    loop {
        if streams.stopping() || !scope.alive() {
            let endings = server.end_subscriptions(&mut lock());
            for response in &endings {
                out.event(response)?;
            }
            return out.finish();
        }
        let generation = server.changes.wait_past(seen, STREAM_TICK);
        scope.touch();
        if generation > seen {
            seen = generation;
            let mut batch: Vec<Notification> = Vec::new();
            server.flush_changes(&mut lock(), &mut |n| batch.push(n));
            for n in &batch {
                out.event(n)?;
                last_write = Instant::now();
            }
        }
        if last_write.elapsed() >= KEEPALIVE_INTERVAL {
            out.comment("keep-alive")?;
            last_write = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_capped_and_released() {
        let streams = Arc::new(Streams::new(1));
        let first = streams.try_acquire().expect("one slot");
        assert!(streams.try_acquire().is_none(), "cap of one");
        drop(first);
        assert!(streams.try_acquire().is_some(), "slot released");
        streams.stop();
        assert!(
            streams.try_acquire().is_none(),
            "no new streams while stopping"
        );
    }
}
