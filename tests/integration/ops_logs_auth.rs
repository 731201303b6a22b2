//! JSON log lines (`--log-format json`), `--log-file` reopened on SIGHUP (logrotate), and
//! bearer-token access control (`--auth-token-file`) through the real binary.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::http_client::{modern, raw_request, with_json, Conn, HttpServer, JSON_POST};
use crate::ops_support::{call, scrape_with, server, wait_until, SseClient};
use crate::support::{run, TempDir, BIN};

const TOKEN_A: &str = "token-a-0123456789abcdef0123456789abcdef";
const TOKEN_B: &str = "token-b-fedcba9876543210fedcba9876543210";
const TOKEN_C: &str = "token-c-00000000000000000000000000000000";

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect()
}

fn access_line<'a>(lines: &'a [Value], path: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["target"] == "access" && l["path"] == path)
        .unwrap_or_else(|| panic!("no access line for {path}"))
}

#[test]
fn json_log_lines_carry_request_fields() {
    let (_dir, mut s) = server(
        "ops-json",
        &["--log-format", "json", "--max-body-bytes", "1KiB"],
    );
    assert_eq!(
        call(&s, "GET", "/health", &[("User-Agent", "probe")], None).status,
        200
    );
    let (body, headers) = modern(1, "tools/list", Value::Null);
    assert_eq!(s.post(&with_json(&headers), &body).status, 200);
    let big = "x".repeat(2048);
    assert_eq!(call(&s, "POST", "/mcp", &JSON_POST, Some(&big)).status, 413);
    s.wait_log("front: request body too large");
    // Workers log a request after its answer (the line carries the duration).
    s.wait_log("GET /health - 200");
    s.wait_log("POST /mcp tools/list 200");
    let lines = json_lines(&s.log_text());
    for line in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(line[key].is_string(), "{key} in {line}");
        }
        let stamp = line["timestamp"].as_str().unwrap_or_default();
        assert!(stamp.len() == 24 && stamp.ends_with('Z'), "{stamp}");
    }
    let health = access_line(&lines, "/health");
    assert_eq!(health["level"], "INFO");
    assert_eq!(health["method"], "GET");
    assert_eq!(health["status"], 200, "a number, not a string");
    assert_eq!(health["mcp_method"], "-");
    assert_eq!(health["transport"], "ops");
    assert!(health["duration_ms"].is_u64());
    assert!(health["remote_addr"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:")));
    assert!(health["message"]
        .as_str()
        .is_some_and(|m| m.contains("GET /health - 200")));
    let mcp = access_line(&lines, "/mcp");
    assert_eq!(
        (mcp["mcp_method"].clone(), mcp["transport"].clone()),
        (json!("tools/list"), json!("streamable-http"))
    );
    let front = lines
        .iter()
        .find(|l| l["target"] == "access" && l["status"] == 413)
        .expect("the front's access line");
    assert_eq!(front["transport"], "front");
    assert!(lines.iter().any(|l| l["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("listening on http://127.0.0.1:"))));
}

/// A server logging to a file: the port comes from the file.
struct FileLogged {
    child: Child,
    port: u16,
}

impl FileLogged {
    fn start(workspace: &Path, log: &Path, extra: &[&str]) -> FileLogged {
        let mut child = Command::new(BIN)
            .args([
                "--transport",
                "http-stream",
                "--port",
                "0",
                "--log-format",
                "json",
            ])
            .arg("--workspace")
            .arg(workspace)
            .arg("--log-file")
            .arg(log)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut port = 0;
        wait_until("the bound URL in the log file", || {
            assert!(child.try_wait().expect("wait").is_none(), "server exited");
            let text = fs::read_to_string(log).unwrap_or_default();
            port = text
                .split("listening on http://127.0.0.1:")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            port != 0
        });
        FileLogged { child, port }
    }

    fn health(&self) {
        let mut conn = Conn::plain(self.port);
        conn.send(&raw_request("GET", "/health", self.port, &[], None));
        assert_eq!(conn.response().status, 200);
    }
}

impl Drop for FileLogged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sighup_reopens_the_log_file_for_logrotate() {
    let dir = TempDir::new("ops-logrotate");
    let log = dir.path().join("server.log");
    let rotated = dir.path().join("server.log.1");
    let s = FileLogged::start(dir.path(), &log, &[]);
    s.health();
    // logrotate without copytruncate: rename, then `postrotate kill -HUP`.
    fs::rename(&log, &rotated).expect("rotate");
    s.health(); // still written to the renamed file: the descriptor is the old one
                // The worker writes the access line after the answer (it records the duration), so
                // wait for it before the reopen, or it may land in the new file.
    let access_lines = |text: &str| text.matches("GET /health").count();
    wait_until("the second access line in the renamed file", || {
        fs::read_to_string(&rotated).is_ok_and(|t| access_lines(&t) == 2)
    });
    let pid = libc::pid_t::try_from(s.child.id()).expect("pid");
    // SAFETY: kill(2) on the child this test spawned and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    wait_until("a new log file", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("log file reopened"))
    });
    s.health();
    wait_until("the access line in the new file", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("GET /health"))
    });
    let old = json_lines(&fs::read_to_string(&rotated).expect("rotated file"));
    let health_lines = |lines: &[Value]| {
        lines
            .iter()
            .filter(|l| l["target"] == "access" && l["path"] == "/health")
            .count()
    };
    assert_eq!(health_lines(&old), 2, "before and just after the rename");
    let new = json_lines(&fs::read_to_string(&log).expect("new file"));
    assert_eq!(health_lines(&new), 1);
}

