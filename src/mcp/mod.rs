//! The protocol core: one entry point, [`Server::handle`], shared by every transport.
//!
//! `handle` takes a decoded message plus the per-connection [`Session`] and returns the
//! response(s); notifications the server emits while working (progress, log messages) go
//! to a caller-supplied sink. It performs no transport I/O. Era selection follows
//! docs/2026-07-28/basic/versioning.mdx: a request carrying modern `_meta` is served
//! statelessly; an `initialize` selects legacy semantics for the session (the stdio process
//! or the HTTP session).
//!
//! Asking the user (elicitation, `ask.rs`) keeps that shape. In 2026-07-28 a question is
//! just a result (`InputRequiredResult`). In a legacy session whose transport called
//! [`Session::set_server_requests`], `handle` parks the `tools/call` (no response),
//! puts an `elicitation/create` request in the session's outbox for the transport to
//! drain with [`Session::take_server_requests`], and answers the parked call as the reply
//! to the `handle` call that receives the client's response to that request.

pub mod ask;
pub mod changes;
pub mod completion;
pub mod error;
pub mod extension;
pub mod meta;
pub mod prompts;
pub mod resources;
pub mod review_prompts;
pub mod review_tools;
pub mod schema;
pub mod spec_tools;
pub mod subscriptions;
pub mod tools;
pub mod version;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::jsonrpc::{Id, Incoming, Message, Notification, Request, Response, SharedJson};
use crate::spec::gates::GateMode;
use crate::workspace::Workspace;
use error::McpError;
use meta::{LogLevel, RequestMeta};
use version::ProtocolVersion;

/// `serverInfo.name`.
pub const SERVER_NAME: &str = "spec-driven-development";
/// `serverInfo.title` (2025-06-18 on).
pub const SERVER_TITLE: &str = "Spec-Driven Development";

