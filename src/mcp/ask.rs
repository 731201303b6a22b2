//! Asking the client in the middle of a tool call, in both eras, without blocking and
//! without I/O: a question for the user (elicitation) or a completion from the client's
//! model (sampling).
//!
//! An interactive tool ([`super::tools::Run::Asks`]) returns [`Step::Ask`] with a
//! [`Question`] or [`Step::Sample`] with a [`Sampling`] request; the core delivers it the
//! way the request's era and transport allow, each only to a client that declared the
//! matching capability (`elicitation` in form mode, client/elicitation.mdx; `sampling`,
//! client/sampling.mdx "Capabilities"):
//!
//! - **2026-07-28** (docs/2026-07-28/basic/patterns/mrtr.mdx): the call is answered at
//!   once with an `InputRequiredResult` holding one input request (`elicitation/create`
//!   or `sampling/createMessage`) and a `requestState` that seals the tool's state with HMAC-SHA-256 (per-process key),
//!   the tool name, a digest of its arguments and the time. The client retries the same
//!   call with `inputResponses` and that `requestState`; the tool runs again with the
//!   [`Answer`]. Nothing is kept on the server. A client that did not declare the
//!   capability gets -32021 (basic/index.mdx, `_meta`; mrtr.mdx: servers "MUST NOT send
//!   an `inputRequests` that the client has not declared support for").
//! - **Legacy sessions** (elicitation from 2025-06-18, sampling in every revision): the
//!   server sends the request to a client that declared the capability, on a transport
//!   that can carry it ([`Session::set_server_requests`]). The tool call is
//!   parked in the [`Session`] under the id of that request and answered when the
//!   client's response arrives through [`Server::handle`]. The request goes out through
//!   the session's outbox ([`Session::take_server_requests`]), which the transport drains
//!   after every `handle` call.
//! - Otherwise (older revisions, no capability, a transport without server requests) the
//!   tool call ends with a tool error that names the other ways to answer.

mod seal;

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::{json, Map, Value};

use super::error::McpError;
use super::tools::{Run, ToolOutput};
use super::version::ProtocolVersion;
use super::{Reply, RequestCtx, Server, Session};
use crate::jsonrpc::{ErrorObject, Id, Notification, Request, Response};
pub use seal::random_key;
use seal::{open, seal, unix_now};

/// How long a `requestState` stays valid: long enough to read a document.
pub const STATE_TTL_SECS: u64 = 60 * 60;
/// Most tool calls one session may have waiting for the user at once.
pub const MAX_PARKED: usize = 16;

/// A question a tool wants answered before it completes.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The key of the request in `inputRequests` (2026-07-28).
    pub key: &'static str,
    /// What the user is asked, plain text.
    pub message: String,
    /// A flat form schema (elicitation's restricted JSON Schema).
    pub schema: Value,
    /// The tool's own continuation state, handed back with the answer.
    pub state: String,
    /// For the assistant when the client cannot be asked: the other ways to answer.
    pub fallback: String,
}

/// A completion a tool wants from the client's model (`sampling/createMessage`).
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// The key of the request in `inputRequests` (2026-07-28).
    pub key: &'static str,
    /// The `CreateMessageRequest` params as they go on the wire (`messages`, `maxTokens`…).
    pub params: Value,
    /// The tool's own continuation state, handed back with the answer.
    pub state: String,
    /// For the assistant when the client cannot be asked: the other ways to go on.
    pub fallback: String,
}

/// What the client did with a question (or a sampling request).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UserReply<'a> {
    /// Submitted the form (`action: accept`), with its content.
    Accept(&'a Map<String, Value>),
    /// Explicitly declined.
    Decline,
    /// Dismissed without choosing.
    Cancel,
    /// The client's model answered a [`Sampling`] request: its `CreateMessageResult`.
    Sampled(&'a Map<String, Value>),
    /// The client could not ask (an error response, or a malformed result).
    Failed(&'a str),
}

/// The answer an interactive tool is resumed with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer<'a> {
    /// The state the tool put in its [`Question`], verified.
    pub state: &'a str,
    pub reply: UserReply<'a>,
}

/// What an interactive tool produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Done(ToolOutput),
    Ask(Question),
    Sample(Sampling),
}

