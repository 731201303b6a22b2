//! In-process tests of the protocol core: both eras, every revision's handshake, errors,
//! batches, panics, logging and progress. Wire shapes are pinned against the spec.

use serde_json::{json, Value};

use super::*;
use crate::jsonrpc::{decode, encode, Notification};

struct Fixture {
    server: Server,
    session: Session,
    dir: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mcp-core-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let server = Server::new(Workspace::new(&dir, 1 << 20).expect("workspace"));
        Fixture {
            server,
            session: Session::default(),
            dir,
        }
    }

    /// Sends one raw line; returns (notifications, response as JSON or Null).
    fn send(&mut self, line: &str) -> (Vec<Value>, Value) {
        let mut notes = Vec::new();
        let reply = match decode(line.as_bytes()) {
            Err(r) => Some(Outgoing::Single(r)),
            Ok(incoming) => {
                self.server
                    .handle(&mut self.session, incoming, &mut |n: Notification| {
                        notes.push(serde_json::from_str(&encode(&n)).expect("json"))
                    })
            }
        };
        let reply = match reply {
            None => Value::Null,
            Some(Outgoing::Single(r)) => serde_json::from_str(&encode(&r)).expect("json"),
            Some(Outgoing::Batch(rs)) => serde_json::from_str(&encode(&rs)).expect("json"),
        };
        (notes, reply)
    }

    fn call(&mut self, value: Value) -> Value {
        self.send(&value.to_string()).1
    }

    fn initialize(&mut self, version: &str) -> Value {
        let r = self.call(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion": version, "capabilities": {}, "clientInfo": {"name":"t","version":"1"}}}));
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        r
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn modern(id: i64, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

#[test]
fn initialize_echoes_each_legacy_revision() {
    for v in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let r = Fixture::new().initialize(v);
        assert_eq!(r["result"]["protocolVersion"], v);
        assert_eq!(r["result"]["serverInfo"]["name"], "spec-driven-development");
        assert_eq!(
            r["result"]["serverInfo"]["version"],
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(
            r["result"]["capabilities"],
            json!({"tools":{},"prompts":{},"resources":{"listChanged":true},"completions":{},"logging":{}})
        );
        assert!(r["result"]["instructions"]
            .as_str()
            .is_some_and(|s| s.contains("EARS")));
        assert!(
            r["result"].get("resultType").is_none(),
            "legacy results carry no resultType"
        );
    }
}

#[test]
fn initialize_with_unknown_or_modern_version_offers_newest_legacy() {
    for v in ["1999-01-01", "2026-07-28"] {
        let r = Fixture::new().initialize(v);
        assert_eq!(r["result"]["protocolVersion"], "2025-11-25");
    }
}

#[test]
fn second_initialize_is_rejected() {
    let mut f = Fixture::new();
    f.initialize("2025-06-18");
    let r = f.initialize("2025-06-18");
    assert_eq!(r["error"]["code"], -32600);
}

#[test]
fn requests_before_initialize_need_modern_meta_except_ping() {
    let mut f = Fixture::new();
    let r = f.call(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}));
    assert_eq!(r["error"]["code"], -32602);
    assert!(r["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("initialize")));
    let r = f.call(json!({"jsonrpc":"2.0","id":2,"method":"ping"}));
    assert_eq!(r["result"], json!({}));
}

#[test]
fn discover_is_modern_and_complete() {
    let mut f = Fixture::new();
    let r = f.call(modern(1, "server/discover", json!({})));
    let result = &r["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["supportedVersions"],
        json!([
            "2026-07-28",
            "2025-11-25",
            "2025-06-18",
            "2025-03-26",
            "2024-11-05"
        ])
    );
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "spec-driven-development"
    );
    assert_eq!(result["ttlMs"], 3_600_000);
    assert_eq!(result["cacheScope"], "public");
    assert!(result["instructions"].is_string());
}

#[test]
fn unsupported_modern_version_is_32022_with_data() {
    let mut f = Fixture::new();
    let mut req = modern(7, "tools/list", json!({}));
    req["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("1900-01-01");
    let r = f.call(req);
    assert_eq!(r["id"], 7);
    assert_eq!(r["error"]["code"], -32022);
    assert_eq!(r["error"]["data"]["requested"], "1900-01-01");
    assert_eq!(r["error"]["data"]["supported"][0], "2026-07-28");
}

#[test]
fn modern_meta_without_capabilities_is_invalid_params() {
    let mut f = Fixture::new();
    let r = f.call(
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{
        "io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}),
    );
    assert_eq!(r["error"]["code"], -32602);
}

#[test]
fn modern_removed_methods_are_not_found() {
    let mut f = Fixture::new();
    for m in ["ping", "logging/setLevel", "resources/subscribe"] {
        let r = f.call(modern(1, m, json!({})));
        assert_eq!(r["error"]["code"], -32601, "{m}");
    }
}

#[test]
fn modern_lists_are_cacheable_and_ordered() {
    let mut f = Fixture::new();
    let tools = f.call(modern(1, "tools/list", json!({})))["result"].clone();
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "spec_init",
            "spec_status",
            "spec_guide",
            "spec_write",
            "spec_validate",
            "spec_trace",
            "task_next",
            "task_update",
            "spec_review",
            "spec_change",
            "create_file",
            "read_file"
        ]
    );
    assert_eq!(tools["ttlMs"], 3_600_000);
    assert_eq!(tools["resultType"], "complete");
    assert!(tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .all(|t| t["outputSchema"].is_object() || t["name"] == "read_file"));
    let prompts = f.call(modern(2, "prompts/list", json!({})))["result"].clone();
    assert_eq!(prompts["prompts"].as_array().map(Vec::len), Some(10));
    assert_eq!(prompts["cacheScope"], "public");
}

#[test]
fn an_initialized_process_is_legacy_for_good() {
    let mut f = Fixture::new();
    f.initialize("2025-11-25");
    let r = f.call(modern(1, "server/discover", json!({})));
    assert_eq!(
        r["error"]["code"], -32601,
        "server/discover is not a legacy method"
    );
    let r = f.call(modern(2, "tools/list", json!({})));
    assert!(
        r["result"].get("resultType").is_none(),
        "served under legacy semantics"
    );
}

#[test]
fn legacy_listing_shape_per_revision() {
    let mut old = Fixture::new();
    old.initialize("2024-11-05");
    let t = old.call(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))["result"]["tools"][0]
        .clone();
    assert!(
        t.get("title").is_none()
            && t.get("annotations").is_none()
            && t.get("outputSchema").is_none()
    );
    let mut new = Fixture::new();
    new.initialize("2025-06-18");
    let t = new.call(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))["result"]["tools"][10]
        .clone();
    assert_eq!(t["name"], "create_file");
    assert_eq!(t["annotations"]["destructiveHint"], true);
    assert!(t["title"].is_string() && t["outputSchema"].is_object());
}