/// How the assistant should use this server; sent in `initialize` and `server/discover`.
/// The contract in about fifteen lines: which tool first, and the rules that keep a spec
/// honest.
pub const INSTRUCTIONS: &str = "Spec-driven development: an idea becomes requirements.md (EARS), \
then design.md, then tasks.md, then code, each step traceable to the one before.
1. Start with spec_status (no name) to see existing specs; spec_init(name, idea) creates a new one \
(kind=bugfix for a bug).
2. Before writing a document, call spec_guide(phase, name) for its rules, template and the \
project's steering documents.
3. Write documents with spec_write (or create_file under specs/<name>/); every write returns \
deterministic diagnostics. Fix all errors before moving on.
4. Requirements: numbered, each with a user story and EARS acceptance criteria with exactly one \
SHALL; no vague words, no TBD: ask the user instead of guessing.
5. Design components cite the criteria they satisfy (_Requirements: 1.1_); tasks cite criteria \
and dependencies. spec_trace shows what is not covered.
6. After each document, call spec_review(name, doc, action=\"approve\"): the user approves it or \
requests changes in the chat (or with the spec-approve prompt, or `mcp-server-spec approve`). You \
cannot approve; never continue while a document is unapproved or has errors.
7. To change an approved spec, use spec_change: propose a delta, let the user review it \
(spec_review doc=\"change\"), then apply it.
8. Implement with task_next (one task, with its context) and task_update. Mark a task done only \
with evidence (tests passing), and say what the evidence is in note.
9. Files on disk are the truth: the user may edit them at any time (an edit reopens an approved \
document); re-read, never assume.
The seed prompts generate-requirements, generate-design-from-requirements and \
generate-code-from-design still work on the flat specs/ folder (spec name 'default').";

/// The shared, read-mostly server state every request sees.
pub struct Server {
    pub workspace: Workspace,
    /// The tools this deployment offers (`--tools`), in listing order.
    tools: Vec<&'static tools::ToolDef>,
    /// Bumped when the resource list changes, so sessions can announce it.
    pub changes: changes::ChangeFeed,
    /// How review gates are enforced (`--gates`); fixed for the process.
    gates: GateMode,
    /// Seals `requestState` of 2026-07-28 multi round-trip requests (see `ask.rs`).
    state_key: [u8; 32],
    /// A library user's methods, answered before the core's table (none in the product).
    extension: Option<Box<dyn extension::Extension>>,
    /// Results of [`SHARED_METHODS`] per revision, built and serialized once: they are fixed
    /// for the life of the process, and rebuilding and serializing the tool schemas was
    /// most of the cost of a `tools/list` call.
    shared: [[OnceLock<SharedJson>; ProtocolVersion::ALL.len()]; SHARED_METHODS.len()],
    /// Every built-in tool's input schema, built once: each `tools/call` checks its
    /// arguments against one, and building it (a `json!` tree) per call was a tenth of a
    /// `read_file`'s instructions.
    input_schemas: OnceLock<HashMap<&'static str, Value>>,
}

/// Methods whose first page is the same for every caller of a revision.
const SHARED_METHODS: [&str; 4] = [
    "tools/list",
    "prompts/list",
    "resources/templates/list",
    "server/discover",
];

/// What one connection has negotiated. Modern requests never read it.
#[derive(Debug, Default)]
pub struct Session {
    legacy: Option<LegacyState>,
    /// Open `subscriptions/listen` requests, answered only when they end.
    subscriptions: Vec<Subscription>,
    /// Server→client requests to send, and tool calls waiting for their answers.
    outbox: ask::Outbox,
}

/// One open `subscriptions/listen` request.
#[derive(Debug)]
struct Subscription {
    id: Id,
    filter: subscriptions::Filter,
    /// The change generation this subscription has been told about.
    seen: u64,
}

/// State a legacy `initialize` handshake establishes.
#[derive(Debug, Clone)]
pub struct LegacyState {
    pub version: ProtocolVersion,
    /// `notifications/initialized` has arrived.
    pub initialized: bool,
    /// Set by `logging/setLevel`; no log notifications until then.
    pub log_level: Option<LogLevel>,
    pub client_capabilities: Map<String, Value>,
    pub client_info: Option<Value>,
    /// The change generation this session has been told about.
    seen_changes: u64,
}

impl Session {
    /// The negotiated legacy revision, if this session did the handshake.
    pub fn legacy_version(&self) -> Option<ProtocolVersion> {
        self.legacy.as_ref().map(|l| l.version)
    }

    pub fn legacy(&self) -> Option<&LegacyState> {
        self.legacy.as_ref()
    }

    /// Ids of the open `subscriptions/listen` requests, oldest first.
    pub fn subscription_ids(&self) -> impl Iterator<Item = &Id> {
        self.subscriptions.iter().map(|s| &s.id)
    }
}

/// What a request produced: a result now, nothing until later (a subscription, a
/// parked tool call), or a question for the user that `route` still has to deliver.
enum Reply {
    Now(Value),
    /// A result shared by every caller (see [`SHARED_METHODS`]).
    Shared(SharedJson),
    Deferred,
    Ask(ask::Asked),
}

/// What to send back for one decoded line or body.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Single(Response),
    Batch(Vec<Response>),
}

/// Per-request facts handlers need, plus the sink for notifications about this request.
pub struct RequestCtx<'a> {
    pub version: ProtocolVersion,
    pub log_level: Option<LogLevel>,
    pub progress_token: Option<Value>,
    /// Whether and how this request can ask the user (elicitation).
    pub reach: ask::Reach,
    sink: &'a mut dyn FnMut(Notification),
}

impl RequestCtx<'_> {
    /// Emits `notifications/message` if the client asked for this level or a lower one.
    pub fn log(&mut self, level: LogLevel, logger: &str, data: Value) {
        if self.log_level.is_some_and(|min| level >= min) {
            let params = json!({ "level": level.as_str(), "logger": logger, "data": data });
            (self.sink)(Notification::new("notifications/message", params));
        }
    }

    /// Emits `notifications/progress` if the request carried a `progressToken`.
    pub fn progress(&mut self, progress: u64, total: u64, message: &str) {
        if let Some(token) = self.progress_token.clone() {
            let mut params =
                json!({ "progressToken": token, "progress": progress, "total": total });
            if self.version >= ProtocolVersion::V2025_03_26 {
                params["message"] = json!(message);
            }
            (self.sink)(Notification::new("notifications/progress", params));
        }
    }
}

impl Server {
    /// A server offering every tool.
    pub fn new(workspace: Workspace) -> Server {
        Server {
            workspace,
            tools: tools::all().collect(),
            changes: changes::ChangeFeed::default(),
            gates: GateMode::default(),
            state_key: ask::random_key(),
            extension: None,
            shared: Default::default(),
            input_schemas: OnceLock::new(),
        }
    }

    /// Installs a library user's [`extension::Extension`]: its methods are answered before
    /// the core's, and it may add capabilities. The product binary installs none.
    pub fn with_extension(mut self, extension: Box<dyn extension::Extension>) -> Server {
        self.extension = Some(extension);
        self
    }