impl Step {
    /// The finished output, or what the tool asked the client for.
    pub(super) fn outcome(self) -> Result<ToolOutput, ClientRequest> {
        match self {
            Step::Done(output) => Ok(output),
            Step::Ask(question) => Err(ClientRequest::Elicit(question)),
            Step::Sample(sampling) => Err(ClientRequest::Sample(sampling)),
        }
    }
}

/// A request to the client an interactive tool is waiting on.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    Elicit(Question),
    Sample(Sampling),
}

impl ClientRequest {
    fn method(&self) -> &'static str {
        match self {
            ClientRequest::Elicit(_) => "elicitation/create",
            ClientRequest::Sample(_) => "sampling/createMessage",
        }
    }

    /// The request's params for a revision.
    fn params(&self, version: ProtocolVersion) -> Value {
        match self {
            ClientRequest::Elicit(q) => elicit_params(version, q),
            ClientRequest::Sample(s) => s.params.clone(),
        }
    }

    fn key(&self) -> &'static str {
        match self {
            ClientRequest::Elicit(q) => q.key,
            ClientRequest::Sample(s) => s.key,
        }
    }

    fn state(&self) -> &str {
        match self {
            ClientRequest::Elicit(q) => &q.state,
            ClientRequest::Sample(s) => &s.state,
        }
    }

    fn fallback(&self) -> &str {
        match self {
            ClientRequest::Elicit(q) => &q.fallback,
            ClientRequest::Sample(s) => &s.fallback,
        }
    }

    /// The capability -32021 names when a 2026-07-28 client lacks it.
    fn capability(&self) -> Value {
        match self {
            ClientRequest::Elicit(_) => json!({"elicitation": {"form": {}}}),
            ClientRequest::Sample(_) => json!({"sampling": {}}),
        }
    }

    /// Why a legacy client cannot be asked, for the tool error.
    fn unreachable(&self) -> &'static str {
        match self {
            ClientRequest::Elicit(_) => {
                "This client cannot show the question here (it needs the elicitation \
                 capability, protocol 2025-06-18 or later)."
            }
            ClientRequest::Sample(_) => {
                "This client cannot be asked for a completion here (it needs the sampling \
                 capability and a transport that carries server requests)."
            }
        }
    }
}

/// How a request can reach the user (elicitation), decided per request in `route`;
/// [`Server::ask`] decides it for sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The client cannot be asked.
    None,
    /// 2026-07-28: an `InputRequiredResult`.
    Mrtr,
    /// Legacy: a server→client request on this session.
    ServerRequest,
}

/// A tool call that asked: what `route` needs to deliver its request.
#[derive(Debug)]
pub struct Asked {
    pub tool: &'static str,
    pub args: Map<String, Value>,
    pub request: ClientRequest,
    /// The capabilities a 2026-07-28 request declared in `_meta` (a legacy session keeps
    /// its own): whether it may be sampled.
    pub modern_caps: Option<Map<String, Value>>,
}

/// Per-session bookkeeping of server→client requests (legacy era).
#[derive(Debug, Default)]
pub struct Outbox {
    /// The transport delivers server requests and routes the responses back.
    enabled: bool,
    next: u64,
    requests: Vec<ServerRequest>,
    parked: Vec<Parked>,
}

/// A server→client request to send, and the client request it belongs to: the HTTP
/// transport writes it on the SSE stream of that request's POST.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRequest {
    /// The id of the client's request (a `tools/call`) that is waiting for the answer.
    pub for_call: Id,
    pub request: Request,
}

/// A tool call waiting for the client's response to our request.
#[derive(Debug)]
struct Parked {
    /// Our request's id.
    request_id: Id,
    /// Our request's method: how to read the client's result.
    method: &'static str,
    /// The client's `tools/call` id, answered on resume.
    call_id: Id,
    tool: &'static str,
    args: Map<String, Value>,
    state: String,
}

impl Session {
    /// Declares whether this session's transport delivers server→client requests
    /// (drained with [`Session::take_server_requests`] after every `handle` call) and
    /// feeds the client's responses back into `handle` on this same session. Read when a
    /// request is routed, so a transport may set it per request: stdio always can; the
    /// HTTP transport can when the POST may be answered with an SSE stream.
    pub fn set_server_requests(&mut self, enabled: bool) {
        self.outbox.enabled = enabled;
    }

