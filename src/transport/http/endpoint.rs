//! Request routing: policy checks every path shares (Origin, Host), the operational
//! endpoints, and the MCP endpoint `/mcp` of both eras.
//!
//! - 2026-07-28 (docs/2026-07-28/basic/transports/streamable-http.mdx): stateless POST;
//!   `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` must match the body (400 with
//!   -32020); `subscriptions/listen` is a long-lived SSE stream; GET and DELETE are 405.
//! - 2025-03-26 to 2025-11-25 (docs/2025-11-25/basic/transports.mdx): `initialize` mints
//!   `Mcp-Session-Id`; later requests need it (400 without, 404 unknown); DELETE ends the
//!   session; GET opens the server-to-client stream. No `MCP-Protocol-Version` header
//!   means 2025-03-26; a header naming a revision we lack is 400.
//!
//! The era is the header's revision if present, else modern when the body carries modern
//! `_meta` (then the missing header is itself a -32020), else legacy.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tiny_http::{Method, Request};

use super::front::ConnEntry;
use super::headers::{self, Accepts, McpHeaders};
use super::respond::{self, header, Access, Answered, Headers, Reply};
use super::sessions::Lookup;
use super::sse::{self, SseWriter, StreamScope};
use super::{ops, App};
use crate::jsonrpc::{self, code, Incoming, Message, Notification, Response};
use crate::mcp::error::McpError;
use crate::mcp::meta;
use crate::mcp::version::ProtocolVersion;
use crate::mcp::{Outgoing, Session};

/// Methods `/mcp` answers, for `Allow` and CORS.
const MCP_METHODS: &str = "GET, POST, DELETE, OPTIONS";
/// Request headers a browser client may send cross-origin.
const CORS_ALLOW_HEADERS: &str = "Content-Type, Accept, Authorization, Mcp-Session-Id, \
MCP-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID";
/// How long browsers may cache a preflight answer (seconds).
const CORS_MAX_AGE: &str = "86400";
/// `Retry-After` seconds on 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// How one request was answered, for the access log.
struct Outcome {
    status: u16,
    mcp_method: Option<String>,
}

impl Outcome {
    fn sent(request: Request, reply: Reply) -> Outcome {
        let status = reply.status;
        respond::send(request, reply);
        Outcome {
            status,
            mcp_method: None,
        }
    }

    fn named(mut self, method: &str) -> Outcome {
        self.mcp_method = Some(method.to_string());
        self
    }
}

/// The worker entry point for one request.
pub fn handle(app: &Arc<App>, request: Request) {
    let Some(entry) = app.registry.lookup(request.remote_addr()) else {
        log::warn!("refused a request that did not come through the front");
        respond::send(request, Reply::rejected(403, "forbidden"));
        return;
    };
    let answered = Answered(Arc::clone(&entry));
    let mut access = Access {
        started: Instant::now(),
        method: request.method().as_str().to_string(),
        path: request.url().to_string(),
        mcp_method: None,
        status: 0,
    };
    let outcome = route(app, request, &entry, answered);
    access.status = outcome.status;
    access.mcp_method = outcome.mcp_method;
    access.log(&entry);
}

/// Answers 503 when the worker queue is full (called on the dispatcher thread).
pub fn overloaded(app: &App, request: Request) {
    let entry = app.registry.lookup(request.remote_addr());
    let reply = Reply::rejected(503, "server busy: request queue full, retry later")
        .with_header("Retry-After", RETRY_AFTER_SECONDS);
    log::warn!("request queue full: answered 503");
    respond::send(request, reply);
    if let Some(entry) = entry {
        entry.finish_request();
    }
}

fn route(app: &Arc<App>, request: Request, entry: &Arc<ConnEntry>, answered: Answered) -> Outcome {
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
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
            if !headers::host_is_loopback(host) {
                log::warn!(
                    "{}: host '{host}' refused on a loopback listener",
                    entry.peer
                );
                return Outcome::sent(request, Reply::rejected(403, "forbidden: host not allowed"));
            }
        }
    }
    match path.as_str() {
        "/mcp" => mcp(app, request, &cors, answered),
        "/health" | "/info" => ops_endpoint(app, request, &path, &cors),
        _ => Outcome::sent(
            request,
            Reply::json(404, &ops::not_found(&path)).with_headers(&cors),
        ),
    }
}

