//! The operations API through the real binary: connections with heartbeats (one registry
//! with the legacy MCP sessions, expiry by the reaper), the REST mirror of prompts and
//! tools (answers identical to MCP's, every status code), and `--disable-rest`.

use serde_json::{json, Value};

use crate::http_client::{modern, with_json, HttpServer, JSON_POST};
use crate::ops_support::{call, post_json, server, wait_until};
use crate::support::initialize;

fn connect(s: &HttpServer, body: &Value) -> String {
    let r = post_json(s, "/connect", &[("User-Agent", "ops-test/1.0")], body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["connection_id"]
        .as_str()
        .expect("connection_id")
        .to_string()
}

fn connections(s: &HttpServer) -> Value {
    let r = call(s, "GET", "/connections", &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn legacy_session(s: &HttpServer) -> String {
    let r = s.post(&JSON_POST, &initialize(1, "2025-11-25"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("Mcp-Session-Id").expect("session id").to_string()
}

#[test]
fn connect_heartbeat_list_disconnect() {
    let (_dir, s) = server("ops-conn", &[]);
    let r = post_json(
        &s,
        "/connect",
        &[("User-Agent", "ops-test/1.0")],
        &json!({"client_info": {"name": "script", "version": "2"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    let id = body["connection_id"].as_str().expect("id").to_string();
    assert_eq!(body["protocol_version"], "2026-07-28");
    assert_eq!(body["server_info"]["name"], "spec-driven-development");
    assert!(body["server_info"]["version"].is_string());

    let list = connections(&s);
    assert_eq!(list["total"], 1);
    let entry = &list["connections"][0];
    assert_eq!(entry["id"], id.as_str());
    assert_eq!(entry["kind"], "rest");
    assert_eq!(entry["protocol_version"], "2026-07-28");
    assert_eq!(entry["client_info"]["name"], "script");
    assert_eq!(entry["client_info"]["user_agent"], "ops-test/1.0");
    let remote = entry["client_info"]["remote_addr"].as_str().expect("addr");
    assert!(remote.starts_with("127.0.0.1:"), "{remote}");
    for stamp in ["created_at", "last_heartbeat"] {
        let text = entry[stamp].as_str().expect("timestamp");
        assert!(text.len() == 24 && text.ends_with('Z'), "{stamp}: {text}");
    }

    let beat = call(&s, "POST", &format!("/heartbeat/{id}"), &[], None);
    assert_eq!(beat.status, 200);
    assert_eq!(beat.json()["status"], "ok");
    assert!(beat.json()["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    let gone = call(&s, "DELETE", &format!("/disconnect/{id}"), &[], None);
    assert_eq!(gone.status, 200);
    assert_eq!(gone.json(), json!({"status": "disconnected"}));
    assert_eq!(connections(&s)["total"], 0);
    for (method, path) in [
        ("POST", format!("/heartbeat/{id}")),
        ("DELETE", format!("/disconnect/{id}")),
    ] {
        let r = call(&s, method, &path, &[], None);
        assert_eq!(r.status, 404, "{method} {path}");
        assert!(r.json()["error"].is_string());
    }
    // An empty body is fine; the user agent and address are still recorded.
    connect(&s, &json!({}));
    let r = call(&s, "POST", "/connect", &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(connections(&s)["total"], 2);
}

#[test]
fn connection_api_errors() {
    let (_dir, s) = server("ops-conn-err", &[]);
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        Option<&'a str>,
        u16,
    );
    let cases: [Case<'_>; 7] = [
        (
            "POST",
            "/connect",
            vec![("Content-Type", "application/json")],
            Some("{nope"),
            400,
        ),
        (
            "POST",
            "/connect",
            vec![("Content-Type", "application/json")],
            Some("[1]"),
            400,
        ),
        (
            "POST",
            "/connect",
            vec![("Content-Type", "application/json")],
            Some(r#"{"client_info": 5}"#),
            400,
        ),
        (
            "POST",
            "/connect",
            vec![("Content-Type", "text/plain")],
            Some("{}"),
            415,
        ),
        ("GET", "/connect", vec![], None, 405),
        ("DELETE", "/connections", vec![], None, 405),
        ("GET", "/heartbeat/x", vec![], None, 405),
    ];
    for (method, path, headers, body, status) in cases {
        let r = call(&s, method, path, &headers, body);
        assert_eq!(r.status, status, "{method} {path} {body:?}: {}", r.text());
        assert!(r.json()["error"].is_string(), "{}", r.text());
    }
    let huge = json!({"client_info": {"blob": "x".repeat(5000)}});
    assert_eq!(post_json(&s, "/connect", &[], &huge).status, 400);
    assert_eq!(call(&s, "GET", "/disconnect/x", &[], None).status, 405);
    assert_eq!(
        call(&s, "GET", "/health", &[], None).status,
        200,
        "still up"
    );
}

/// Connections and legacy MCP sessions share one registry: the connection API sees
/// sessions, a heartbeat keeps one alive, and the reaper expires both kinds.
#[test]
fn one_registry_expiry_and_heartbeats() {
    let (_dir, mut s) = server("ops-expiry", &["--session-timeout", "1s"]);
    let conn = connect(&s, &json!({"client_info": {"name": "idle"}}));
    let kept = connect(&s, &json!({"client_info": {"name": "beating"}}));
    let session = legacy_session(&s);
    let list = connections(&s);
    assert_eq!(list["total"], 3);
    let kinds: Vec<&str> = list["connections"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["rest", "rest", "streamable-http"]);
    let mcp = &list["connections"][2];
    assert_eq!(mcp["protocol_version"], "2025-11-25");
    assert_eq!(mcp["client_info"]["name"], "it");
    let health = call(&s, "GET", "/health", &[], None).json();
    assert_eq!(health["rest_connections"], 2);
    assert_eq!(health["sessions"]["streamable_http"], 1);

    // Heartbeats every 200 ms keep one connection alive past the 1 s timeout, while
    // the idle connection and the idle MCP session are reaped.
    wait_until("the reaper to remove the idle entries", || {
        let beat = call(&s, "POST", &format!("/heartbeat/{kept}"), &[], None);
        assert_eq!(beat.status, 200, "the beating connection must stay");
        std::thread::sleep(std::time::Duration::from_millis(200));
        connections(&s)["total"] == 1
    });
    assert_eq!(connections(&s)["connections"][0]["id"], kept.as_str());
    s.wait_log("reaper: removed rest");
    s.wait_log("reaper: removed streamable-http");
    assert!(
        !s.log_text().contains(&conn) && !s.log_text().contains(&session),
        "logs name ids by prefix only"
    );
    let health = call(&s, "GET", "/health", &[], None).json();
    assert_eq!(health["rest_connections"], 1);
    assert_eq!(health["active_sessions"], 0);
    let with_session = [
        JSON_POST[0],
        JSON_POST[1],
        ("Mcp-Session-Id", session.as_str()),
    ];
    let r = s.post(
        &with_session,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
    );
    assert_eq!(r.status, 404, "an expired session is gone for MCP too");
    assert_eq!(
        call(&s, "POST", &format!("/heartbeat/{conn}"), &[], None).status,
        404
    );
}

/// `/disconnect` ends an MCP session too, and a heartbeat keeps one alive.
#[test]
fn sessions_answer_to_the_connection_api() {
    let (_dir, s) = server("ops-sess", &[]);
    let session = legacy_session(&s);
    assert_eq!(
        call(&s, "POST", &format!("/heartbeat/{session}"), &[], None).status,
        200
    );
    assert_eq!(
        call(&s, "DELETE", &format!("/disconnect/{session}"), &[], None).status,
        200
    );
    let with_session = [
        JSON_POST[0],
        JSON_POST[1],
        ("Mcp-Session-Id", session.as_str()),
    ];
    let r = s.post(
        &with_session,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
    );
    assert_eq!(r.status, 404);
    // A connection id is not an MCP session id.
    let conn = connect(&s, &json!({}));
    let as_session = [
        JSON_POST[0],
        JSON_POST[1],
        ("Mcp-Session-Id", conn.as_str()),
    ];
    let r = s.post(
        &as_session,
        &json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}),
    );
    assert_eq!(r.status, 404);
}

/// The mirror answers exactly what MCP answers: the same core.
#[test]
fn rest_mirror_of_prompts_and_tools() {
    let (_dir, s) = server("ops-rest", &[]);
    let prompts = call(&s, "GET", "/prompts", &[], None);
    assert_eq!(prompts.status, 200);
    let prompts = prompts.json()["prompts"].clone();
    let spec_new = prompts
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["name"] == "spec-new")
        .expect("spec-new listed");
    assert_eq!(
        spec_new.as_object().map(|o| o.len()),
        Some(3),
        "name, description, arguments: {spec_new}"
    );
    assert_eq!(spec_new["arguments"][0]["name"], "idea");

    let args = json!({"arguments": {"idea": "a todo list", "name": "todo"}});
    let r = post_json(&s, "/prompts/spec-new", &[], &args);
    assert_eq!(r.status, 200, "{}", r.text());
    let rest_messages = r.json()["result"]["messages"].clone();
    assert_eq!(rest_messages[0]["role"], "user");
    let (body, headers) = modern(
        1,
        "prompts/get",
        json!({"name": "spec-new", "arguments": {"idea": "a todo list", "name": "todo"}}),
    );
    let mcp = s.post(&with_json(&headers), &body).json();
    assert_eq!(
        rest_messages, mcp["result"]["messages"],
        "same core, same answer"
    );

    let tools = call(&s, "GET", "/tools", &[], None).json()["tools"].clone();
    let read_file = tools
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["name"] == "read_file")
        .expect("read_file listed");
    let keys: Vec<&String> = read_file.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["description", "inputSchema", "name"]);

    let created = post_json(
        &s,
        "/tools/create_file",
        &[],
        &json!({"arguments": {"path": "notes.txt", "content": "hello"}}),
    );
    assert_eq!(created.status, 200, "{}", created.text());
    assert_eq!(created.json()["result"]["isError"], false);
    let read = post_json(
        &s,
        "/tools/read_file",
        &[],
        &json!({"arguments": {"path": "notes.txt"}}),
    );
    assert_eq!(read.json()["result"]["content"][0]["text"], "hello");
    let (body, headers) = modern(
        2,
        "tools/call",
        json!({"name": "spec_status", "arguments": {}}),
    );
    let mcp = s.post(&with_json(&headers), &body).json();
    let rest = post_json(&s, "/tools/spec_status", &[], &json!({})).json();
    assert_eq!(rest["result"]["content"], mcp["result"]["content"]);
    // A tool that fails is still a 200 with isError, as in MCP.
    let missing = post_json(
        &s,
        "/tools/read_file",
        &[],
        &json!({"arguments": {"path": "nope"}}),
    );
    assert_eq!(missing.status, 200);
    assert_eq!(missing.json()["result"]["isError"], true);
}

#[test]
fn rest_mirror_errors() {
    let (_dir, s) = server("ops-rest-err", &["--tools", "core"]);
    let json_ct = [("Content-Type", "application/json")];
    let cases: [(&str, &str, Option<&str>, u16, &str); 10] = [
        ("POST", "/prompts/nope", None, 404, "prompt not found: nope"),
        ("POST", "/tools/nope", None, 404, "tool not found: nope"),
        // --tools core: read_file exists but is not offered, as over MCP.
        ("POST", "/tools/read_file", None, 404, "tool not found"),
        (
            "POST",
            "/prompts/spec-new",
            Some("{}"),
            400,
            "missing required argument 'idea'",
        ),
        (
            "POST",
            "/tools/spec_init",
            Some(r#"{"arguments": {"name": 5}}"#),
            400,
            "invalid arguments",
        ),
        (
            "POST",
            "/tools/spec_status",
            Some(r#"{"arguments": []}"#),
            400,
            "must be an object",
        ),
        (
            "POST",
            "/tools/spec_status",
            Some("not json"),
            400,
            "not JSON",
        ),
        ("DELETE", "/tools", None, 405, "method not allowed"),
        ("GET", "/tools/spec_status", None, 405, "method not allowed"),
        ("POST", "/tools/a/b", None, 404, "not found"),
    ];
    for (method, path, body, status, message) in cases {
        let r = call(&s, method, path, &json_ct, body);
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
        let error = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(error.contains(message), "{method} {path}: {error}");
    }
    let r = call(
        &s,
        "POST",
        "/tools/spec_status",
        &[("Content-Type", "text/plain")],
        Some("{}"),
    );
    assert_eq!(r.status, 415);
    let unknown = [("X-Connection-ID", "no-such-connection")];
    let r = call(&s, "GET", "/tools", &unknown, None);
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("X-Connection-ID")));
    let id = connect(&s, &json!({}));
    let known = [("X-Connection-ID", id.as_str())];
    assert_eq!(call(&s, "GET", "/prompts", &known, None).status, 200);
    assert_eq!(
        call(&s, "GET", "/health", &[], None).status,
        200,
        "still up"
    );
}

#[test]
fn disable_rest_leaves_mcp_only() {
    let (_dir, s) = server("ops-norest", &["--disable-rest"]);
    for (method, path) in [
        ("GET", "/prompts"),
        ("GET", "/tools"),
        ("POST", "/tools/spec_status"),
        ("POST", "/connect"),
        ("GET", "/connections"),
        ("POST", "/heartbeat/x"),
        ("DELETE", "/disconnect/x"),
    ] {
        let r = call(&s, method, path, &[], None);
        assert_eq!(r.status, 404, "{method} {path}");
        let endpoints = r.json()["endpoints"].clone();
        assert!(!endpoints
            .as_array()
            .expect("list")
            .contains(&json!("/tools")));
    }
    let info = call(&s, "GET", "/info", &[], None).json();
    assert_eq!(info["features"]["rest_api"], false);
    let (body, headers) = modern(1, "tools/list", Value::Null);
    assert_eq!(
        s.post(&with_json(&headers), &body).status,
        200,
        "MCP still served"
    );
    assert!(s.log_text().contains("REST API off"));
}
