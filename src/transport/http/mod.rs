//! The Streamable HTTP transport (`--transport http-stream`): both MCP eras on `/mcp`, the
//! 2024-11-05 HTTP+SSE transport on `/sse` and `/messages` (also `--transport sse`), the
//! operations API (`/health`, `/info`, `/metrics`, connections, the REST mirror), over
//! HTTP or HTTPS, optionally behind a bearer token. Synchronous threads, no async runtime.
//!
//! ```text
//! client ─TCP/TLS─> front (front.rs, relay.rs: accept, cap, TLS, deadlines, whole requests)
//!        ─loopback─> tiny_http (parser) ─> dispatcher ─bounded channel─> workers (pool.rs)
//!        workers: endpoint.rs -> mcp::Server::handle -> JSON, SSE (sse.rs) or 202,
//!        written to the client's socket directly, in order (request.rs)
//! ```
//! Long-lived SSE streams run on their own capped thread set. The main thread owns the
//! lifecycle: it waits for a signal (signals.rs) or a fatal error, handing freed heap back
//! to the OS while it waits (heap.rs), then drains: stop
//! accepting, close idle connections, end streams, let in-flight requests finish within
//! `--shutdown-timeout`, close the rest, join the threads, and return (exit 0).
//! If tiny_http's accept thread ever dies, the server exits 1 so a supervisor restarts it.

mod auth;
mod backend;
mod connections;
mod elicit;
mod endpoint;
mod front;
#[doc(hidden)]
pub mod fuzzing;
mod head;
mod headers;
mod heap;
mod legacy_sse;
pub mod metrics;
mod ops;
mod outbox;
mod pool;
mod post;
mod process;
mod relay;
mod request;
mod respond;
mod rest;
mod sessions;
mod sse;
mod ui;
mod ui_events;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};

use crate::config::{Config, Transport};
use crate::error::Error;
use crate::mcp::Server;
use crate::signals::{self, Signal};
use crate::transport::tls;
use front::{FrontCtx, Registry};
use metrics::METRICS;
use pool::Pool;
use request::Request;
use sessions::{Reaper, Sessions};
use sse::Streams;

/// Bytes of request bodies the front may hold at once, at least this much (and at least
/// four maximum-size bodies).
pub const MIN_BODY_BUFFER_BUDGET: u64 = 256 * 1024 * 1024;
/// After the drain deadline, how long force-closed connections get to unwind.
const FORCE_CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long the accept thread's wake-up connection may take.
const WAKE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// State every worker shares.
pub struct App {
    pub server: Arc<Server>,
    /// The one registry: legacy MCP sessions of both transports and REST connections.
    sessions: Arc<Sessions>,
    streams: Arc<Streams>,
    registry: Arc<Registry>,
    allowed_origins: Vec<String>,
    /// Bound to a loopback address: `Host` must name loopback too (DNS rebinding).
    loopback_bound: bool,
    tls: bool,
    max_body: u64,
    started: Instant,
    /// The dashboard at `/ui` (ui.rs).
    ui: ui::Dashboard,
    /// Streams of tool calls parked on a question to the user (elicit.rs).
    parked: elicit::Parked,
    /// `--auth-token-file`: the accepted bearer tokens.
    auth: Option<auth::Tokens>,
    /// The REST mirror and connection API are served (not `--disable-rest`).
    rest: bool,
    /// `--transport` as named: `http-stream` or `sse`.
    transport: &'static str,
    /// Workers the pool has started so far (it grows on demand, pool.rs).
    workers_started: Arc<AtomicUsize>,
    /// `--workers`: what the pool may grow to.
    workers_max: usize,
    queue_capacity: usize,
}

impl App {
    fn gauges(&self) -> ops::Gauges {
        let counts = self.sessions.counts();
        ops::Gauges {
            uptime_seconds: self.started.elapsed().as_secs(),
            sessions: counts.streamable,
            sse_sessions: counts.sse,
            rest_connections: counts.rest,
            streams: self.streams.active(),
            connections: self.registry.count(),
            busy: self.registry.busy(),
            tls: self.tls,
            workers: self.workers_started.load(Ordering::Relaxed),
            workers_max: self.workers_max,
            queue_capacity: self.queue_capacity,
            transport: self.transport,
        }
    }

