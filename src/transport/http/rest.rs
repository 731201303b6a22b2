//! The REST mirror of MCP for curl users and scripts (the seed's API):
//!
//! - `GET /prompts` → `{"prompts": [{name, description, arguments}]}`
//! - `POST /prompts/{name}` with `{"arguments": {...}}` → `{"result": {"messages": [...]}}`
//! - `GET /tools` → `{"tools": [{name, description, inputSchema}]}`
//! - `POST /tools/{name}` with `{"arguments": {...}}` → `{"result": {"content", "isError"}}`
//!
//! Every call becomes a 2026-07-28 JSON-RPC request handed to the one core,
//! `mcp::Server::handle`, exactly as `/mcp` would: no prompt or tool is implemented twice,
//! and `--tools` applies. An unknown prompt or tool is 404 and arguments that fail the
//! tool's input schema (or a prompt's required arguments) are 400, each with a JSON
//! `error` body. An optional `X-Connection-ID` header must name a live connection
//! (`POST /connect`, 404 otherwise), which the call keeps alive.
//!
//! The JSON helpers at the bottom (bodies, errors) serve the connection API too.

use std::io::Read;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tiny_http::Method;

use super::endpoint::Outcome;
use super::headers;
use super::request::Request;
use super::respond::{self, header, Headers, Reply};
use super::App;
use crate::jsonrpc::{
    code, ErrorObject, Id, Incoming, Message, Payload, Request as RpcRequest, Response,
};
use crate::mcp::meta::{KEY_CLIENT_CAPABILITIES, KEY_CLIENT_INFO, KEY_PROTOCOL_VERSION};
use crate::mcp::version::ProtocolVersion;
use crate::mcp::{schema, Outgoing, Server, Session};

/// Pages of a list the mirror follows before giving up (the core's pages hold 100).
const MAX_LIST_PAGES: usize = 100;
/// The `clientInfo` the core sees for REST calls.
const REST_CLIENT: &str = "rest-mirror";

/// Whether `path` belongs to the mirror.
pub(super) fn serves(path: &str) -> bool {
    matches!(path, "/prompts" | "/tools")
        || path.starts_with("/prompts/")
        || path.starts_with("/tools/")
}

/// Answers one mirror request.
pub(super) fn route(app: &Arc<App>, request: Request, path: &str, cors: &Headers) -> Outcome {
    let send = |request, reply: Reply| Outcome::sent(request, reply.with_headers(cors));
    if let Some(id) = header(&request, "X-Connection-ID") {
        if app.sessions.touch(id.trim()).is_none() {
            return send(
                request,
                error(
                    404,
                    "connection not found: X-Connection-ID names no live connection",
                ),
            );
        }
    }
    let (collection, name) = match path[1..].split_once('/') {
        None => (&path[1..], None),
        Some((collection, name)) => (collection, Some(name)),
    };
    let method = request.method().clone();
    match (name, method) {
        (None, Method::Get | Method::Head) => {
            let (mcp_method, reply) = list(&app.server, collection);
            send(request, reply).named(mcp_method)
        }
        (None, _) => send(
            request,
            error(405, "method not allowed: use GET").with_header("Allow", "GET, HEAD"),
        ),
        (Some(name), Method::Post) => {
            let Some(name) = percent_decode(name).filter(|n| !n.is_empty() && !n.contains('/'))
            else {
                return send(request, error(404, &format!("not found: {path}")));
            };
            call(app, request, collection, &name, cors)
        }
        (Some(_), _) => send(
            request,
            error(405, "method not allowed: use POST").with_header("Allow", "POST"),
        ),
    }
}

/// `GET /prompts`, `GET /tools`: the core's list, reduced to the seed's fields.
fn list(server: &Server, collection: &str) -> (&'static str, Reply) {
    let (mcp_method, fields): (&str, [&str; 3]) = if collection == "tools" {
        ("tools/list", ["name", "description", "inputSchema"])
    } else {
        ("prompts/list", ["name", "description", "arguments"])
    };
    match list_all(server, mcp_method, collection) {
        Err(e) => (mcp_method, core_error(&e)),
        Ok(items) => {
            let reduced: Vec<Value> = items
                .iter()
                .map(|item| {
                    let mut out = Map::new();
                    for field in fields {
                        let value = item.get(field).cloned();
                        out.insert(field.to_string(), value.unwrap_or_else(|| json!([])));
                    }
                    Value::Object(out)
                })
                .collect();
            (
                mcp_method,
                Reply::json(200, &json!({ collection: reduced })),
            )
        }
    }
}

/// `POST /prompts/{name}`, `POST /tools/{name}`.
fn call(
    app: &Arc<App>,
    mut request: Request,
    collection: &str,
    name: &str,
    cors: &Headers,
) -> Outcome {
    let (list_method, call_method) = if collection == "tools" {
        ("tools/list", "tools/call")
    } else {
        ("prompts/list", "prompts/get")
    };
    let send =
        |request, reply: Reply| Outcome::sent(request, reply.with_headers(cors)).named(call_method);
    let arguments = match json_body(&mut request, app.max_body).and_then(arguments_of) {
        Ok(arguments) => arguments,
        Err(reply) => return send(request, reply),
    };
    let items = match list_all(&app.server, list_method, collection) {
        Ok(items) => items,
        Err(e) => return send(request, core_error(&e)),
    };
    let Some(item) = items.iter().find(|i| i["name"] == name) else {
        let known: Vec<&Value> = items.iter().map(|i| &i["name"]).collect();
        let singular = &collection[..collection.len() - 1];
        let body = json!({ "error": format!("{singular} not found: {name}"), "available": known });
        return send(request, Reply::json(404, &body));
    };
    if let Some(input_schema) = item.get("inputSchema") {
        if let Err(problem) = schema::check(&Value::Object(arguments.clone()), input_schema) {
            let message = format!("invalid arguments for tool '{name}': {problem}");
            return send(request, error(400, &message));
        }
    }
    let params = json!({ "name": name, "arguments": arguments });
    match call_core(&app.server, call_method, params) {
        Err(e) => send(request, core_error(&e)),
        Ok(mut result) => {
            tidy_result(&mut result, collection == "tools");
            send(request, Reply::json(200, &json!({ "result": result })))
        }
    }
}

