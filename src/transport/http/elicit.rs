//! Legacy elicitation over Streamable HTTP (2025-06-18 and 2025-11-25,
//! docs/2025-11-25/basic/transports.mdx "Sending Messages to the Server": a request's SSE
//! stream may carry server requests before the response).
//!
//! 1. A legacy request whose POST accepts `text/event-stream` runs with server requests
//!    enabled on its session (`Session::set_server_requests`); a JSON-only POST leaves them
//!    off and a question falls back to the tool's error naming the other channels. A call
//!    answered at once goes out like any other (`post::answer_collected`).
//! 2. A call the core parks (no reply, server requests queued) is answered with an open
//!    SSE stream carrying the notifications and then our request (`elicitation/create`,
//!    `sampling/createMessage`).
//!    The stream goes to a thread of the capped stream set (`--max-streams`), waits without
//!    the session lock, and is found again through [`Parked`], keyed by session and call id.
//! 3. The client's JSON-RPC response arrives on a later POST (202). The core's reply to it
//!    carries the original call's id: it is written on that call's stream, which closes.
//!    New requests and the notifications of that step go to their call's stream.
//! 4. A parked stream whose client disconnects cancels its call (`notifications/cancelled`
//!    into the core); what the core emits for its own request is dropped (the client left).
//! 5. Shutdown, session expiry or DELETE: `Server::end_waiting_calls` answers every parked
//!    call of the session on its stream before the stream closes.
//!
//! A parked stream writes a comment every [`PARKED_PROBE_INTERVAL`]: writing is the only
//! way a response stream learns its client left, and a parked question should be withdrawn
//! promptly, not after the 15 s keep-alive of the other streams.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use serde_json::json;

use super::endpoint::{busy_streams, Outcome};
use super::post::answer_collected;
use super::request::Request;
use super::respond::{Answered, Headers, Reply};
use super::sessions::Slot;
use super::sse::{Permit, SseWriter, STREAM_TICK};
use super::App;
use crate::jsonrpc::{self, Id, Incoming, Message, Notification, Response};
use crate::mcp::ask::ServerRequest;
use crate::mcp::Outgoing;

/// How often a parked stream probes its client with a comment.
pub const PARKED_PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Messages queued for one parked stream (a question, its notifications, the answer).
const PARKED_QUEUE: usize = 64;

/// What a parked stream writes next.
enum Out {
    Note(Notification),
    Ask(jsonrpc::Request),
    /// The call's response: written last, then the stream closes.
    End(Response),
}

/// (session id, call id as JSON text).
type Key = (String, String);

/// The parked calls' streams of every legacy session.
#[derive(Default)]
pub struct Parked {
    streams: Mutex<HashMap<Key, Sender<Out>>>,
}

impl Parked {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Sender<Out>>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, session: &str, call: &Id, out: Out) {
        let key = key(session, call);
        let sent = match &out {
            Out::End(_) => self.map().remove(&key).map(|tx| tx.try_send(out).is_ok()),
            _ => self.map().get(&key).map(|tx| tx.try_send(out).is_ok()),
        };
        if sent != Some(true) {
            log::debug!("no open stream for call {call}: message dropped");
        }
    }
}

fn key(session: &str, call: &Id) -> Key {
    (session.to_string(), jsonrpc::encode(call))
}

/// One legacy request of a POST that accepts SSE (steps 1 and 2).
pub(super) struct Call<'a> {
    pub app: &'a Arc<App>,
    pub session_id: String,
    pub slot: Arc<Slot>,
    pub request: Request,
    pub headers: Headers,
    /// Stream notifications as they happen (progress asked for, or SSE-only client).
    pub live: bool,
    pub answered: Answered,
}

