//! Request-scoped notifications over Streamable HTTP when the client did not ask for a
//! stream (no progressToken, `Accept` allows JSON): a request that produced notifications
//! (here `notifications/message` from a tool, after the client set a log level) is answered
//! as SSE, the notifications first and the response last (2025-11-25 basic/transports.mdx:
//! the server "MAY send JSON-RPC requests and notifications before sending the JSON-RPC
//! response" on the POST's SSE stream). Plain JSON stays the answer without notifications,
//! for a JSON-only client, and for a response too large for one SSE event: the Python SDK
//! caps an event at 1 MiB (issue 7), so a 1 MiB `read_file` comes back as JSON even at
//! log level debug.

use serde_json::{json, Value};

use crate::http_client::{modern, raw_request, with_json, HttpResponse, HttpServer, JSON_POST};
use crate::support::TempDir;

const VERSION: &str = "2025-11-25";

/// A legacy session whose client set `log_level`.
struct Session {
    id: String,
}

impl Session {
    fn open(server: &HttpServer, log_level: Option<&str>) -> Session {
        let init = server.post(
            &JSON_POST,
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": VERSION, "capabilities": {},
                "clientInfo": {"name": "notes-it", "version": "1.0.0"}}}),
        );
        assert_eq!(init.status, 200, "{}", init.text());
        let session = Session {
            id: init.header("Mcp-Session-Id").expect("session id").into(),
        };
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(session.post(server, &initialized, None).status, 202);
        if let Some(level) = log_level {
            let set = json!({"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel",
                "params": {"level": level}});
            let r = session.post(server, &set, None);
            assert_eq!(r.header("Content-Type"), Some("application/json"));
            assert_eq!(r.json()["result"], json!({}));
        }
        session
    }

    /// POSTs on this session; `accept` defaults to both media types.
    fn post(&self, server: &HttpServer, body: &Value, accept: Option<&str>) -> HttpResponse {
        let headers = [
            ("Content-Type", "application/json"),
            (
                "Accept",
                accept.unwrap_or("application/json, text/event-stream"),
            ),
            ("Mcp-Session-Id", self.id.as_str()),
            ("MCP-Protocol-Version", VERSION),
        ];
        let mut conn = server.connect();
        let text = body.to_string();
        conn.send(&raw_request(
            "POST",
            "/mcp",
            server.port,
            &headers,
            Some(&text),
        ));
        conn.response()
    }
}

fn call(id: i64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}})
}

fn create_file(id: i64) -> Value {
    call(
        id,
        "create_file",
        json!({"path": "notes.md", "content": "# Notes\n"}),
    )
}

fn is_sse(r: &HttpResponse) -> bool {
    r.header("Content-Type")
        .is_some_and(|t| t.starts_with("text/event-stream"))
}

#[test]
fn a_tool_that_logs_is_answered_as_sse_with_the_log_line_first() {
    let dir = TempDir::new("http-notes-sse");
    let server = HttpServer::start(dir.path(), &[]);
    let session = Session::open(&server, Some("info"));
    let r = session.post(&server, &create_file(2), None);
    assert_eq!(r.status, 200);
    assert!(is_sse(&r), "expected SSE: {:?} {}", r.headers, r.text());
    let messages = r.sse_messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["method"], "notifications/message");
    assert_eq!(messages[0]["params"]["level"], "info");
    assert_eq!(messages[0]["params"]["logger"], "create_file");
    assert_eq!(messages[1]["id"], 2);
    assert_eq!(messages[1]["result"]["isError"], false);
}

#[test]
fn without_notifications_or_sse_in_accept_the_answer_stays_plain_json() {
    let dir = TempDir::new("http-notes-json");
    let server = HttpServer::start(dir.path(), &[]);
    // No log level set: the same call produces no notifications.
    let quiet = Session::open(&server, None);
    let r = quiet.post(&server, &create_file(2), None);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.json()["result"]["isError"], false);
    // A JSON-only client cannot take the log line: it gets the response alone.
    let logged = Session::open(&server, Some("debug"));
    let r = logged.post(&server, &create_file(3), Some("application/json"));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.json()["id"], 3);
}

#[test]
fn a_one_mebibyte_read_file_stays_plain_json_even_with_notifications() {
    const SIZE: usize = 1 << 20;
    let dir = TempDir::new("http-notes-big");
    std::fs::write(dir.path().join("big.txt"), "x".repeat(SIZE)).expect("write big file");
    let server = HttpServer::start(dir.path(), &[]);
    // read_file logs its path and size at debug: a notification the answer cannot carry.
    let session = Session::open(&server, Some("debug"));
    let r = session.post(
        &server,
        &call(2, "read_file", json!({"path": "big.txt"})),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let body = r.json();
    let text = body["result"]["content"][0]["text"].as_str().expect("text");
    assert_eq!(text.len(), SIZE);
    // A small file on the same session still brings its log line.
    std::fs::write(dir.path().join("small.txt"), "small").expect("write small file");
    let r = session.post(
        &server,
        &call(3, "read_file", json!({"path": "small.txt"})),
        None,
    );
    assert!(is_sse(&r), "{}", r.text());
    let messages = r.sse_messages();
    assert_eq!(messages[0]["method"], "notifications/message");
    assert_eq!(messages.last().expect("response")["id"], 3);
}

#[test]
fn a_modern_request_with_a_log_level_gets_its_log_line_on_sse() {
    let dir = TempDir::new("http-notes-modern");
    let server = HttpServer::start(dir.path(), &[]);
    let (mut body, headers) = modern(
        7,
        "tools/call",
        json!({"name": "create_file", "arguments": {"path": "m.md", "content": "m"}}),
    );
    body["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("info");
    let r = server.post(&with_json(&headers), &body);
    assert!(is_sse(&r), "{:?} {}", r.headers, r.text());
    let messages = r.sse_messages();
    assert_eq!(messages[0]["method"], "notifications/message");
    assert_eq!(messages.last().expect("response")["id"], 7);
}
