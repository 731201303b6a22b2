//! The http-stream transport through the real binary: both MCP eras, every status code of
//! the binding, Origin/Host policy, CORS, body and head limits, sessions and streams.
//! Limits under load and the lifecycle are in http_limits.rs. Raw HTTP/1.1 over
//! TcpStream to 127.0.0.1 only.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http_client::{
    modern, raw_mcp, raw_request, sse_messages, with_json, HttpServer, JSON_POST,
};
use crate::ops_support::scrape;
use crate::support::{initialize, request, TempDir, DEADLINE};

fn server(tag: &str, extra: &[&str]) -> (TempDir, HttpServer) {
    let dir = TempDir::new(tag);
    let server = HttpServer::start(dir.path(), extra);
    (dir, server)
}

/// Runs a legacy `initialize` and returns the session id.
fn open_session(s: &HttpServer, version: &str) -> String {
    let r = s.post(&JSON_POST, &initialize(1, version));
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r
        .header("Mcp-Session-Id")
        .expect("Mcp-Session-Id")
        .to_string();
    let with_session = [JSON_POST[0], JSON_POST[1], ("Mcp-Session-Id", id.as_str())];
    let ack = s.post(
        &with_session,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(ack.status, 202);
    id
}

#[test]
fn health_info_and_unknown_paths() {
    let (_dir, s) = server("http-ops", &[]);
    let health = s.get("/health", &[]);
    assert_eq!(health.status, 200);
    assert_eq!(health.header("Content-Type"), Some("application/json"));
    let h = health.json();
    assert_eq!(h["status"], "healthy");
    assert!(h["uptime_seconds"].is_u64() && h["version"].is_string());
    // The deployment guide's check: a bogus MCP-Protocol-Version does not matter here.
    assert_eq!(
        s.get("/health", &[("MCP-Protocol-Version", "2.1")]).status,
        200
    );
    let info = s.get("/info", &[]).json();
    assert_eq!(info["protocol_versions"][0], "2026-07-28");
    assert!(info["transports"]
        .as_array()
        .expect("list")
        .contains(&json!("http-stream")));
    assert!(info["description"].is_string() && info["features"].is_object());
    let missing = s.get("/nope", &[]);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "not found");
    let mut conn = s.connect();
    conn.send(&raw_request("POST", "/health", s.port, &[], Some("{}")));
    assert_eq!(conn.response().status, 405);
    assert!(
        s.log_text().contains("GET /health - 200"),
        "access log line:\n{}",
        s.log_text()
    );
}

#[test]
fn modern_requests_are_stateless_json() {
    let (_dir, s) = server("http-modern", &[]);
    let (body, headers) = modern(7, "tools/list", Value::Null);
    let r = s.post(&with_json(&headers), &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert!(
        r.header("Mcp-Session-Id").is_none(),
        "no sessions in 2026-07-28"
    );
    let v = r.json();
    assert_eq!(v["id"], 7);
    assert!(!v["result"]["tools"].as_array().expect("tools").is_empty());
    assert_eq!(v["result"]["resultType"], "complete");
    // A legacy session id on a modern request is ignored.
    let mut with_sid = headers.clone();
    with_sid.push(("Mcp-Session-Id".into(), "whatever".into()));
    assert_eq!(s.post(&with_json(&with_sid), &body).status, 200);
    // Notifications get 202 with no body.
    let note = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 1, "_meta": crate::support::modern_meta()}});
    let mut note_headers = headers.clone();
    note_headers[1].1 = "notifications/cancelled".into();
    let r = s.post(&with_json(&note_headers), &note);
    assert_eq!(r.status, 202);
    assert!(r.body.is_empty());
}