    /// Seals 2026-07-28 `requestState` with a key derived from `secret` instead of a
    /// random per-process one, so replicas behind one endpoint accept each other's
    /// retries (`--state-key-file`).
    pub fn with_state_key(mut self, secret: &[u8]) -> Server {
        self.state_key = crate::sha256::sha256(secret);
        self
    }

    /// Sets the review gate mode (`--gates`).
    pub fn with_gates(mut self, gates: GateMode) -> Server {
        self.gates = gates;
        self
    }

    /// The review gate mode this server enforces.
    pub fn gates(&self) -> GateMode {
        self.gates
    }

    /// Restricts the tools offered (see `tools::select`).
    pub fn with_tools(mut self, tools: Vec<&'static tools::ToolDef>) -> Server {
        self.tools = tools;
        self.shared = Default::default();
        self
    }

    /// The cache slot of `method`'s result for `version`, if that result is the same for
    /// every caller: no cursor (later pages are rare), no progress token (it asks for a
    /// notification per call) and no extension (its methods may change their answers).
    fn shared_slot(
        &self,
        method: &str,
        params: Option<&Value>,
        ctx: &RequestCtx<'_>,
    ) -> Option<&OnceLock<SharedJson>> {
        let which = SHARED_METHODS.iter().position(|m| *m == method)?;
        if self.extension.is_some()
            || ctx.progress_token.is_some()
            || params.and_then(|p| p.get("cursor")).is_some()
        {
            return None;
        }
        let version = ProtocolVersion::ALL
            .iter()
            .position(|v| *v == ctx.version)?;
        Some(&self.shared[which][version])
    }

    /// The input schema of a built-in tool, built on first use.
    pub fn input_schema(&self, name: &str) -> Option<&Value> {
        self.input_schemas
            .get_or_init(|| tools::all().map(|t| (t.name, (t.input_schema)())).collect())
            .get(name)
    }