#[test]
fn schema_failures_per_revision() {
    let bad_args = |f: &mut Fixture| {
        f.call(json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"read_file","arguments":{"path":3}}}))
    };
    for (version, tool_error) in [
        ("2024-11-05", false),
        ("2025-03-26", false),
        ("2025-06-18", false),
        ("2025-11-25", true),
    ] {
        let mut f = Fixture::new();
        f.initialize(version);
        let r = bad_args(&mut f);
        if tool_error {
            assert_eq!(r["result"]["isError"], true, "{version}");
            assert!(r["result"]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("arguments.path must be a string")));
        } else {
            assert_eq!(r["error"]["code"], -32602, "{version}");
        }
    }
    let mut f = Fixture::new();
    let r = f.call(modern(
        5,
        "tools/call",
        json!({"name":"read_file","arguments":{}}),
    ));
    assert_eq!(r["result"]["isError"], true);
    assert_eq!(r["result"]["resultType"], "complete");
}

#[test]
fn unknown_tool_and_prompt_are_invalid_params_in_every_era() {
    let mut f = Fixture::new();
    let r = f.call(modern(1, "tools/call", json!({"name":"nope"})));
    assert_eq!(
        (r["error"]["code"].clone(), r["error"]["message"].clone()),
        (json!(-32602), json!("Unknown tool: nope"))
    );
    let r = f.call(modern(2, "prompts/get", json!({"name":"nope"})));
    assert_eq!(r["error"]["code"], -32602);
    f.initialize("2024-11-05");
    let r = f.call(json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope"}}));
    assert_eq!(r["error"]["code"], -32602);
}

#[test]
fn tools_round_trip_through_the_workspace() {
    let mut f = Fixture::new();
    let r = f.call(modern(
        1,
        "tools/call",
        json!({"name":"create_file","arguments":{"path":"specs/a.md","content":"# A\n"}}),
    ));
    assert_eq!(r["result"]["isError"], false);
    assert_eq!(
        r["result"]["structuredContent"],
        json!({"path":"specs/a.md","bytes":4,"created":true})
    );
    let r = f.call(modern(
        2,
        "tools/call",
        json!({"name":"read_file","arguments":{"path":"specs/a.md"}}),
    ));
    assert_eq!(
        r["result"]["content"][0],
        json!({"type":"text","text":"# A\n"})
    );
    let r = f.call(modern(
        3,
        "tools/call",
        json!({"name":"read_file","arguments":{"path":"../etc/passwd"}}),
    ));
    assert_eq!(r["result"]["isError"], true);
}

#[test]
fn batches_only_in_2025_03_26() {
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}},{"jsonrpc":"2.0","id":2,"method":"tools/list"},{"jsonrpc":"2.0","id":3,"method":"initialize","params":{}}, 7]"#;
    let mut f = Fixture::new();
    f.initialize("2025-03-26");
    let (_, r) = f.send(batch);
    let r = r.as_array().expect("batch response").clone();
    assert_eq!(r.len(), 4, "notification gets no response");
    assert_eq!(r[0]["result"], json!({}));
    assert!(r[1]["result"]["tools"].is_array());
    assert_eq!(r[2]["error"]["code"], -32600);
    assert_eq!(r[3]["error"]["code"], -32600);
    let (_, only_notes) = f
        .send(r#"[{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}]"#);
    assert_eq!(only_notes, Value::Null);
    for v in ["2024-11-05", "2025-06-18", "2025-11-25"] {
        let mut f = Fixture::new();
        f.initialize(v);
        let (_, r) = f.send(batch);
        assert_eq!(r["error"]["code"], -32600, "{v}");
        assert!(r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("batches")));
    }
    let (_, r) = Fixture::new().send(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#);
    assert_eq!(
        r["error"]["code"], -32600,
        "modern and uninitialized sessions reject batches"
    );
}

