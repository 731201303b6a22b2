//! The binary over stdio: command line, every revision's handshake, the modern era,
//! official example messages, errors, the path sandbox, framing and shutdown.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::schema_check::{examples, Schema};
use crate::support::{initialize, modern_request, request, run, StdioServer, TempDir};

const LEGACY: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

fn server(tag: &str) -> (TempDir, StdioServer) {
    let dir = TempDir::new(tag);
    let server = StdioServer::start(dir.path(), &["--log-level", "debug"]);
    (dir, server)
}

fn tool_call(name: &str, arguments: Value) -> Value {
    json!({"name": name, "arguments": arguments})
}

// ---- command line -------------------------------------------------------------------

#[test]
fn version_and_help() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(
        (code, out.trim()),
        (
            Some(0),
            format!("mcp-server-spec {}", env!("CARGO_PKG_VERSION")).as_str()
        )
    );
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    for flag in [
        "--transport",
        "--workspace",
        "--log-level",
        "MCP_SERVER_PORT",
        "--max-file-bytes",
    ] {
        assert!(out.contains(flag), "help mentions {flag}");
    }
}

#[test]
fn bad_command_lines_exit_2_with_one_clear_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "--bogus"),
        (&["--port", "http"], "--port"),
        (&["--transport", "smoke"], "--transport"),
        (&["--log-level", "shout"], "--log-level"),
        (&["--workspace", "/no/such/dir/anywhere"], "--workspace"),
        (&["--workspace", "Cargo.toml"], "--workspace"),
        (&["--max-line-bytes", "-1"], "--max-line-bytes"),
        (&["nonsense-subcommand"], "nonsense-subcommand"),
    ];
    for (args, flag) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: stderr {err}");
        assert!(out.is_empty(), "{args:?} printed to stdout: {out}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: expected one line, got {err}");
        assert!(lines[0].contains(flag), "{args:?}: {err}");
    }
}

#[test]
fn environment_is_read_and_flags_win() {
    let dir = TempDir::new("env");
    let out = std::process::Command::new(crate::support::BIN)
        .env("MCP_TRANSPORT", "carrier-pigeon")
        .env("MCP_WORKSPACE", dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "MCP_TRANSPORT is read");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--transport"));
    let mut cmd = std::process::Command::new(crate::support::BIN);
    cmd.env("MCP_TRANSPORT", "carrier-pigeon")
        .env("MCP_WORKSPACE", dir.path())
        .args(["--transport", "stdio"]);
    let mut s = StdioServer::spawn(cmd);
    let r = s.call(&modern_request(json!(1), "server/discover", Value::Null));
    assert_eq!(
        r["result"]["resultType"], "complete",
        "the flag wins over the environment"
    );
}

// ---- legacy handshake, every revision -------------------------------------------------

#[test]
fn every_legacy_revision_handshake_and_full_surface() {
    for version in LEGACY {
        let schema = Schema::load(version);
        let (dir, mut s) = server("legacy");
        let init = s.call(&initialize(1, version));
        schema.assert_valid("InitializeResult", &init["result"]);
        assert_eq!(init["result"]["protocolVersion"], version);
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert_eq!(
            s.call(&request(json!("p"), "ping", Value::Null))["result"],
            json!({})
        );

        let tools = s.call(&request(json!(2), "tools/list", json!({})));
        schema.assert_valid("ListToolsResult", &tools["result"]);
        let prompts = s.call(&request(json!(3), "prompts/list", Value::Null));
        schema.assert_valid("ListPromptsResult", &prompts["result"]);
        let init = tool_call("spec_init", json!({"name": "demo", "idea": "A todo app"}));
        let r = s.call(&request(json!("init"), "tools/call", init));
        schema.assert_valid("CallToolResult", &r["result"]);
        for p in prompts["result"]["prompts"].as_array().expect("prompts") {
            // Every required argument gets a value: the spec name, or free text.
            let mut args = serde_json::Map::new();
            for a in p["arguments"].as_array().expect("arguments") {
                if a["required"] == true {
                    let value = if a["name"] == "name" {
                        "demo"
                    } else {
                        "A todo app"
                    };
                    args.insert(
                        a["name"].as_str().expect("arg name").to_string(),
                        json!(value),
                    );
                }
            }
            let r = s.call(&request(
                json!(4),
                "prompts/get",
                json!({"name": p["name"], "arguments": args}),
            ));
            if p["name"] == "spec-approve" || p["name"] == "spec-request-changes" {
                // Review prompts record a decision; "demo" has no document to review yet.
                assert_eq!(r["error"]["code"], -32602, "{version}: {r}");
                continue;
            }
            schema.assert_valid("GetPromptResult", &r["result"]);
        }
        let write = tool_call(
            "create_file",
            json!({"path": "specs/requirements.md", "content": version}),
        );
        let r = s.call(&request(json!(5), "tools/call", write));
        schema.assert_valid("CallToolResult", &r["result"]);
        assert_eq!(r["result"]["isError"], false, "{version}: {r}");
        let r = s.call(&request(
            json!(6),
            "tools/call",
            tool_call("read_file", json!({"path": "specs/requirements.md"})),
        ));
        schema.assert_valid("CallToolResult", &r["result"]);
        assert_eq!(r["result"]["content"][0]["text"], version);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("specs/requirements.md")).expect("file"),
            version
        );
    }
}