#[test]
fn modern_header_validation() {
    let (_dir, s) = server("http-headers", &[]);
    let (body, headers) = modern(1, "tools/list", Value::Null);
    let post = |headers: &[(String, String)], body: &Value| s.post(&with_json(headers), body);
    let code = |r: &crate::http_client::HttpResponse| r.json()["error"]["code"].clone();

    // No MCP-Protocol-Version header although the body is modern: HeaderMismatch.
    let r = post(&headers[1..], &body);
    assert_eq!((r.status, code(&r)), (400, json!(-32020)), "{}", r.text());
    // Mcp-Method disagrees with the body.
    let mut wrong = headers.clone();
    wrong[1].1 = "prompts/list".into();
    let r = post(&wrong, &body);
    assert_eq!((r.status, code(&r)), (400, json!(-32020)));
    assert_eq!(r.json()["id"], 1, "the error answers the request");
    // Header names the modern revision but the body has no _meta version.
    let plain = request(json!(2), "tools/list", Value::Null);
    let r = post(&headers, &plain);
    assert_eq!((r.status, code(&r)), (400, json!(-32020)));
    // tools/call needs Mcp-Name, and it must match params.name (Base64 sentinel decoded).
    let (call, call_headers) = modern(
        3,
        "tools/call",
        json!({"name": "héllo wörld", "arguments": {}}),
    );
    let r = post(&call_headers[..2], &call);
    assert_eq!(
        (r.status, code(&r)),
        (400, json!(-32020)),
        "missing Mcp-Name"
    );
    let mut encoded = call_headers[..2].to_vec();
    encoded.push(("Mcp-Name".into(), "=?base64?aMOpbGxvIHfDtnJsZA==?=".into()));
    let r = post(&encoded, &call);
    assert_ne!(
        code(&r),
        json!(-32020),
        "decoded name matches: {}",
        r.text()
    );
    encoded[2].1 = "=?base64?b3RoZXI=?=".into();
    let r = post(&encoded, &call);
    assert_eq!(
        (r.status, code(&r)),
        (400, json!(-32020)),
        "decoded 'other' differs"
    );
    // A revision we do not speak: 400 with -32022 listing what we do.
    let mut unsupported = headers.clone();
    unsupported[0].1 = "1900-01-01".into();
    let r = post(&unsupported, &body);
    assert_eq!((r.status, code(&r)), (400, json!(-32022)));
    assert_eq!(r.json()["error"]["data"]["supported"][0], "2026-07-28");
    // Unknown method: 404 with -32601 (not a legacy HTTP+SSE 404).
    let (unknown, unknown_headers) = modern(4, "no/such/method", Value::Null);
    let r = post(&unknown_headers, &unknown);
    assert_eq!((r.status, code(&r)), (404, json!(-32601)));
}

#[test]
fn sse_for_progress_tokens_and_sse_only_clients() {
    let (_dir, s) = server("http-sse", &[]);
    let (mut body, headers) = modern(5, "tools/list", Value::Null);
    body["params"]["_meta"]["progressToken"] = json!("p1");
    let r = s.post(&with_json(&headers), &body);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/event-stream"));
    assert_eq!(r.header("X-Accel-Buffering"), Some("no"));
    let messages = r.sse_messages();
    assert_eq!(
        messages.first().expect("events")["method"],
        "notifications/progress"
    );
    assert_eq!(messages.last().expect("events")["id"], 5);

    let (plain, headers) = modern(6, "tools/list", Value::Null);
    let mut sse_only: Vec<(&str, &str)> = vec![
        ("Content-Type", "application/json"),
        ("Accept", "text/event-stream"),
    ];
    sse_only.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let r = s.post(&sse_only, &plain);
    assert_eq!(r.header("Content-Type"), Some("text/event-stream"));
    assert_eq!(r.sse_messages().last().expect("response")["id"], 6);
    // The connection stays usable after a chunked SSE response.
    let mut conn = s.connect();
    let text = plain.to_string();
    conn.send(&raw_request("POST", "/mcp", s.port, &sse_only, Some(&text)));
    assert_eq!(conn.response().status, 200);
    conn.send(&raw_request("GET", "/health", s.port, &[], None));
    assert_eq!(conn.response().status, 200);
}