fn ops_endpoint(app: &App, request: Request, path: &str, cors: &[(String, String)]) -> Outcome {
    if !matches!(request.method(), Method::Get | Method::Head) {
        let reply = Reply::json(405, &serde_json::json!({"error": "method not allowed"}))
            .with_header("Allow", "GET, HEAD");
        return Outcome::sent(request, reply);
    }
    let body = if path == "/health" {
        ops::health(&app.gauges())
    } else {
        ops::info(app.tls)
    };
    Outcome::sent(request, Reply::json(200, &body).with_headers(cors))
}

fn mcp(app: &Arc<App>, request: Request, cors: &Headers, answered: Answered) -> Outcome {
    match request.method() {
        Method::Post => post(app, request, cors, answered),
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
fn header_version(request: &Request) -> Result<Option<ProtocolVersion>, Reply> {
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

fn post(app: &Arc<App>, mut request: Request, cors: &Headers, answered: Answered) -> Outcome {
    let reject = |request, reply: Reply| Outcome::sent(request, reply.with_headers(cors));
    if !headers::is_json_content_type(header(&request, "Content-Type")) {
        return reject(
            request,
            Reply::rejected(
                415,
                "unsupported media type: Content-Type must be application/json",
            ),
        );
    }
    let accepts = headers::accepts(header(&request, "Accept"));
    if !accepts.json && !accepts.sse {
        return reject(
            request,
            Reply::rejected(
                406,
                "not acceptable: Accept must allow application/json or text/event-stream",
            ),
        );
    }
    let version = match header_version(&request) {
        Ok(v) => v,
        Err(reply) => return reject(request, reply),
    };
    let mut body = Vec::new();
    let cap = app.max_body;
    if request
        .as_reader()
        .take(cap + 1)
        .read_to_end(&mut body)
        .is_err()
    {
        return reject(
            request,
            Reply::rejected(400, "request body could not be read"),
        );
    }
    if body.len() as u64 > cap {
        return reject(request, Reply::rejected(413, "request body too large"));
    }
    log::trace!("http <- {}", String::from_utf8_lossy(&body));
    let incoming = match jsonrpc::decode(&body) {
        Ok(incoming) => incoming,
        Err(response) => return reject(request, Reply::rpc(400, &response)),
    };
    let modern = match version {
        Some(v) => v.is_modern(),
        None => carries_modern_meta(&incoming),
    };
    let post = Post {
        app,
        request,
        cors,
        accepts,
        answered,
    };
    if modern {
        post.modern(incoming)
    } else {
        post.legacy(incoming, version)
    }
}

/// Whether a single message declares the modern protocol version in `_meta`.
fn carries_modern_meta(incoming: &Incoming) -> bool {
    let params = match incoming {
        Incoming::Single(Message::Request(r)) => r.params.as_ref(),
        Incoming::Single(Message::Notification(n)) => n.params.as_ref(),
        _ => None,
    };
    meta::params_meta(params).is_some_and(|m| m.contains_key(meta::KEY_PROTOCOL_VERSION))
}

/// One POST being answered.
struct Post<'a> {
    app: &'a Arc<App>,
    request: Request,
    cors: &'a Headers,
    accepts: Accepts,
    answered: Answered,
}

impl Post<'_> {
    fn reply(self, reply: Reply) -> Outcome {
        Outcome::sent(self.request, reply.with_headers(self.cors))
    }

    /// SSE when the client asked for progress or accepts nothing else.
    fn wants_sse(&self, params: Option<&Value>) -> bool {
        self.accepts.sse && (!self.accepts.json || meta::progress_token(params).is_some())
    }

    fn modern(self, incoming: Incoming) -> Outcome {
        let Incoming::Single(message) = incoming else {
            return self.reply(Reply::rejected(
                400,
                "invalid request: 2026-07-28 has no JSON-RPC batches",
            ));
        };
        let (method, params, id, is_request) = match &message {
            Message::Request(r) => (r.method.clone(), r.params.clone(), Some(r.id.clone()), true),
            Message::Notification(n) => (n.method.clone(), n.params.clone(), None, false),
            Message::Response(_) => {
                return self.reply(Reply::rejected(
                    400,
                    "invalid request: clients do not send responses in 2026-07-28",
                ));
            }
        };
        let mcp_headers = McpHeaders {
            protocol_version: header(&self.request, "MCP-Protocol-Version"),
            method: header(&self.request, "Mcp-Method"),
            name: header(&self.request, "Mcp-Name"),
        };
        if let Err(e) = headers::check_modern(&mcp_headers, &method, params.as_ref(), is_request) {
            let reply = Reply::rpc(400, &Response::err(id, e.to_error_object()));
            return self.reply(reply).named(&method);
        }
        let incoming = Incoming::Single(message);
        if method == "subscriptions/listen" && is_request {
            return self.listen(incoming).named(&method);
        }
        let sse = self.wants_sse(params.as_ref());
        let server = Arc::clone(&self.app.server);
        let cors = self.cors.clone();
        self.run(sse, cors, true, |sink| {
            server.handle(&mut Session::default(), incoming, sink)
        })
        .named(&method)
    }

    /// `subscriptions/listen`: acknowledged now, then a long-lived stream on its own thread.
    fn listen(self, incoming: Incoming) -> Outcome {
        if !self.accepts.sse {
            return self.reply(Reply::rejected(
                406,
                "not acceptable: subscriptions/listen needs text/event-stream",
            ));
        }
        let Some(permit) = self.app.streams.try_acquire() else {
            return self.reply(busy_streams());
        };
        let mut session = Session::default();
        let mut opening = Vec::new();
        if let Some(reply) = self
            .app
            .server
            .handle(&mut session, incoming, &mut |n| opening.push(n))
        {
            return self.respond_outgoing(reply, true);
        }
        let Post {
            app,
            request,
            cors,
            answered,
            ..
        } = self;
        let mut out = match SseWriter::start(request, cors) {
            Ok(out) => out,
            Err(_) => {
                return Outcome {
                    status: 200,
                    mcp_method: None,
                }
            }
        };
        for n in &opening {
            if out.event(n).is_err() {
                return Outcome {
                    status: 200,
                    mcp_method: None,
                };
            }
        }
        let thread_app = Arc::clone(app);
        let spawned = app.streams.spawn(permit, move || {
            let session = Mutex::new(session);
            let _ = sse::run_long_lived(
                &thread_app.server,
                &thread_app.streams,
                &session,
                &Forever,
                out,
            );
            drop(answered);
        });
        if let Err(e) = spawned {
            log::error!("cannot start a stream thread: {e}");
        }
        Outcome {
            status: 200,
            mcp_method: None,
        }
    }

    fn legacy(self, incoming: Incoming, version: Option<ProtocolVersion>) -> Outcome {
        if let Some(v) = version.filter(|v| v.is_modern()) {
            return self.reply(Reply::rejected(
                400,
                format!("MCP-Protocol-Version {v} requires per-request _meta"),
            ));
        }
        if let Incoming::Single(Message::Request(r)) = &incoming {
            if r.method == "initialize" {
                return self.initialize(incoming);
            }
        }
        let Some(id) = header(&self.request, "Mcp-Session-Id").map(str::to_string) else {
            return self.reply(Reply::rejected(
                400,
                "bad request: Mcp-Session-Id header is required (send initialize first)",
            ));
        };
        let slot = match self.app.sessions.get(&id) {
            Ok(slot) => slot,
            Err(Lookup::Unknown) => {
                return self.reply(Reply::rejected(
                    404,
                    "session not found: it ended or expired; initialize again",
                ))
            }
        };
        if let Some(v) = version.filter(|v| *v != slot.version) {
            return self.reply(Reply::rejected(
                400,
                format!(
                    "MCP-Protocol-Version {v} does not match the session's negotiated {}",
                    slot.version
                ),
            ));
        }
        let (method, params) = match &incoming {
            Incoming::Single(Message::Request(r)) => (Some(r.method.clone()), r.params.clone()),
            Incoming::Single(Message::Notification(n)) => (Some(n.method.clone()), None),
            _ => (None, None),
        };
        let sse = self.wants_sse(params.as_ref());
        let server = Arc::clone(&self.app.server);
        let cors = self.cors.clone();
        let outcome = self.run(sse, cors, false, |sink| {
            server.handle(&mut slot.lock(), incoming, sink)
        });
        match method {
            Some(m) => outcome.named(&m),
            None => outcome,
        }
    }

    /// The legacy handshake: a new session, stored only if `initialize` succeeded.
    fn initialize(self, incoming: Incoming) -> Outcome {
        let mut session = Session::default();
        let mut notes = Vec::new();
        let reply = self
            .app
            .server
            .handle(&mut session, incoming, &mut |n| notes.push(n));
        let mut cors = self.cors.clone();
        if let Some(version) = session.legacy_version() {
            match self.app.sessions.insert(session, version) {
                Ok(Some(id)) => {
                    log::info!("session started ({version})");
                    cors.push(("Mcp-Session-Id".into(), id));
                }
                Ok(None) => {
                    return self
                        .reply(
                            Reply::rejected(503, "too many sessions")
                                .with_header("Retry-After", RETRY_AFTER_SECONDS),
                        )
                        .named("initialize")
                }
                Err(e) => {
                    log::error!("cannot read the OS random source: {e}");
                    return self
                        .reply(Reply::rpc_error(
                            500,
                            code::INTERNAL_ERROR,
                            "cannot create a session",
                        ))
                        .named("initialize");
                }
            }
        }
        let sse = self.accepts.sse && !self.accepts.json;
        self.run(sse, cors, false, move |sink| {
            notes.into_iter().for_each(&mut *sink);
            reply
        })
        .named("initialize")
    }

    /// Runs the core and answers as JSON, or as a request-scoped SSE stream whose events
    /// are written as the core emits them.
    fn run<F>(self, sse: bool, headers: Headers, modern: bool, work: F) -> Outcome
    where
        F: FnOnce(&mut dyn FnMut(Notification)) -> Option<Outgoing>,
    {
        if !sse {
            let reply = work(&mut |_| {});
            return match reply {
                None => Outcome::sent(self.request, Reply::empty(202).with_headers(&headers)),
                Some(outgoing) => Outcome::sent(
                    self.request,
                    outgoing_reply(&outgoing, modern).with_headers(&headers),
                ),
            };
        }
        let Ok(mut out) = SseWriter::start(self.request, &headers) else {
            return Outcome {
                status: 200,
                mcp_method: None,
            };
        };
        let mut failed = false;
        let reply = work(&mut |n| {
            if !failed {
                failed = out.event(&n).is_err();
            }
        });
        let _ = match &reply {
            Some(Outgoing::Single(r)) => out.event(r),
            Some(Outgoing::Batch(rs)) => out.event(rs),
            None => Ok(()),
        };
        let _ = out.finish();
        drop(self.answered);
        Outcome {
            status: 200,
            mcp_method: None,
        }
    }

    fn respond_outgoing(self, outgoing: Outgoing, modern: bool) -> Outcome {
        let reply = outgoing_reply(&outgoing, modern);
        self.reply(reply)
    }
}

fn outgoing_reply(outgoing: &Outgoing, modern: bool) -> Reply {
    match outgoing {
        Outgoing::Single(r) => Reply::rpc(respond::status_for(r, modern), r),
        Outgoing::Batch(rs) => Reply::rpc(200, rs),
    }
}

fn busy_streams() -> Reply {
    Reply::rejected(503, "too many open streams, retry later")
        .with_header("Retry-After", RETRY_AFTER_SECONDS)
}

/// A modern subscription lives until the client leaves or the server stops.
struct Forever;

impl StreamScope for Forever {
    fn alive(&self) -> bool {
        true
    }
}

/// A legacy GET stream lives as long as its session.
struct SessionScope {
    app: Arc<App>,
    id: String,
}

impl StreamScope for SessionScope {
    fn alive(&self) -> bool {
        self.app.sessions.contains(&self.id)
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
        return Outcome {
            status: 200,
            mcp_method: None,
        };
    };
    if out.comment("stream open").is_err() {
        return Outcome {
            status: 200,
            mcp_method: None,
        };
    }
    let thread_app = Arc::clone(app);
    let spawned = app.streams.spawn(permit, move || {
        let scope = SessionScope {
            app: Arc::clone(&thread_app),
            id,
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
    Outcome {
        status: 200,
        mcp_method: None,
    }
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
    if app.sessions.remove(&id) {
        log::info!("session ended by the client");
        reject(request, Reply::empty(204))
    } else {
        reject(request, Reply::rejected(404, "session not found"))
    }
}