impl Call<'_> {
    pub(super) fn run(self, incoming: Incoming) -> Outcome {
        let streamed = Outcome::streamed();
        let Call {
            app,
            session_id,
            slot,
            request,
            headers,
            live,
            answered,
        } = self;
        let mut pending = Some(request);
        let mut out = None;
        if live {
            let Some(request) = pending.take() else {
                return streamed;
            };
            match SseWriter::start(request, &headers) {
                Ok(writer) => out = Some(writer),
                Err(_) => return streamed,
            }
        }
        let mut notes = Vec::new();
        let (reply, asked) = {
            let mut session = slot.lock();
            session.set_server_requests(true);
            let reply = app
                .server
                .handle(&mut session, incoming, &mut |n| match &mut out {
                    Some(w) => {
                        let _ = w.event(&n);
                    }
                    None => notes.push(n),
                });
            let asked = session.take_server_requests();
            session.set_server_requests(false);
            (reply, asked)
        };
        if let Some(reply) = reply {
            route_asked(app, &session_id, asked);
            return match (out, pending) {
                (Some(mut w), _) => {
                    let _ = match &reply {
                        Outgoing::Single(r) => w.event(r),
                        Outgoing::Batch(rs) => w.event(rs),
                    };
                    let _ = w.finish();
                    streamed
                }
                (None, Some(request)) => {
                    answer_collected(request, &headers, notes, Some(reply), false, true)
                }
                (None, None) => streamed,
            };
        }
        let Some(first) = asked.first() else {
            return match (out, pending) {
                (Some(w), _) => {
                    let _ = w.finish();
                    streamed
                }
                (None, Some(request)) => {
                    Outcome::sent(request, Reply::empty(202).with_headers(&headers))
                }
                (None, None) => streamed,
            };
        };
        let call_id = first.for_call.clone();
        let Some(permit) = app.streams.try_acquire() else {
            log::warn!("no stream slot for a question to the user: call {call_id} cancelled");
            cancel(app, &slot, &call_id);
            return match pending {
                Some(request) => Outcome::sent(request, busy_streams().with_headers(&headers)),
                None => streamed,
            };
        };
        let mut writer = match (out, pending) {
            (Some(w), _) => w,
            (None, Some(request)) => match SseWriter::start(request, &headers) {
                Ok(w) => w,
                Err(_) => {
                    cancel(app, &slot, &call_id);
                    return streamed;
                }
            },
            (None, None) => return streamed,
        };
        let (tx, rx) = bounded(PARKED_QUEUE);
        app.parked
            .map()
            .insert(key(&session_id, &call_id), tx.clone());
        for n in notes {
            let _ = tx.try_send(Out::Note(n));
        }
        for a in asked {
            if a.for_call == call_id {
                let _ = tx.try_send(Out::Ask(a.request));
            } else {
                app.parked
                    .send(&session_id, &a.for_call, Out::Ask(a.request));
            }
        }
        drop(tx);
        let _ = writer.comment("waiting for the user");
        let stream = ParkedStream {
            app: Arc::clone(app),
            session_id,
            slot,
            call_id,
            rx,
        };
        spawn(app, permit, stream, writer, answered);
        streamed
    }
}

/// A POST carrying the client's response to one of our requests (step 3): 202 at once,
/// then the core's reply goes to the parked call's stream.
pub(super) fn client_response(
    app: &App,
    session_id: &str,
    slot: &Slot,
    incoming: Incoming,
    request: Request,
    headers: &Headers,
) -> Outcome {
    let mut notes = Vec::new();
    let (reply, asked) = {
        let mut session = slot.lock();
        session.set_server_requests(true);
        let reply = app
            .server
            .handle(&mut session, incoming, &mut |n| notes.push(n));
        let asked = session.take_server_requests();
        session.set_server_requests(false);
        (reply, asked)
    };
    let resumed = match &reply {
        Some(Outgoing::Single(r)) => r.id.clone(),
        _ => None,
    };
    if let Some(call) = resumed.as_ref().or(asked.first().map(|a| &a.for_call)) {
        for n in notes {
            app.parked.send(session_id, call, Out::Note(n));
        }
    }
    route_asked(app, session_id, asked);
    match reply {
        Some(Outgoing::Single(r)) => match r.id.clone() {
            Some(call) => app.parked.send(session_id, &call, Out::End(r)),
            None => log::debug!("a reply without an id to a client response: dropped"),
        },
        Some(Outgoing::Batch(_)) => log::debug!("a batch reply to a client response: dropped"),
        None => {}
    }
    Outcome::sent(request, Reply::empty(202).with_headers(headers))
}