#[test]
fn legacy_requests_before_initialize_are_rejected_but_ping_works() {
    let (_dir, mut s) = server("preinit");
    let r = s.call(&request(json!(1), "tools/list", Value::Null));
    assert_eq!(r["error"]["code"], -32602);
    assert!(r["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("initialize")));
    assert_eq!(
        s.call(&request(json!(2), "ping", Value::Null))["result"],
        json!({})
    );
}

#[test]
fn logging_set_level_then_notifications_message() {
    let (_dir, mut s) = server("logging");
    s.call(&initialize(1, "2025-06-18"));
    s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let r = s.call(&request(
        json!(2),
        "logging/setLevel",
        json!({"level": "info"}),
    ));
    assert_eq!(r["result"], json!({}));
    s.send(&request(
        json!(3),
        "tools/call",
        tool_call("create_file", json!({"path": "a.md", "content": "a"})),
    ));
    let note = s.recv();
    Schema::load("2025-06-18").assert_valid("LoggingMessageNotification", &note);
    assert_eq!(note["params"]["logger"], "create_file");
    assert_eq!(s.recv()["id"], 3, "the response follows its notifications");
}

#[test]
fn progress_notifications_when_a_token_is_given() {
    let (_dir, mut s) = server("progress");
    s.call(&initialize(1, "2025-11-25"));
    let mut call = request(
        json!(2),
        "tools/call",
        tool_call("read_file", json!({"path": "missing.md"})),
    );
    call["params"]["_meta"] = json!({"progressToken": "t-1"});
    s.send(&call);
    let note = s.recv();
    Schema::load("2025-11-25").assert_valid("ProgressNotification", &note);
    assert_eq!(note["params"]["progressToken"], "t-1");
    let r = s.recv();
    assert_eq!(
        (r["id"].clone(), r["result"]["isError"].clone()),
        (json!(2), json!(true))
    );
}

#[test]
fn batches_follow_each_revision() {
    let batch = json!([
        request(json!(1), "ping", Value::Null),
        request(json!(2), "tools/list", Value::Null)
    ]);
    let (_dir, mut s) = server("batch");
    s.call(&initialize(0, "2025-03-26"));
    let r = s.call(&batch);
    Schema::load("2025-03-26").assert_valid("JSONRPCBatchResponse", &r);
    assert_eq!(r.as_array().map(Vec::len), Some(2));
    let (_dir, mut s) = server("nobatch");
    s.call(&initialize(0, "2025-06-18"));
    let r = s.call(&batch);
    assert_eq!(r["error"]["code"], -32600);
    assert_eq!(
        s.call(&request(json!(3), "ping", Value::Null))["result"],
        json!({}),
        "still serving"
    );
}

// ---- modern era ---------------------------------------------------------------------

#[test]
fn modern_discover_and_full_surface_validate_against_the_schema() {
    let schema = Schema::load("2026-07-28");
    let (_dir, mut s) = server("modern");
    let r = s.call(&modern_request(json!("d"), "server/discover", Value::Null));
    schema.assert_valid("DiscoverResultResponse", &r);
    assert_eq!(r["result"]["supportedVersions"][0], "2026-07-28");
    let r = s.call(&modern_request(json!(1), "tools/list", Value::Null));
    schema.assert_valid("ListToolsResultResponse", &r);
    let r = s.call(&modern_request(json!(2), "prompts/list", Value::Null));
    schema.assert_valid("ListPromptsResultResponse", &r);
    let r = s.call(&modern_request(
        json!(3),
        "prompts/get",
        json!({"name": "generate-requirements", "arguments": {"requirements": "x"}}),
    ));
    schema.assert_valid("GetPromptResultResponse", &r);
    let r = s.call(&modern_request(
        json!(4),
        "tools/call",
        tool_call("create_file", json!({"path": "m.md", "content": "m"})),
    ));
    schema.assert_valid("CallToolResultResponse", &r);
    assert_eq!(r["result"]["structuredContent"]["created"], true);
}

#[test]
fn modern_version_errors() {
    let schema = Schema::load("2026-07-28");
    let (_dir, mut s) = server("version");
    let mut req = modern_request(json!(9), "tools/list", Value::Null);
    req["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let r = s.call(&req);
    schema.assert_valid("UnsupportedProtocolVersionError", &r);
    assert_eq!(r["error"]["data"]["requested"], "2099-01-01");
    let mut req = modern_request(json!(10), "tools/list", Value::Null);
    req["params"]["_meta"]
        .as_object_mut()
        .expect("meta")
        .remove("io.modelcontextprotocol/clientCapabilities");
    assert_eq!(s.call(&req)["error"]["code"], -32602);
    assert_eq!(
        s.call(&modern_request(json!(11), "ping", Value::Null))["error"]["code"],
        -32601
    );
}

#[test]
fn initialize_after_modern_requests_switches_the_process_to_legacy() {
    let (_dir, mut s) = server("switch");
    assert!(
        s.call(&modern_request(json!(1), "tools/list", Value::Null))["result"]["resultType"]
            .is_string()
    );
    assert_eq!(
        s.call(&initialize(2, "2025-06-18"))["result"]["protocolVersion"],
        "2025-06-18"
    );
    assert_eq!(
        s.call(&modern_request(json!(3), "server/discover", Value::Null))["error"]["code"],
        -32601
    );
}

/// Every official client-request example of 2026-07-28 that a server receives gets a
/// well-formed answer with its id: a schema-valid result, or a JSON-RPC error for methods
/// and names this server does not have. Notifications get no answer.
#[test]
fn official_client_examples_round_trip() {
    let schema = Schema::load("2026-07-28");
    let (_dir, mut s) = server("examples");
    let served = [
        ("DiscoverRequest", Some("DiscoverResultResponse")),
        ("ListToolsRequest", Some("ListToolsResultResponse")),
        ("ListPromptsRequest", Some("ListPromptsResultResponse")),
        ("CallToolRequest", None),
        ("GetPromptRequest", None),
        ("ListResourcesRequest", Some("ListResourcesResultResponse")),
        ("ReadResourceRequest", None),
        (
            "ListResourceTemplatesRequest",
            Some("ListResourceTemplatesResultResponse"),
        ),
        ("CompleteRequest", None),
    ];
    for (type_name, result_type) in served {
        for (file, example) in examples(type_name) {
            schema.assert_valid(type_name, &example);
            let r = s.call(&example);
            assert_eq!(r["id"], example["id"], "{file}");
            schema.assert_valid("JSONRPCResponse", &r);
            match result_type {
                Some(t) => schema.assert_valid(t, &r),
                // The examples name a tool, prompt or file this server does not have.
                None => assert_eq!(r["error"]["code"], -32602, "{file}: {r}"),
            }
        }
    }
    for (file, example) in examples("CancelledNotification") {
        s.send(&example);
        assert!(
            s.silent_for(Duration::from_millis(200)),
            "{file}: notifications get no response"
        );
    }
    assert_eq!(
        s.call(&modern_request(json!("after"), "tools/list", Value::Null))["id"],
        "after"
    );
}

// ---- errors, framing, sandbox --------------------------------------------------------

#[test]
fn garbage_then_valid_requests_keep_working() {
    let (_dir, mut s) = server("garbage");
    let garbage: &[&[u8]] = &[
        b"this is not json\n",
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\n",
        b"\xff\xfe\x00binary\n",
        b"[]\n",
        b"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}\n",
        b"{\"id\":3,\"method\":\"ping\"}\n",
        b"42\n",
    ];
    // JSON-RPC 2.0 section 5: an id that could not be read is answered as null; a
    // readable id is kept even when the rest of the envelope is wrong.
    let expected = [
        (-32700, Value::Null),
        (-32700, Value::Null),
        (-32700, Value::Null),
        (-32600, Value::Null),
        (-32600, Value::Null),
        (-32600, json!(3)),
        (-32600, Value::Null),
    ];
    let schema = Schema::load("2026-07-28");
    for (bytes, (code, id)) in garbage.iter().zip(expected) {
        s.write_raw(bytes);
        let r = s.recv();
        assert_eq!(
            r["error"]["code"],
            code,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        assert_eq!((r["jsonrpc"].clone(), r["id"].clone()), (json!("2.0"), id));
        schema.assert_valid("Error", &r["error"]);
    }
    s.write_raw(b"\r\n   \n");
    s.write_raw(b"{\"jsonrpc\":\"2.0\",\"id\":\"crlf\",\"method\":\"ping\"}\r\n");
    assert_eq!(s.recv()["id"], "crlf");
    let r = s.call(&request(json!(7), "no/such/method", Value::Null));
    assert_eq!(
        r["error"]["code"], -32602,
        "uninitialized: needs initialize or _meta first"
    );
    s.call(&initialize(8, "2025-11-25"));
    assert_eq!(
        s.call(&request(json!(9), "no/such/method", Value::Null))["error"]["code"],
        -32601
    );
    assert_eq!(
        s.call(&request(
            json!(10),
            "prompts/get",
            json!({"name": "generate-requirements"})
        ))["error"]["code"],
        -32602
    );
}

#[test]
fn huge_line_is_rejected_without_killing_the_server() {
    let dir = TempDir::new("huge");
    let mut s = StdioServer::start(dir.path(), &["--max-line-bytes", "64KiB"]);
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}\n",
        "x".repeat(1 << 20)
    );
    s.write_raw(huge.as_bytes());
    let r = s.recv();
    assert_eq!(r["error"]["code"], -32600);
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("65536-byte limit")),
        "{r}"
    );
    assert_eq!(s.call(&request(json!(2), "ping", Value::Null))["id"], 2);
}

