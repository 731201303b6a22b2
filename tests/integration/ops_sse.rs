//! The 2024-11-05 HTTP+SSE transport through the real binary, as an old client drives it:
//! `GET /sse`, the `endpoint` event, `POST /messages?sessionId=…` answered 202 with the
//! responses on the stream. Served by `--transport sse` and by `http-stream` alike.

use serde_json::{json, Value};

use crate::http_client::HttpServer;
use crate::ops_support::{call, post_json, server, SseClient};
use crate::support::{initialize, request};

fn handshake(s: &HttpServer, client: &mut SseClient, version: &str) -> Value {
    let r = client.post(s, &initialize(1, version));
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(r.body.is_empty());
    let (result, _) = client.response(1);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(client.post(s, &initialized).status, 202);
    result
}

#[test]
fn an_old_client_session_over_sse() {
    let (_dir, mut s) = server("ops-sse", &["--transport", "sse"]);
    s.wait_log("MCP endpoints /mcp and /sse");
    let mut client = SseClient::open(&s, &[("User-Agent", "old-client/0.9")]);
    assert!(
        client.endpoint.starts_with("/messages?sessionId="),
        "{}",
        client.endpoint
    );
    let init = handshake(&s, &mut client, "2024-11-05");
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(
        init["result"]["serverInfo"]["name"],
        "spec-driven-development"
    );

    assert_eq!(
        client
            .post(&s, &request(json!(2), "tools/list", Value::Null))
            .status,
        202
    );
    let (tools, _) = client.response(2);
    assert!(tools["result"]["tools"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["name"] == "spec_init")));
    // Creating a spec announces the resource-list change on the same stream.
    let create = request(
        json!(3),
        "tools/call",
        json!({"name": "spec_init", "arguments": {"name": "old-client", "idea": "an idea"}}),
    );
    assert_eq!(client.post(&s, &create).status, 202);
    let (created, before) = client.response(3);
    assert_eq!(created["result"]["isError"], false, "{created}");
    let mut seen: Vec<Value> = before;
    if !seen
        .iter()
        .any(|m| m["method"] == "notifications/resources/list_changed")
    {
        seen.push(client.next_message());
    }
    assert!(
        seen.iter()
            .any(|m| m["method"] == "notifications/resources/list_changed"),
        "{seen:?}"
    );
    // Errors come back on the stream too; the POST is still accepted.
    assert_eq!(
        client
            .post(&s, &request(json!(4), "nope/nope", Value::Null))
            .status,
        202
    );
    assert_eq!(client.response(4).0["error"]["code"], -32601);

    let listed = call(&s, "GET", "/connections", &[], None).json();
    let entry = &listed["connections"][0];
    assert_eq!(entry["kind"], "sse");
    assert_eq!(entry["protocol_version"], "2024-11-05");
    assert_eq!(entry["client_info"]["name"], "it");
    assert_eq!(entry["client_info"]["user_agent"], "old-client/0.9");
    let health = call(&s, "GET", "/health", &[], None).json();
    assert_eq!(health["sessions"]["sse"], 1);
    assert_eq!(health["transport"], "sse");
    assert_eq!(health["active_streams"], 1);
    let info = call(&s, "GET", "/info", &[], None).json();
    assert_eq!(info["transport"], "sse");

    // Closing the stream ends the session.
    let endpoint = client.endpoint.clone();
    client.stream.shutdown();
    crate::ops_support::wait_until("the session to end with its stream", || {
        call(&s, "GET", "/health", &[], None).json()["sessions"]["sse"] == 0
    });
    let late = post_json(&s, &endpoint, &[], &request(json!(5), "ping", Value::Null));
    assert_eq!(late.status, 404);
}

#[test]
fn http_stream_answers_the_legacy_paths_too() {
    let (_dir, s) = server("ops-sse-both", &[]);
    let mut old = SseClient::open(&s, &[]);
    let init = handshake(&s, &mut old, "2025-03-26");
    assert_eq!(init["result"]["protocolVersion"], "2025-03-26");
    // The Python SDK's parameter name and trailing slash work as well.
    let id = old.endpoint.split('=').nth(1).expect("id").to_string();
    let ping = request(json!(9), "ping", Value::Null);
    let r = post_json(&s, &format!("/messages/?session_id={id}"), &[], &ping);
    assert_eq!(r.status, 202);
    assert_eq!(old.response(9).0["result"], json!({}));
    // A 2025-03-26 batch over the legacy transport.
    let batch = json!([
        request(json!(10), "ping", Value::Null),
        request(json!(11), "ping", Value::Null)
    ]);
    assert_eq!(old.post(&s, &batch).status, 202);
    let answer = old.next_message();
    assert_eq!(answer.as_array().map(Vec::len), Some(2), "{answer}");
    // A new-style client on /mcp at the same time.
    let (body, headers) = crate::http_client::modern(1, "tools/list", Value::Null);
    let r = s.post(&crate::http_client::with_json(&headers), &body);
    assert_eq!(r.status, 200);
}

#[test]
fn legacy_transport_errors() {
    let (_dir, s) = server("ops-sse-err", &["--transport", "sse", "--max-streams", "1"]);
    let ping = request(json!(1), "ping", Value::Null).to_string();
    let json_ct = [("Content-Type", "application/json")];
    assert_eq!(
        call(&s, "POST", "/messages", &json_ct, Some(&ping)).status,
        400
    );
    assert_eq!(
        call(
            &s,
            "POST",
            "/messages?sessionId=unknown",
            &json_ct,
            Some(&ping)
        )
        .status,
        404
    );
    assert_eq!(
        call(&s, "GET", "/sse", &[("Accept", "application/json")], None).status,
        406
    );
    assert_eq!(call(&s, "POST", "/sse", &[], None).status, 405);
    assert_eq!(call(&s, "GET", "/messages", &[], None).status, 405);
    let client = SseClient::open(&s, &[]);
    let text = [("Content-Type", "text/plain")];
    assert_eq!(
        call(&s, "POST", &client.endpoint, &text, Some(&ping)).status,
        415
    );
    let bad = call(&s, "POST", &client.endpoint, &json_ct, Some("{not json"));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], -32700);
    // --max-streams 1: a second stream waits for the first to end.
    let second = call(&s, "GET", "/sse", &[("Accept", "text/event-stream")], None);
    assert_eq!(second.status, 503);
    assert_eq!(second.header("Retry-After"), Some("1"));
    assert_eq!(
        call(&s, "GET", "/health", &[], None).status,
        200,
        "still up"
    );
}
