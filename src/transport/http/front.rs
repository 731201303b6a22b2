//! The front: our own acceptor in front of tiny_http, closing its gaps.
//!
//! tiny_http's accept thread ends for good after one accept error, sets no socket timeouts,
//! has no header-size limit and runs a thread per connection without a cap. So tiny_http
//! never sees the public socket. The front owns it:
//! - the accept loop survives every accept error (EMFILE, ENFILE, ECONNABORTED...) by
//!   backing off and retrying, so a server at its file-descriptor limit recovers;
//! - concurrent connections are capped (`--max-connections`, further bounded by
//!   RLIMIT_NOFILE at start); past the cap a connection gets 503 and is closed;
//! - each connection gets a small relay thread ([`super::relay`]) that terminates TLS if
//!   configured, reads a whole request under header and body deadlines and size caps, and
//!   only then forwards it to tiny_http over a private loopback connection.
//!
//! The private listener is bound to 127.0.0.1 on an ephemeral port; requests whose peer is
//! not one of the front's own relay sockets are refused, so nothing can bypass the limits.
//! The [`Registry`] maps each relay socket to the real client address, which the workers
//! use in logs and policy.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::backend::{Parked, MAX_PARKED};
use super::head::Head;
use super::outbox::Outbox;
use super::relay;
use crate::config::DEFAULT_SEND_TIMEOUT;
use crate::transport::tls::{self, TlsWriter};

/// Wait after an accept error before retrying (EMFILE and friends clear when
/// connections close; retrying at once would spin).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Stack of a relay thread (TLS handshakes included).
pub const RELAY_STACK_BYTES: usize = 256 * 1024;
/// File descriptors kept back from the connection budget (listeners, logs, the signal
/// pipe, /dev/urandom, a refused connection being answered).
pub const FD_RESERVE: u64 = 32;
/// Descriptors a parked private connection holds: ours, tiny_http's and its `dup`.
const FDS_PER_PARKED: u64 = 3;
/// Descriptors a worker may hold at once while serving a request (workspace files).
pub const FDS_PER_WORKER: u64 = 2;
/// Descriptors one client connection uses: its socket, the relay socket, and tiny_http's
/// accepted socket plus the `dup` it makes of it (`RefinedTcpStream`; tiny_http panics in
/// its accept thread if that `dup` fails, so the budget must leave room for it).
pub const FDS_PER_CONNECTION: u64 = 4;
/// Upper bound we raise the soft RLIMIT_NOFILE to (never above the hard limit).
const NOFILE_TARGET: u64 = 1 << 20;

/// Shared settings and state of the relay threads.
pub struct FrontCtx {
    pub registry: Arc<Registry>,
    /// tiny_http's private loopback address.
    pub backend: SocketAddr,
    pub tls: Option<Arc<tls::Acceptor>>,
    pub max_body: u64,
    pub header_timeout: Duration,
    /// Bytes of request bodies the relays hold in memory right now.
    pub buffered: AtomicU64,
    /// Cap on `buffered`, so many large uploads at once get 503 instead of memory.
    pub buffer_budget: u64,
    /// Held while a relay opens its backend connection (see `relay::connect_backend`).
    pub backend_opening: Mutex<()>,
}

/// The write side of a client connection, shared by the relay thread (its own error
/// answers, what tiny_http writes itself) and the workers answering its requests
/// (request.rs).
#[derive(Clone)]
pub enum ClientWriter {
    Plain(Arc<TcpStream>),
    Tls(TlsWriter),
}

impl ClientWriter {
    pub fn close(&self) {
        match self {
            ClientWriter::Plain(s) => {
                let _ = s.shutdown(Shutdown::Both);
            }
            ClientWriter::Tls(t) => t.close(),
        }
    }
}

impl ClientWriter {
    /// Writes what the socket takes now, without waiting; how much of `data` was taken.
    pub fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        match self {
            ClientWriter::Plain(s) => tls::send_now(s, data),
            ClientWriter::Tls(t) => t.try_write(data),
        }
    }

    /// Bytes taken by [`ClientWriter::try_write`] but not yet on the socket (TLS records).
    pub fn unsent(&self) -> bool {
        match self {
            ClientWriter::Plain(_) => false,
            ClientWriter::Tls(t) => t.unsent(),
        }
    }

    /// Waits at most `timeout` until the client's socket takes more bytes; whether it does.
    pub fn wait_writable(&self, timeout: Duration) -> io::Result<bool> {
        match self {
            ClientWriter::Plain(s) => tls::wait_writable(s, timeout),
            ClientWriter::Tls(t) => t.wait_writable(timeout),
        }
    }
}

