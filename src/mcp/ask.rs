//! Asking the user in the middle of a tool call (elicitation), in both eras, without
//! blocking and without I/O.
//!
//! An interactive tool ([`super::tools::Run::Asks`]) returns [`Step::Ask`] with a
//! [`Question`]; the core delivers it the way the request's era and transport allow:
//!
//! - **2026-07-28** (docs/2026-07-28/basic/patterns/mrtr.mdx): the call is answered at
//!   once with an `InputRequiredResult` holding one `elicitation/create` input request and
//!   a `requestState` that seals the tool's state with HMAC-SHA-256 (per-process key),
//!   the tool name, a digest of its arguments and the time. The client retries the same
//!   call with `inputResponses` and that `requestState`; the tool runs again with the
//!   [`Answer`]. Nothing is kept on the server. A client that did not declare the
//!   `elicitation` capability (form mode) gets -32021 (basic/index.mdx, `_meta`).
//! - **2025-06-18 and 2025-11-25** (client/elicitation.mdx): the server sends an
//!   `elicitation/create` request to a client that declared the capability, on a
//!   transport that can carry it ([`Session::set_server_requests`]). The tool call is
//!   parked in the [`Session`] under the id of that request and answered when the
//!   client's response arrives through [`Server::handle`]. The request goes out through
//!   the session's outbox ([`Session::take_server_requests`]), which the transport drains
//!   after every `handle` call.
//! - Otherwise (older revisions, no capability, a transport without server requests) the
//!   tool call ends with a tool error that names the other ways to answer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::error::McpError;
use super::tools::{Run, ToolOutput};
use super::version::ProtocolVersion;
use super::{Reply, RequestCtx, Server, Session};
use crate::jsonrpc::{ErrorObject, Id, Notification, Request, Response};
use crate::sha256::{constant_time_eq, hex, hmac_sha256, sha256_hex};

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

/// What the user did with a question.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UserReply<'a> {
    /// Submitted the form (`action: accept`), with its content.
    Accept(&'a Map<String, Value>),
    /// Explicitly declined.
    Decline,
    /// Dismissed without choosing.
    Cancel,
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
}

/// How a request can reach the user, decided per request in `route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The client cannot be asked.
    None,
    /// 2026-07-28: an `InputRequiredResult`.
    Mrtr,
    /// Legacy: an `elicitation/create` request on this session.
    ServerRequest,
}

/// A tool call that asked: what `route` needs to deliver the question.
#[derive(Debug)]
pub struct Asked {
    pub tool: &'static str,
    pub args: Map<String, Value>,
    pub question: Question,
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
    /// Our `elicitation/create` request's id.
    request_id: Id,
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
        Some(result) => user_reply(result)?,
    };
    Ok(Some(Answer { state, reply }))
}