#[test]
fn path_sandbox_refuses_every_escape() {
    let outside = TempDir::new("outside");
    std::fs::write(outside.path().join("secret.txt"), "secret").expect("write");
    let (dir, mut s) = server("sandbox");
    std::os::unix::fs::symlink(outside.path(), dir.path().join("linkdir")).expect("symlink dir");
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dir.path().join("link.txt"),
    )
    .expect("symlink file");
    let long_name = "n".repeat(300);
    let deep = "d/".repeat(2100);
    let outside_abs = outside
        .path()
        .join("secret.txt")
        .to_string_lossy()
        .into_owned();
    let escapes = [
        outside_abs.as_str(),
        "../secret.txt",
        "specs/../../secret.txt",
        "linkdir/secret.txt",
        "link.txt",
        "a\u{0}b",
        "/dev/null",
        "/etc/passwd",
        long_name.as_str(),
        deep.as_str(),
        "",
    ];
    s.call(&initialize(0, "2025-11-25"));
    for (i, path) in escapes.iter().enumerate() {
        for tool in ["read_file", "create_file"] {
            let args = if tool == "read_file" {
                json!({"path": path})
            } else {
                json!({"path": path, "content": "pwned"})
            };
            let r = s.call(&request(json!(i), "tools/call", tool_call(tool, args)));
            assert_eq!(
                r["result"]["isError"], true,
                "{tool} {path:?} must be refused: {r}"
            );
            let text = r["result"]["content"][0]["text"].as_str().expect("text");
            assert!(!text.contains("secret\n") && !text.is_empty());
        }
    }
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.txt")).expect("read"),
        "secret",
        "nothing outside changed"
    );
    assert!(!outside.path().join("pwned").exists());
    let r = s.call(&request(
        json!(99),
        "tools/call",
        tool_call("read_file", json!({"path": "specs"})),
    ));
    assert_eq!(r["result"]["isError"], true);
}

