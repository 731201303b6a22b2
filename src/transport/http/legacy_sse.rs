//! The 2024-11-05 HTTP+SSE transport (docs/2024-11-05/basic/transports.mdx, "HTTP with
//! SSE"), for older clients: `--transport sse`, and answered by `http-stream` as well.
//!
//! - `GET /sse` opens an event stream and a session in the one registry. The first event
//!   is `endpoint`, whose data is the URI to POST to: `/messages?sessionId=<id>`.
//! - `POST /messages?sessionId=<id>` (also `session_id=`, and `/messages/`) carries one
//!   JSON-RPC message (or a 2025-03-26 batch). The core handles it on the session, the
//!   POST is answered 202, and the response, notifications and server→client requests
//!   (elicitation) go out on the stream as `message` events, in order.
//!
//! The stream runs on the same capped stream threads as the Streamable HTTP streams
//! (`--max-streams`, 503 past it) and behind the same front (limits, TLS, Origin, token).
//! Messages pass through a bounded outbox; a client that stops reading its stream and
//! lets it fill loses its session rather than the server's memory. The session lives as
//! long as its stream: closing the stream ends it, and an open stream keeps it from
//! expiring.

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use tiny_http::Method;

use super::connections::{client_fields, session_client_info};
use super::endpoint::{busy_streams, Outcome, RETRY_AFTER_SECONDS};
use super::front::ConnEntry;
use super::headers;
use super::metrics::METRICS;
use super::request::Request;
use super::respond::{header, Answered, Headers, Reply};
use super::sessions::{short_id, Kind, NewEntry, Slot};
use super::sse::{SseWriter, KEEPALIVE_INTERVAL, STREAM_TICK};
use super::App;
use crate::jsonrpc::{self, code, Incoming, Message};
use crate::mcp::{Outgoing, Session};