/// The `arguments` object of a call body (absent: none).
fn arguments_of(body: Option<Value>) -> Result<Map<String, Value>, Reply> {
    match body {
        None => Ok(Map::new()),
        Some(Value::Object(mut body)) => match body.remove("arguments") {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(arguments)) => Ok(arguments),
            Some(_) => Err(error(400, "bad request: \"arguments\" must be an object")),
        },
        Some(_) => Err(error(
            400,
            "bad request: the body must be a JSON object such as {\"arguments\": {}}",
        )),
    }
}

/// Drops what only MCP clients need: `_meta`, and `resultType` when it is "complete";
/// a tool result always says `isError`.
fn tidy_result(result: &mut Value, tool: bool) {
    if let Value::Object(map) = result {
        map.remove("_meta");
        if map.get("resultType").and_then(Value::as_str) == Some("complete") {
            map.remove("resultType");
        }
        if tool && !map.contains_key("isError") {
            map.insert("isError".into(), json!(false));
        }
    }
}

/// Every item of a paginated core list (`prompts/list`, `tools/list`).
fn list_all(server: &Server, method: &str, key: &str) -> Result<Vec<Value>, ErrorObject> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let params = match &cursor {
            None => json!({}),
            Some(c) => json!({ "cursor": c }),
        };
        let mut page = call_core(server, method, params)?;
        if let Some(Value::Array(more)) = page.get_mut(key).map(Value::take) {
            items.extend(more);
        }
        cursor = page
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        if cursor.is_none() {
            return Ok(items);
        }
    }
    Ok(items)
}

/// One stateless 2026-07-28 request through the core; its result or error.
pub(super) fn call_core(
    server: &Server,
    method: &str,
    mut params: Value,
) -> Result<Value, ErrorObject> {
    params["_meta"] = json!({
        KEY_PROTOCOL_VERSION: ProtocolVersion::V2026_07_28.as_str(),
        KEY_CLIENT_CAPABILITIES: {},
        KEY_CLIENT_INFO: { "name": REST_CLIENT, "version": env!("CARGO_PKG_VERSION") },
    });
    let request = RpcRequest {
        id: Id::Int(1),
        method: method.to_string(),
        params: Some(params),
    };
    let incoming = Incoming::Single(Message::Request(request));
    match server.handle(&mut Session::default(), incoming, &mut |_| {}) {
        Some(Outgoing::Single(Response { outcome, .. })) => outcome.map(Payload::into_value),
        _ => Err(ErrorObject::new(
            code::INTERNAL_ERROR,
            format!("{method}: the core sent no response"),
        )),
    }
}

/// A JSON-RPC error from the core as a REST error (status from `respond::rest_status`).
fn core_error(e: &ErrorObject) -> Reply {
    let mut body = json!({ "error": e.message, "code": e.code });
    if let Some(data) = &e.data {
        body["data"] = data.clone();
    }
    Reply::json(respond::rest_status(e.code), &body).core_error(true)
}

/// `{"error": message}` with a status.
pub(super) fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "error": message }))
}

/// The request body as JSON: `None` when empty; 415 for another media type, 413 over
/// `--max-body-bytes`, 400 for bad JSON.
pub(super) fn json_body(request: &mut Request, max: u64) -> Result<Option<Value>, Reply> {
    let mut body = Vec::new();
    if request
        .as_reader()
        .take(max + 1)
        .read_to_end(&mut body)
        .is_err()
    {
        return Err(error(400, "bad request: the body could not be read"));
    }
    if body.len() as u64 > max {
        return Err(error(413, "request body too large"));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !headers::is_json_content_type(header(request, "Content-Type")) {
        return Err(error(
            415,
            "unsupported media type: send Content-Type: application/json",
        ));
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| error(400, &format!("bad request: the body is not JSON: {e}")))
}

/// Decodes `%XX` escapes of a path segment; `None` if malformed or not UTF-8.
pub(super) fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names() {
        assert!(serves("/tools") && serves("/prompts/spec-new") && !serves("/toolsx"));
        assert_eq!(percent_decode("spec%2Dnew").as_deref(), Some("spec-new"));
        assert_eq!(percent_decode("a%2"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(arguments_of(None).ok(), Some(Map::new()));
        let ok = arguments_of(Some(json!({"arguments": {"name": "x"}}))).ok();
        assert_eq!(ok.map(|a| a.len()), Some(1));
        assert_eq!(
            arguments_of(Some(json!({"arguments": 3})))
                .err()
                .map(|r| r.status),
            Some(400)
        );
        assert_eq!(
            arguments_of(Some(json!([]))).err().map(|r| r.status),
            Some(400)
        );
    }

    #[test]
    fn results_lose_protocol_fields() {
        let mut r = json!({"content": [], "_meta": {}, "resultType": "complete"});
        tidy_result(&mut r, true);
        assert_eq!(r, json!({"content": [], "isError": false}));
    }
}