#[test]
fn legacy_sessions() {
    let (_dir, s) = server("http-legacy", &["--session-timeout", "30m"]);
    let id = open_session(&s, "2025-06-18");
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let sid = ("Mcp-Session-Id", id.as_str());
    let list = request(json!(2), "tools/list", Value::Null);
    let r = s.post(
        &[
            JSON_POST[0],
            JSON_POST[1],
            sid,
            ("MCP-Protocol-Version", "2025-06-18"),
        ],
        &list,
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["result"]["tools"].is_array());
    // Without the header the request is taken as the session's revision.
    assert_eq!(
        s.post(&[JSON_POST[0], JSON_POST[1], sid], &list).status,
        200
    );
    // Missing session: 400; unknown: 404.
    let r = s.post(&JSON_POST, &list);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.post(
        &[JSON_POST[0], JSON_POST[1], ("Mcp-Session-Id", "deadbeef")],
        &list,
    );
    assert_eq!(r.status, 404);
    // A header naming an unsupported revision is 400; one contradicting the session too.
    let r = s.post(
        &[
            JSON_POST[0],
            JSON_POST[1],
            sid,
            ("MCP-Protocol-Version", "2.1"),
        ],
        &list,
    );
    assert_eq!(r.status, 400);
    let r = s.post(
        &[
            JSON_POST[0],
            JSON_POST[1],
            sid,
            ("MCP-Protocol-Version", "2025-03-26"),
        ],
        &list,
    );
    // Supported but not the negotiated revision: served under the session's revision
    // (2025-11-25 basic/transports.mdx makes 400 a MUST only for invalid or unsupported).
    assert_eq!(r.status, 200, "{}", r.text());
    // A client response (to a server request we never sent) is accepted with 202.
    let reply = json!({"jsonrpc": "2.0", "id": 99, "result": {}});
    assert_eq!(
        s.post(&[JSON_POST[0], JSON_POST[1], sid], &reply).status,
        202
    );

    // GET opens the server-to-client stream.
    let mut stream = s.connect();
    stream.send(&raw_request(
        "GET",
        "/mcp",
        s.port,
        &[("Accept", "text/event-stream"), sid],
        None,
    ));
    let opened = stream.stream_until("stream open");
    assert!(stream.raw().contains("text/event-stream"), "{opened}");
    // DELETE ends the session; the stream then ends too, and the id is unknown.
    let mut conn = s.connect();
    conn.send(&raw_request("DELETE", "/mcp", s.port, &[sid], None));
    assert_eq!(conn.response().status, 204);
    stream.stream_until("\r\n0\r\n\r\n");
    assert_eq!(
        s.post(&[JSON_POST[0], JSON_POST[1], sid], &list).status,
        404
    );
    conn.send(&raw_request("DELETE", "/mcp", s.port, &[sid], None));
    assert_eq!(conn.response().status, 404);
    conn.send(&raw_request("DELETE", "/mcp", s.port, &[], None));
    assert_eq!(conn.response().status, 400);
}

#[test]
fn batches_in_2025_03_26_sessions() {
    let (_dir, s) = server("http-batch", &[]);
    let id = open_session(&s, "2025-03-26");
    let batch = json!([
        request(json!(10), "ping", Value::Null),
        request(json!(11), "tools/list", Value::Null)
    ]);
    let r = s.post(
        &[JSON_POST[0], JSON_POST[1], ("Mcp-Session-Id", id.as_str())],
        &batch,
    );
    assert_eq!(r.status, 200);
    let ids: Vec<Value> = r
        .json()
        .as_array()
        .expect("batch")
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [json!(10), json!(11)]);
}

#[test]
fn get_and_delete_where_the_revision_has_none() {
    let (_dir, s) = server("http-405", &[]);
    let modern_header = ("MCP-Protocol-Version", "2026-07-28");
    let r = s.get("/mcp", &[("Accept", "text/event-stream"), modern_header]);
    assert_eq!(r.status, 405);
    assert!(r.header("Allow").is_some());
    let mut conn = s.connect();
    conn.send(&raw_request(
        "DELETE",
        "/mcp",
        s.port,
        &[modern_header],
        None,
    ));
    assert_eq!(conn.response().status, 405);
    // 2024-11-05 sessions had no Streamable HTTP GET stream.
    let old = open_session(&s, "2024-11-05");
    let r = s.get(
        "/mcp",
        &[
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", old.as_str()),
        ],
    );
    assert_eq!(r.status, 405);
    // GET without a session: 400; wrong Accept: 406.
    assert_eq!(
        s.get("/mcp", &[("Accept", "text/event-stream")]).status,
        400
    );
    assert_eq!(s.get("/mcp", &[("Accept", "application/json")]).status, 406);
    let mut conn = s.connect();
    conn.send(&raw_request("PUT", "/mcp", s.port, &[], None));
    assert_eq!(conn.response().status, 405);
}