/// The POST endpoint announced in the `endpoint` event.
pub const MESSAGES_PATH: &str = "/messages";
/// Messages a session's outbox holds before its POSTs get 503.
pub const OUTBOX_MESSAGES: usize = 256;
/// How long a POST waits for room in a full outbox before the session is given up.
pub const OUTBOX_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /sse`: a new session and its event stream (on a stream thread).
pub(super) fn open(
    app: &Arc<App>,
    request: Request,
    cors: &Headers,
    answered: Answered,
) -> Outcome {
    let reject = |request, reply: Reply| Outcome::sent(request, reply.with_headers(cors));
    if !matches!(request.method(), Method::Get) {
        return reject(
            request,
            Reply::rejected(405, "method not allowed: GET /sse opens the event stream")
                .with_header("Allow", "GET"),
        );
    }
    if !headers::accepts(header(&request, "Accept")).sse {
        return reject(
            request,
            Reply::rejected(406, "not acceptable: /sse is text/event-stream"),
        );
    }
    let Some(permit) = app.streams.try_acquire() else {
        return reject(request, busy_streams());
    };
    let (outbox, inbox) = bounded::<String>(OUTBOX_MESSAGES);
    let mut session = Session::default();
    // The stream carries server→client requests; their answers come back as POSTs.
    session.set_server_requests(true);
    let peer = answered.0.peer;
    let entry = NewEntry {
        kind: Kind::Sse,
        session,
        version: None,
        client_info: session_client_info(None, header(&request, "User-Agent"), peer),
        outbox: Some(outbox),
    };
    let id = match app.sessions.insert_entry(entry) {
        Ok(Some(id)) => id,
        Ok(None) => {
            let reply = Reply::rejected(503, "too many sessions")
                .with_header("Retry-After", RETRY_AFTER_SECONDS);
            return reject(request, reply);
        }
        Err(e) => {
            log::error!("cannot read the OS random source: {e}");
            return reject(
                request,
                Reply::rpc_error(500, code::INTERNAL_ERROR, "cannot create a session"),
            );
        }
    };
    let Ok(mut out) = SseWriter::start(request, cors) else {
        app.sessions.remove(&id);
        return Outcome::streamed();
    };
    if out
        .named("endpoint", &format!("{MESSAGES_PATH}?sessionId={id}"))
        .is_err()
    {
        app.sessions.remove(&id);
        return Outcome::streamed();
    }
    log::info!("{peer}: SSE session {} started", short_id(&id));
    let thread_app = Arc::clone(app);
    let spawned = app.streams.spawn(permit, move || {
        run_stream(&thread_app, &id, &inbox, &answered.0, out);
        thread_app.sessions.remove(&id);
        log::info!("{peer}: SSE session {} ended", short_id(&id));
        drop(answered);
    });
    if let Err(e) = spawned {
        log::error!("cannot start a stream thread: {e}");
    }
    Outcome::streamed()
}

/// Writes the outbox to the stream until the client leaves, the session ends or the
/// server stops; announces resource-list changes and sends keep-alive comments.
fn run_stream(app: &App, id: &str, inbox: &Receiver<String>, conn: &ConnEntry, mut out: SseWriter) {
    let mut seen = app.server.changes.generation();
    let mut last_write = Instant::now();
    loop {
        // The front closes the connection once the client has gone (EOF): the session
        // ends with it at once, not at the next failed write.
        if app.streams.stopping() || conn.client_gone.load(Ordering::SeqCst) {
            break;
        }
        match inbox.recv_timeout(STREAM_TICK) {
            Ok(text) => {
                if out.named("message", &text).is_err() {
                    return;
                }
                last_write = Instant::now();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // An open stream keeps its session alive; a removed session ends the stream.
        let Some(slot) = app.sessions.touch(id) else {
            break;
        };
        let generation = app.server.changes.generation();
        if generation > seen {
            seen = generation;
            let mut changed = Vec::new();
            app.server
                .flush_changes(&mut slot.lock(), &mut |n| changed.push(jsonrpc::encode(&n)));
            for text in &changed {
                if out.named("message", text).is_err() {
                    return;
                }
            }
        }
        if last_write.elapsed() >= KEEPALIVE_INTERVAL {
            if out.comment("keep-alive").is_err() {
                return;
            }
            last_write = Instant::now();
        }
    }
    let _ = out.finish();
}

/// `POST /messages?sessionId=…`: one message for a session; 202, answers on its stream.
pub(super) fn post(app: &Arc<App>, mut request: Request, cors: &Headers) -> Outcome {
    let reject = |request, reply: Reply| Outcome::sent(request, reply.with_headers(cors));
    if !matches!(request.method(), Method::Post) {
        return reject(
            request,
            Reply::rejected(405, "method not allowed: POST messages here")
                .with_header("Allow", "POST"),
        );
    }
    let Some(id) = session_param(request.url()) else {
        return reject(
            request,
            Reply::rejected(400, "bad request: missing sessionId (open GET /sse first)"),
        );
    };
    let Ok(slot) = app.sessions.get_kind(&id, Kind::Sse) else {
        return reject(
            request,
            Reply::rejected(404, "session not found: its stream closed or it expired"),
        );
    };
    if !headers::is_json_content_type(header(&request, "Content-Type")) {
        return reject(
            request,
            Reply::rejected(
                415,
                "unsupported media type: Content-Type must be application/json",
            ),
        );
    }
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(app.max_body + 1)
        .read_to_end(&mut body);
    if read.is_err() {
        return reject(
            request,
            Reply::rejected(400, "request body could not be read"),
        );
    }
    if body.len() as u64 > app.max_body {
        return reject(request, Reply::rejected(413, "request body too large"));
    }
    log::trace!("sse <- {}", String::from_utf8_lossy(&body));
    let incoming = match jsonrpc::decode(&body) {
        Ok(incoming) => incoming,
        Err(response) => return reject(request, Reply::rpc(400, &response)),
    };
    let Some(outbox) = slot.outbox.as_ref() else {
        return reject(request, Reply::rejected(404, "session not found"));
    };
    if outbox.is_full() {
        let reply = Reply::rejected(
            503,
            "the session's event stream is not being read; retry later",
        )
        .with_header("Retry-After", RETRY_AFTER_SECONDS);
        return reject(request, reply);
    }
    let method = method_of(&incoming);
    let (delivered, rpc_error) = run(app, &slot, incoming, outbox);
    if !delivered {
        log::warn!(
            "SSE session {}: the client stopped reading its stream; session closed",
            short_id(&id)
        );
        app.sessions.remove(&id);
    }
    let outcome = reject(request, Reply::empty(202).core_error(rpc_error));
    match method {
        Some(m) => outcome.named(&m),
        None => outcome,
    }
}

/// Runs the core on the session and queues everything it sends, in order. Returns
/// (everything was queued, the reply was a JSON-RPC error).
fn run(app: &App, slot: &Slot, incoming: Incoming, outbox: &Sender<String>) -> (bool, bool) {
    let mut queue = Outbox {
        sender: outbox,
        ok: true,
    };
    let initialize =
        matches!(&incoming, Incoming::Single(Message::Request(r)) if r.method == "initialize");
    let mut session = slot.lock();
    let reply = app.server.handle(&mut session, incoming, &mut |n| {
        queue.push(&jsonrpc::encode(&n))
    });
    let rpc_error = match &reply {
        Some(Outgoing::Single(r)) => {
            queue.push(&jsonrpc::encode(r));
            r.outcome.is_err()
        }
        Some(Outgoing::Batch(rs)) => {
            queue.push(&jsonrpc::encode(rs));
            false
        }
        None => false,
    };
    for pending in session.take_server_requests() {
        queue.push(&jsonrpc::encode(&pending.request));
    }
    if let (true, Some(version)) = (initialize, session.legacy_version()) {
        slot.set_negotiated(version);
        let client = session.legacy().and_then(|l| l.client_info.as_ref());
        slot.merge_client_info(&client_fields(client));
    }
    (queue.ok, rpc_error)
}

/// The session's outbox as the core's sink: waits a bounded time for room, and once a
/// message could not be queued, drops the rest (the session is then closed).
struct Outbox<'a> {
    sender: &'a Sender<String>,
    ok: bool,
}

impl Outbox<'_> {
    fn push(&mut self, text: &str) {
        if self.ok {
            self.ok = self
                .sender
                .send_timeout(text.to_string(), OUTBOX_SEND_TIMEOUT)
                .is_ok();
            METRICS.sse_message();
        }
    }
}

fn method_of(incoming: &Incoming) -> Option<String> {
    match incoming {
        Incoming::Single(Message::Request(r)) => Some(r.method.clone()),
        Incoming::Single(Message::Notification(n)) => Some(n.method.clone()),
        Incoming::Single(Message::Response(_)) => Some("response".into()),
        Incoming::Batch(_) => None,
    }
}

/// The session id of `/messages?sessionId=…` (or `session_id=`, the Python SDK's name).
fn session_param(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        matches!(name, "sessionId" | "session_id")
            .then(|| super::rest::percent_decode(value))
            .flatten()
            .filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_from_the_query() {
        assert_eq!(
            session_param("/messages?sessionId=ab12").as_deref(),
            Some("ab12")
        );
        assert_eq!(
            session_param("/messages/?x=1&session_id=b.c%2Dd").as_deref(),
            Some("b.c-d")
        );
        assert_eq!(session_param("/messages"), None);
        assert_eq!(session_param("/messages?sessionId="), None);
    }
}
