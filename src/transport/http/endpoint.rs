//! Request routing: policy checks every path shares (Origin, Host, bearer token), the
//! operational endpoints, the REST mirror and connection API, the legacy HTTP+SSE
//! transport (`/sse`, `/messages`), and the MCP endpoint `/mcp` of both eras. Every
//! request ends here with its access-log line and its metrics.
//!
//! - 2026-07-28 (docs/2026-07-28/basic/transports/streamable-http.mdx): stateless POST;
//!   `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` must match the body (400 with
//!   -32020); `subscriptions/listen` is a long-lived SSE stream; GET and DELETE are 405.
//! - 2025-03-26 to 2025-11-25 (docs/2025-11-25/basic/transports.mdx): `initialize` mints
//!   `Mcp-Session-Id`; later requests need it (400 without, 404 unknown); DELETE ends the
//!   session; GET opens the server-to-client stream. No `MCP-Protocol-Version` header
//!   means 2025-03-26; a header naming a revision we lack is 400.
//!
//! POST of both eras is in `post.rs`; GET, DELETE and OPTIONS are here.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tiny_http::Method;

use super::front::ConnEntry;
use super::headers;
use super::metrics::{self, METRICS};
use super::request::Request;
use super::respond::{self, header, Access, Answered, Headers, Reply};
use super::sessions::{Kind, Lookup};
use super::sse::{self, SseWriter, StreamScope};
use super::{connections, legacy_sse, ops, post, rest, App};
use crate::jsonrpc::Response;
use crate::mcp::error::McpError;
use crate::mcp::version::ProtocolVersion;

/// Methods `/mcp` answers, for `Allow` and CORS.
const MCP_METHODS: &str = "GET, POST, DELETE, OPTIONS";
/// Request headers a browser client may send cross-origin.
const CORS_ALLOW_HEADERS: &str = "Content-Type, Accept, Authorization, Mcp-Session-Id, \
MCP-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID";
/// How long browsers may cache a preflight answer (seconds).
const CORS_MAX_AGE: &str = "86400";
/// `Retry-After` seconds on 503.
pub(super) const RETRY_AFTER_SECONDS: &str = "1";

/// How one request was answered, for the access log and metrics.
pub(super) struct Outcome {
    pub(super) status: u16,
    pub(super) mcp_method: Option<String>,
    /// The core answered with a JSON-RPC error.
    pub(super) rpc_error: bool,
}

impl Outcome {
    pub(super) fn sent(request: Request, reply: Reply) -> Outcome {
        let status = reply.status;
        let rpc_error = reply.rpc_error;
        respond::send(request, reply);
        Outcome {
            status,
            mcp_method: None,
            rpc_error,
        }
    }

    /// A response that went out as an SSE stream (200; the stream writes the rest).
    pub(super) fn streamed() -> Outcome {
        Outcome {
            status: 200,
            mcp_method: None,
            rpc_error: false,
        }
    }

    fn metric(&self) -> metrics::Outcome {
        if self.rpc_error {
            metrics::Outcome::Error
        } else if self.status >= 400 {
            metrics::Outcome::Rejected
        } else {
            metrics::Outcome::Ok
        }
    }

    pub(super) fn named(mut self, method: impl Into<String>) -> Outcome {
        self.mcp_method = Some(method.into());
        self
    }
}

/// The worker entry point for one request.
pub fn handle(app: &Arc<App>, request: Request) {
    let started = Instant::now();
    METRICS.started();
    let Some(entry) = request.entry().cloned() else {
        log::warn!("refused a request that did not come through the front");
        respond::send(request, Reply::rejected(403, "forbidden"));
        let (ops, rejected) = (metrics::Transport::Ops, metrics::Outcome::Rejected);
        METRICS.finished(ops, None, rejected, 403, started.elapsed());
        return;
    };
    let answered = Answered(Arc::clone(&entry));
    let path = path_of(request.url()).to_string();
    let transport = transport_of(app, &path);
    let mut access = Access {
        started,
        method: request.method().as_str().to_string(),
        path,
        mcp_method: None,
        status: 0,
        transport: transport.label(),
    };
    let outcome = route(app, request, &entry, answered, &access.path);
    let method = outcome.mcp_method.as_deref();
    METRICS.finished(
        transport,
        method,
        outcome.metric(),
        outcome.status,
        started.elapsed(),
    );
    access.status = outcome.status;
    access.mcp_method = outcome.mcp_method;
    access.log(&entry);
}

/// The path of a request target, without its query string.
fn path_of(url: &str) -> &str {
    url.split('?').next().unwrap_or_default()
}

/// The metrics `transport` a path belongs to.
fn transport_of(app: &App, path: &str) -> metrics::Transport {
    match path {
        "/mcp" => metrics::Transport::StreamableHttp,
        "/sse" | "/messages" | "/messages/" => metrics::Transport::Sse,
        p if app.rest && (connections::serves(p) || rest::serves(p)) => metrics::Transport::Rest,
        _ => metrics::Transport::Ops,
    }
}