#[test]
fn a_panicking_handler_is_isolated() {
    let mut f = Fixture::new();
    f.initialize("2025-11-25");
    let r = f.call(json!({"jsonrpc":"2.0","id":"p","method":"test/panic"}));
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!("p"), json!(-32603))
    );
    let r = f.call(json!({"jsonrpc":"2.0","id":2,"method":"ping"}));
    assert_eq!(r["result"], json!({}), "the session keeps serving");
}

#[test]
fn notifications_and_client_responses_get_no_reply() {
    let mut f = Fixture::new();
    f.initialize("2025-11-25");
    assert_eq!(
        f.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}"#)
            .1,
        Value::Null
    );
    assert_eq!(
        f.send(r#"{"jsonrpc":"2.0","method":"tools/list"}"#).1,
        Value::Null,
        "a request without id is a notification"
    );
    assert_eq!(
        f.send(r#"{"jsonrpc":"2.0","id":9,"result":{}}"#).1,
        Value::Null
    );
}

#[test]
fn legacy_logging_after_set_level() {
    let mut f = Fixture::new();
    f.initialize("2025-06-18");
    let write = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_file","arguments":{"path":"x.md","content":"x"}}});
    let (notes, _) = f.send(&write.to_string());
    assert!(notes.is_empty(), "no log messages before logging/setLevel");
    let r = f.call(
        json!({"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"info"}}),
    );
    assert_eq!(r["result"], json!({}));
    let (notes, _) = f.send(&write.to_string());
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["method"], "notifications/message");
    assert_eq!(notes[0]["params"]["level"], "info");
    assert_eq!(notes[0]["params"]["data"]["path"], "x.md");
    let r = f.call(
        json!({"jsonrpc":"2.0","id":3,"method":"logging/setLevel","params":{"level":"chatty"}}),
    );
    assert_eq!(r["error"]["code"], -32602);
}

#[test]
fn modern_logging_only_when_requested_and_progress_with_token() {
    let mut f = Fixture::new();
    let mut req = modern(
        1,
        "tools/call",
        json!({"name":"create_file","arguments":{"path":"y.md","content":"y"}}),
    );
    let (notes, _) = f.send(&req.to_string());
    assert!(notes.is_empty());
    req["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("debug");
    req["params"]["_meta"]["progressToken"] = json!("tok");
    let (notes, r) = f.send(&req.to_string());
    assert_eq!(r["result"]["isError"], false);
    let methods: Vec<&str> = notes.iter().filter_map(|n| n["method"].as_str()).collect();
    assert_eq!(methods, ["notifications/message", "notifications/progress"]);
    assert_eq!(
        notes[1]["params"],
        json!({"progressToken":"tok","progress":1,"total":1,"message":"done"})
    );
}

#[test]
fn pagination_cursors() {
    let mut f = Fixture::new();
    let r = f.call(modern(1, "tools/list", json!({"cursor": "garbage"})));
    assert_eq!(r["error"]["code"], -32602);
    let r = f.call(modern(2, "tools/list", json!({})));
    assert!(r["result"].get("nextCursor").is_none());
}

#[test]
fn subscriptions_listen_acknowledges_defers_and_ends() {
    let mut f = Fixture::new();
    let listen = modern(
        1,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true}}),
    );
    let (notes, reply) = f.send(&listen.to_string());
    assert_eq!(
        reply,
        Value::Null,
        "no response while the subscription is open"
    );
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0]["method"],
        "notifications/subscriptions/acknowledged"
    );
    assert_eq!(
        notes[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        1
    );
    assert_eq!(
        notes[0]["params"]["notifications"],
        json!({}),
        "our lists never change"
    );
    let (_, dup) = f.send(&listen.to_string());
    assert_eq!(dup["error"]["code"], -32600, "one subscription per id");
    let ended = f.server.end_subscriptions(&mut f.session);
    assert_eq!(ended.len(), 1);
    let ended: Value = serde_json::from_str(&encode(&ended[0])).expect("json");
    assert_eq!(
        ended["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        1
    );

    f.send(&modern(2, "subscriptions/listen", json!({})).to_string());
    assert_eq!(f.session.subscription_ids().count(), 1);
    f.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}"#);
    assert_eq!(
        f.session.subscription_ids().count(),
        0,
        "cancelled silently"
    );
    assert!(f.server.end_subscriptions(&mut f.session).is_empty());
}

