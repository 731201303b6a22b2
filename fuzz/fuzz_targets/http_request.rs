//! Arbitrary bytes as HTTP/1.1 requests: through the front's framing (head.rs), tiny_http's
//! parser and the `/mcp` endpoint of both eras (plus every other route) down to the core,
//! via `transport::http::fuzzing::Harness`. Every request must get a well-formed response
//! with a valid status; JSON bodies must parse; JSON-RPC errors must carry integer codes;
//! 401 and 405 must carry the headers RFC 9110 requires; nothing may panic or hang.
//!
//! Input: byte 0 holds flags. Bit 0 picks the bearer-token protected app, bits 1-2 the
//! legacy revision of a session opened for the input (named by `{sid}` anywhere in the
//! request). With bit 7 clear the rest is raw client bytes (pipelined requests, chunked
//! bodies, any header). With bit 7 set the input is structured, so mutations of a body
//! reach the core instead of failing the header checks:
//! - byte 1: method (low 3 bits) and path (next 3 bits) from the tables below;
//! - byte 2: headers to add: bit 0 `Content-Type: application/json`; bits 1-2 `Accept`
//!   (none, both, JSON, SSE); bit 3 `MCP-Protocol-Version` (the body's `_meta` revision,
//!   else the session's); bit 4 `Mcp-Method` and `Mcp-Name` taken from the body; bit 5
//!   `Mcp-Session-Id: {sid}`; bit 6 an allowed `Origin`; bit 7 the bearer token;
//! - byte 3: length of raw header lines that follow and are added as they are;
//! - the rest: the body.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_server_spec::mcp::Server;
use mcp_server_spec::transport::http::fuzzing::{Answer, Harness, WireResponse, TOKEN};
use mcp_server_spec::workspace::Workspace;
use serde_json::Value;

const VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const METHODS: [&str; 8] = [
    "POST", "POST", "GET", "DELETE", "OPTIONS", "HEAD", "PUT", "POST",
];
const PATHS: [&str; 8] = [
    "/mcp",
    "/mcp",
    "/mcp",
    "/messages?sessionId={sid}",
    "/tools/read_file",
    "/prompts/generate-requirements",
    "/connect",
    "/health",
];
const ACCEPTS: [Option<&str>; 4] = [
    None,
    Some("application/json, text/event-stream"),
    Some("application/json"),
    Some("text/event-stream"),
];
const KEY_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// Statuses the front answers on its own (relay.rs).
const FRONT_STATUSES: [u16; 6] = [400, 408, 413, 431, 501, 503];

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mcp-fuzz-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("fuzz workspace");
        let server = Server::new(Workspace::new(&dir, 1 << 16).expect("workspace"));
        Harness::new(server, &dir).expect("harness")
    })
}

/// `HTTP_REQUEST_TRACE=1` prints every answer to stderr (to see what seeds reach).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("HTTP_REQUEST_TRACE").is_some())
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let harness = harness();
    let protected = flags & 1 == 1;
    let version = VERSIONS[usize::from((flags >> 1) & 3)];
    let raw = if flags & 0x80 == 0 {
        rest.to_vec()
    } else {
        match structured(rest, version, &harness.host()) {
            Some(raw) => raw,
            None => return,
        }
    };
    let raw = if contains(&raw, b"{sid}") {
        let sid = harness
            .open_session(protected, version)
            .expect("a legacy session opens");
        replace(&raw, b"{sid}", sid.as_bytes())
    } else {
        raw
    };
    for answer in harness.exchange(protected, &raw) {
        if trace() {
            match &answer {
                Answer::Http(Ok(r)) => {
                    eprintln!("{} {}", r.status, String::from_utf8_lossy(&r.body))
                }
                other => eprintln!("{other:?}"),
            }
        }
        match answer {
            Answer::Front(status) => assert!(
                FRONT_STATUSES.contains(&status),
                "the front answered {status}"
            ),
            Answer::Http(Err(why)) => panic!("malformed or missing response: {why}"),
            Answer::Http(Ok(response)) => check(&response),
        }
    }
});