    /// An offered tool by name.
    pub fn tool(&self, name: &str) -> Option<&'static tools::ToolDef> {
        self.tools.iter().copied().find(|t| t.name == name)
    }

    /// The one entry point: answers a decoded line or body. `None` means send nothing
    /// (notifications, batches of notifications, a call parked until the user answers).
    /// A client response to one of our requests returns the parked call's response (with
    /// the original call's id). After every call, send what
    /// [`Session::take_server_requests`] returns.
    pub fn handle(
        &self,
        session: &mut Session,
        incoming: Incoming,
        sink: &mut dyn FnMut(Notification),
    ) -> Option<Outgoing> {
        let reply = match incoming {
            Incoming::Single(message) => self
                .handle_message(session, message, sink)
                .map(Outgoing::Single),
            Incoming::Batch(items) => self.handle_batch(session, items, sink),
        };
        self.flush_changes(session, sink);
        reply
    }

    /// Announces resource-list changes this session has not heard of: to an initialized
    /// legacy session as `notifications/resources/list_changed`, and on every subscription
    /// that agreed to `resourcesListChanged`, tagged with its id. Transports with
    /// long-lived streams call it after `changes.wait_past` returns.
    pub fn flush_changes(&self, session: &mut Session, sink: &mut dyn FnMut(Notification)) {
        let generation = self.changes.generation();
        if let Some(state) = session.legacy.as_mut() {
            if state.initialized && state.seen_changes < generation {
                sink(Notification::new(
                    "notifications/resources/list_changed",
                    json!({}),
                ));
            }
            state.seen_changes = generation;
        }
        for sub in &mut session.subscriptions {
            if sub.seen < generation && sub.filter.wants_resource_list() {
                sink(subscriptions::resource_list_changed(&sub.id));
            }
            sub.seen = generation;
        }
    }

    /// Batches exist only in 2025-03-26; elsewhere they are rejected as a whole.
    fn handle_batch(
        &self,
        session: &mut Session,
        items: Vec<Result<Message, Response>>,
        sink: &mut dyn FnMut(Notification),
    ) -> Option<Outgoing> {
        let version = session.legacy_version();
        if !version.is_some_and(ProtocolVersion::allows_batches) {
            let revision = version.map_or_else(
                || "an uninitialized session".to_string(),
                |v| format!("revision {v}"),
            );
            let message = format!(
                "invalid request: JSON-RPC batches are not supported in {revision} (only 2025-03-26 allows them)"
            );
            return Some(Outgoing::Single(Response::err(
                None,
                McpError::InvalidRequest(message).to_error_object(),
            )));
        }
        let mut responses = Vec::new();
        for item in items {
            match item {
                Err(response) => responses.push(response),
                Ok(Message::Request(r)) if r.method == "initialize" => {
                    let e = McpError::InvalidRequest(
                        "invalid request: initialize must not be part of a batch".into(),
                    );
                    responses.push(Response::err(Some(r.id), e.to_error_object()));
                }
                Ok(message) => responses.extend(self.handle_message(session, message, sink)),
            }
        }
        (!responses.is_empty()).then_some(Outgoing::Batch(responses))
    }

    fn handle_message(
        &self,
        session: &mut Session,
        message: Message,
        sink: &mut dyn FnMut(Notification),
    ) -> Option<Response> {
        match message {
            Message::Request(request) => self.handle_request(session, request, sink),
            Message::Notification(n) => {
                self.handle_notification(session, n, sink);
                None
            }
            Message::Response(r) => self.resume(session, r, sink),
        }
    }

    /// Runs one request with panic isolation: a panic becomes -32603 for this request only.
    /// `None` when the answer is deferred (an open subscription).
    pub fn handle_request(
        &self,
        session: &mut Session,
        request: Request,
        sink: &mut dyn FnMut(Notification),
    ) -> Option<Response> {
        let Request { id, method, params } = request;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.route(session, &id, &method, params.as_ref(), sink)
        }));
        let outcome = outcome.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            log::error!("handler for {method} (id {id}) panicked: {what}");
            Err(McpError::Internal(format!(
                "internal error while handling {method}"
            )))
        });
        match outcome {
            Ok(Reply::Now(result)) => Some(Response::ok(id, result)),
            Ok(Reply::Shared(result)) => Some(Response::ok(id, result)),
            Ok(Reply::Deferred) => None,
            Ok(Reply::Ask(asked)) => unreachable!("route delivers questions: {asked:?}"),
            Err(e) => {
                log::debug!("{method} (id {id}) failed: {e}");
                Some(Response::err(Some(id), e.to_error_object()))
            }
        }
    }

    /// Ends every open subscription of a closing session (server shutdown): the
    /// completion responses to send before the stream closes.
    pub fn end_subscriptions(&self, session: &mut Session) -> Vec<Response> {
        session
            .subscriptions
            .drain(..)
            .map(|sub| {
                let result = subscriptions::completion(&sub.id);
                Response::ok(sub.id, result)
            })
            .collect()
    }

    fn handle_notification(
        &self,
        session: &mut Session,
        n: Notification,
        sink: &mut dyn FnMut(Notification),
    ) {
        match n.method.as_str() {
            "notifications/initialized" => match session.legacy.as_mut() {
                Some(state) => state.initialized = true,
                None => log::warn!("notifications/initialized before initialize: ignored"),
            },
            // Requests run to completion synchronously, so by the time a cancellation is read
            // its request has been answered; the spec lets us ignore it (basic/patterns/cancellation).
            "notifications/cancelled" => {
                let target = n.params.as_ref().and_then(|p| p.get("requestId"));
                if target.is_some_and(|t| self.cancel_parked(session, t, sink)) {
                    log::debug!("tool call {target:?} cancelled while waiting for the user");
                    return;
                }
                let before = session.subscriptions.len();
                session
                    .subscriptions
                    .retain(|sub| Some(&json!(sub.id)) != target);
                if session.subscriptions.len() < before {
                    log::debug!("subscription {target:?} cancelled by the client");
                } else {
                    log::debug!("cancellation of {target:?} after its response: nothing to stop");
                }
            }
            other => log::debug!("ignoring notification {other}"),
        }
    }

    /// Chooses the era, builds the request context and dispatches.
    fn route(
        &self,
        session: &mut Session,
        id: &Id,
        method: &str,
        params: Option<&Value>,
        sink: &mut dyn FnMut(Notification),
    ) -> Result<Reply, McpError> {
        if method == "initialize" {
            return self.initialize(session, params).map(Reply::Now);
        }
        let progress_token = meta::progress_token(params);
        let server_requests = ask::server_requests(session);
        let (mut ctx, modern) = match session.legacy.as_mut() {
            Some(state) if method == "logging/setLevel" => {
                let level = params.and_then(|p| p.get("level")).unwrap_or(&Value::Null);
                state.log_level = Some(LogLevel::from_value(level, "level")?);
                return Ok(Reply::Now(json!({})));
            }
            Some(state) => {
                let (version, log_level) = (state.version, state.log_level);
                let caps = &state.client_capabilities;
                let ctx = RequestCtx {
                    version,
                    log_level,
                    progress_token,
                    reach: ask::reach_of(version, caps, server_requests),
                    sink,
                };
                (ctx, false)
            }
            None => match meta::parse_request_meta(params)? {
                Some(RequestMeta {
                    version,
                    log_level,
                    client_capabilities,
                }) => (
                    RequestCtx {
                        version,
                        log_level,
                        progress_token,
                        reach: if ask::supports_form(&client_capabilities) {
                            ask::Reach::Mrtr
                        } else {
                            ask::Reach::None
                        },
                        sink,
                    },
                    true,
                ),
                // `ping` is allowed before initialization in every legacy revision.
                None if method == "ping" => return Ok(Reply::Now(json!({}))),
                None => return Err(missing_era(method)),
            },
        };
        if modern && method == "subscriptions/listen" {
            return self.listen(session, id, object_params(method, params)?, ctx.sink);
        }
        let shared = self.shared_slot(method, params, &ctx);
        if let Some(hit) = shared.and_then(OnceLock::get) {
            return Ok(Reply::Shared(hit.clone()));
        }
        let reply = match self.dispatch(&mut ctx, method, params, modern)? {
            Reply::Ask(asked) => self.ask(session, id, &ctx, asked)?,
            other => other,
        };
        let Reply::Now(mut result) = reply else {
            return Ok(reply);
        };
        ctx.progress(1, 1, "done");
        if modern {
            meta::decorate_modern_result(&mut result);
        }
        match shared {
            Some(slot) => Ok(Reply::Shared(
                slot.get_or_init(|| SharedJson::new(result)).clone(),
            )),
            None => Ok(Reply::Now(result)),
        }
    }

    /// Opens a subscription: acknowledge now, answer when it ends.
    fn listen(
        &self,
        session: &mut Session,
        id: &Id,
        params: &Map<String, Value>,
        sink: &mut dyn FnMut(Notification),
    ) -> Result<Reply, McpError> {
        if session.subscriptions.iter().any(|sub| &sub.id == id) {
            return Err(McpError::InvalidRequest(format!(
                "invalid request: subscription {id} is already open"
            )));
        }
        let filter = subscriptions::agree(params)?;
        sink(subscriptions::acknowledgement(id, &filter));
        let seen = self.changes.generation();
        session.subscriptions.push(Subscription {
            id: id.clone(),
            filter,
            seen,
        });
        Ok(Reply::Deferred)
    }

    /// Every method after era selection. Legacy-only and modern-only methods are guarded;
    /// modern cacheable results get `ttlMs`/`cacheScope` (server/utilities/caching.mdx).
    fn dispatch(
        &self,
        ctx: &mut RequestCtx<'_>,
        method: &str,
        params: Option<&Value>,
        modern: bool,
    ) -> Result<Reply, McpError> {
        let version = ctx.version;
        if let Some(answer) = self
            .extension
            .as_ref()
            .and_then(|x| x.handle(ctx, method, params))
        {
            return answer.map(Reply::Now);
        }
        let (mut result, ttl_ms) = match method {
            "ping" if !modern => (json!({}), None),
            "server/discover" if modern => (self.discover(), Some(meta::LIST_TTL_MS)),
            "tools/list" => {
                let r = list(params, &self.tools, "tools", |t| {
                    tools::describe(t, version)
                })?;
                (r, Some(meta::LIST_TTL_MS))
            }
            "prompts/list" => {
                let r = list(params, prompts::PROMPTS, "prompts", |p| {
                    prompts::describe(p, version)
                })?;
                (r, Some(meta::LIST_TTL_MS))
            }
            "resources/list" => {
                let all = resources::list(self, version)?;
                (list(params, &all, "resources", Value::clone)?, Some(0))
            }
            "resources/templates/list" => {
                let all = resources::templates(version);
                (
                    list(params, &all, "resourceTemplates", Value::clone)?,
                    Some(meta::LIST_TTL_MS),
                )
            }
            "resources/read" => {
                let p = object_params(method, params)?;
                let uri = p.get("uri").and_then(Value::as_str).ok_or_else(|| {
                    McpError::invalid_params("resources/read: missing string parameter 'uri'")
                })?;
                (resources::read(self, version, uri)?, Some(0))
            }
            "tools/call" => match tools::call(self, ctx, object_params(method, params)?)? {
                Reply::Now(result) => (result, None),
                other => return Ok(other),
            },
            "prompts/get" => (prompts::get(self, object_params(method, params)?)?, None),
            "completion/complete" => (
                completion::complete(self, object_params(method, params)?)?,
                None,
            ),
            #[cfg(test)]
            "test/panic" => panic!("deliberate test panic"),
            _ => return Err(McpError::MethodNotFound(method.to_string())),
        };
        if let (true, Some(ttl)) = (modern, ttl_ms) {
            meta::add_cache_hints(&mut result, ttl);
        }
        Ok(Reply::Now(result))
    }

    /// The legacy handshake: echo a supported legacy revision, else offer the newest one.
    fn initialize(&self, session: &mut Session, params: Option<&Value>) -> Result<Value, McpError> {
        if session.legacy.is_some() {
            return Err(McpError::InvalidRequest(
                "invalid request: already initialized".into(),
            ));
        }
        let params = object_params("initialize", params)?;
        let requested = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                McpError::invalid_params("initialize: missing string parameter 'protocolVersion'")
            })?;
        let version = match ProtocolVersion::parse(requested) {
            Some(v) if !v.is_modern() => v,
            _ => ProtocolVersion::NEWEST_LEGACY,
        };
        let client_capabilities = params
            .get("capabilities")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let client_info = params.get("clientInfo").cloned();
        log::info!(
            "initialize: client {} requested {requested}, speaking {version}",
            describe_client(client_info.as_ref())
        );
        session.legacy = Some(LegacyState {
            version,
            initialized: false,
            log_level: None,
            client_capabilities,
            client_info,
            seen_changes: self.changes.generation(),
        });
        Ok(json!({
            "protocolVersion": version.as_str(),
            "capabilities": self.capabilities(),
            "serverInfo": meta::server_info(version),
            "instructions": INSTRUCTIONS,
        }))
    }

    /// What we implement, plus what an installed extension adds.
    fn capabilities(&self) -> Value {
        let mut caps = capabilities();
        if let (Some(x), Some(map)) = (&self.extension, caps.as_object_mut()) {
            x.capabilities(map);
        }
        caps
    }

    fn discover(&self) -> Value {
        json!({
            "supportedVersions": ProtocolVersion::all_strings(),
            "capabilities": self.capabilities(),
            "instructions": INSTRUCTIONS,
        })
    }
}