impl Write for ClientWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            ClientWriter::Plain(s) => (&**s).write(data),
            ClientWriter::Tls(t) => t.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientWriter::Plain(s) => (&**s).flush(),
            ClientWriter::Tls(t) => t.flush(),
        }
    }
}

/// One client connection, as the workers see it.
pub struct ConnEntry {
    pub id: u64,
    /// The real client address (not the relay socket tiny_http reports).
    pub peer: SocketAddr,
    /// The client socket, shared (not `dup`ed: one descriptor per socket), so it can be
    /// shut down from outside (drain, forced close).
    pub sock: Arc<TcpStream>,
    /// Where answers go, set once the connection is up (after the TLS handshake starts).
    writer: OnceLock<ClientWriter>,
    state: Mutex<ConnState>,
    /// Signalled when an answer completes while the relay waits for room in the pipeline.
    answered: Condvar,
    /// Answers the client has not read yet, sent by a thread of their own (outbox.rs).
    pub outbox: Outbox,
    /// The client left (EOF, reset, a broken request): long-lived streams on this
    /// connection end now instead of at their next failed write. Not set when the client
    /// only asked to close after its last request (`Connection: close` on a stream).
    pub client_gone: AtomicBool,
    /// The server is draining: close as soon as nothing is in flight.
    draining: AtomicBool,
}

#[derive(Default)]
struct ConnState {
    /// Requests forwarded to tiny_http and not yet answered in full.
    in_flight: usize,
    /// The parsed heads of forwarded requests that the dispatcher has not yet taken, in
    /// the order tiny_http will hand the requests over (it reads a connection's requests
    /// one after the other, and any head it cannot parse ends the connection).
    heads: VecDeque<Head>,
    /// A request is being read from the client.
    reading: bool,
    /// The relay waits on `answered` (so an answer that completes must signal it).
    relay_waiting: bool,
}

impl ConnEntry {
    fn lock(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The client's write side; `None` before the relay has set it up.
    pub fn client_writer(&self) -> Option<&ClientWriter> {
        self.writer.get()
    }

    /// Called once by the relay when the connection is up (after the TLS session started).
    pub fn set_client_writer(&self, writer: ClientWriter) {
        let _ = self.writer.set(writer);
    }

    pub fn begin_reading(&self) {
        self.lock().reading = true;
    }

    /// A request is about to be written to tiny_http; its head waits for the dispatcher.
    pub fn forwarded(&self, head: Head) {
        let mut s = self.lock();
        s.reading = false;
        s.in_flight += 1;
        s.heads.push_back(head);
    }

    /// The head of the next request tiny_http hands over from this connection.
    pub fn take_head(&self) -> Option<Head> {
        self.lock().heads.pop_front()
    }

    /// Waits at most `timeout` until fewer than `max` requests are in flight; whether they
    /// are. Bounds what one pipelining client holds in memory (each forwarded request
    /// keeps its parsed head until a worker takes it), by not reading its next request.
    pub fn wait_for_room(&self, max: usize, timeout: Duration) -> bool {
        let mut s = self.lock();
        if s.in_flight < max {
            return true;
        }
        s.relay_waiting = true;
        let (mut s, _) = self
            .answered
            .wait_timeout_while(s, timeout, |s| s.in_flight >= max)
            .unwrap_or_else(PoisonError::into_inner);
        s.relay_waiting = false;
        s.in_flight < max
    }

    /// Waits until no answers are queued for the client (outbox.rs), looking again every
    /// `poll` (the flusher's end also signals). Bounded by the flusher's send timeout.
    pub fn wait_flushed(&self, poll: Duration) {
        while self.outbox.flushing() {
            let mut s = self.lock();
            s.relay_waiting = true;
            let (mut s, _) = self
                .answered
                .wait_timeout(s, poll)
                .unwrap_or_else(PoisonError::into_inner);
            s.relay_waiting = false;
        }
    }

    pub fn abandon_reading(&self) {
        self.lock().reading = false;
    }

    /// Answers were queued for a flusher thread: one more thing in flight until it is done
    /// (it then calls [`ConnEntry::finish_request`]).
    pub fn begin_flush(&self) {
        self.lock().in_flight += 1;
    }

    /// Called by a worker or stream once its response is fully written. While draining,
    /// the last answer wakes the relay thread so the connection closes.
    pub fn finish_request(&self) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.relay_waiting {
            self.answered.notify_one();
        }
        if s.in_flight == 0 && self.draining.load(Ordering::SeqCst) {
            self.wake();
        }
    }