#[test]
fn media_type_json_and_body_errors() {
    let (_dir, s) = server("http-4xx", &["--max-body-bytes", "1KiB"]);
    let (body, headers) = modern(1, "tools/list", Value::Null);
    let mut extra: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut html = vec![
        ("Content-Type", "application/json"),
        ("Accept", "text/html"),
    ];
    html.append(&mut extra.clone());
    assert_eq!(s.post(&html, &body).status, 406);
    let mut text = vec![("Content-Type", "text/plain"), JSON_POST[1]];
    text.append(&mut extra);
    assert_eq!(s.post(&text, &body).status, 415);
    // Not JSON: 400 with -32700.
    let mut conn = s.connect();
    conn.send(&raw_request(
        "POST",
        "/mcp",
        s.port,
        &JSON_POST,
        Some("{not json"),
    ));
    let r = conn.response();
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (400, json!(-32700))
    );
    // Over the body cap: 413 from the head alone; the 10 MB body is never sent.
    let mut conn = s.connect();
    conn.send("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n");
    let r = conn.response();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(conn.closed());
    // Chunked bodies are counted as they arrive.
    let mut conn = s.connect();
    let chunk = "x".repeat(600);
    conn.send(&format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n"
    ));
    assert_eq!(conn.response().status, 413);
    // A well-formed chunked body is served.
    let mut conn = s.connect();
    let text = body.to_string();
    let (a, b) = text.split_at(text.len() / 2);
    let mut raw = String::from("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json\r\nTransfer-Encoding: chunked\r\n");
    for (n, v) in &headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str(&format!(
        "\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    ));
    conn.send(&raw);
    assert_eq!(conn.response().status, 200);
    // An oversized head: 431.
    let mut conn = s.connect();
    conn.send(&format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    ));
    assert_eq!(conn.response().status, 431);
}

#[test]
fn expect_continue_and_pipelining() {
    let (_dir, s) = server("http-pipe", &[]);
    let (body, headers) = modern(1, "tools/list", Value::Null);
    let text = body.to_string();
    let mut all = with_json(&headers);
    all.push(("Expect", "100-continue"));
    let raw = raw_request("POST", "/mcp", s.port, &all, Some(&text));
    let (head, payload) = raw.split_once("\r\n\r\n").expect("head");
    let mut conn = s.connect();
    conn.send(&format!("{head}\r\n\r\n"));
    assert_eq!(conn.response().status, 100);
    conn.send(payload);
    assert_eq!(conn.response().status, 200);
    // Two requests in one write come back in order on the same connection.
    let two = format!(
        "{}{}",
        raw_request("GET", "/info", s.port, &[], None),
        raw_request("GET", "/health", s.port, &[], None)
    );
    conn.send(&two);
    assert!(conn.response().json().get("protocol_versions").is_some());
    assert_eq!(conn.response().json()["status"], "healthy");
}

/// Workers write answers to the client's socket themselves (request.rs), each on its own
/// thread: a slow answer pipelined before fast ones must still come first, whole
/// (RFC 9112 §9.3.2). A 2 MiB `read_file` takes longer than `/health` on another worker.
#[test]
fn pipelined_answers_keep_their_order_when_the_first_is_slow() {
    const SIZE: usize = 2 << 20;
    let (dir, s) = server("http-pipe-order", &[]);
    std::fs::write(dir.path().join("big.txt"), "y".repeat(SIZE)).expect("write big file");
    let (body, headers) = modern(
        1,
        "tools/call",
        json!({"name": "read_file", "arguments": {"path": "big.txt"}}),
    );
    let slow = raw_mcp(s.port, &body, &headers);
    let fast = raw_request("GET", "/health", s.port, &[], None);
    let mut conn = s.connect();
    for round in 0..3 {
        conn.send(&format!("{slow}{fast}{fast}{slow}{fast}"));
        for (i, big) in [true, false, false, true, false].into_iter().enumerate() {
            let r = conn.response();
            assert_eq!(r.status, 200, "round {round}, answer {i}");
            if big {
                let text = r.json()["result"]["content"][0]["text"]
                    .as_str()
                    .map(str::len);
                assert_eq!(text, Some(SIZE), "round {round}, answer {i}: the file");
            } else {
                assert_eq!(r.json()["status"], "healthy", "round {round}, answer {i}");
            }
        }
    }
}