#[test]
fn file_caps_and_binary_files() {
    let dir = TempDir::new("caps");
    let mut s = StdioServer::start(dir.path(), &["--max-file-bytes", "1KiB"]);
    std::fs::write(dir.path().join("big.txt"), "x".repeat(2048)).expect("write");
    std::fs::write(dir.path().join("bin.dat"), [0u8, 159, 146, 150]).expect("write");
    s.call(&initialize(0, "2025-11-25"));
    let cases = [
        (
            "read_file",
            json!({"path": "big.txt"}),
            "larger than the limit",
        ),
        ("read_file", json!({"path": "bin.dat"}), "binary"),
        (
            "read_file",
            json!({"path": "missing.txt"}),
            "does not exist",
        ),
        (
            "create_file",
            json!({"path": "new.txt", "content": "y".repeat(2000)}),
            "larger than the limit",
        ),
    ];
    for (tool, args, phrase) in cases {
        let r = s.call(&request(
            json!(1),
            "tools/call",
            tool_call(tool, args.clone()),
        ));
        let text = r["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        assert_eq!(r["result"]["isError"], true, "{tool} {args}");
        assert!(
            text.contains(phrase),
            "{tool} {args}: '{text}' should say '{phrase}'"
        );
    }
    assert!(!dir.path().join("new.txt").exists());
}

// ---- shutdown and stdout hygiene -----------------------------------------------------

#[test]
fn eof_exits_zero_promptly() {
    let (_dir, mut s) = server("eof");
    s.call(&initialize(0, "2025-06-18"));
    let start = Instant::now();
    s.close_stdin();
    assert_eq!(s.wait_exit(), Some(0));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "exit took {:?}",
        start.elapsed()
    );
}