/// Answers 503 when the worker queue is full (called on the dispatcher thread).
pub fn overloaded(request: Request) {
    let entry = request.entry().cloned();
    let reply = Reply::rejected(503, "server busy: request queue full, retry later")
        .with_header("Retry-After", RETRY_AFTER_SECONDS);
    log::warn!("request queue full: answered 503");
    METRICS.rejected(503);
    respond::send(request, reply);
    if let Some(entry) = entry {
        entry.finish_request();
    }
}

fn route(
    app: &Arc<App>,
    request: Request,
    entry: &Arc<ConnEntry>,
    answered: Answered,
    path: &str,
) -> Outcome {
    let mut cors = Headers::new();
    if let Some(origin) = header(&request, "Origin") {
        if !headers::origin_allowed(origin, &app.allowed_origins) {
            log::warn!("{}: origin '{origin}' refused", entry.peer);
            return Outcome::sent(
                request,
                Reply::rejected(403, "forbidden: origin not allowed"),
            );
        }
        cors.push(("Access-Control-Allow-Origin".into(), origin.to_string()));
        cors.push((
            "Access-Control-Expose-Headers".into(),
            "Mcp-Session-Id".into(),
        ));
        cors.push(("Vary".into(), "Origin".into()));
    }
    if app.loopback_bound {
        if let Some(host) = header(&request, "Host") {
            if !headers::host_allowed(host, &app.allowed_origins) {
                log::warn!(
                    "{}: host '{host}' refused on a loopback listener",
                    entry.peer
                );
                return Outcome::sent(request, Reply::rejected(403, "forbidden: host not allowed"));
            }
        }
    }
    if let Some(reply) = authorize(app, &request, path) {
        return Outcome::sent(request, reply.with_headers(&cors));
    }
    match path {
        "/mcp" => mcp(app, request, &cors, answered),
        "/sse" | "/messages" | "/messages/" if *request.method() == Method::Options => preflight(
            request,
            &cors,
            if path == "/sse" {
                "GET, OPTIONS"
            } else {
                "POST, OPTIONS"
            },
        ),
        "/sse" => legacy_sse::open(app, request, &cors, answered),
        "/messages" | "/messages/" => legacy_sse::post(app, request, &cors),
        "/health" | "/info" | "/metrics" => ops_endpoint(app, request, path, &cors),
        p if app.rest && connections::serves(p) => {
            connections::route(app, request, p, &cors, entry.peer)
        }
        p if app.rest && rest::serves(p) => rest::route(app, request, p, &cors),
        p if p == "/ui" || p.starts_with("/ui/") => {
            super::ui::route(app, request, p, &cors, answered)
        }
        _ => Outcome::sent(
            request,
            Reply::json(404, &ops::not_found(path, app.rest)).with_headers(&cors),
        ),
    }
}

/// The bearer-token rule (`--auth-token-file`): every path but `/health` needs a valid
/// token; CORS preflights carry no credentials (browsers never send them), so they pass.
/// `None` when the request may go on, else the 401.
fn authorize(app: &App, request: &Request, path: &str) -> Option<Reply> {
    let tokens = app.auth.as_ref()?;
    if path == "/health" || *request.method() == Method::Options {
        return None;
    }
    let denied = tokens.check(header(request, "Authorization")).err()?;
    let reply = if matches!(path, "/mcp" | "/messages" | "/messages/") {
        Reply::rejected(401, denied.message())
    } else {
        rest::error(401, denied.message())
    };
    Some(reply.with_header("WWW-Authenticate", denied.challenge()))
}

fn ops_endpoint(app: &App, request: Request, path: &str, cors: &[(String, String)]) -> Outcome {
    if !matches!(request.method(), Method::Get | Method::Head) {
        let reply = Reply::json(405, &serde_json::json!({"error": "method not allowed"}))
            .with_header("Allow", "GET, HEAD");
        return Outcome::sent(request, reply);
    }
    let reply = match path {
        "/health" => Reply::json(200, &ops::health(&app.gauges())),
        "/metrics" => Reply::text(200, METRICS.render(&app.gauges()), metrics::CONTENT_TYPE),
        _ => Reply::json(200, &ops::info(app.served())),
    };
    Outcome::sent(request, reply.with_headers(cors))
}

/// CORS preflight of the legacy SSE paths.
fn preflight(request: Request, cors: &Headers, methods: &str) -> Outcome {
    let mut reply = Reply::empty(204)
        .with_headers(cors)
        .with_header("Allow", methods);
    if !cors.is_empty() {
        reply = reply
            .with_header("Access-Control-Allow-Methods", methods)
            .with_header("Access-Control-Allow-Headers", CORS_ALLOW_HEADERS)
            .with_header("Access-Control-Max-Age", CORS_MAX_AGE);
    }
    Outcome::sent(request, reply)
}

