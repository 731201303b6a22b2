//! POST `/mcp`: one JSON-RPC message (or a 2025-03-26 batch) of either era.
//!
//! Checks in order: `Content-Type` (415), `Accept` (406), `MCP-Protocol-Version` (400 with
//! -32022 for a revision we lack), the body (413, then 400 with -32700). The era is the
//! header's revision if present, else modern when the body carries modern `_meta` (the
//! missing header is then itself a -32020), else legacy (2025-03-26 by default).
//! Requests are answered as a request-scoped SSE stream written as the core works when the
//! client asked for progress or accepts only `text/event-stream`. Otherwise the core runs
//! first and the answer is plain JSON, unless it produced notifications for the request
//! (log messages) and the client accepts SSE: then an SSE stream carries them and then the
//! response ([`answer_collected`]), save for a response too large for one SSE event
//! ([`MAX_SSE_RESPONSE_BYTES`]). Notifications and client responses get 202.
//! `subscriptions/listen` moves to a long-lived stream thread.

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::connections::session_client_info;
use super::elicit;
use super::endpoint::{busy_streams, header_version, Outcome, RETRY_AFTER_SECONDS};
use super::front::ConnEntry;
use super::headers::{self, Accepts, McpHeaders};
use super::request::Request;
use super::respond::{self, header, Answered, Headers, Reply};
use super::sessions::{Kind, Lookup, NewEntry};
use super::sse::{self, SseWriter, StreamScope};
use super::App;
use crate::jsonrpc::{self, code, Incoming, Message, Notification, Response};
use crate::mcp::meta;
use crate::mcp::version::ProtocolVersion;
use crate::mcp::{Outgoing, Session};

/// Largest response sent as an SSE event behind a request's notifications. The Python SDK
/// reads at most 1 MiB per SSE event and fails the request beyond it (issue 7); the margin
/// covers the event framing. A larger response is sent as plain JSON and the notifications
/// are dropped: losing log lines is better than losing the result.
pub const MAX_SSE_RESPONSE_BYTES: usize = 1_000_000;

