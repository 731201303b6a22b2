//! Unit tests of `ask.rs`: capabilities, request params and replies, and sampling
//! (`Step::Sample`) through `Server::handle` in both eras.

use super::*;

fn args(v: Value) -> Map<String, Value> {
    v.as_object().expect("object").clone()
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
    assert!(matches!(user_reply(&accept), Ok(UserReply::Accept(c)) if c["decision"] == "approve"));
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

/// A tool that asks the client's model once and reports what it said.
fn haiku(
    _: &Server,
    _: &mut RequestCtx<'_>,
    _: &Map<String, Value>,
    answer: Option<Answer<'_>>,
) -> Step {
    let Some(answer) = answer else {
        return Step::Sample(Sampling {
            key: "haiku",
            params: json!({"messages": [{"role": "user", "content": {"type": "text", "text": "a haiku"}}], "maxTokens": 50}),
            state: "s1".into(),
            fallback: "Write it yourself.".into(),
        });
    };
    assert_eq!(answer.state, "s1");
    let text = match answer.reply {
        UserReply::Sampled(result) => format!("model said {}", result["content"]["text"]),
        UserReply::Failed(why) => return Step::Done(ToolOutput::error(why)),
        other => panic!("unexpected reply {other:?}"),
    };
    Step::Done(ToolOutput::text(text))
}

static HAIKU: crate::mcp::tools::ToolDef = crate::mcp::tools::ToolDef {
    name: "haiku",
    title: "Haiku",
    description: "Asks the client's model for a haiku",
    input_schema: || json!({"type": "object"}),
    output_schema: None,
    annotations: crate::mcp::tools::Annotations {
        read_only: true,
        destructive: false,
        idempotent: false,
    },
    call: Run::Asks {
        key: "haiku",
        run: haiku,
    },
};

struct Sampler {
    server: Server,
    session: Session,
    dir: std::path::PathBuf,
}

impl Sampler {
    fn new(tag: &str) -> Sampler {
        let dir = std::env::temp_dir().join(format!("mcp-sample-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ws = crate::workspace::Workspace::new(&dir, 1 << 20).expect("workspace");
        let mut session = Session::default();
        session.set_server_requests(true);
        Sampler {
            server: Server::new(ws).with_tools(vec![&HAIKU]),
            session,
            dir,
        }
    }

    /// Sends a message; (server requests, response or Null).
    fn send(&mut self, message: Value) -> (Vec<Value>, Value) {
        let incoming = crate::jsonrpc::decode(message.to_string().as_bytes()).expect("valid");
        let reply = self.server.handle(&mut self.session, incoming, &mut |_| {});
        let requests = self
            .session
            .take_server_requests()
            .iter()
            .map(|r| to_value(&r.request))
            .collect();
        let reply = match reply {
            Some(crate::mcp::Outgoing::Single(r)) => to_value(&r),
            _ => Value::Null,
        };
        (requests, reply)
    }

    fn initialize(&mut self, capabilities: Value) {
        self.send(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": capabilities}}),
        );
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn to_value<T: serde::Serialize>(message: &T) -> Value {
    serde_json::from_str(&crate::jsonrpc::encode(message)).expect("json")
}

fn call(id: i64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "haiku"}})
}

const SAMPLED: &str = r#"{"role":"assistant","content":{"type":"text","text":"old pond"},"model":"m","stopReason":"endTurn"}"#;

#[test]
fn legacy_sampling_parks_the_call_until_the_clients_answer() {
    let mut s = Sampler::new("legacy");
    s.initialize(json!({"sampling": {}}));
    let (requests, reply) = s.send(call(5));
    assert_eq!(reply, Value::Null, "the call waits for the model");
    assert_eq!(
        requests,
        vec![
            json!({"jsonrpc": "2.0", "id": "sample-1", "method": "sampling/createMessage",
            "params": {"messages": [{"role": "user", "content": {"type": "text", "text": "a haiku"}}], "maxTokens": 50}})
        ]
    );
    let answer: Value = serde_json::from_str(SAMPLED).expect("json");
    let (_, reply) = s.send(json!({"jsonrpc": "2.0", "id": "sample-1", "result": answer}));
    assert_eq!(reply["id"], 5);
    assert_eq!(
        reply["result"]["content"][0]["text"],
        "model said \"old pond\""
    );
    assert_eq!(reply["result"]["isError"], false);
}

#[test]
fn legacy_sampling_errors_and_missing_capability_are_tool_errors() {
    let mut s = Sampler::new("legacy-err");
    s.initialize(json!({"sampling": {}}));
    s.send(call(1));
    let (_, reply) = s.send(json!({"jsonrpc": "2.0", "id": "sample-1",
        "error": {"code": -1, "message": "User rejected sampling request"}}));
    assert_eq!(reply["result"]["isError"], true);
    assert_eq!(
        reply["result"]["content"][0]["text"],
        "the client answered with an error: User rejected sampling request"
    );
    // Elicitation alone is not enough to be sampled (client/sampling.mdx "Capabilities").
    let mut s = Sampler::new("legacy-nocap");
    s.initialize(json!({"elicitation": {}}));
    let (requests, reply) = s.send(call(2));
    assert!(requests.is_empty());
    assert_eq!(reply["result"]["isError"], true);
    let text = reply["result"]["content"][0]["text"]
        .as_str()
        .expect("text");
    assert!(text.contains("sampling capability"), "{text}");
    assert!(text.ends_with("Write it yourself."), "{text}");
}

fn modern_call(id: i64, capabilities: Value, extra: Value) -> Value {
    let mut params = json!({"name": "haiku", "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities}});
    if let Value::Object(extra) = extra {
        params.as_object_mut().expect("object").extend(extra);
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

#[test]
fn modern_sampling_is_an_input_request_and_needs_the_capability() {
    let mut s = Sampler::new("modern");
    let (_, reply) = s.send(modern_call(1, json!({"sampling": {}}), json!({})));
    let result = &reply["result"];
    assert_eq!(result["resultType"], "input_required");
    assert_eq!(
        result["inputRequests"]["haiku"]["method"],
        "sampling/createMessage"
    );
    assert_eq!(result["inputRequests"]["haiku"]["params"]["maxTokens"], 50);
    let state = result["requestState"].clone();
    let answer: Value = serde_json::from_str(SAMPLED).expect("json");
    let retry = json!({"inputResponses": {"haiku": answer}, "requestState": state});
    let (_, reply) = s.send(modern_call(2, json!({"sampling": {}}), retry));
    assert_eq!(
        reply["result"]["content"][0]["text"],
        "model said \"old pond\""
    );
    let (_, reply) = s.send(modern_call(3, json!({"elicitation": {}}), json!({})));
    assert_eq!(reply["error"]["code"], -32021);
    assert_eq!(
        reply["error"]["message"],
        "missing required client capability: sampling"
    );
}
