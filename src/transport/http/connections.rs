//! The connection API with heartbeats (the seed's promise), over the one registry in
//! `sessions.rs`:
//!
//! - `POST /connect` with `{"client_info": {...}}` → `{"connection_id", "protocol_version",
//!   "server_info": {"name", "version"}}`; the recorded client info gains the
//!   `User-Agent` and the remote address;
//! - `POST /heartbeat/{id}` → `{"status": "ok", "timestamp"}`, 404 for an unknown id;
//! - `DELETE /disconnect/{id}` → `{"status": "disconnected"}`, 404 for an unknown id;
//! - `GET /connections` → `{"connections": [{id, kind, protocol_version, created_at,
//!   last_heartbeat, client_info}], "total"}`.
//!
//! The registry also holds the legacy MCP sessions, so a heartbeat keeps a session alive,
//! `/disconnect` ends one, and `/connections` lists them with their `kind`. Every entry
//! expires after `--session-timeout` without a request or heartbeat.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{json, Map, Value};
use tiny_http::Method;

use super::endpoint::{Outcome, RETRY_AFTER_SECONDS};
use super::request::Request;
use super::respond::{header, Headers, Reply};
use super::rest::{error, json_body, percent_decode};
use super::sessions::{short_id, Kind, NewEntry, Slot};
use super::App;
use crate::clock::rfc3339_millis;
use crate::mcp::version::ProtocolVersion;
use crate::mcp::{Session, SERVER_NAME};

/// Largest `client_info` a connection may record (serialized JSON).
pub const MAX_CLIENT_INFO_BYTES: usize = 4 * 1024;
/// Longest `User-Agent` (and client name or version) recorded; the rest is cut.
pub const MAX_RECORDED_CHARS: usize = 256;

const HEARTBEAT: &str = "/heartbeat/";
const DISCONNECT: &str = "/disconnect/";

/// Whether `path` belongs to the connection API.
pub(super) fn serves(path: &str) -> bool {
    matches!(path, "/connect" | "/connections")
        || path.starts_with(HEARTBEAT)
        || path.starts_with(DISCONNECT)
}

/// Answers one connection-API request.
pub(super) fn route(
    app: &Arc<App>,
    request: Request,
    path: &str,
    cors: &Headers,
    peer: SocketAddr,
) -> Outcome {
    let method = request.method().clone();
    let reply = match (path, method) {
        ("/connect", Method::Post) => return connect(app, request, cors, peer),
        ("/connections", Method::Get | Method::Head) => list(app),
        ("/connect", _) => allow("POST"),
        ("/connections", _) => allow("GET, HEAD"),
        (p, Method::Post) if p.starts_with(HEARTBEAT) => heartbeat(app, &p[HEARTBEAT.len()..]),
        (p, _) if p.starts_with(HEARTBEAT) => allow("POST"),
        (p, Method::Delete) if p.starts_with(DISCONNECT) => disconnect(app, &p[DISCONNECT.len()..]),
        _ => allow("DELETE"),
    };
    Outcome::sent(request, reply.with_headers(cors))
}

fn allow(methods: &str) -> Reply {
    error(405, &format!("method not allowed: use {methods}")).with_header("Allow", methods)
}

/// `POST /connect`.
fn connect(app: &Arc<App>, mut request: Request, cors: &Headers, peer: SocketAddr) -> Outcome {
    let send = |request, reply: Reply| Outcome::sent(request, reply.with_headers(cors));
    let given = match json_body(&mut request, app.max_body).and_then(client_info_of) {
        Ok(given) => given,
        Err(reply) => return send(request, reply),
    };
    let mut info = given;
    observed(&mut info, header(&request, "User-Agent"), peer);
    let version = ProtocolVersion::ALL[0];
    let entry = NewEntry {
        kind: Kind::Rest,
        session: Session::default(),
        version: Some(version),
        client_info: Value::Object(info),
        outbox: None,
    };
    let id = match app.sessions.insert_entry(entry) {
        Ok(Some(id)) => id,
        Ok(None) => {
            let reply = error(503, "too many connections, retry later")
                .with_header("Retry-After", RETRY_AFTER_SECONDS);
            return send(request, reply);
        }
        Err(e) => {
            log::error!("cannot read the OS random source: {e}");
            return send(request, error(500, "cannot create a connection"));
        }
    };
    log::info!("{peer}: connection {} registered", short_id(&id));
    let body = json!({
        "connection_id": id,
        "protocol_version": version.as_str(),
        "server_info": { "name": SERVER_NAME, "version": env!("CARGO_PKG_VERSION") },
        "session_timeout_seconds": app.sessions.timeout().as_secs(),
    });
    send(request, Reply::json(200, &body))
}