    /// Server→client requests to send now, oldest first (after the notifications that
    /// `handle` already passed to the sink), each with the client request it serves.
    pub fn take_server_requests(&mut self) -> Vec<ServerRequest> {
        std::mem::take(&mut self.outbox.requests)
    }

    /// Ids of the client requests (`tools/call`) waiting for a user's answer.
    pub fn waiting_calls(&self) -> impl Iterator<Item = &Id> {
        self.outbox.parked.iter().map(|p| &p.call_id)
    }
}

/// Whether client capabilities allow a form-mode elicitation (an empty `elicitation`
/// object means form mode, client/elicitation.mdx "Capabilities").
pub fn supports_form(capabilities: &Map<String, Value>) -> bool {
    match capabilities.get("elicitation") {
        Some(Value::Object(modes)) => modes.is_empty() || modes.contains_key("form"),
        _ => false,
    }
}

/// Whether this session's transport delivers server→client requests.
pub(super) fn server_requests(session: &Session) -> bool {
    session.outbox.enabled
}

/// How a legacy session's request can reach the user.
pub fn legacy_reach(
    version: ProtocolVersion,
    caps: &Map<String, Value>,
    session: &Session,
) -> Reach {
    reach_of(version, caps, session.outbox.enabled)
}

/// [`legacy_reach`] with the transport's ability given directly.
pub(super) fn reach_of(
    version: ProtocolVersion,
    caps: &Map<String, Value>,
    server_requests: bool,
) -> Reach {
    let has_elicitation = version >= ProtocolVersion::V2025_06_18;
    if has_elicitation && supports_form(caps) && server_requests {
        Reach::ServerRequest
    } else {
        Reach::None
    }
}

/// How `asked` can reach the client: elicitation as `route` decided; sampling by the
/// `sampling` capability (every revision has it), from the request's `_meta` in
/// 2026-07-28, else from the session with a transport that carries server requests.
fn reach_for(ctx: &RequestCtx<'_>, session: &Session, asked: &Asked) -> Reach {
    let sampling = |caps: &Map<String, Value>| caps.contains_key("sampling");
    match &asked.request {
        ClientRequest::Elicit(_) => ctx.reach,
        ClientRequest::Sample(_) if ctx.version.is_modern() => {
            if asked.modern_caps.as_ref().is_some_and(sampling) {
                Reach::Mrtr
            } else {
                Reach::None
            }
        }
        ClientRequest::Sample(_) => match &session.legacy {
            Some(legacy) if sampling(&legacy.client_capabilities) && session.outbox.enabled => {
                Reach::ServerRequest
            }
            _ => Reach::None,
        },
    }
}

/// The answer carried by a 2026-07-28 retry (`inputResponses` + `requestState`), or
/// `None` on a first call. A `requestState` that fails verification is rejected (-32602).
pub fn answer_from_params<'a>(
    server: &Server,
    tool: &str,
    key: &str,
    args: &Map<String, Value>,
    params: &'a Map<String, Value>,
) -> Result<Option<Answer<'a>>, McpError> {
    let Some(sealed) = params.get("requestState") else {
        return Ok(None);
    };
    let sealed = sealed
        .as_str()
        .ok_or_else(|| McpError::invalid_params("requestState must be a string"))?;
    let state = open(&server.state_key, tool, args, sealed, unix_now())
        .map_err(|why| McpError::invalid_params(format!("invalid requestState: {why}")))?;
    let response = match params.get("inputResponses") {
        None => None,
        Some(Value::Object(map)) => map.get(key),
        Some(_) => return Err(McpError::invalid_params("inputResponses must be an object")),
    };
    let reply = match response {
        // The client retried without the answer: ask again (mrtr.mdx, "Error Handling").
        None => return Ok(None),
        Some(result) => input_response(result)?,
    };
    Ok(Some(Answer { state, reply }))
}

/// Reads one of `inputResponses`: a `CreateMessageResult` (it has a `role`, an
/// `ElicitResult` never does) or an `ElicitResult`. A tool that asked one kind and got
/// the other treats it as a failed answer.
fn input_response(result: &Value) -> Result<UserReply<'_>, McpError> {
    match sampled(result) {
        Some(reply) => Ok(reply),
        None => user_reply(result),
    }
}

