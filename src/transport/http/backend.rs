//! A relay's private connection to tiny_http: opening it, watching it while the relay
//! waits for its client, and draining it when the connection ends.
//!
//! Answers do not come back this way (the workers write them to the client, request.rs).
//! What does: the bytes tiny_http writes on its own (its 400 for a head it cannot parse),
//! and its close, which comes once every answer on the connection is complete because
//! each worker holds tiny_http's writer for its request until its answer is out. So the
//! relay thread watches both sockets with `poll` and needs no second thread per
//! connection.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::front::{ClientWriter, ConnEntry, FrontCtx};
use super::head;
use super::metrics::METRICS;
use super::outbox;

/// Most private connections kept parked for the next client connections. Why this many:
/// with 8, short connections at c=256 split into fast ones (a parked connection) and ones
/// that waited for the one-at-a-time opener (p50 3 ms, p99 600 ms); with 64 they were
/// served alike (p50 40 ms, p99 120–150 ms) at the same rate. Each costs an idle tiny_http
/// thread and three descriptors (reserved in the connection budget).
pub const MAX_PARKED: usize = 64;
/// Connecting to tiny_http's private listener, and the answer to [`WARM_UP`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes of tiny_http's own output copied per read, on the relay's stack.
const COPY_CHUNK_BYTES: usize = 2 * 1024;

/// The request a new backend connection starts with. It comes from an address no relay
/// is bound to yet, so no client can send it: the front forwards client requests only on
/// bound connections.
const WARM_UP: &[u8] = b"OPTIONS * HTTP/1.1\r\nHost: front\r\nContent-Length: 0\r\n\r\n";

/// One relay's connection to tiny_http.
pub struct Backend {
    pub stream: TcpStream,
    /// Our end's address: what tiny_http reports as the request's peer.
    pub local: SocketAddr,
}

/// What [`Backend::wait`] saw first.
pub enum Ready {
    /// The client sent something (or closed).
    Client,
    /// tiny_http wrote something (or closed).
    Backend,
    /// Neither within the time given.
    Timeout,
}

impl Backend {
    /// A private connection for a client connection's first request: a parked one if a
    /// clean one is there, else a new one ([`Backend::open`]).
    pub fn get(ctx: &FrontCtx) -> io::Result<Backend> {
        if let Some(parked) = ctx.registry.parked.take() {
            METRICS.backend_reused();
            return Ok(parked);
        }
        let opened = Backend::open(ctx)?;
        METRICS.backend_opened();
        Ok(opened)
    }