/// Reads an `ElicitResult`.
fn user_reply(result: &Value) -> Result<UserReply<'_>, McpError> {
    let bad = || {
        McpError::invalid_params(
            "inputResponses: expected an ElicitResult with action accept, decline or cancel",
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
    /// Delivers a tool's question the way this request can reach the user.
    pub(super) fn ask(
        &self,
        session: &mut Session,
        call_id: &Id,
        ctx: &RequestCtx<'_>,
        asked: Asked,
    ) -> Result<Reply, McpError> {
        match ctx.reach {
            Reach::Mrtr => Ok(Reply::Now(self.input_required(&asked))),
            Reach::ServerRequest if session.outbox.parked.len() >= MAX_PARKED => {
                let text = format!(
                    "{MAX_PARKED} questions are already waiting for the user in this session; \
                     wait for their answers. {}",
                    asked.question.fallback
                );
                Ok(Reply::Now(ToolOutput::error(text).into_result(ctx.version)))
            }
            Reach::ServerRequest => {
                let outbox = &mut session.outbox;
                outbox.next += 1;
                let request_id = Id::Str(format!("elicit-{}", outbox.next));
                outbox.requests.push(ServerRequest {
                    for_call: call_id.clone(),
                    request: Request {
                        id: request_id.clone(),
                        method: "elicitation/create".into(),
                        params: Some(elicit_params(ctx.version, &asked.question)),
                    },
                });
                outbox.parked.push(Parked {
                    request_id,
                    call_id: call_id.clone(),
                    tool: asked.tool,
                    args: asked.args,
                    state: asked.question.state,
                });
                Ok(Reply::Deferred)
            }
            Reach::None if ctx.version.is_modern() => Err(McpError::MissingClientCapability(
                json!({"elicitation": {"form": {}}}),
            )),
            Reach::None => {
                let text = format!(
                    "This client cannot show the question here (it needs the elicitation capability, \
                     protocol 2025-06-18 or later). {}",
                    asked.question.fallback
                );
                Ok(Reply::Now(ToolOutput::error(text).into_result(ctx.version)))
            }
        }
    }

    /// The `InputRequiredResult` of a 2026-07-28 call.
    fn input_required(&self, asked: &Asked) -> Value {
        let q = &asked.question;
        let request = json!({
            "method": "elicitation/create",
            "params": elicit_params(ProtocolVersion::V2026_07_28, q),
        });
        json!({
            "resultType": "input_required",
            "inputRequests": { q.key: request },
            "requestState": seal(&self.state_key, asked.tool, &asked.args, &q.state, unix_now()),
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
        match step {
            Ok(Step::Done(output)) => {
                Some(Response::ok(parked.call_id, output.into_result(version)))
            }
            Ok(Step::Ask(question)) => {
                let asked = Asked {
                    tool: parked.tool,
                    args: parked.args,
                    question,
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A random key for sealing `requestState`, fresh per process. `RandomState` is seeded
/// from the operating system's random source, so no crate or file read is needed.
pub fn random_key() -> [u8; 32] {
    use std::hash::{BuildHasher, Hasher};
    let mut key = [0u8; 32];
    for (i, chunk) in key.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    key
}

/// `v1|tool|args digest|issued|state|mac`: readable, and useless when altered.
fn seal(key: &[u8], tool: &str, args: &Map<String, Value>, state: &str, now: u64) -> String {
    let payload = format!("v1|{tool}|{}|{now}|{state}", args_digest(args));
    let mac = hex(&hmac_sha256(key, payload.as_bytes()));
    format!("{payload}|{mac}")
}

/// Verifies a sealed state for this tool and these arguments; returns the tool's state.
fn open<'a>(
    key: &[u8],
    tool: &str,
    args: &Map<String, Value>,
    sealed: &'a str,
    now: u64,
) -> Result<&'a str, &'static str> {
    let (payload, mac) = sealed.rsplit_once('|').ok_or("malformed")?;
    let expected = hex(&hmac_sha256(key, payload.as_bytes()));
    if !constant_time_eq(mac.as_bytes(), expected.as_bytes()) {
        return Err("not issued by this server process (or altered)");
    }
    let mut fields = payload.splitn(5, '|');
    let (Some("v1"), Some(t), Some(digest), Some(issued), Some(state)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err("malformed");
    };
    if t != tool || digest != args_digest(args) {
        return Err("it belongs to a different call (tool or arguments changed)");
    }
    let issued: u64 = issued.parse().map_err(|_| "malformed")?;
    if now.saturating_sub(issued) > STATE_TTL_SECS {
        return Err("expired: call the tool again without it");
    }
    Ok(state)
}

/// SHA-256 of the arguments' canonical JSON (serde_json maps are sorted by key).
fn args_digest(args: &Map<String, Value>) -> String {
    sha256_hex(Value::Object(args.clone()).to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().expect("object").clone()
    }

    #[test]
    fn sealed_state_round_trips_and_rejects_tampering() {
        let key = [7u8; 32];
        let a = args(json!({"name": "x", "doc": "requirements"}));
        let sealed = seal(&key, "spec_review", &a, "requirements|approve|ab|c", 1000);
        assert_eq!(
            open(&key, "spec_review", &a, &sealed, 1100),
            Ok("requirements|approve|ab|c")
        );
        let other_key = [8u8; 32];
        assert!(open(&other_key, "spec_review", &a, &sealed, 1100).is_err());
        let forged = sealed.replace("approve", "approvf");
        assert!(open(&key, "spec_review", &a, &forged, 1100).is_err());
        let b = args(json!({"name": "y", "doc": "requirements"}));
        assert_eq!(
            open(&key, "spec_review", &b, &sealed, 1100),
            Err("it belongs to a different call (tool or arguments changed)")
        );
        assert!(open(&key, "spec_change", &a, &sealed, 1100).is_err());
        assert_eq!(
            open(&key, "spec_review", &a, &sealed, 1000 + STATE_TTL_SECS + 1),
            Err("expired: call the tool again without it")
        );
        assert!(open(&key, "spec_review", &a, "garbage", 1100).is_err());
    }

    #[test]
    fn form_capability() {
        let caps = |v: Value| args(v);
        assert!(supports_form(&caps(json!({"elicitation": {}}))));
        assert!(supports_form(&caps(
            json!({"elicitation": {"form": {}, "url": {}}})
        )));
        assert!(!supports_form(&caps(json!({"elicitation": {"url": {}}}))));
        assert!(!supports_form(&caps(json!({"sampling": {}}))));
    }

    #[test]
    fn elicit_params_per_revision() {
        let q = Question {
            key: "review",
            message: "m".into(),
            schema: json!({"type": "object", "properties": {}}),
            state: String::new(),
            fallback: String::new(),
        };
        assert!(elicit_params(ProtocolVersion::V2025_06_18, &q)
            .get("mode")
            .is_none());
        assert_eq!(
            elicit_params(ProtocolVersion::V2025_11_25, &q)["mode"],
            "form"
        );
    }

    #[test]
    fn user_replies() {
        let accept = json!({"action": "accept", "content": {"decision": "approve"}});
        assert!(
            matches!(user_reply(&accept), Ok(UserReply::Accept(c)) if c["decision"] == "approve")
        );
        assert!(
            matches!(user_reply(&json!({"action": "accept"})), Ok(UserReply::Accept(c)) if c.is_empty())
        );
        assert_eq!(
            user_reply(&json!({"action": "decline"})),
            Ok(UserReply::Decline)
        );
        assert_eq!(
            user_reply(&json!({"action": "cancel"})),
            Ok(UserReply::Cancel)
        );
        assert!(user_reply(&json!({"action": "maybe"})).is_err());
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(random_key(), random_key());
    }
}