pub fn post(app: &Arc<App>, mut request: Request, cors: &Headers, answered: Answered) -> Outcome {
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
        // Borrowed, not cloned: the params (a tool's whole arguments) were copied per
        // request only to be looked at here.
        let (method, params, id, is_request) = match &message {
            Message::Request(r) => (r.method.as_str(), r.params.as_ref(), Some(&r.id), true),
            Message::Notification(n) => (n.method.as_str(), n.params.as_ref(), None, false),
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
        if let Err(e) = headers::check_modern(&mcp_headers, method, params, is_request) {
            let reply = Reply::rpc(400, &Response::err(id.cloned(), e.to_error_object()));
            return self.reply(reply).named(method);
        }
        let listen = method == "subscriptions/listen" && is_request;
        let sse = self.wants_sse(params);
        let method = method.to_owned();
        let incoming = Incoming::Single(message);
        if listen {
            return self.listen(incoming).named(method);
        }
        let server = Arc::clone(&self.app.server);
        let cors = self.cors.clone();
        self.run(sse, cors, true, |sink| {
            server.handle(&mut Session::default(), incoming, sink)
        })
        .named(method)
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
            Err(_) => return Outcome::streamed(),
        };
        for n in &opening {
            if out.event(n).is_err() {
                return Outcome::streamed();
            }
        }
        let thread_app = Arc::clone(app);
        let spawned = app.streams.spawn(permit, move || {
            let session = Mutex::new(session);
            let scope = ClientScope(Arc::clone(&answered.0));
            let _ = sse::run_long_lived(
                &thread_app.server,
                &thread_app.streams,
                &session,
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
        // 2025-11-25 basic/transports.mdx: the client SHOULD send the negotiated revision, and
        // the server MUST answer 400 only to an invalid or unsupported one (refused above).
        // A supported but different revision is served under the session's negotiated one.
        if let Some(v) = version.filter(|v| *v != slot.version) {
            log::debug!(
                "session {}: MCP-Protocol-Version {v} differs from the negotiated {}; serving {}",
                &id[..id.len().min(12)],
                slot.version,
                slot.version
            );
        }
        match &incoming {
            Incoming::Single(Message::Response(_)) => {
                let outcome = elicit::client_response(
                    self.app,
                    &id,
                    &slot,
                    incoming,
                    self.request,
                    self.cors,
                );
                drop(self.answered);
                return outcome;
            }
            Incoming::Single(Message::Request(r)) if self.accepts.sse => {
                let method = r.method.clone();
                let live = self.wants_sse(r.params.as_ref());
                let call = elicit::Call {
                    app: self.app,
                    session_id: id,
                    slot,
                    request: self.request,
                    headers: self.cors.clone(),
                    live,
                    answered: self.answered,
                };
                return call.run(incoming).named(&method);
            }
            _ => {}
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
            let client_info = session_client_info(
                session.legacy().and_then(|l| l.client_info.as_ref()),
                header(&self.request, "User-Agent"),
                self.answered.0.peer,
            );
            let entry = NewEntry {
                kind: Kind::Streamable,
                session,
                version: Some(version),
                client_info,
                outbox: None,
            };
            match self.app.sessions.insert_entry(entry) {
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
            let mut notes = Vec::new();
            let reply = work(&mut |n| notes.push(n));
            let sse_allowed = self.accepts.sse;
            return answer_collected(self.request, &headers, notes, reply, modern, sse_allowed);
        }
        let Ok(mut out) = SseWriter::start(self.request, &headers) else {
            return Outcome::streamed();
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
        let mut outcome = Outcome::streamed();
        outcome.rpc_error = matches!(&reply, Some(Outgoing::Single(r)) if r.outcome.is_err());
        outcome
    }

    fn respond_outgoing(self, outgoing: Outgoing, modern: bool) -> Outcome {
        let reply = outgoing_reply(&outgoing, modern);
        self.reply(reply)
    }
}

pub(super) fn outgoing_reply(outgoing: &Outgoing, modern: bool) -> Reply {
    match outgoing {
        Outgoing::Single(r) => {
            Reply::rpc(respond::status_for(r, modern), r).core_error(r.outcome.is_err())
        }
        Outgoing::Batch(rs) => Reply::rpc(200, rs),
    }
}

/// Answers a request whose notifications were collected while the core ran (not written
/// as they happened). With notifications, an `Accept` that allows `text/event-stream`, a
/// 200 response and a body of at most [`MAX_SSE_RESPONSE_BYTES`], the answer is an SSE
/// stream: the notifications, then the response (2025-11-25 basic/transports.mdx: on an
/// SSE stream the server "MAY send JSON-RPC requests and notifications before sending the
/// JSON-RPC response"; 2026-07-28 streamable-http.mdx likewise). Otherwise it is plain
/// JSON, which cannot carry them: they are dropped and that is logged at debug. No
/// response means 202.
pub(super) fn answer_collected(
    request: Request,
    headers: &Headers,
    notes: Vec<Notification>,
    reply: Option<Outgoing>,
    modern: bool,
    sse_allowed: bool,
) -> Outcome {
    let Some(outgoing) = reply else {
        return Outcome::sent(request, Reply::empty(202).with_headers(headers));
    };
    let reply = outgoing_reply(&outgoing, modern);
    let size = reply.body.as_ref().map_or(0, String::len);
    if notes.is_empty() {
        return Outcome::sent(request, reply.with_headers(headers));
    }
    let why = if !sse_allowed {
        "the client does not accept text/event-stream"
    } else if reply.status != 200 {
        "an HTTP error status cannot go on an SSE stream"
    } else if size > MAX_SSE_RESPONSE_BYTES {
        "the response is larger than one SSE event may be"
    } else {
        ""
    };
    if !why.is_empty() {
        log::debug!(
            "{} notification(s) dropped, response of {} bytes sent as plain JSON: {why}",
            notes.len(),
            size
        );
        return Outcome::sent(request, reply.with_headers(headers));
    }
    let mut outcome = Outcome::streamed();
    outcome.rpc_error = reply.rpc_error;
    let Ok(mut out) = SseWriter::start(request, headers) else {
        return outcome;
    };
    for n in &notes {
        if out.event(n).is_err() {
            return outcome;
        }
    }
    let body = reply.body.unwrap_or_default();
    if out.named("message", &body).is_ok() {
        let _ = out.finish();
    }
    outcome
}

/// A modern subscription lives until the client leaves or the server stops.
struct ClientScope(Arc<ConnEntry>);

impl StreamScope for ClientScope {
    fn alive(&self) -> bool {
        !self.0.client_gone.load(Ordering::SeqCst)
    }
}
