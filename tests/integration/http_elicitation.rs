//! Legacy elicitation over Streamable HTTP, with the test as an SDK-like client of
//! 2025-06-18 and 2025-11-25 that declares the `elicitation` capability: `spec_review`
//! answers with an SSE stream carrying `elicitation/create`; the client POSTs its answer
//! (202); the original stream then carries the `tools/call` result and closes. Also:
//! decline, a disconnect that cancels the parked call, the JSON-only fallback, and a
//! parked call answered on shutdown. Every message is checked against the official schema.

use serde_json::{json, Value};

use crate::http_client::{raw_request, sse_messages, Conn, HttpServer, JSON_POST};
use crate::schema_check::Schema;
use crate::support::TempDir;

const REQUIREMENTS: &str = include_str!("../fixtures/specs/todo-export/requirements.md");
const DESIGN: &str = include_str!("../fixtures/specs/todo-export/design.md");
const TASKS: &str = include_str!("../fixtures/specs/todo-export/tasks.md");

fn workspace() -> TempDir {
    let dir = TempDir::new("http-elicit");
    let spec = dir.path().join("specs/todo-export");
    std::fs::create_dir_all(&spec).expect("mkdir");
    for (name, text) in [
        ("requirements.md", REQUIREMENTS),
        ("design.md", DESIGN),
        ("tasks.md", TASKS),
    ] {
        std::fs::write(spec.join(name), text).expect("write fixture");
    }
    dir
}

fn doc_state(dir: &TempDir, doc: &str) -> Value {
    let path = dir.path().join("specs/todo-export/spec.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| "{}".into());
    let state: Value = serde_json::from_str(&text).expect("spec.json is JSON");
    state["documents"][doc].clone()
}

/// A legacy session of `version` whose client can answer elicitations.
struct Client {
    port: u16,
    version: &'static str,
    session: String,
}

impl Client {
    fn connect(server: &HttpServer, version: &'static str) -> Client {
        let init = server.post(
            &JSON_POST,
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": version, "capabilities": {"elicitation": {}},
                "clientInfo": {"name": "elicit-it", "version": "1.0.0"}}}),
        );
        assert_eq!(init.status, 200, "{}", init.text());
        let session = init
            .header("Mcp-Session-Id")
            .expect("session id")
            .to_string();
        let client = Client {
            port: server.port,
            version,
            session,
        };
        let r = client.post_on(
            &mut server.connect(),
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            "application/json, text/event-stream",
        );
        assert_eq!(r, 202);
        client
    }

    fn send(&self, conn: &mut Conn, body: &Value, accept: &str) {
        let headers = [
            ("Content-Type", "application/json"),
            ("Accept", accept),
            ("Mcp-Session-Id", self.session.as_str()),
            ("MCP-Protocol-Version", self.version),
        ];
        conn.send(&raw_request(
            "POST",
            "/mcp",
            self.port,
            &headers,
            Some(&body.to_string()),
        ));
    }

    fn post_on(&self, conn: &mut Conn, body: &Value, accept: &str) -> u16 {
        self.send(conn, body, accept);
        conn.response().status
    }

    /// Starts `spec_review` of `doc`; returns the open stream and the question.
    fn review(&self, id: Value, doc: &str) -> (Conn, Value) {
        let mut conn = Conn::plain(self.port);
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "spec_review",
            "arguments": {"name": "todo-export", "doc": doc, "action": "approve"}}});
        self.send(&mut conn, &call, "application/json, text/event-stream");
        let text = conn.stream_until("elicitation/create");
        assert!(
            conn.raw().contains("Content-Type: text/event-stream"),
            "{}",
            conn.raw()
        );
        let ask = sse_messages(&text)
            .into_iter()
            .find(|m| m["method"] == "elicitation/create")
            .expect("the question");
        (conn, ask)
    }

    /// POSTs the client's response to our question: 202.
    fn answer(&self, ask: &Value, result: Value) {
        let response = json!({"jsonrpc": "2.0", "id": ask["id"], "result": result});
        let status = self.post_on(
            &mut Conn::plain(self.port),
            &response,
            "application/json, text/event-stream",
        );
        assert_eq!(status, 202, "a client response is accepted with 202");
    }
}