    /// Ends the relay thread's wait for the next request (its read returns EOF) while
    /// letting responses still on their way out be written.
    fn wake(&self) {
        let _ = self.sock.shutdown(Shutdown::Read);
    }

    fn busy(&self) -> bool {
        !self.idle()
    }

    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// Every forwarded request answered in full and taken by the dispatcher: the private
    /// connection carries nothing of this client any more.
    pub fn settled(&self) -> bool {
        let s = self.lock();
        s.in_flight == 0 && s.heads.is_empty()
    }

    fn idle(&self) -> bool {
        let s = self.lock();
        s.in_flight == 0 && !s.reading
    }

    /// Closes the client socket under the relay thread's feet; it then ends.
    pub fn force_close(&self) {
        let _ = self.sock.shutdown(Shutdown::Both);
    }

    /// Closes like [`ConnEntry::force_close`], and the socket's last close then resets the
    /// connection instead of sending what the kernel still buffers for it. For a client
    /// cut off for not reading its answers, that buffer (megabytes on loopback) would
    /// otherwise go on feeding it at its own pace long after the cut.
    pub fn abort(&self) {
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt(2) reads one `linger` that lives through the call, on a
        // socket this entry holds open.
        unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        self.force_close();
    }
}

/// Every open connection, and the relay-socket -> connection map.
pub struct Registry {
    conns: Mutex<HashMap<u64, Arc<ConnEntry>>>,
    emptied: Condvar,
    by_relay: Mutex<HashMap<SocketAddr, Arc<ConnEntry>>>,
    /// Private connections left clean by closed client connections (backend.rs).
    pub parked: Parked,
    draining: AtomicBool,
    next_id: AtomicU64,
    /// `--send-timeout`: the client sockets' write timeout and the outboxes' pace.
    send_timeout: Duration,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::with_parked_cap(MAX_PARKED)
    }
}

impl Registry {
    /// A registry that parks at most `parked` private connections (see [`FdBudget`]).
    pub fn with_parked_cap(parked: usize) -> Registry {
        Registry {
            conns: Mutex::default(),
            emptied: Condvar::new(),
            by_relay: Mutex::default(),
            parked: Parked::with_cap(parked),
            draining: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            send_timeout: DEFAULT_SEND_TIMEOUT,
        }
    }

    /// The same registry with `--send-timeout` for its connections.
    pub fn with_send_timeout(self, send_timeout: Duration) -> Registry {
        Registry {
            send_timeout,
            ..self
        }
    }

    /// How long a write to a client may make no progress (`--send-timeout`).
    pub fn send_timeout(&self) -> Duration {
        self.send_timeout
    }

    fn conns(&self) -> MutexGuard<'_, HashMap<u64, Arc<ConnEntry>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn relays(&self) -> MutexGuard<'_, HashMap<SocketAddr, Arc<ConnEntry>>> {
        self.by_relay.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn count(&self) -> usize {
        self.conns().len()
    }

    /// Connections reading a request or waiting for its answer.
    pub fn busy(&self) -> usize {
        self.conns().values().filter(|e| e.busy()).count()
    }

    pub(super) fn register(&self, peer: SocketAddr, sock: Arc<TcpStream>) -> Arc<ConnEntry> {
        let entry = Arc::new(ConnEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            peer,
            sock,
            writer: OnceLock::new(),
            state: Mutex::default(),
            answered: Condvar::new(),
            outbox: Outbox::new(self.send_timeout),
            client_gone: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        });
        self.conns().insert(entry.id, Arc::clone(&entry));
        entry
    }

    fn unregister(&self, id: u64) {
        let mut conns = self.conns();
        conns.remove(&id);
        if conns.is_empty() {
            self.emptied.notify_all();
        }
    }

    pub fn bind_relay(&self, local: SocketAddr, entry: &Arc<ConnEntry>) {
        self.relays().insert(local, Arc::clone(entry));
    }