fn mcp(app: &Arc<App>, request: Request, cors: &Headers, answered: Answered) -> Outcome {
    match request.method() {
        Method::Post => post::post(app, request, cors, answered),
        Method::Get => get_stream(app, request, cors, answered),
        Method::Delete => delete(app, request, cors),
        Method::Options => {
            let mut reply = Reply::empty(204)
                .with_headers(cors)
                .with_header("Allow", MCP_METHODS);
            if !cors.is_empty() {
                reply = reply
                    .with_header("Access-Control-Allow-Methods", MCP_METHODS)
                    .with_header("Access-Control-Allow-Headers", CORS_ALLOW_HEADERS)
                    .with_header("Access-Control-Max-Age", CORS_MAX_AGE);
            }
            Outcome::sent(request, reply)
        }
        _ => Outcome::sent(
            request,
            Reply::rejected(405, "method not allowed").with_header("Allow", MCP_METHODS),
        ),
    }
}

/// The `MCP-Protocol-Version` header: `Ok(None)` if absent, 400 if it names a revision we
/// do not speak (with the -32022 body listing the ones we do).
pub(super) fn header_version(request: &Request) -> Result<Option<ProtocolVersion>, Reply> {
    match header(request, "MCP-Protocol-Version") {
        None => Ok(None),
        Some(text) => ProtocolVersion::parse(text.trim())
            .map(Some)
            .ok_or_else(|| {
                let e = McpError::UnsupportedVersion {
                    requested: text.to_string(),
                };
                Reply::rpc(400, &Response::err(None, e.to_error_object()))
            }),
    }
}

pub(super) fn busy_streams() -> Reply {
    Reply::rejected(503, "too many open streams, retry later")
        .with_header("Retry-After", RETRY_AFTER_SECONDS)
}

/// A legacy GET stream lives as long as its session and its client.
struct SessionScope {
    app: Arc<App>,
    id: String,
    conn: Arc<ConnEntry>,
}

impl StreamScope for SessionScope {
    fn alive(&self) -> bool {
        self.app.sessions.contains(&self.id) && !self.conn.client_gone.load(Ordering::SeqCst)
    }

    fn touch(&self) {
        let _ = self.app.sessions.get(&self.id);
    }
}

/// GET `/mcp`: the legacy server-to-client stream, or 405 where the revision has none.
fn get_stream(app: &Arc<App>, request: Request, cors: &Headers, answered: Answered) -> Outcome {
    let reject = |request, reply: Reply| Outcome::sent(request, reply.with_headers(cors));
    let version = match header_version(&request) {
        Ok(v) => v,
        Err(reply) => return reject(request, reply),
    };
    if version.is_some_and(ProtocolVersion::is_modern) {
        return reject(
            request,
            Reply::rejected(405, "method not allowed: 2026-07-28 has no GET stream")
                .with_header("Allow", "POST"),
        );
    }
    if !headers::accepts(header(&request, "Accept")).sse {
        return reject(
            request,
            Reply::rejected(406, "not acceptable: the GET stream is text/event-stream"),
        );
    }
    let Some(id) = header(&request, "Mcp-Session-Id").map(str::to_string) else {
        return reject(
            request,
            Reply::rejected(400, "bad request: Mcp-Session-Id header is required"),
        );
    };
    let slot = match app.sessions.get(&id) {
        Ok(slot) => slot,
        Err(Lookup::Unknown) => return reject(request, Reply::rejected(404, "session not found")),
    };
    if slot.version < ProtocolVersion::V2025_03_26 {
        return reject(
            request,
            Reply::rejected(
                405,
                "method not allowed: 2024-11-05 sessions have no GET stream",
            )
            .with_header("Allow", "POST, DELETE"),
        );
    }
    let Some(permit) = app.streams.try_acquire() else {
        return reject(request, busy_streams());
    };
    let Ok(mut out) = SseWriter::start(request, cors) else {
        return Outcome::streamed();
    };
    if out.comment("stream open").is_err() {
        return Outcome::streamed();
    }
    let thread_app = Arc::clone(app);
    let spawned = app.streams.spawn(permit, move || {
        let scope = SessionScope {
            app: Arc::clone(&thread_app),
            id,
            conn: Arc::clone(&answered.0),
        };
        let _ = sse::run_long_lived(
            &thread_app.server,
            &thread_app.streams,
            &slot.session,
            &scope,
            out,
        );
        drop(answered);
    });
    if let Err(e) = spawned {
        log::error!("cannot start a stream thread: {e}");
    }
    Outcome::streamed()
}

/// DELETE `/mcp`: ends a legacy session.
fn delete(app: &App, request: Request, cors: &Headers) -> Outcome {
    let reject = |request, reply: Reply| Outcome::sent(request, reply.with_headers(cors));
    match header_version(&request) {
        Ok(Some(v)) if v.is_modern() => {
            return reject(
                request,
                Reply::rejected(405, "method not allowed: 2026-07-28 has no sessions")
                    .with_header("Allow", "POST"),
            );
        }
        Ok(_) => {}
        Err(reply) => return reject(request, reply),
    }
    let Some(id) = header(&request, "Mcp-Session-Id").map(str::to_string) else {
        return reject(
            request,
            Reply::rejected(400, "bad request: Mcp-Session-Id header is required"),
        );
    };
    if app.sessions.remove_kind(&id, Kind::Streamable) {
        log::info!("session ended by the client");
        reject(request, Reply::empty(204))
    } else {
        reject(request, Reply::rejected(404, "session not found"))
    }
}
