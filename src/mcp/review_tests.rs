//! In-process tests of asking the user (`ask.rs`) through `spec_review`: the legacy
//! server request and its response, the 2026-07-28 `InputRequiredResult` retry, and
//! every way a question cannot be asked or answered.

use serde_json::{json, Value};

use super::*;
use crate::jsonrpc::{decode, encode};
use crate::spec::store::{DocKind, Kind, Store};

const REQUIREMENTS: &str = "# Requirements\n\n### Requirement 1: Add\n\n**User Story:** As a user, I want to add todos, so that I remember them.\n\n#### Acceptance Criteria\n\n1. WHEN the user submits a title THEN the app SHALL store the todo\n";

struct Fixture {
    server: Server,
    session: Session,
    dir: std::path::PathBuf,
}

impl Fixture {
    fn new(gates: GateMode) -> Fixture {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mcp-review-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let server =
            Server::new(Workspace::new(&dir, 1 << 20).expect("workspace")).with_gates(gates);
        let store = Store::new(&server.workspace);
        let spec = store.init("todo", Kind::Feature, "todos").expect("init");
        store
            .write_doc(&spec, DocKind::Requirements, REQUIREMENTS)
            .expect("write");
        let mut session = Session::default();
        session.set_server_requests(true);
        Fixture {
            server,
            session,
            dir,
        }
    }

    /// Sends a line; returns (notifications, server requests, response or Null).
    fn send(&mut self, message: &Value) -> (Vec<Value>, Vec<Value>, Value) {
        let mut notes = Vec::new();
        let incoming = decode(message.to_string().as_bytes()).expect("valid message");
        let reply = self.server.handle(&mut self.session, incoming, &mut |n| {
            notes.push(serde_json::from_str(&encode(&n)).expect("json"))
        });
        let requests = self
            .session
            .take_server_requests()
            .iter()
            .map(|r| serde_json::from_str(&encode(&r.request)).expect("json"))
            .collect();
        let reply = match reply {
            Some(Outgoing::Single(r)) => serde_json::from_str(&encode(&r)).expect("json"),
            Some(Outgoing::Batch(rs)) => serde_json::from_str(&encode(&rs)).expect("json"),
            None => Value::Null,
        };
        (notes, requests, reply)
    }

    fn initialize(&mut self, version: &str, capabilities: Value) {
        self.send(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion": version, "capabilities": capabilities, "clientInfo": {"name":"t","version":"1"}}}));
        self.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
    }

    fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.join("specs/todo/spec.json")).expect("state");
        serde_json::from_str(&text).expect("json")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn review_call(id: i64) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"spec_review",
        "arguments":{"name":"todo","doc":"requirements","action":"approve"}}})
}

fn modern_call(id: i64, capabilities: Value, extra: Value) -> Value {
    let mut params = json!({"name":"spec_review","arguments":{"name":"todo","doc":"requirements","action":"approve"},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": capabilities}});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            params[k] = v;
        }
    }
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":params})
}

#[test]
fn legacy_round_trip_records_the_users_answer() {
    let mut f = Fixture::new(GateMode::Strict);
    f.initialize("2025-11-25", json!({"elicitation": {}}));
    let (_, requests, reply) = f.send(&review_call(7));
    assert_eq!(reply, Value::Null, "the call waits for the user");
    assert_eq!(requests.len(), 1);
    let ask = &requests[0];
    assert_eq!(ask["method"], "elicitation/create");
    assert_eq!(ask["params"]["mode"], "form");
    assert!(ask["params"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("requirements.md")));
    assert_eq!(
        f.state()["documents"]["requirements"]["status"],
        "in_review"
    );
    let answer = json!({"jsonrpc":"2.0","id":ask["id"],"result":{"action":"accept","content":{"decision":"approve"}}});
    let (_, more, reply) = f.send(&answer);
    assert!(more.is_empty());
    assert_eq!(
        reply["id"], 7,
        "the parked call is answered under its own id"
    );
    assert_eq!(reply["result"]["isError"], false, "{reply}");
    assert_eq!(reply["result"]["structuredContent"]["status"], "approved");
    let doc = &f.state()["documents"]["requirements"];
    assert_eq!(doc["approval"]["channel"], "elicitation");
    assert_eq!(
        doc["approval"]["sha256"],
        crate::sha256::sha256_hex(REQUIREMENTS.as_bytes())
    );
    let (_, _, late) = f.send(&answer);
    assert_eq!(
        late,
        Value::Null,
        "a second response to the same id is ignored"
    );
}