    /// Connects to tiny_http, one relay at a time, and waits for the answer to
    /// [`WARM_UP`].
    ///
    /// Why: tiny_http hands each accepted connection to a thread pool that decides between
    /// "wake an idle thread" and "start a thread" from a count of idle threads that still
    /// includes threads already woken for earlier connections. Connections accepted in a
    /// burst could then wait in its queue, unserved, until some other keep-alive connection
    /// closed (seen: 4 of 8 simultaneous clients got no answer). A warm-up answered means
    /// a thread owns this connection; doing it one at a time means the pool's count is
    /// accurate whenever it accepts one of ours.
    pub fn open(ctx: &FrontCtx) -> io::Result<Backend> {
        let _one_at_a_time = ctx
            .backend_opening
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut stream = TcpStream::connect_timeout(&ctx.backend, CONNECT_TIMEOUT)?;
        let _ = stream.set_nodelay(true);
        stream.set_read_timeout(Some(CONNECT_TIMEOUT))?;
        stream.write_all(WARM_UP)?;
        // The answer is a head without a body (204); read until its end.
        let mut answer = Vec::with_capacity(256);
        let mut chunk = [0u8; 256];
        while head::head_end(&answer).is_none() {
            let n = stream.read(&mut chunk)?;
            if n == 0 || answer.len() > 4096 {
                return Err(io::Error::other(
                    "the request queue did not answer its warm-up",
                ));
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        stream.set_read_timeout(None)?;
        let local = stream.local_addr()?;
        Ok(Backend { stream, local })
    }

    /// Nothing to read: tiny_http has neither written anything nor closed. A connection
    /// between two requests of its own is like this; one that is not cannot be reused.
    fn is_quiet(&self) -> bool {
        let mut fd = libc::pollfd {
            fd: self.stream.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `fd` is one live pollfd struct and its count, 1, is passed.
        unsafe { libc::poll(&mut fd, 1, 0) == 0 }
    }

    /// Waits until the client socket or this one is readable, at most `timeout`.
    pub fn wait(&self, client: &TcpStream, timeout: Duration) -> io::Result<Ready> {
        let mut fds = [
            libc::pollfd {
                fd: client.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.stream.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // Rounded up, so a wait never ends before its deadline and spins.
        let millis = timeout.as_micros().div_ceil(1000);
        let millis = libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a live array of two pollfd structs and its length is passed.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, millis) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted => Ok(Ready::Timeout),
                _ => Err(e),
            };
        }
        // Any event (data, hang-up, error) on the backend is looked at first: it is rare,
        // and a close must not wait behind a client that keeps sending.
        Ok(if fds[1].revents != 0 {
            Ready::Backend
        } else if fds[0].revents != 0 {
            Ready::Client
        } else {
            Ready::Timeout
        })
    }

    /// Copies one read of tiny_http's own output to the client, behind any answers still
    /// queued for it (outbox.rs). `Ok(false)`: tiny_http closed the connection (or the
    /// client cannot take more), so the relay ends.
    pub fn copy_once(&self, entry: &Arc<ConnEntry>, client: &ClientWriter) -> io::Result<bool> {
        let mut chunk = [0u8; COPY_CHUNK_BYTES];
        let n = match (&self.stream).read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(true),
            Err(e) => return Err(e),
        };
        outbox::send(entry, client, &chunk[..n])?;
        Ok(true)
    }

    /// The orderly end: tells tiny_http no more requests come, then copies what it still
    /// writes until it closes, which is after the last answer in flight (a stream, say)
    /// is complete.
    pub fn drain(self, entry: &Arc<ConnEntry>, client: &ClientWriter) {
        let _ = self.stream.shutdown(Shutdown::Write);
        loop {
            match self.copy_once(entry, client) {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => {
                    // The client is gone or stopped reading: fail tiny_http's writes too.
                    let _ = self.stream.shutdown(Shutdown::Both);
                    break;
                }
            }
        }
    }
}

/// Private connections that client connections left clean (every request answered,
/// tiny_http waiting for the next head), kept for new client connections.
///
/// Why: opening one costs a connect, the [`WARM_UP`] round trip through tiny_http and
/// the dispatcher, and a tiny_http thread start, one opener at a time: most of what a
/// short-lived client connection (`Connection: close`, a health check) costs. A parked
/// connection is unbound (no relay address maps to it), so nothing it could carry
/// reaches a worker until a new client connection binds it.
pub struct Parked {
    state: Mutex<ParkedState>,
    /// Most connections parked at once: [`MAX_PARKED`], or fewer when the file-descriptor
    /// limit is low (front.rs `FdBudget`).
    cap: usize,
}

impl Default for Parked {
    fn default() -> Parked {
        Parked::with_cap(MAX_PARKED)
    }
}

#[derive(Default)]
struct ParkedState {
    idle: Vec<Backend>,
    /// Draining: nothing is parked any more.
    closed: bool,
}

impl Parked {
    pub fn with_cap(cap: usize) -> Parked {
        Parked {
            state: Mutex::default(),
            cap,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ParkedState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A parked connection that is still quiet; noisy or closed ones are dropped on the way.
    fn take(&self) -> Option<Backend> {
        loop {
            let backend = self.lock().idle.pop()?;
            if backend.is_quiet() {
                return Some(backend);
            }
        }
    }

    /// Keeps a connection whose client connection ended with nothing in flight. `Err`
    /// gives it back (full, draining, or tiny_http is not quiet on it) for the caller to
    /// close in order.
    pub fn put(&self, backend: Backend) -> Result<(), Backend> {
        if !backend.is_quiet() {
            return Err(backend);
        }
        let mut state = self.lock();
        if state.closed || state.idle.len() >= self.cap {
            return Err(backend);
        }
        state.idle.push(backend);
        Ok(())
    }

    /// The drain: closes the parked connections (their tiny_http threads end) and parks
    /// no more.
    pub fn close_all(&self) {
        let idle = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.idle)
        };
        for backend in idle {
            let _ = backend.stream.shutdown(Shutdown::Both);
        }
    }
}

/// True for a backend connection's [`WARM_UP`], given a request from a relay address no
/// client connection is bound to. The dispatcher answers it without the workers.
pub fn is_warm_up(request: &tiny_http::Request) -> bool {
    *request.method() == tiny_http::Method::Options && request.url() == "*"
}

pub fn answer_warm_up(request: tiny_http::Request) {
    let _ = request.respond(tiny_http::Response::empty(204));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::http::front::Registry;
    use std::net::{Ipv4Addr, TcpListener};
    use std::time::Instant;

    /// A backend and a client socket pair on loopback, without tiny_http.
    fn pair() -> (Backend, TcpStream, TcpStream, TcpStream) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let ours = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (theirs, _) = listener.accept().expect("accept");
        let client_side = TcpStream::connect(listener.local_addr().expect("addr")).expect("c");
        let (server_side, _) = listener.accept().expect("accept");
        let local = ours.local_addr().expect("local");
        let backend = Backend {
            stream: ours,
            local,
        };
        (backend, theirs, client_side, server_side)
    }