/// A long pipelined burst is answered in full and in order, each request with its own
/// header fields: the front forwards tiny_http only the request line and framing and hands
/// each parsed head to the worker beside it, and holds the client's next request while 32
/// are in flight. Every other request's `Mcp-Method` contradicts its body, so a head
/// paired with the wrong request shows as a status out of turn.
#[test]
fn a_long_pipelined_burst_keeps_each_request_with_its_own_headers() {
    const PAIRS: i64 = 120;
    let (_dir, s) = server("http-pipe-heads", &[]);
    let mut burst = String::new();
    for i in 0..PAIRS {
        let (body, headers) = modern(2 * i, "tools/list", Value::Null);
        burst.push_str(&raw_mcp(s.port, &body, &headers));
        let (body, mut headers) = modern(2 * i + 1, "tools/list", Value::Null);
        headers.retain(|(name, _)| name != "Mcp-Method");
        headers.push(("Mcp-Method".into(), "prompts/list".into()));
        burst.push_str(&raw_mcp(s.port, &body, &headers));
    }
    let mut conn = s.connect();
    conn.send(&burst);
    for i in 0..2 * PAIRS {
        let r = conn.response();
        let expected = if i % 2 == 0 { 200 } else { 400 };
        assert_eq!(r.status, expected, "answer {i}: {}", r.text());
        assert_eq!(r.json()["id"], i, "answer {i} in its turn");
    }
    // The connection is still usable afterwards.
    let (body, headers) = modern(7, "tools/list", Value::Null);
    conn.send(&raw_mcp(s.port, &body, &headers));
    assert_eq!(conn.response().status, 200);
}

/// A burst of new keep-alive connections is served at once. tiny_http's thread pool used to
/// queue some of them behind the others' (long-lived) connections: 4 of 8 clients, or 56
/// of 64, got no answer until another connection closed.
#[test]
fn a_burst_of_new_connections_is_served_at_once() {
    let (_dir, s) = server("http-burst", &[]);
    let (body, headers) = modern(1, "tools/list", Value::Null);
    let raw = raw_mcp(s.port, &body, &headers);
    let mut conns: Vec<_> = (0..64).map(|_| s.connect()).collect();
    for conn in &mut conns {
        conn.send(&raw);
    }
    for (i, conn) in conns.iter_mut().enumerate() {
        let r = conn.response();
        assert_eq!(r.status, 200, "connection {i}: {}", r.text());
        assert!(r.json()["result"]["tools"].is_array(), "connection {i}");
    }
    // The connections stay open: a second round on every one works too.
    for conn in &mut conns {
        conn.send(&raw);
    }
    for conn in &mut conns {
        assert_eq!(conn.response().status, 200);
    }
}

/// HTTP/1.0 keep-alive is honoured out loud: the answer says `Connection: keep-alive` and
/// the connection takes another request. Without the header a 1.0 client (`ab -k`) waited
/// for a close that never came. A plain 1.0 request still closes.
#[test]
fn http10_keep_alive_is_announced_and_plain_http10_closes() {
    let (_dir, s) = server("http-10", &[]);
    let keep = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n";
    let mut conn = s.connect();
    for _ in 0..2 {
        conn.send(keep);
        let r = conn.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Connection"), Some("keep-alive"));
        assert_eq!(r.json()["status"], "healthy");
    }
    let mut conn = s.connect();
    conn.send("GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let r = conn.response();
    assert_eq!(r.status, 200);
    assert_ne!(r.header("Connection"), Some("keep-alive"));
    assert!(
        conn.closed(),
        "a plain HTTP/1.0 request closes the connection"
    );
}

/// Short connections, as health checks and scripts make them: each is answered on its own
/// socket with its own id; a `Connection: close` request is answered with `Connection:
/// close` and then closed (RFC 9112 §9.6: wrk kept sending on connections whose answer did
/// not say so and got resets); and the front's private connection to tiny_http passes from
/// one client connection to the next instead of being opened anew for each.
#[test]
fn short_connections_are_answered_alone_and_reuse_the_private_connection() {
    let (_dir, s) = server("http-short", &[]);
    let opened = "mcp_front_backend_connections_total{how=\"opened\"}";
    let reused = "mcp_front_backend_connections_total{how=\"reused\"}";
    let before = scrape(&s);
    for i in 0..20 {
        let (body, mut headers) = modern(100 + i, "tools/list", Value::Null);
        let close = i % 2 == 0;
        if close {
            headers.push(("Connection".to_string(), "close".to_string()));
        }
        let mut conn = s.connect();
        conn.send(&raw_mcp(s.port, &body, &headers));
        let r = conn.response();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["id"], 100 + i, "its own answer");
        if close {
            assert_eq!(r.header("Connection"), Some("close"));
            assert!(conn.closed(), "closed after the answer");
        } else {
            assert_eq!(r.header("Connection"), None);
            conn.shutdown();
        }
    }
    let after = scrape(&s);
    let (new, again) = (after.delta(&before, opened), after.delta(&before, reused));
    assert_eq!(new + again, 21.0, "one per connection with a request");
    // A connection closed by the server is parked before the client sees the close, so
    // the next one always takes it; one the client closes may not be parked in time.
    assert!(again >= 10.0, "reused {again}, opened {new}");
    assert_eq!(s.get("/health", &[]).json()["status"], "healthy");
}