#[test]
fn legacy_answers_that_record_nothing_or_refuse() {
    let mut f = Fixture::new(GateMode::Strict);
    f.initialize("2025-06-18", json!({"elicitation": {}}));
    let (_, requests, _) = f.send(&review_call(1));
    assert!(
        requests[0]["params"].get("mode").is_none(),
        "2025-06-18 has no mode"
    );
    let decline = json!({"jsonrpc":"2.0","id":requests[0]["id"],"result":{"action":"decline"}});
    let (_, _, reply) = f.send(&decline);
    assert_eq!(reply["result"]["isError"], false);
    assert!(reply["result"]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("declined")));
    assert_ne!(f.state()["documents"]["requirements"]["status"], "approved");

    // The file changes while the question is open: the answer is refused.
    let (_, requests, _) = f.send(&review_call(2));
    std::fs::write(
        f.dir.join("specs/todo/requirements.md"),
        format!("{REQUIREMENTS}\n"),
    )
    .expect("edit");
    let accept = json!({"jsonrpc":"2.0","id":requests[0]["id"],"result":{"action":"accept","content":{"decision":"approve"}}});
    let (_, _, reply) = f.send(&accept);
    assert_eq!(reply["result"]["isError"], true);
    assert!(reply["result"]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("changed after it was shown")));

    // The client fails to ask: a tool error naming the other channels.
    let (_, requests, _) = f.send(&review_call(3));
    let error = json!({"jsonrpc":"2.0","id":requests[0]["id"],"error":{"code":-32601,"message":"no elicitation here"}});
    let (_, _, reply) = f.send(&error);
    assert_eq!(reply["id"], 3);
    assert!(reply["result"]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("spec-approve")));

    // The user requests changes with a comment.
    let (_, requests, _) = f.send(&review_call(4));
    let changes = json!({"jsonrpc":"2.0","id":requests[0]["id"],"result":{"action":"accept",
        "content":{"decision":"request_changes","comment":"Add a limit on title length"}}});
    let (_, _, reply) = f.send(&changes);
    assert_eq!(
        reply["result"]["structuredContent"]["status"],
        "changes_requested"
    );
    let doc = &f.state()["documents"]["requirements"];
    assert_eq!(doc["note"], "Add a limit on title length");
    assert!(doc.get("approval").is_none());
}

#[test]
fn server_requests_name_their_call_and_waiting_calls_end_on_shutdown() {
    let mut f = Fixture::new(GateMode::Strict);
    f.initialize("2025-11-25", json!({"elicitation": {}}));
    let incoming = decode(review_call(9).to_string().as_bytes()).expect("valid");
    assert!(f
        .server
        .handle(&mut f.session, incoming, &mut |_| {})
        .is_none());
    let pending = f.session.take_server_requests();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].for_call, crate::jsonrpc::Id::Int(9));
    let ended = f.server.end_waiting_calls(&mut f.session);
    assert_eq!(ended.len(), 1);
    let ended: Value = serde_json::from_str(&encode(&ended[0])).expect("json");
    assert_eq!(
        (ended["id"].clone(), ended["result"]["isError"].clone()),
        (json!(9), json!(true))
    );
    assert_eq!(f.session.waiting_calls().count(), 0);
}

#[test]
fn legacy_cancellation_withdraws_the_question() {
    let mut f = Fixture::new(GateMode::Strict);
    f.initialize("2025-11-25", json!({"elicitation": {"form": {}}}));
    let (_, requests, _) = f.send(&review_call(5));
    assert_eq!(f.session.waiting_calls().count(), 1);
    let cancel =
        json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}});
    let (notes, _, reply) = f.send(&cancel);
    assert_eq!(reply, Value::Null);
    assert_eq!(notes[0]["method"], "notifications/cancelled");
    assert_eq!(notes[0]["params"]["requestId"], requests[0]["id"]);
    assert_eq!(f.session.waiting_calls().count(), 0);
}