    pub fn unbind_relay(&self, local: SocketAddr) {
        self.relays().remove(&local);
    }

    /// The connection a tiny_http request arrived on, by the peer address tiny_http saw.
    pub fn lookup(&self, relay_addr: Option<&SocketAddr>) -> Option<Arc<ConnEntry>> {
        self.relays().get(relay_addr?).cloned()
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Starts the drain: no new requests are read; idle connections close now, busy ones
    /// when their in-flight requests are answered.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.parked.close_all();
        for entry in self.conns().values() {
            entry.draining.store(true, Ordering::SeqCst);
            if entry.idle() {
                entry.wake();
            }
        }
    }

    /// Waits until every connection has closed, or the deadline passes.
    pub fn wait_empty(&self, deadline: Instant) -> bool {
        let mut conns = self.conns();
        while !conns.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            conns = self
                .emptied
                .wait_timeout(conns, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Closes every remaining client socket (end of the drain period).
    pub fn close_all(&self) {
        for entry in self.conns().values() {
            entry.force_close();
        }
    }
}

/// Something connections are accepted from (a trait so the error path is unit-testable).
pub trait Accept {
    fn accept_one(&self) -> io::Result<(TcpStream, SocketAddr)>;
}

impl Accept for TcpListener {
    fn accept_one(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept()
    }
}

/// Accepts until `stop` is set: one relay thread per connection, up to `max_connections`.
/// Accept errors never end the loop; `stop_rx` interrupts the back-off wait.
pub fn accept_loop(
    listener: &impl Accept,
    ctx: &Arc<FrontCtx>,
    max_connections: usize,
    stop: &AtomicBool,
    stop_rx: &Receiver<()>,
) {
    let mut consecutive_errors: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        match listener.accept_one() {
            Ok((sock, peer)) => {
                consecutive_errors = 0;
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                admit(ctx, sock, peer, max_connections);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                consecutive_errors += 1;
                // One line per burst, then one per 100 repeats: EMFILE storms must not flood.
                if consecutive_errors == 1 || consecutive_errors % 100 == 0 {
                    log::warn!(
                        "accept failed ({e}); retrying (error {consecutive_errors} in a row)"
                    );
                }
                let _ = stop_rx.recv_timeout(ACCEPT_BACKOFF);
            }
        }
    }
    log::debug!("accept loop stopped");
}

/// Starts a relay thread for a new connection, or refuses it at the cap.
fn admit(ctx: &Arc<FrontCtx>, sock: TcpStream, peer: SocketAddr, max_connections: usize) {
    if ctx.registry.count() >= max_connections {
        log::warn!("{peer}: connection refused: {max_connections} connections open");
        super::metrics::METRICS.rejected(503);
        refuse(sock, ctx.tls.is_some());
        return;
    }
    let entry = ctx.registry.register(peer, Arc::new(sock));
    let thread_ctx = Arc::clone(ctx);
    let thread_entry = Arc::clone(&entry);
    let spawned = thread::Builder::new()
        .name(format!("mcp-conn-{}", entry.id))
        .stack_size(RELAY_STACK_BYTES)
        .spawn(move || {
            relay::run(&thread_ctx, &thread_entry);
            thread_ctx.registry.unregister(thread_entry.id);
        });
    if let Err(e) = spawned {
        log::warn!("{peer}: connection dropped: cannot start its thread: {e}");
        entry.force_close();
        ctx.registry.unregister(entry.id);
    }
}

/// Answers 503 on a plain connection over the cap (best effort, never blocking).
fn refuse(mut sock: TcpStream, tls: bool) {
    if !tls && sock.set_nonblocking(true).is_ok() {
        let body = r#"{"error":"too many connections","retry_after_seconds":1}"#;
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sock.write_all(response.as_bytes());
    }
    let _ = sock.shutdown(Shutdown::Both);
}

/// How the file descriptors left after [`FD_RESERVE`] and the workers' share are spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// Client connections open at once (at least 1).
    pub connections: usize,
    /// Private connections kept parked for the next client connections (backend.rs).
    pub parked: usize,
}

/// Raises the soft RLIMIT_NOFILE to the hard limit and splits what it allows.
pub fn fd_budget(workers: usize) -> FdBudget {
    FdBudget::within(raise_nofile(), workers)
}