    fn served(&self) -> ops::Served {
        ops::Served {
            tls: self.tls,
            rest: self.rest,
            auth: self.auth.is_some(),
            transport: self.transport,
        }
    }
}

/// What wakes the main thread.
enum Control {
    Signal(Signal),
    Fatal(String),
}

/// Serves until SIGTERM/SIGINT (then `Ok`) or a fatal listener failure (`Err`, exit 1).
/// TLS problems and bind failures are reported before anything is served.
pub fn serve(server: Server, config: &Config) -> Result<(), Error> {
    let opts = &config.http;
    let tls = match (&config.ssl_certfile, &config.ssl_keyfile) {
        (Some(cert), Some(key)) => Some(Arc::new(
            tls::Acceptor::load(cert, key).map_err(Error::usage)?,
        )),
        _ => None,
    };
    let auth = match &opts.auth_token_file {
        Some(path) => Some(auth::Tokens::load(path).map_err(Error::usage)?),
        None => None,
    };
    let (listener, activated) = match crate::transport::activation::inherited_listener()? {
        Some(listener) => (listener, true),
        None => {
            let listener = TcpListener::bind((config.host.as_str(), config.port)).map_err(|e| {
                Error::io(
                    format!("cannot listen on {}:{}", config.host, config.port),
                    e,
                )
            })?;
            deepen_backlog(&listener);
            (listener, false)
        }
    };
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound address", e))?;
    let private = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding the private request listener", e))?;
    let backend_addr = private
        .local_addr()
        .map_err(|e| Error::io("reading the private address", e))?;
    set_nodelay_inherited(&private);
    exit_on_tiny_http_panic();
    let backend = tiny_http::Server::from_listener(private, None)
        .map_err(|e| Error::io("starting the request parser", std::io::Error::other(e)))?;

    let fds = front::fd_budget(opts.workers);
    let max_connections = opts.max_connections.min(fds.connections);
    if max_connections < opts.max_connections {
        log::warn!(
            "--max-connections lowered to {max_connections} by the file-descriptor limit \
             ({} descriptors per connection); raise `ulimit -n` for more",
            front::FDS_PER_CONNECTION
        );
    }
    let registry =
        Arc::new(Registry::with_parked_cap(fds.parked).with_send_timeout(opts.send_timeout));
    let allowed_origins = if opts.allowed_origins.is_empty() {
        headers::default_origins(bound.port(), tls.is_some())
    } else {
        opts.allowed_origins.clone()
    };
    let ui = ui::Dashboard::new(server.workspace.root());
    let app = Arc::new(App {
        server: Arc::new(server),
        sessions: Arc::new(
            Sessions::new(opts.session_timeout).with_instance_id(opts.instance_id.as_deref()),
        ),
        streams: Arc::new(Streams::new(opts.max_streams)),
        registry: Arc::clone(&registry),
        allowed_origins,
        loopback_bound: bound.ip().is_loopback(),
        tls: tls.is_some(),
        max_body: opts.max_body_bytes,
        started: Instant::now(),
        ui,
        parked: elicit::Parked::default(),
        auth,
        rest: !opts.disable_rest,
        transport: if config.transport == Transport::Sse {
            "sse"
        } else {
            "http-stream"
        },
        workers_started: Arc::new(AtomicUsize::new(0)),
        workers_max: opts.workers,
        queue_capacity: opts.workers * pool::QUEUE_PER_WORKER,
    });
    let mut reaper = Reaper::start(Arc::clone(&app.sessions))
        .map_err(|e| Error::io("starting the session reaper", e))?;
    let front_ctx = Arc::new(FrontCtx {
        registry: Arc::clone(&registry),
        backend: backend_addr,
        tls: tls.clone(),
        max_body: opts.max_body_bytes,
        header_timeout: opts.header_timeout,
        buffered: AtomicU64::new(0),
        buffer_budget: MIN_BODY_BUFFER_BUDGET.max(opts.max_body_bytes.saturating_mul(4)),
        backend_opening: std::sync::Mutex::new(()),
    });

    let (control_tx, control_rx) = unbounded::<Control>();
    let signal_tx = control_tx.clone();
    let mut signal_listener = signals::listen(move |s| {
        let _ = signal_tx.send(Control::Signal(s));
    })
    .map_err(|e| Error::io("installing signal handlers", e))?;

    let worker_app = Arc::clone(&app);
    let pool = Pool::start(
        "mcp-worker",
        pool::Size::up_to(opts.workers),
        opts.workers * pool::QUEUE_PER_WORKER,
        Arc::clone(&app.workers_started),
        move |request| endpoint::handle(&worker_app, request),
    )
    .map_err(|e| Error::io("starting the worker pool", e))?;
    let backend = Arc::new(backend);
    let stopping = Arc::new(AtomicBool::new(false));
    let dispatcher = spawn_dispatcher(&app, &backend, pool, &stopping, control_tx)?;

    let accept_stop = Arc::new(AtomicBool::new(false));
    let (wake_tx, wake_rx) = bounded::<()>(0);
    let acceptor = {
        let stop = Arc::clone(&accept_stop);
        thread::Builder::new()
            .name("mcp-accept".into())
            .spawn(move || {
                front::accept_loop(&listener, &front_ctx, max_connections, &stop, &wake_rx)
            })
            .map_err(|e| Error::io("starting the accept thread", e))?
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Always visible (at warn when info lines are filtered): tests, benches and operators
    // read the bound URL from it, notably with `--port 0`.
    let level = if log::log_enabled!(log::Level::Info) {
        log::Level::Info
    } else {
        log::Level::Warn
    };
    log::log!(
        level,
        "listening on {scheme}://{bound} (MCP endpoints /mcp and /sse{}{}; up to {} workers, \
         {max_connections} connections, {} streams{})",
        if app.rest {
            "; REST API on"
        } else {
            "; REST API off"
        },
        if app.auth.is_some() {
            "; bearer token required"
        } else {
            ""
        },
        opts.workers,
        opts.max_streams,
        if activated {
            "; socket inherited from systemd"
        } else {
            ""
        }
    );

    let result = wait_for_stop(&control_rx, &app, tls.as_deref());
    log::info!(
        "shutting down: no new connections; in-flight requests get {:?}",
        opts.shutdown_timeout
    );
    accept_stop.store(true, Ordering::SeqCst);
    drop(wake_tx);
    wake_acceptor(bound);
    let _ = acceptor.join();
    drain(&app, opts.shutdown_timeout);
    stopping.store(true, Ordering::SeqCst);
    backend.unblock();
    let _ = dispatcher.join();
    app.streams.join_all();
    app.ui.stop();
    reaper.stop();
    signal_listener.close();
    log::info!("stopped");
    result
}

/// Blocks until a terminating signal (`Ok`) or a fatal error (`Err`); reloads on SIGHUP.
fn wait_for_stop(
    control: &Receiver<Control>,
    app: &App,
    tls: Option<&tls::Acceptor>,
) -> Result<(), Error> {
    loop {
        let message = match control.recv_timeout(heap::TRIM_INTERVAL) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => {
                heap::trim();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        match message {
            Control::Signal(Signal::Terminate) => return Ok(()),
            Control::Signal(Signal::Reload) => reload(app, tls),
            Control::Fatal(why) => {
                log::error!("{why}; exiting so a supervisor can restart the server");
                return Err(Error::io(why, std::io::Error::other("listener failed")));
            }
        }
    }
}

/// SIGHUP: reopens `--log-file` (logrotate's `postrotate`), reloads the TLS pair and the
/// token file. Whatever fails to load is logged and the old one stays in service.
fn reload(app: &App, tls: Option<&tls::Acceptor>) {
    let mut reloaded = false;
    match crate::logging::reopen() {
        Ok(true) => {
            reloaded = true;
            log::info!("log file reopened");
        }
        Ok(false) => {}
        Err(e) => log::error!("cannot reopen the log file, still writing the old one: {e}"),
    }
    if let Some(acceptor) = tls {
        reloaded = true;
        match acceptor.reload() {
            Ok(()) => log::info!("TLS certificate and key reloaded"),
            Err(e) => log::error!("TLS reload failed, keeping the certificate in service: {e}"),
        }
    }
    if let Some(tokens) = &app.auth {
        reloaded = true;
        match tokens.reload() {
            Ok(n) => log::info!("bearer tokens reloaded: {n} accepted"),
            Err(e) => log::error!("bearer token reload failed, keeping the tokens in service: {e}"),
        }
    }
    if !reloaded {
        log::info!("SIGHUP: nothing to reload (plain HTTP, no log file, no token file)");
    }
}

/// Hands tiny_http's requests to the pool; 503 when its queue is full. Owns the pool and
/// joins it when tiny_http is unblocked at shutdown.
fn spawn_dispatcher(
    app: &Arc<App>,
    backend: &Arc<tiny_http::Server>,
    pool: Pool<Request>,
    stopping: &Arc<AtomicBool>,
    control: Sender<Control>,
) -> Result<JoinHandle<()>, Error> {
    let app = Arc::clone(app);
    let backend = Arc::clone(backend);
    let stopping = Arc::clone(stopping);
    thread::Builder::new()
        .name("mcp-dispatch".into())
        .spawn(move || {
            loop {
                match backend.recv() {
                    Ok(request) => {
                        let entry = app.registry.lookup(request.remote_addr());
                        if entry.is_none() && backend::is_warm_up(&request) {
                            backend::answer_warm_up(request);
                            continue;
                        }
                        let request = Request::new(request, entry);
                        METRICS.queued();
                        if let Err(request) = pool.try_submit(request) {
                            METRICS.unqueued();
                            endpoint::overloaded(request);
                        }
                    }
                    Err(_) if stopping.load(Ordering::SeqCst) => break,
                    Err(e) => {
                        let _ = control
                            .send(Control::Fatal(format!("the request listener failed: {e}")));
                        break;
                    }
                }
            }
            pool.join();
        })
        .map_err(|e| Error::io("starting the dispatcher", e))
}

/// Connections the kernel may hold for the accept loop, as the systemd socket unit's
/// `Backlog=` (the kernel caps it at `net.core.somaxconn`).
const LISTEN_BACKLOG: libc::c_int = 1024;

/// Raises the listen backlog from std's 128. Why: 256 clients connecting at once
/// overflowed 128, and each dropped SYN costs its client a one-second retransmit (p99.9
/// of short connections at c=256 was over a second).
fn deepen_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: listen() on a socket we own; called again on a listening socket it only
    // changes the backlog.
    if unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
        log::warn!(
            "cannot raise the listen backlog: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Sets TCP_NODELAY on the private listener; Linux copies it to accepted sockets, which
/// tiny_http never configures. Without it tiny_http's separate head and body writes meet
/// Nagle's algorithm and delayed ACKs: ~40 ms per response of a few KiB. Public for the
/// HTTP benchmark's tiny_http ceiling, which needs the same.
pub fn set_nodelay_inherited(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own, with a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            std::ptr::addr_of!(on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        log::warn!(
            "cannot set TCP_NODELAY on the private listener: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// tiny_http `unwrap`s a `dup` of each accepted socket in its accept thread; should that
/// ever panic (the fd budget is sized so it cannot) its listener is deaf for good. So a
/// panic inside tiny_http ends the process with exit code 1 for a supervisor to restart.
fn exit_on_tiny_http_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        if info
            .location()
            .is_some_and(|l| l.file().contains("tiny_http"))
        {
            log::error!(
                "the HTTP parser failed ({info}); exiting so a supervisor restarts the server"
            );
            std::process::exit(i32::from(crate::error::EXIT_FAILURE));
        }
    }));
}

/// Unblocks the accept thread's `accept()` by connecting to ourselves.
fn wake_acceptor(bound: SocketAddr) {
    let ip = match bound.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let _ = TcpStream::connect_timeout(&SocketAddr::new(ip, bound.port()), WAKE_CONNECT_TIMEOUT);
}

/// Lets in-flight requests finish, ends streams, then closes whatever is left.
fn drain(app: &App, timeout: Duration) {
    app.streams.stop();
    app.registry.begin_drain();
    if !app.registry.wait_empty(Instant::now() + timeout) {
        log::warn!(
            "{} connection(s) still open after {timeout:?}; closing them",
            app.registry.count()
        );
        app.registry.close_all();
        app.registry.wait_empty(Instant::now() + FORCE_CLOSE_GRACE);
    }
}