/// Reads a `CreateMessageResult` (client/sampling.mdx): an object with `role` and
/// `content`, handed to the tool whole.
fn sampled(result: &Value) -> Option<UserReply<'_>> {
    result
        .as_object()
        .filter(|r| r.get("role").is_some_and(Value::is_string) && r.contains_key("content"))
        .map(UserReply::Sampled)
}

/// Reads an `ElicitResult`.
fn user_reply(result: &Value) -> Result<UserReply<'_>, McpError> {
    let bad = || {
        McpError::invalid_params(
            "inputResponses: expected an ElicitResult with action accept, decline or cancel, \
             or a CreateMessageResult",
        )
    };
    match result.get("action").and_then(Value::as_str) {
        Some("accept") => {
            static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
            match result.get("content") {
                None => Ok(UserReply::Accept(EMPTY.get_or_init(Map::new))),
                Some(Value::Object(content)) => Ok(UserReply::Accept(content)),
                Some(_) => Err(bad()),
            }
        }
        Some("decline") => Ok(UserReply::Decline),
        Some("cancel") => Ok(UserReply::Cancel),
        _ => Err(bad()),
    }
}

/// `elicitation/create` params for a revision (`mode` exists from 2025-11-25 on).
pub fn elicit_params(version: ProtocolVersion, q: &Question) -> Value {
    let mut params = json!({ "message": q.message, "requestedSchema": q.schema });
    if version >= ProtocolVersion::V2025_11_25 {
        params["mode"] = json!("form");
    }
    params
}

impl Server {
    /// Delivers what a tool asked for the way this request can reach the client.
    pub(super) fn ask(
        &self,
        session: &mut Session,
        call_id: &Id,
        ctx: &RequestCtx<'_>,
        asked: Asked,
    ) -> Result<Reply, McpError> {
        match reach_for(ctx, session, &asked) {
            Reach::Mrtr => Ok(Reply::Now(self.input_required(&asked))),
            Reach::ServerRequest if session.outbox.parked.len() >= MAX_PARKED => {
                let text = format!(
                    "{MAX_PARKED} requests to the client are already waiting in this session; \
                     wait for their answers. {}",
                    asked.request.fallback()
                );
                Ok(Reply::Now(ToolOutput::error(text).into_result(ctx.version)))
            }
            Reach::ServerRequest => {
                let outbox = &mut session.outbox;
                outbox.next += 1;
                let prefix = match asked.request {
                    ClientRequest::Elicit(_) => "elicit",
                    ClientRequest::Sample(_) => "sample",
                };
                let request_id = Id::Str(format!("{prefix}-{}", outbox.next));
                let method = asked.request.method();
                outbox.requests.push(ServerRequest {
                    for_call: call_id.clone(),
                    request: Request {
                        id: request_id.clone(),
                        method: method.into(),
                        params: Some(asked.request.params(ctx.version)),
                    },
                });
                let state = match asked.request {
                    ClientRequest::Elicit(q) => q.state,
                    ClientRequest::Sample(s) => s.state,
                };
                outbox.parked.push(Parked {
                    request_id,
                    method,
                    call_id: call_id.clone(),
                    tool: asked.tool,
                    args: asked.args,
                    state,
                });
                Ok(Reply::Deferred)
            }
            Reach::None if ctx.version.is_modern() => Err(McpError::MissingClientCapability(
                asked.request.capability(),
            )),
            Reach::None => {
                let r = &asked.request;
                let text = format!("{} {}", r.unreachable(), r.fallback());
                Ok(Reply::Now(ToolOutput::error(text).into_result(ctx.version)))
            }
        }
    }

    /// The `InputRequiredResult` of a 2026-07-28 call.
    fn input_required(&self, asked: &Asked) -> Value {
        let r = &asked.request;
        let request = json!({
            "method": r.method(),
            "params": r.params(ProtocolVersion::V2026_07_28),
        });
        json!({
            "resultType": "input_required",
            "inputRequests": { r.key(): request },
            "requestState": seal(&self.state_key, asked.tool, &asked.args, r.state(), unix_now()),
        })
    }