#[test]
fn progress_is_reported_for_any_request_with_a_token() {
    let mut f = Fixture::new();
    let mut req = modern(1, "prompts/list", json!({}));
    req["params"]["_meta"]["progressToken"] = json!(7);
    let (notes, r) = f.send(&req.to_string());
    assert!(r["result"]["prompts"].is_array());
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["params"]["progressToken"], 7);
}

/// The shared (serialized once) results must be exactly what the uncached path builds: a
/// progress token bypasses the cache, so each method is asked both ways in every revision.
#[test]
fn shared_results_equal_freshly_built_ones() {
    let progress = |mut request: Value| {
        request["params"]["_meta"]["progressToken"] = json!("p");
        request
    };
    let mut f = Fixture::new();
    for method in [
        "tools/list",
        "prompts/list",
        "resources/templates/list",
        "server/discover",
    ] {
        let cached = f.call(modern(1, method, json!({})));
        let again = f.call(modern(1, method, json!({})));
        let fresh = f.call(progress(modern(1, method, json!({}))));
        assert!(cached["result"].is_object(), "{method}: {cached}");
        assert_eq!(cached, again, "{method}");
        assert_eq!(cached, fresh, "{method} (2026-07-28)");
    }
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let mut f = Fixture::new();
        f.initialize(version);
        for method in ["tools/list", "prompts/list", "resources/templates/list"] {
            let request = json!({"jsonrpc":"2.0","id":2,"method":method,"params":{}});
            let cached = f.call(request.clone());
            let again = f.call(request.clone());
            let fresh = f.call(progress(request));
            assert!(cached["result"].is_object(), "{method}: {cached}");
            assert_eq!(cached, again, "{method} ({version})");
            assert_eq!(cached, fresh, "{method} ({version})");
        }
    }
}