/// At `--log-level debug` tiny_http logs its private loopback address first ("Server
/// listening on 127.0.0.1:N"); the address a user (and this harness) reads is ours.
#[test]
fn debug_logging_names_the_public_address() {
    let (_dir, s) = server("http-debug", &["--log-level", "debug"]);
    let r = s.get("/health", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "healthy");
}

/// An SSE answer to an HTTP/1.0 request is not chunked (1.0 has no chunked coding): the
/// events as they are, and the connection closes at the end of the body.
#[test]
fn sse_to_http10_is_unchunked_and_closes() {
    use std::io::{Read, Write};
    let (_dir, s) = server("http-sse-10", &[]);
    let (mut body, headers) = modern(7, "tools/list", Value::Null);
    body["params"]["_meta"]["progressToken"] = json!("p7");
    let raw = raw_mcp(s.port, &body, &headers).replacen(" HTTP/1.1\r\n", " HTTP/1.0\r\n", 1);
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    tcp.set_read_timeout(Some(crate::support::DEADLINE))
        .expect("timeout");
    tcp.write_all(raw.as_bytes()).expect("write");
    let mut all = String::new();
    tcp.read_to_string(&mut all)
        .expect("the server closes the connection");
    let (head, events) = all.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    let messages = sse_messages(events);
    assert_eq!(
        messages.first().expect("events")["method"],
        "notifications/progress"
    );
    assert_eq!(messages.last().expect("events")["id"], 7);
}

/// Streams end when their client leaves, not at the next keep-alive write (15 s later);
/// a client that only says `Connection: close` keeps its stream.
#[test]
fn streams_end_with_their_client_and_survive_connection_close() {
    let (_dir, s) = server("http-gone", &[]);
    let active = |s: &HttpServer| s.get("/health", &[]).json()["active_streams"].clone();
    let id = open_session(&s, "2025-11-25");
    let get = [
        ("Accept", "text/event-stream"),
        ("MCP-Protocol-Version", "2025-11-25"),
        ("Mcp-Session-Id", id.as_str()),
    ];
    let mut conn = s.connect();
    conn.send(&raw_request("GET", "/mcp", s.port, &get, None));
    conn.stream_until("stream open");
    assert_eq!(active(&s), 1);
    drop(conn);
    let deadline = Instant::now() + Duration::from_secs(5);
    while active(&s) != 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(active(&s), 0, "the stream outlived its client");

    // The 2024-11-05 transport with `Connection: close`, as some proxies send it.
    let mut conn = s.connect();
    let sse = [("Accept", "text/event-stream"), ("Connection", "close")];
    conn.send(&raw_request("GET", "/sse", s.port, &sse, None));
    let opened = conn.stream_until("/messages?sessionId=");
    let endpoint = opened
        .split("data: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the endpoint event")
        .to_string();
    // The stream still carries answers after the relay stopped reading the client.
    let ping = json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}).to_string();
    let posted = raw_request("POST", &endpoint, s.port, &JSON_POST, Some(&ping));
    let mut poster = s.connect();
    poster.send(&posted);
    assert_eq!(poster.response().status, 202);
    let answered = conn.stream_until("\"id\":9");
    assert!(answered.contains("\"result\":{}"), "{answered}");
    assert_eq!(active(&s), 1, "the stream ended although its client stayed");
}