fn token_file(dir: &Path, mode: u32, text: &str) -> PathBuf {
    let path = dir.join(format!("tokens-{mode:o}"));
    let _ = fs::remove_file(&path);
    let mut f = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(mode)
        .open(&path)
        .expect("create");
    f.write_all(text.as_bytes()).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

#[test]
fn unsafe_token_files_refuse_to_start() {
    let dir = TempDir::new("ops-auth-start");
    let ws = dir.path().to_str().expect("utf-8");
    let readable = token_file(dir.path(), 0o644, &format!("{TOKEN_A}\n"));
    let empty = dir.path().join("empty");
    fs::write(&empty, "# no tokens yet\n").expect("write");
    fs::set_permissions(&empty, fs::Permissions::from_mode(0o600)).expect("chmod");
    let missing = dir.path().join("missing");
    for (file, expected) in [
        (&readable, "accessible to every user"),
        (&empty, "holds no token"),
        (&missing, "cannot read"),
    ] {
        let path = file.to_str().expect("utf-8");
        let args = [
            "--transport",
            "http-stream",
            "--port",
            "0",
            "--workspace",
            ws,
        ];
        let (code, _, err) = run(&[&args[..], &["--auth-token-file", path]].concat());
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("--auth-token-file") && err.contains(expected),
            "{err}"
        );
        assert!(
            !err.contains(TOKEN_A),
            "the token must never be printed: {err}"
        );
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn bearer_tokens_guard_every_endpoint_but_health() {
    let dir = TempDir::new("ops-auth");
    let tokens = token_file(
        dir.path(),
        0o600,
        &format!("# two, for rotation\n{TOKEN_A}\n{TOKEN_B}\n"),
    );
    let path = tokens.to_str().expect("utf-8");
    let mut s = HttpServer::start(dir.path(), &["--auth-token-file", path]);
    let (a, b) = (bearer(TOKEN_A), bearer(TOKEN_B));
    let with_a = [("Authorization", a.as_str())];
    let before = scrape_with(&s, &with_a);

    assert_eq!(
        call(&s, "GET", "/health", &[], None).status,
        200,
        "/health is exempt"
    );
    let paths = [
        ("GET", "/info"),
        ("GET", "/metrics"),
        ("GET", "/connections"),
        ("GET", "/tools"),
        ("POST", "/connect"),
        ("GET", "/sse"),
        ("POST", "/messages?sessionId=x"),
        ("GET", "/nowhere"),
    ];
    for (method, path) in paths {
        let r = call(&s, method, path, &[], None);
        assert_eq!(r.status, 401, "{method} {path} without a token");
        assert_eq!(
            r.header("WWW-Authenticate"),
            Some("Bearer realm=\"mcp-server-spec\""),
            "{method} {path}"
        );
        let wrong = call(
            &s,
            method,
            path,
            &[("Authorization", "Bearer not-a-valid-token")],
            None,
        );
        assert_eq!(wrong.status, 401);
        assert!(wrong
            .header("WWW-Authenticate")
            .is_some_and(|h| h.starts_with("Bearer") && h.contains("error=\"invalid_token\"")));
    }
    let (body, headers) = modern(1, "tools/list", Value::Null);
    let r = s.post(&with_json(&headers), &body);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], -32600, "a JSON-RPC body on /mcp");
    let basic = [("Authorization", "Basic dXNlcjpwYXNz")];
    assert_eq!(call(&s, "GET", "/info", &basic, None).status, 401);

    for token in [&a, &b] {
        let auth = [("Authorization", token.as_str())];
        assert_eq!(call(&s, "GET", "/info", &auth, None).status, 200);
        let mut all = with_json(&headers);
        all.push(("Authorization", token.as_str()));
        assert_eq!(s.post(&all, &body).status, 200, "MCP with a token");
    }
    let lower = format!("bearer {TOKEN_B}");
    assert_eq!(
        call(&s, "GET", "/tools", &[("Authorization", &lower)], None).status,
        200
    );
    let mut sse = SseClient::open(&s, &with_a);
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"});
    let no_token = crate::ops_support::post_json(&s, &sse.endpoint, &[], &ping);
    assert_eq!(
        no_token.status, 401,
        "the POST endpoint needs the token too"
    );
    let r = crate::ops_support::post_json(&s, &sse.endpoint, &with_a, &ping);
    assert_eq!(r.status, 202);
    assert_eq!(sse.response(7).0["result"], json!({}));
    // A browser preflight carries no credentials; it must still be answered.
    let origin = format!("http://localhost:{}", s.port);
    let preflight = [
        ("Origin", origin.as_str()),
        ("Access-Control-Request-Method", "POST"),
    ];
    assert_eq!(call(&s, "OPTIONS", "/mcp", &preflight, None).status, 204);

    let after = scrape_with(&s, &with_a);
    let denied = after.delta(&before, "mcp_http_rejected_requests_total{reason=\"401\"}");
    assert_eq!(denied, 2.0 * paths.len() as f64 + 3.0);

    // Rotation: the file now holds only a new token; SIGHUP makes it the only one.
    fs::write(&tokens, format!("{TOKEN_C}\n")).expect("rewrite");
    s.signal(libc::SIGHUP);
    s.wait_log("bearer tokens reloaded: 1 accepted");
    assert_eq!(call(&s, "GET", "/info", &with_a, None).status, 401);
    let c = bearer(TOKEN_C);
    assert_eq!(
        call(&s, "GET", "/info", &[("Authorization", c.as_str())], None).status,
        200
    );
    // A bad new file keeps the tokens in service.
    fs::write(&tokens, "short\n").expect("rewrite");
    s.signal(libc::SIGHUP);
    s.wait_log("bearer token reload failed");
    assert_eq!(
        call(&s, "GET", "/info", &[("Authorization", c.as_str())], None).status,
        200
    );

    let log = s.log_text();
    for token in [TOKEN_A, TOKEN_B, TOKEN_C] {
        assert!(!log.contains(token), "a token leaked into the log");
    }
    assert!(log.contains("bearer token required"));
}