    /// A client response (legacy era): resumes the tool call parked under its id and
    /// returns that call's response. `None` when the id is not ours or the tool asked
    /// again (a new request is then in the outbox).
    pub(super) fn resume(
        &self,
        session: &mut Session,
        response: Response,
        sink: &mut dyn FnMut(Notification),
    ) -> Option<Response> {
        let Some(at) = session
            .outbox
            .parked
            .iter()
            .position(|p| Some(&p.request_id) == response.id.as_ref())
        else {
            log::debug!(
                "ignoring a client response to id {:?}: no request of ours is pending",
                response.id
            );
            return None;
        };
        let parked = session.outbox.parked.remove(at);
        let legacy = session.legacy.as_ref()?;
        let (version, log_level) = (legacy.version, legacy.log_level);
        let reach = legacy_reach(version, &legacy.client_capabilities, session);
        let mut ctx = RequestCtx {
            version,
            log_level,
            progress_token: None,
            reach,
            sink,
        };
        let failure;
        let reply = match &response.outcome {
            Ok(result) if parked.method == "sampling/createMessage" => sampled(result).unwrap_or(
                UserReply::Failed("the client's sampling result was malformed"),
            ),
            Ok(result) => user_reply(result).unwrap_or(UserReply::Failed(
                "the client's elicitation result was malformed",
            )),
            Err(ErrorObject { message, .. }) => {
                failure = format!("the client answered with an error: {message}");
                UserReply::Failed(&failure)
            }
        };
        let answer = Answer {
            state: &parked.state,
            reply,
        };
        let run = self.tool(parked.tool).map(|t| &t.call);
        let Some(Run::Asks { run: resume, .. }) = run else {
            log::error!("parked tool {} is no longer offered", parked.tool);
            return None;
        };
        let step = catch_unwind(AssertUnwindSafe(|| {
            resume(self, &mut ctx, &parked.args, Some(answer))
        }));
        match step.map(Step::outcome) {
            Ok(Ok(output)) => Some(Response::ok(parked.call_id, output.into_result(version))),
            Ok(Err(request)) => {
                let asked = Asked {
                    tool: parked.tool,
                    args: parked.args,
                    request,
                    modern_caps: None,
                };
                match self.ask(session, &parked.call_id, &ctx, asked) {
                    Ok(Reply::Now(result)) => Some(Response::ok(parked.call_id, result)),
                    Ok(_) => None,
                    Err(e) => Some(Response::err(Some(parked.call_id), e.to_error_object())),
                }
            }
            Err(_) => {
                log::error!(
                    "tool {} panicked while resuming call {}",
                    parked.tool,
                    parked.call_id
                );
                let e =
                    McpError::Internal(format!("internal error while handling {}", parked.tool));
                Some(Response::err(Some(parked.call_id), e.to_error_object()))
            }
        }
    }

    /// Ends every tool call of a closing session that still waits for the user (server
    /// shutdown, session expiry): the responses to send before the stream closes, each a
    /// tool error saying the question went unanswered.
    pub fn end_waiting_calls(&self, session: &mut Session) -> Vec<Response> {
        let version = session
            .legacy_version()
            .unwrap_or(ProtocolVersion::NEWEST_LEGACY);
        session
            .outbox
            .parked
            .drain(..)
            .map(|p| {
                let text = "the server stopped waiting before the user answered; nothing was \
                            recorded. Call the tool again to ask once more.";
                Response::ok(p.call_id, ToolOutput::error(text).into_result(version))
            })
            .collect()
    }

    /// `notifications/cancelled` for a parked call: forget it and withdraw our request.
    pub(super) fn cancel_parked(
        &self,
        session: &mut Session,
        call_id: &Value,
        sink: &mut dyn FnMut(Notification),
    ) -> bool {
        let Some(at) = session
            .outbox
            .parked
            .iter()
            .position(|p| json!(p.call_id) == *call_id)
        else {
            return false;
        };
        let parked = session.outbox.parked.remove(at);
        let params =
            json!({"requestId": parked.request_id, "reason": "the tool call was cancelled"});
        sink(Notification::new("notifications/cancelled", params));
        true
    }
}

#[cfg(test)]
mod tests;