/// The error for a request that names no era: neither `initialize` first nor modern `_meta`.
fn missing_era(method: &str) -> McpError {
    McpError::invalid_params(format!(
        "{method}: missing _meta[\"{}\"]: send initialize first (revisions up to 2025-11-25) \
         or declare the protocol version on every request (2026-07-28)",
        meta::KEY_PROTOCOL_VERSION
    ))
}

/// What we implement, and nothing more.
fn capabilities() -> Value {
    json!({
        "tools": {},
        "prompts": {},
        "resources": { "listChanged": true },
        "completions": {},
        "logging": {},
    })
}

fn describe_client(info: Option<&Value>) -> String {
    let field = |k: &str| {
        info.and_then(|i| i.get(k))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    format!("{} {}", field("name"), field("version"))
}

/// The params of a method that requires an object (absent means empty).
fn object_params<'a>(
    method: &str,
    params: Option<&'a Value>,
) -> Result<&'a Map<String, Value>, McpError> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match params {
        None => Ok(EMPTY.get_or_init(Map::new)),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(McpError::invalid_params(format!(
            "{method}: params must be an object"
        ))),
    }
}

/// Largest page a list method returns; our tables are far smaller, but a cursor a client
/// echoes back must still be honoured.
const PAGE_SIZE: usize = 100;

/// A paginated list result. Cursors are decimal offsets we issued; anything else is -32602.
fn list<T>(
    params: Option<&Value>,
    items: &[T],
    key: &str,
    describe: impl Fn(&T) -> Value,
) -> Result<Value, McpError> {
    let start = match params.and_then(|p| p.get("cursor")) {
        None | Some(Value::Null) => 0,
        Some(Value::String(c)) => c
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0 && n < items.len())
            .ok_or_else(|| McpError::invalid_params(format!("invalid cursor: {c}")))?,
        Some(_) => return Err(McpError::invalid_params("cursor must be a string")),
    };
    let end = (start + PAGE_SIZE).min(items.len());
    let mut result = json!({ key: items[start..end].iter().map(describe).collect::<Vec<_>>() });
    if end < items.len() {
        result["nextCursor"] = json!(end.to_string());
    }
    Ok(result)
}

#[cfg(test)]
mod review_tests;
#[cfg(test)]
mod tests;