/// The `client_info` object of a `/connect` body (absent: empty).
fn client_info_of(body: Option<Value>) -> Result<Map<String, Value>, Reply> {
    let info = match body {
        None => return Ok(Map::new()),
        Some(Value::Object(mut body)) => body.remove("client_info"),
        Some(_) => {
            return Err(error(
                400,
                "bad request: the body must be a JSON object such as {\"client_info\": {}}",
            ))
        }
    };
    match info {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(info)) => {
            if Value::Object(info.clone()).to_string().len() > MAX_CLIENT_INFO_BYTES {
                return Err(error(
                    400,
                    &format!(
                        "bad request: client_info is larger than {MAX_CLIENT_INFO_BYTES} bytes"
                    ),
                ));
            }
            Ok(info)
        }
        Some(_) => Err(error(400, "bad request: client_info must be an object")),
    }
}

/// Adds what the server saw itself: `user_agent` and `remote_addr` (these win over
/// fields of the same name the client sent).
fn observed(info: &mut Map<String, Value>, user_agent: Option<&str>, peer: SocketAddr) {
    if let Some(agent) = user_agent {
        info.insert("user_agent".into(), json!(cut(agent)));
    }
    info.insert("remote_addr".into(), json!(peer.to_string()));
}

/// The client record of an MCP session: the name, title and version from `clientInfo`
/// (bounded), plus what the server observed.
pub(super) fn session_client_info(
    client_info: Option<&Value>,
    user_agent: Option<&str>,
    peer: SocketAddr,
) -> Value {
    let mut info = client_fields(client_info);
    observed(&mut info, user_agent, peer);
    Value::Object(info)
}

/// `name`, `title` and `version` of an MCP `clientInfo`, each cut to a bounded length.
pub(super) fn client_fields(client_info: Option<&Value>) -> Map<String, Value> {
    let mut info = Map::new();
    for field in ["name", "title", "version"] {
        if let Some(text) = client_info
            .and_then(|c| c.get(field))
            .and_then(Value::as_str)
        {
            info.insert(field.into(), json!(cut(text)));
        }
    }
    info
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_RECORDED_CHARS).collect()
}

/// `POST /heartbeat/{id}`.
fn heartbeat(app: &App, raw_id: &str) -> Reply {
    let Some(id) = percent_decode(raw_id) else {
        return not_found();
    };
    match app.sessions.touch(&id) {
        Some(_) => Reply::json(
            200,
            &json!({
                "status": "ok",
                "timestamp": rfc3339_millis(SystemTime::now()),
                "expires_in_seconds": app.sessions.timeout().as_secs(),
            }),
        ),
        None => not_found(),
    }
}

/// `DELETE /disconnect/{id}`.
fn disconnect(app: &App, raw_id: &str) -> Reply {
    match percent_decode(raw_id) {
        Some(id) if app.sessions.remove(&id) => {
            log::info!("connection {} disconnected by the client", short_id(&id));
            Reply::json(200, &json!({ "status": "disconnected" }))
        }
        _ => not_found(),
    }
}

fn not_found() -> Reply {
    error(
        404,
        "connection not found: it was never registered, disconnected or expired",
    )
}

/// `GET /connections`.
fn list(app: &App) -> Reply {
    let connections: Vec<Value> = app
        .sessions
        .snapshot()
        .iter()
        .map(|(id, slot)| describe(id, slot))
        .collect();
    let total = connections.len();
    Reply::json(200, &json!({ "connections": connections, "total": total }))
}

fn describe(id: &str, slot: &Slot) -> Value {
    json!({
        "id": id,
        "kind": slot.kind.as_str(),
        "protocol_version": slot.protocol_version().map(ProtocolVersion::as_str),
        "created_at": rfc3339_millis(slot.created_at()),
        "last_heartbeat": rfc3339_millis(slot.last_seen()),
        "client_info": slot.client_info(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_info_rules() {
        assert_eq!(client_info_of(None).ok(), Some(Map::new()));
        let info = client_info_of(Some(json!({"client_info": {"name": "cli"}}))).ok();
        assert_eq!(info.map(|i| i.len()), Some(1));
        for bad in [
            json!({"client_info": "x"}),
            json!([1]),
            json!({"client_info": {"blob": "x".repeat(MAX_CLIENT_INFO_BYTES)}}),
        ] {
            assert_eq!(client_info_of(Some(bad)).err().map(|r| r.status), Some(400));
        }
    }

    #[test]
    fn observed_fields_win() {
        let peer: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let mut info = Map::new();
        info.insert("remote_addr".into(), json!("spoofed"));
        observed(&mut info, Some(&"a".repeat(1000)), peer);
        assert_eq!(info["remote_addr"], "127.0.0.1:4000");
        assert_eq!(
            info["user_agent"].as_str().map(str::len),
            Some(MAX_RECORDED_CHARS)
        );
        let record = session_client_info(Some(&json!({"name": "ide", "extra": 1})), None, peer);
        assert_eq!(
            record,
            json!({"name": "ide", "remote_addr": "127.0.0.1:4000"})
        );
    }

    #[test]
    fn api_paths() {
        assert!(serves("/connect") && serves("/heartbeat/x") && serves("/disconnect/x"));
        assert!(!serves("/connectx") && !serves("/heartbeat"));
    }
}