/// Reads the parked stream to its end; the call's response (the last message).
fn finish(conn: &mut Conn, call_id: &Value) -> Value {
    let needle = format!("\"id\":{call_id}");
    let text = conn.stream_until(&needle);
    let done = sse_messages(&text)
        .into_iter()
        .rfind(|m| m["id"] == *call_id && m.get("result").is_some())
        .expect("the call's response");
    let raw = conn.stream_until("\r\n0\r\n\r\n");
    assert!(raw.ends_with("\r\n0\r\n\r\n"), "the stream closes: {raw}");
    done
}

#[test]
fn elicitation_round_trip_and_decline_over_the_sse_stream() {
    for version in ["2025-06-18", "2025-11-25"] {
        let schema = Schema::load(version);
        let dir = workspace();
        let server = HttpServer::start(dir.path(), &[]);
        let client = Client::connect(&server, version);

        let (mut stream, ask) = client.review(json!("review-1"), "requirements");
        schema.assert_valid("JSONRPCRequest", &ask);
        schema.assert_valid("ElicitRequest", &ask);
        assert_eq!(ask["params"].get("mode").is_some(), version == "2025-11-25");
        assert_eq!(doc_state(&dir, "requirements")["status"], "in_review");
        let answer = json!({"action": "accept",
                            "content": {"decision": "approve", "comment": "over http"}});
        schema.assert_valid("ElicitResult", &answer);
        client.answer(&ask, answer);
        let done = finish(&mut stream, &json!("review-1"));
        schema.assert_valid("JSONRPCResponse", &done);
        schema.assert_valid("CallToolResult", &done["result"]);
        assert_eq!(done["result"]["isError"], false, "{version}: {done}");
        let doc = doc_state(&dir, "requirements");
        assert_eq!(doc["status"], "approved");
        assert_eq!(doc["approval"]["channel"], "elicitation");
        assert_eq!(doc["note"], "over http");

        // Decline: the call completes, nothing is recorded.
        let (mut stream, ask) = client.review(json!(7), "design");
        client.answer(&ask, json!({"action": "decline"}));
        let done = finish(&mut stream, &json!(7));
        schema.assert_valid("CallToolResult", &done["result"]);
        assert!(done["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("declined")));
        assert_ne!(doc_state(&dir, "design")["status"], "approved");
    }
}

#[test]
fn a_disconnected_stream_cancels_the_parked_call() {
    let dir = workspace();
    let mut server = HttpServer::start(dir.path(), &[]);
    let client = Client::connect(&server, "2025-11-25");
    let (stream, ask) = client.review(json!(3), "requirements");
    stream.shutdown();
    drop(stream);
    server.wait_log("call 3 waited for the user: cancelled");
    // A late answer finds no parked call: accepted, nothing recorded.
    client.answer(
        &ask,
        json!({"action": "accept", "content": {"decision": "approve"}}),
    );
    assert_ne!(doc_state(&dir, "requirements")["status"], "approved");
    let health = server.get("/health", &[]).json();
    assert_eq!(health["active_streams"], 0, "{health}");
}

#[test]
fn json_only_posts_fall_back_to_the_tool_error() {
    let dir = workspace();
    let server = HttpServer::start(dir.path(), &[]);
    let client = Client::connect(&server, "2025-06-18");
    let mut conn = server.connect();
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "spec_review",
        "arguments": {"name": "todo-export", "doc": "requirements", "action": "approve"}}});
    client.send(&mut conn, &call, "application/json");
    let r = conn.response();
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert!(body["result"]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("spec-approve")));
}

#[test]
fn shutdown_answers_parked_calls_before_closing() {
    let dir = workspace();
    let mut server = HttpServer::start(dir.path(), &[]);
    let client = Client::connect(&server, "2025-11-25");
    let (mut stream, _ask) = client.review(json!("late"), "requirements");
    server.signal(libc::SIGTERM);
    let done = finish(&mut stream, &json!("late"));
    assert_eq!(done["result"]["isError"], true, "{done}");
    assert!(done["result"]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("stopped waiting")));
    assert_eq!(server.wait_exit(), Some(0));
}
