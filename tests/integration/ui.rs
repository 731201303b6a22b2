//! The dashboard (`/ui`) through the real binary over raw HTTP: the page and its
//! escaping, the Origin/Host rules it shares with `/mcp`, the CSRF token on POST, a
//! decision recorded in spec.json with channel `dashboard`, and an SSE event when a file
//! changes on disk.

use std::path::Path;

use serde_json::{json, Value};

use crate::http_client::{raw_request, HttpResponse, HttpServer};
use crate::support::TempDir;

const REQUIREMENTS: &str = include_str!("../fixtures/specs/todo-export/requirements.md");
const DESIGN: &str = include_str!("../fixtures/specs/todo-export/design.md");
const TASKS: &str = include_str!("../fixtures/specs/todo-export/tasks.md");

/// A workspace whose path and spec.json carry markup, holding the `todo-export` spec.
fn workspace() -> TempDir {
    let dir = TempDir::new("ui-<i>&\"q\"");
    let spec = dir.path().join("specs/todo-export");
    std::fs::create_dir_all(&spec).expect("mkdir");
    for (name, text) in [
        ("requirements.md", REQUIREMENTS),
        ("design.md", DESIGN),
        ("tasks.md", TASKS),
    ] {
        std::fs::write(spec.join(name), text).expect("write fixture");
    }
    let state = json!({"kind": "feature", "documents": {"design": {
        "status": "changes_requested", "note": "<script>alert('x')</script>"}}});
    std::fs::write(spec.join("spec.json"), state.to_string()).expect("spec.json");
    dir
}

fn state(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("specs/todo-export/spec.json")).expect("state");
    serde_json::from_str(&text).expect("spec.json is JSON")
}

fn csrf_token(page: &str) -> String {
    let marker = "name=\"csrf-token\" content=\"";
    let start = page.find(marker).expect("csrf meta") + marker.len();
    page[start..start + 64].to_string()
}

/// POST /ui/review with the given extra headers and form body.
fn review(server: &HttpServer, headers: &[(&str, &str)], form: &str) -> HttpResponse {
    let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    let mut conn = server.connect();
    conn.send(&raw_request(
        "POST",
        "/ui/review",
        server.port,
        &all,
        Some(form),
    ));
    conn.response()
}

#[test]
fn page_is_served_escaped_and_locked_down() {
    let dir = workspace();
    let server = HttpServer::start(dir.path(), &[]);
    let page = server.get("/ui", &[]);
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.header("Content-Security-Policy").is_some_and(|csp| csp
        .contains("default-src 'none'")
        && csp.contains("connect-src 'self'")));
    let html = page.text();
    for needle in [
        "Review queue",
        "todo-export",
        "data-doc=\"requirements\"",
        "Traceability",
        "changes_requested",
        "new EventSource('/ui/events')",
    ] {
        assert!(html.contains(needle), "page lacks {needle:?}");
    }
    assert!(!html.contains("<script>alert"), "a note is rendered raw");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(
        !html.contains("<i>&\"q\""),
        "the workspace path is rendered raw"
    );
    assert!(html.contains("&lt;i&gt;&amp;&quot;q&quot;"));
    assert!(
        !html.contains("http://") || !html.contains("src=\"http"),
        "no external assets"
    );
    let fragment = server.get("/ui/fragment", &[]);
    assert_eq!(fragment.status, 200);
    assert!(fragment.text().starts_with("<h2>Review queue</h2>"));
    assert_eq!(server.get("/ui/nope", &[]).status, 404);
}

#[test]
fn origin_host_and_csrf_are_enforced_then_approval_is_recorded() {
    let dir = workspace();
    let server = HttpServer::start(dir.path(), &[]);
    let origin = format!("http://127.0.0.1:{}", server.port);
    // Same Origin/Host rules as /mcp.
    let foreign = server.get("/ui", &[("Origin", "http://evil.example")]);
    assert_eq!(foreign.status, 403);
    let mut conn = server.connect();
    conn.send("GET /ui HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    assert_eq!(conn.response().status, 403, "DNS rebinding guard");

    let token = csrf_token(&server.get("/ui", &[]).text());
    let form = "spec=todo-export&doc=requirements&decision=approve&note=ship+it";
    let refused = [
        review(&server, &[("Origin", &origin)], form),
        review(
            &server,
            &[("Origin", &origin), ("X-CSRF-Token", &"0".repeat(64))],
            form,
        ),
        review(&server, &[("X-CSRF-Token", &token)], form),
        review(
            &server,
            &[("Origin", "http://evil.example"), ("X-CSRF-Token", &token)],
            form,
        ),
        review(
            &server,
            &[
                ("Origin", &origin),
                ("X-CSRF-Token", &token),
                ("Sec-Fetch-Site", "cross-site"),
            ],
            form,
        ),
    ];
    for (i, r) in refused.iter().enumerate() {
        assert_eq!(r.status, 403, "case {i}: {}", r.text());
    }
    assert_ne!(
        state(dir.path())["documents"]["requirements"]["status"],
        "approved"
    );

    let ok = [
        ("Origin", origin.as_str()),
        ("X-CSRF-Token", token.as_str()),
    ];
    let approved = review(&server, &ok, form);
    assert_eq!(approved.status, 200, "{}", approved.text());
    assert_eq!(approved.json()["status"], "approved");
    let doc = &state(dir.path())["documents"]["requirements"];
    assert_eq!(doc["status"], "approved");
    assert_eq!(doc["approval"]["channel"], "dashboard");
    assert_eq!(doc["note"], "ship it");
    let last = state(dir.path())["reviews"]
        .as_array()
        .and_then(|r| r.last().cloned())
        .expect("a review log entry");
    assert_eq!(last["channel"], "dashboard");

    // A comment is required to request changes; a stale hash is refused.
    let no_note = "spec=todo-export&doc=tasks&decision=request_changes";
    assert_eq!(review(&server, &ok, no_note).status, 400);
    let stale = format!(
        "spec=todo-export&doc=tasks&decision=approve&sha256={}",
        "ab".repeat(32)
    );
    assert_eq!(review(&server, &ok, &stale).status, 409);
    let changes = "spec=todo-export&doc=tasks&decision=request_changes&note=split+task+2";
    let r = review(&server, &ok, changes);
    assert_eq!(r.json()["status"], "changes_requested", "{}", r.text());
    assert_eq!(
        review(&server, &ok, "spec=nope&doc=tasks&decision=approve").status,
        404
    );
    // The queue no longer offers the approved document.
    let fragment = server.get("/ui/fragment", &[]).text();
    assert!(!fragment.contains("data-spec=\"todo-export\" data-doc=\"requirements\""));
}

#[test]
fn events_stream_announces_file_changes() {
    let dir = workspace();
    let server = HttpServer::start(dir.path(), &[]);
    let mut events = server.connect();
    events.send(&raw_request(
        "GET",
        "/ui/events",
        server.port,
        &[("Accept", "text/event-stream")],
        None,
    ));
    events.stream_until(": stream open");
    assert!(events.raw().contains("Content-Type: text/event-stream"));
    let design = dir.path().join("specs/todo-export/design.md");
    let mut text = std::fs::read_to_string(&design).expect("design");
    text.push_str("\nEdited on disk.\n");
    std::fs::write(&design, text).expect("edit");
    let after = events.stream_until("\"generation\"");
    assert!(after.contains("event: message"), "{after}");
    let health = server.get("/health", &[]).json();
    assert!(
        health["active_streams"].as_u64().is_some_and(|n| n >= 1),
        "{health}"
    );
}