/// Even at `trace`, where bodies are logged, no token reaches the log: not a valid one,
/// not a wrong one.
#[test]
fn tokens_never_reach_the_log_even_at_trace() {
    let dir = TempDir::new("ops-auth-trace");
    let tokens = token_file(dir.path(), 0o600, &format!("{TOKEN_A}\n"));
    let log = dir.path().join("trace.log");
    let tokens = tokens.to_str().expect("utf-8");
    let extra = ["--auth-token-file", tokens, "--log-level", "trace"];
    let s = FileLogged::start(dir.path(), &log, &extra);
    let wrong = bearer(TOKEN_B);
    for token in [bearer(TOKEN_A), wrong] {
        for path in ["/info", "/mcp", "/tools", "/sse"] {
            let mut conn = Conn::plain(s.port);
            let headers = [
                ("Authorization", token.as_str()),
                ("Accept", "application/json"),
            ];
            conn.send(&raw_request("GET", path, s.port, &headers, None));
            conn.response();
        }
    }
    s.health();
    wait_until("the last access line", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("GET /health"))
    });
    let text = fs::read_to_string(&log).expect("log");
    assert!(text.contains("TRACE"), "trace lines were written");
    assert!(
        !text.contains(TOKEN_A) && !text.contains(TOKEN_B),
        "a token leaked"
    );
}