impl FdBudget {
    /// The split for a soft limit of `soft` descriptors. Parking gets at most a quarter of
    /// what is left (and [`MAX_PARKED`]): it only saves time, so at a low limit the
    /// descriptors go to connections (with `ulimit -n 64`, 3 connections and 1 parked
    /// instead of 1 connection and room for 64 parked).
    pub fn within(soft: u64, workers: usize) -> FdBudget {
        let workers_share = FDS_PER_WORKER.saturating_mul(workers as u64);
        let left = soft.saturating_sub(FD_RESERVE + workers_share);
        let parked = (left / 4 / FDS_PER_PARKED).min(MAX_PARKED as u64);
        let connections = (left - parked * FDS_PER_PARKED) / FDS_PER_CONNECTION;
        FdBudget {
            connections: usize::try_from(connections.max(1)).unwrap_or(usize::MAX),
            parked: usize::try_from(parked).unwrap_or(MAX_PARKED),
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (up to [`NOFILE_TARGET`]) and returns
/// the soft limit in force (`u64::MAX` when it cannot be read).
fn raise_nofile() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return u64::MAX;
        }
        let wanted = limit.rlim_max.min(NOFILE_TARGET as libc::rlim_t);
        if wanted > limit.rlim_cur {
            let raised = libc::rlimit {
                rlim_cur: wanted,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = wanted;
            }
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every platform
    let current = limit.rlim_cur as u64;
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Fails with EMFILE a few times, then sets `stop`: the loop must keep going.
    struct Flaky<'a> {
        failures: Cell<u32>,
        stop: &'a AtomicBool,
    }

    impl Accept for Flaky<'_> {
        fn accept_one(&self) -> io::Result<(TcpStream, SocketAddr)> {
            let n = self.failures.get() + 1;
            self.failures.set(n);
            if n == 5 {
                self.stop.store(true, Ordering::SeqCst);
            }
            Err(io::Error::from_raw_os_error(libc::EMFILE))
        }
    }

    #[test]
    fn accept_errors_do_not_end_the_loop() {
        let stop = AtomicBool::new(false);
        let flaky = Flaky {
            failures: Cell::new(0),
            stop: &stop,
        };
        let ctx = Arc::new(FrontCtx {
            registry: Arc::default(),
            backend: "127.0.0.1:9".parse().expect("addr"),
            tls: None,
            max_body: 1,
            header_timeout: Duration::from_secs(1),
            buffered: AtomicU64::new(0),
            buffer_budget: 1,
            backend_opening: Mutex::new(()),
        });
        let (_tx, rx) = crossbeam_channel::bounded::<()>(0);
        accept_loop(&flaky, &ctx, 1, &stop, &rx);
        assert_eq!(
            flaky.failures.get(),
            5,
            "retried after each EMFILE until stopped"
        );
    }

    #[test]
    fn fd_budget_is_positive() {
        assert!(fd_budget(4).connections >= 1);
    }

    /// Every descriptor is accounted for: live connections, parked ones, the workers'
    /// files and the reserve never exceed the limit, and parking takes at most a quarter.
    #[test]
    fn fd_budget_fits_the_limit_and_parking_yields_to_connections() {
        for soft in [0, 40, 64, 100, 256, 1024, 4096, 65_536, 1 << 20] {
            for workers in [1, 8, 64] {
                let b = FdBudget::within(soft, workers);
                let left = soft.saturating_sub(FD_RESERVE + FDS_PER_WORKER * workers as u64);
                let used =
                    b.connections as u64 * FDS_PER_CONNECTION + b.parked as u64 * FDS_PER_PARKED;
                assert!(b.connections >= 1);
                assert!(b.parked <= MAX_PARKED);
                if left >= FDS_PER_CONNECTION {
                    assert!(
                        used <= left,
                        "{soft} fds, {workers} workers: {b:?} uses {used} of {left}"
                    );
                }
                assert!(b.parked as u64 * FDS_PER_PARKED <= left / 4);
            }
        }
        // ulimit -n 64 with 8 workers: 16 descriptors left.
        assert_eq!(
            FdBudget::within(64, 8),
            FdBudget {
                connections: 3,
                parked: 1
            }
        );
        // ulimit -n 1024: all 64 parked fit beside 196 connections.
        assert_eq!(
            FdBudget::within(1024, 8),
            FdBudget {
                connections: 196,
                parked: 64
            }
        );
    }
}