#[test]
fn legacy_without_a_way_to_ask_is_a_tool_error_naming_the_other_channels() {
    for (version, caps, server_requests) in [
        ("2025-11-25", json!({}), true),
        ("2025-11-25", json!({"elicitation": {"url": {}}}), true),
        ("2025-03-26", json!({"elicitation": {}}), true),
        ("2025-11-25", json!({"elicitation": {}}), false),
    ] {
        let mut f = Fixture::new(GateMode::Strict);
        if !server_requests {
            f.session = Session::default();
        }
        f.initialize(version, caps);
        let (_, requests, reply) = f.send(&review_call(1));
        assert!(requests.is_empty());
        assert_eq!(reply["result"]["isError"], true, "{version}");
        let text = reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            text.contains("spec-approve")
                && text.contains("mcp-server-spec approve todo requirements"),
            "{text}"
        );
        assert_ne!(f.state()["documents"]["requirements"]["status"], "approved");
    }
}

#[test]
fn modern_round_trip_is_stateless() {
    let mut f = Fixture::new(GateMode::Strict);
    let caps = json!({"elicitation": {}});
    let (_, requests, reply) = f.send(&modern_call(1, caps.clone(), Value::Null));
    assert!(requests.is_empty(), "no server request in 2026-07-28");
    let result = &reply["result"];
    assert_eq!(result["resultType"], "input_required");
    assert_eq!(
        result["inputRequests"]["review"]["method"],
        "elicitation/create"
    );
    assert_eq!(result["inputRequests"]["review"]["params"]["mode"], "form");
    let state = result["requestState"]
        .as_str()
        .expect("requestState")
        .to_string();
    assert!(result["_meta"]["io.modelcontextprotocol/serverInfo"].is_object());

    // A retry without the answer is asked again.
    let (_, _, again) = f.send(&modern_call(
        2,
        caps.clone(),
        json!({"requestState": state}),
    ));
    assert_eq!(again["result"]["resultType"], "input_required");

    let tampered = state.replacen("requirements", "design", 1);
    let answer = json!({"review": {"action": "accept", "content": {"decision": "approve"}}});
    let (_, _, bad) = f.send(&modern_call(
        3,
        caps.clone(),
        json!({"requestState": tampered, "inputResponses": answer}),
    ));
    assert_eq!(bad["error"]["code"], -32602);

    let (_, _, done) = f.send(&modern_call(
        4,
        caps,
        json!({"requestState": state, "inputResponses": answer}),
    ));
    assert_eq!(done["result"]["resultType"], "complete");
    assert_eq!(done["result"]["structuredContent"]["status"], "approved");
    assert_eq!(
        f.state()["documents"]["requirements"]["approval"]["channel"],
        "elicitation"
    );
}

#[test]
fn modern_without_elicitation_is_32021() {
    let mut f = Fixture::new(GateMode::Strict);
    let (_, _, reply) = f.send(&modern_call(1, json!({}), Value::Null));
    assert_eq!(reply["error"]["code"], -32021);
    assert_eq!(
        reply["error"]["data"]["requiredCapabilities"],
        json!({"elicitation": {"form": {}}})
    );
    assert_eq!(
        f.state()["documents"].get("requirements"),
        None,
        "nothing recorded"
    );
}

#[test]
fn only_gates_off_lets_the_assistant_record_and_says_so() {
    let mut f = Fixture::new(GateMode::Off);
    f.initialize("2025-11-25", json!({}));
    let (_, _, reply) = f.send(&review_call(1));
    assert_eq!(reply["result"]["structuredContent"]["channel"], "assistant");
    assert!(reply["result"]["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("the assistant (gates off)")));
    let mut f = Fixture::new(GateMode::Advisory);
    f.initialize("2025-11-25", json!({}));
    let (_, _, reply) = f.send(&review_call(1));
    assert_eq!(
        reply["result"]["isError"], true,
        "advisory never self-approves"
    );
}

fn prompt(id: i64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"prompts/get","params":{"name":name,"arguments":arguments}})
}