fn route_asked(app: &App, session_id: &str, asked: Vec<ServerRequest>) {
    for a in asked {
        app.parked
            .send(session_id, &a.for_call, Out::Ask(a.request));
    }
}

/// Withdraws a parked call: the core forgets it and emits `notifications/cancelled` for
/// its own request, which is dropped (the client that would read it is gone).
fn cancel(app: &App, slot: &Slot, call_id: &Id) {
    let cancelled = Notification::new(
        "notifications/cancelled",
        json!({"requestId": call_id, "reason": "the client closed the stream"}),
    );
    let mut session = slot.lock();
    app.server.handle(
        &mut session,
        Incoming::Single(Message::Notification(cancelled)),
        &mut |n| log::debug!("dropped after a disconnect: {}", n.method),
    );
}

/// Answers every parked call of a session that ends (shutdown, expiry, DELETE) on its
/// stream (step 5).
fn end_session(app: &App, session_id: &str, slot: &Slot) {
    let endings = app.server.end_waiting_calls(&mut slot.lock());
    for response in endings {
        if let Some(call) = response.id.clone() {
            app.parked.send(session_id, &call, Out::End(response));
        }
    }
}

struct ParkedStream {
    app: Arc<App>,
    session_id: String,
    slot: Arc<Slot>,
    call_id: Id,
    rx: Receiver<Out>,
}

fn spawn(app: &App, permit: Permit, stream: ParkedStream, out: SseWriter, answered: Answered) {
    let spawned = app.streams.spawn(permit, move || {
        stream.serve(out);
        drop(answered);
    });
    if let Err(e) = spawned {
        log::error!("cannot start a stream thread for a parked call: {e}");
    }
}

impl ParkedStream {
    /// Writes what arrives until the call's response; cancels the call if the client
    /// leaves first.
    fn serve(self, mut out: SseWriter) {
        let mut last_write = Instant::now();
        loop {
            let written = match self.rx.recv_timeout(STREAM_TICK) {
                Ok(Out::Note(n)) => out.event(&n),
                Ok(Out::Ask(r)) => out.event(&r),
                Ok(Out::End(r)) => {
                    let _ = out.event(&r);
                    let _ = out.finish();
                    return;
                }
                // Removed from the map without a response: the session ended and the core
                // had nothing left to say about this call.
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = out.finish();
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.app.streams.stopping() || !self.app.sessions.live(&self.session_id) {
                        end_session(&self.app, &self.session_id, &self.slot);
                        // Drop our own entry if the core no longer knew the call.
                        self.app
                            .parked
                            .map()
                            .remove(&key(&self.session_id, &self.call_id));
                        continue;
                    }
                    if last_write.elapsed() < PARKED_PROBE_INTERVAL {
                        continue;
                    }
                    out.comment("waiting for the user")
                }
            };
            if written.is_err() {
                self.disconnected();
                return;
            }
            last_write = Instant::now();
        }
    }

    fn disconnected(&self) {
        let ours = self
            .app
            .parked
            .map()
            .remove(&key(&self.session_id, &self.call_id))
            .is_some();
        if ours {
            log::info!(
                "client left while call {} waited for the user: cancelled",
                self.call_id
            );
            cancel(&self.app, &self.slot, &self.call_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_distinguish_string_and_number_ids() {
        assert_ne!(key("s", &Id::Int(1)), key("s", &Id::Str("1".into())));
        assert_eq!(key("s", &Id::Int(1)).1, "1");
    }
}