#[test]
fn origin_host_and_cors() {
    let (_dir, s) = server("http-origin", &[]);
    let (body, headers) = modern(1, "tools/list", Value::Null);
    let local = format!("http://localhost:{}", s.port);
    let mut evil = with_json(&headers);
    evil.push(("Origin", "http://evil.example"));
    assert_eq!(s.post(&evil, &body).status, 403);
    let mut good = with_json(&headers);
    good.push(("Origin", &local));
    let r = s.post(&good, &body);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some(local.as_str())
    );
    assert!(r
        .header("Access-Control-Expose-Headers")
        .is_some_and(|v| v.contains("Mcp-Session-Id")));
    // DNS rebinding: a loopback listener refuses a foreign Host.
    let mut conn = s.connect();
    let raw = raw_request("GET", "/health", s.port, &[], None)
        .replace(&format!("127.0.0.1:{}", s.port), "evil.example");
    conn.send(&raw);
    assert_eq!(conn.response().status, 403);
    // Preflight.
    let preflight = [
        ("Origin", local.as_str()),
        ("Access-Control-Request-Method", "POST"),
    ];
    let mut conn = s.connect();
    conn.send(&raw_request("OPTIONS", "/mcp", s.port, &preflight, None));
    let r = conn.response();
    assert_eq!(r.status, 204);
    assert!(r
        .header("Access-Control-Allow-Methods")
        .is_some_and(|m| m.contains("POST")));
    assert!(r
        .header("Access-Control-Allow-Headers")
        .is_some_and(|h| h.contains("Mcp-Session-Id")));
    conn.send(&raw_request(
        "OPTIONS",
        "/mcp",
        s.port,
        &[("Origin", "http://evil.example")],
        None,
    ));
    assert_eq!(conn.response().status, 403);

    // An explicit allow list replaces the localhost default.
    let (_dir2, s2) = server("http-origin2", &["--allowed-origin", "https://app.example"]);
    let mut app = with_json(&headers);
    app.push(("Origin", "https://app.example"));
    assert_eq!(s2.post(&app, &body).status, 200);
    let mut local2 = with_json(&headers);
    let local_origin = format!("http://localhost:{}", s2.port);
    local2.push(("Origin", &local_origin));
    assert_eq!(s2.post(&local2, &body).status, 403);
}

#[test]
fn subscriptions_listen_streams_and_the_stream_cap() {
    let (_dir, mut s) = server("http-listen", &["--max-streams", "1"]);
    let (body, headers) = modern(
        42,
        "subscriptions/listen",
        json!({"notifications": {"resourcesListChanged": true}}),
    );
    let mut first = s.connect();
    first.send(&raw_mcp(s.port, &body, &headers));
    let opened = first.stream_until("notifications/subscriptions/acknowledged");
    assert!(first.raw().contains("X-Accel-Buffering: no"), "{opened}");
    // The stream does not hold a worker: ordinary requests still work.
    let (list, list_headers) = modern(1, "tools/list", Value::Null);
    assert_eq!(s.post(&with_json(&list_headers), &list).status, 200);
    // A second stream is over --max-streams 1.
    let r = s.post(&with_json(&headers), &body);
    assert_eq!(r.status, 503);
    assert!(r.header("Retry-After").is_some());
    // Shutdown ends the subscription with its completion result, then exits 0.
    s.signal(libc::SIGTERM);
    let done = first.stream_until("\"resultType\":\"complete\"");
    let last = sse_messages(&done).pop().expect("completion");
    assert_eq!(last["id"], 42);
    assert_eq!(s.wait_exit(), Some(0));
}

#[test]
fn startup_failures_exit_2() {
    let dir = TempDir::new("http-start");
    let ws = dir.path().to_str().expect("utf-8");
    let (code, _, err) = crate::support::run(&[
        "--transport",
        "http-stream",
        "--workspace",
        ws,
        "--workers",
        "0",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--workers"));
    let (code, _, err) = crate::support::run(&[
        "--transport",
        "http-stream",
        "--workspace",
        ws,
        "--allowed-origin",
        "nope",
    ]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn idle_sessions_expire() {
    let (_dir, s) = server("http-expiry", &["--session-timeout", "300ms"]);
    let id = open_session(&s, "2025-11-25");
    // /health does not touch sessions; wait until it no longer counts this one.
    let start = Instant::now();
    while s.get("/health", &[]).json()["active_sessions"] != 0 {
        assert!(start.elapsed() < DEADLINE, "session never expired");
        thread::sleep(Duration::from_millis(20));
    }
    let ping = request(json!(5), "ping", Value::Null);
    let r = s.post(
        &[JSON_POST[0], JSON_POST[1], ("Mcp-Session-Id", id.as_str())],
        &ping,
    );
    assert_eq!(r.status, 404, "expired sessions are unknown");
}