#[test]
fn prompts_record_the_users_choice() {
    let mut f = Fixture::new(GateMode::Strict);
    f.initialize("2025-11-25", json!({}));
    let (_, _, r) = f.send(&prompt(
        1,
        "spec-approve",
        json!({"name": "todo", "doc": "requirements"}),
    ));
    let text = r["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.starts_with("I reviewed specs/todo/requirements.md and approve it"),
        "{text}"
    );
    assert!(text.contains("Next: write design.md (spec_guide"), "{text}");
    let doc = &f.state()["documents"]["requirements"];
    assert_eq!(doc["approval"]["channel"], "prompt");
    assert_eq!(f.state()["reviews"][0]["decision"], "approve");

    let (_, _, r) = f.send(&prompt(
        2,
        "spec-request-changes",
        json!({"name": "todo", "doc": "requirements"}),
    ));
    assert_eq!(r["error"]["code"], -32602, "a comment is required: {r}");
    let args =
        json!({"name": "todo", "doc": "requirements", "note": "Say what happens on duplicates"});
    let (_, _, r) = f.send(&prompt(3, "spec-request-changes", args));
    assert!(r["result"]["messages"][0]["content"]["text"]
        .as_str()
        .is_some_and(|t| t.contains("request changes: Say what happens on duplicates")));
    assert_eq!(
        f.state()["documents"]["requirements"]["status"],
        "changes_requested"
    );
}

#[test]
fn prompts_refuse_what_cannot_be_approved() {
    let mut f = Fixture::new(GateMode::Strict);
    f.initialize("2025-11-25", json!({}));
    std::fs::write(
        f.dir.join("specs/todo/requirements.md"),
        "### Requirement 1: x\n\n1. the app\n",
    )
    .expect("write");
    for (args, why) in [
        (json!({"name": "todo", "doc": "requirements"}), "error(s)"),
        (
            json!({"name": "todo", "doc": "design"}),
            "does not exist yet",
        ),
        (
            json!({"name": "todo", "doc": "change"}),
            "no open change request",
        ),
        (json!({"name": "todo", "doc": "code"}), "must be one of"),
        (json!({"name": "nope", "doc": "design"}), "no spec named"),
    ] {
        let (_, _, r) = f.send(&prompt(1, "spec-approve", args));
        assert_eq!(r["error"]["code"], -32602);
        assert!(
            r["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(why)),
            "{r}"
        );
    }
    assert!(f.state().get("reviews").is_none(), "nothing recorded");
}

#[test]
fn spec_continue_names_the_gate_before_the_next_document() {
    let mut f = Fixture::new(GateMode::Strict);
    f.initialize("2025-11-25", json!({}));
    let text = |f: &mut Fixture| {
        let (_, _, r) = f.send(&prompt(1, "spec-continue", json!({"name": "todo"})));
        r["result"]["messages"][0]["content"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let before = text(&mut f);
    assert!(
        before.contains("Refused by strict review gates")
            && before.contains("requirements.md (draft"),
        "{before}"
    );
    f.send(&prompt(
        2,
        "spec-approve",
        json!({"name": "todo", "doc": "requirements"}),
    ));
    let after = text(&mut f);
    assert!(
        !after.contains("review gates") && after.contains("Continue with design.md"),
        "{after}"
    );
}

#[test]
fn replicas_sharing_a_state_key_accept_each_others_retries() {
    let caps = json!({"elicitation": {}});
    let secret = b"a shared secret of enough bytes";
    let mut first = Fixture::new(GateMode::Strict);
    first.server =
        Server::new(Workspace::new(&first.dir, 1 << 20).expect("workspace")).with_state_key(secret);
    let (_, _, r) = first.send(&modern_call(1, caps.clone(), Value::Null));
    let state = r["result"]["requestState"].clone();
    let answer = json!({"review": {"action": "accept", "content": {"decision": "approve"}}});
    let retry = modern_call(
        2,
        caps,
        json!({"requestState": state, "inputResponses": answer}),
    );

    // Another instance with its own random key refuses the state…
    let mut other = Fixture::new(GateMode::Strict);
    other.server = Server::new(Workspace::new(&first.dir, 1 << 20).expect("workspace"));
    assert_eq!(other.send(&retry).2["error"]["code"], -32602);
    // …one configured with the same secret completes the call.
    other.server =
        Server::new(Workspace::new(&first.dir, 1 << 20).expect("workspace")).with_state_key(secret);
    let (_, _, done) = other.send(&retry);
    assert_eq!(
        done["result"]["structuredContent"]["status"], "approved",
        "{done}"
    );
}