/// Builds a request from the structured form; `None` when the input is too short.
fn structured(data: &[u8], version: &str, host: &str) -> Option<Vec<u8>> {
    let [shape, flags, extra, rest @ ..] = data else {
        return None;
    };
    let extra = usize::from(*extra).min(rest.len());
    let (extra, body) = rest.split_at(extra);
    let method = METHODS[usize::from(shape & 7)];
    let path = PATHS[usize::from((shape >> 3) & 7)];
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let params = json.as_ref().and_then(|j| j.get("params"));
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    let mut add = |name: &str, value: &str| head.push_str(&format!("{name}: {value}\r\n"));
    if flags & 1 != 0 {
        add("Content-Type", "application/json");
    }
    if let Some(accept) = ACCEPTS[usize::from((flags >> 1) & 3)] {
        add("Accept", accept);
    }
    if flags & 8 != 0 {
        let meta = params
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(KEY_PROTOCOL_VERSION))
            .and_then(Value::as_str);
        add("MCP-Protocol-Version", meta.unwrap_or(version));
    }
    if flags & 16 != 0 {
        if let Some(m) = json
            .as_ref()
            .and_then(|j| j.get("method"))
            .and_then(Value::as_str)
        {
            add("Mcp-Method", m);
        }
        let name = params.and_then(|p| p.get("name").or_else(|| p.get("uri")));
        if let Some(name) = name.and_then(Value::as_str) {
            add("Mcp-Name", name);
        }
    }
    if flags & 32 != 0 {
        add("Mcp-Session-Id", "{sid}");
    }
    if flags & 64 != 0 {
        let port = host.rsplit(':').next().unwrap_or_default();
        add("Origin", &format!("http://localhost:{port}"));
    }
    if flags & 128 != 0 {
        add("Authorization", &format!("Bearer {TOKEN}"));
    }
    let mut raw = head.into_bytes();
    raw.extend_from_slice(extra);
    if !extra.is_empty() && !extra.ends_with(b"\r\n") {
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    raw.extend_from_slice(body);
    Some(raw)
}

/// The invariants of one response a client receives.
fn check(response: &WireResponse) {
    let status = response.status;
    match status {
        401 => assert!(
            response.header("WWW-Authenticate").is_some(),
            "401 without WWW-Authenticate (RFC 9110 §15.5.2)"
        ),
        405 => assert!(
            response.header("Allow").is_some(),
            "405 without Allow (RFC 9110 §15.5.6)"
        ),
        _ => {}
    }
    let media = response
        .header("Content-Type")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if response.body.is_empty() {
        return;
    }
    match media.as_str() {
        "application/json" => {
            let value: Value = serde_json::from_slice(&response.body).unwrap_or_else(|e| {
                panic!(
                    "{status} JSON body does not parse ({e}): {}",
                    String::from_utf8_lossy(&response.body)
                )
            });
            check_json_rpc(&value);
        }
        "text/event-stream" => {
            let text = std::str::from_utf8(&response.body).expect("SSE is UTF-8");
            for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
                if let Ok(value) = serde_json::from_str::<Value>(data) {
                    check_json_rpc(&value);
                } else {
                    // The legacy `endpoint` event carries a URL, not JSON.
                    assert!(
                        data.starts_with('/'),
                        "SSE data is neither JSON nor a URL: {data}"
                    );
                }
            }
        }
        _ => {}
    }
}

/// A JSON-RPC message (or batch) must have an integer error code and not both outcomes.
fn check_json_rpc(value: &Value) {
    if let Value::Array(items) = value {
        items.iter().for_each(check_json_rpc);
        return;
    }
    if value.get("jsonrpc").is_none() {
        return;
    }
    assert_eq!(value["jsonrpc"], "2.0", "{value}");
    if let Some(error) = value.get("error") {
        assert!(value.get("result").is_none(), "result and error: {value}");
        assert!(
            error.get("code").is_some_and(Value::is_i64),
            "error code: {value}"
        );
        assert!(
            error.get("message").is_some_and(Value::is_string),
            "error message: {value}"
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}