    #[test]
    fn wait_tells_which_side_spoke_and_times_out_otherwise() {
        let (backend, mut tiny, mut client, server_side) = pair();
        let t0 = Instant::now();
        let quiet = backend.wait(&server_side, Duration::from_millis(30));
        assert!(matches!(quiet, Ok(Ready::Timeout)));
        assert!(
            t0.elapsed() >= Duration::from_millis(30),
            "not before the deadline"
        );
        client.write_all(b"x").expect("client writes");
        let ready = backend.wait(&server_side, Duration::from_secs(5));
        assert!(matches!(ready, Ok(Ready::Client)));
        tiny.write_all(b"y").expect("tiny_http writes");
        let ready = backend.wait(&server_side, Duration::from_secs(5));
        assert!(
            matches!(ready, Ok(Ready::Backend)),
            "the backend goes first"
        );
    }

    #[test]
    fn only_quiet_connections_are_parked_and_taken_and_the_drain_closes_them() {
        let parked = Parked::default();
        let (quiet, _tiny_quiet, _c1, _s1) = pair();
        let (noisy, mut tiny_noisy, _c2, _s2) = pair();
        let (gone, tiny_gone, _c3, _s3) = pair();
        assert!(
            parked.put(quiet).is_ok(),
            "tiny_http waits for a head: parked"
        );
        tiny_noisy.write_all(b"HTTP/1.1 400").expect("write");
        assert!(
            parked.put(noisy).is_err(),
            "tiny_http wrote on its own: not parked"
        );
        assert!(parked.put(gone).is_ok());
        drop(tiny_gone); // closed while parked: dropped when taken
        let taken = parked.take().expect("the quiet one is still there");
        assert!(taken.is_quiet());
        assert!(parked.take().is_none(), "nothing else was clean");
        assert!(parked.put(taken).is_ok());
        parked.close_all();
        assert!(parked.take().is_none(), "the drain closed it");
        let (late, _tiny_late, _c4, _s4) = pair();
        assert!(parked.put(late).is_err(), "nothing is parked once draining");
    }

    #[test]
    fn parking_stops_at_its_cap() {
        let parked = Parked::with_cap(3);
        let mut keep = Vec::new();
        for _ in 0..3 {
            let (backend, tiny, client, server) = pair();
            assert!(parked.put(backend).is_ok());
            keep.push((tiny, client, server));
        }
        let (extra, _tiny, _c, _s) = pair();
        assert!(parked.put(extra).is_err(), "full");
    }

    /// A registered connection writing to `server_side`, as the relay has it.
    fn client_entry(server_side: TcpStream) -> (Arc<ConnEntry>, ClientWriter) {
        let sock = Arc::new(server_side);
        let peer = sock.peer_addr().expect("peer");
        let entry = Registry::default().register(peer, Arc::clone(&sock));
        (entry, ClientWriter::Plain(sock))
    }

    #[test]
    fn copy_once_forwards_bytes_and_reports_the_close() {
        let (backend, mut tiny, mut client, server_side) = pair();
        let (entry, to_client) = client_entry(server_side);
        tiny.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            .expect("write");
        assert!(backend.copy_once(&entry, &to_client).expect("copied"));
        let mut got = [0u8; 64];
        let n = client.read(&mut got).expect("client reads");
        assert_eq!(&got[..n], b"HTTP/1.1 400 Bad Request\r\n\r\n");
        drop(tiny);
        assert!(
            !backend.copy_once(&entry, &to_client).expect("eof"),
            "closed"
        );
    }

    #[test]
    fn drain_copies_until_tiny_http_closes() {
        let (backend, mut tiny, mut client, server_side) = pair();
        let (entry, to_client) = client_entry(server_side);
        let writer = std::thread::spawn(move || {
            // tiny_http sees our write side close, writes its last bytes, then closes.
            let mut rest = Vec::new();
            let _ = tiny.read_to_end(&mut rest);
            tiny.write_all(b"last").expect("write");
        });
        backend.drain(&entry, &to_client);
        writer.join().expect("writer");
        let mut got = [0u8; 16];
        let n = client.read(&mut got).expect("read");
        assert_eq!(&got[..n], b"last");
    }
}