#[test]
fn sigterm_and_sigint_end_the_process_promptly() {
    for signal in ["-TERM", "-INT"] {
        let (_dir, mut s) = server("signal");
        s.call(&modern_request(json!(1), "server/discover", Value::Null));
        let start = Instant::now();
        let status = std::process::Command::new("kill")
            .args([signal, &s.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        s.wait_exit();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{signal}: exit took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn stdout_carries_only_json_rpc_even_at_trace_level() {
    let dir = TempDir::new("hygiene");
    let mut s = StdioServer::start(dir.path(), &["--log-level", "trace"]);
    s.send(&json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}));
    s.send(&request(
        json!(2),
        "tools/call",
        tool_call("create_file", json!({"path": "x.md", "content": "x"})),
    ));
    s.write_raw(b"garbage\n");
    s.close_stdin();
    let mut seen = 0;
    for _ in 0..3 {
        let line = s.recv();
        assert_eq!(line["jsonrpc"], "2.0", "not JSON-RPC on stdout: {line}");
        seen += 1;
    }
    assert_eq!(seen, 3);
    assert_eq!(s.wait_exit(), Some(0));
    let stderr = s.drain_stderr();
    assert!(
        stderr.contains("TRACE") || stderr.contains("trace"),
        "logs went to stderr: {stderr}"
    );
}

#[test]
fn log_file_receives_the_logs() {
    let dir = TempDir::new("logfile");
    let log = dir.path().join("server.log");
    let mut s = StdioServer::start(
        dir.path(),
        &[
            "--log-file",
            log.to_str().expect("utf-8"),
            "--log-level",
            "info",
        ],
    );
    s.call(&initialize(0, "2025-06-18"));
    s.close_stdin();
    assert_eq!(s.wait_exit(), Some(0));
    let text = std::fs::read_to_string(&log).expect("log file exists");
    assert!(text.contains("initialize"), "{text}");
    assert!(s.drain_stderr().is_empty());
}

#[test]
fn subscriptions_listen_over_stdio() {
    let schema = Schema::load("2026-07-28");
    let (_dir, mut s) = server("listen");
    for (file, example) in examples("SubscriptionsListenRequest") {
        s.send(&example);
        let ack = s.recv();
        schema.assert_valid("SubscriptionsAcknowledgedNotification", &ack);
        assert_eq!(
            ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], example["id"],
            "{file}"
        );
        assert!(
            s.silent_for(Duration::from_millis(200)),
            "{file}: the listen request stays open"
        );
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": example["id"]}});
        s.send(&cancel);
        assert!(
            s.silent_for(Duration::from_millis(100)),
            "{file}: nothing is sent for a cancelled subscription"
        );
    }
    assert_eq!(
        s.call(&modern_request(json!("next"), "tools/list", Value::Null))["id"],
        "next"
    );
}
