//! Human approvals through the real binary over stdio: each channel (elicitation as a
//! legacy `elicitation/create` round trip and as a 2026-07-28 `InputRequiredResult`
//! retry, the review prompts, the CLI), hash invalidation, the gate modes, a change
//! request proposed and applied on a fixture spec, and a bugfix spec end to end. The test
//! plays the client the way the SDKs do: it declares the capability, answers the
//! server's request with an `ElicitResult`, and retries with `inputResponses`. Every
//! message is checked against the official schema of its revision.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::schema_check::Schema;
use crate::support::{modern_request, request, run, StdioServer, TempDir, BIN};

const REQUIREMENTS: &str = include_str!("../fixtures/specs/todo-export/requirements.md");
const DESIGN: &str = include_str!("../fixtures/specs/todo-export/design.md");
const TASKS: &str = include_str!("../fixtures/specs/todo-export/tasks.md");
const BUGFIX: &str = include_str!("../fixtures/specs/good-bugfix/bugfix.md");

/// A workspace holding the `todo-export` fixture spec (no spec.json: nothing approved).
fn fixture_workspace(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
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

fn state(dir: &Path, spec: &str) -> Value {
    let text =
        std::fs::read_to_string(dir.join("specs").join(spec).join("spec.json")).expect("spec.json");
    serde_json::from_str(&text).expect("spec.json is JSON")
}

fn text_of(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// A legacy session whose client declares `capabilities`.
fn legacy(dir: &Path, version: &str, capabilities: Value, extra: &[&str]) -> StdioServer {
    let mut s = StdioServer::start(dir, extra);
    let init = s.call(&request(
        json!(0),
        "initialize",
        json!({"protocolVersion": version, "capabilities": capabilities,
               "clientInfo": {"name": "approvals-it", "version": "1.0.0"}}),
    ));
    assert_eq!(init["result"]["protocolVersion"], version);
    s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    s
}

fn tool(name: &str, arguments: Value) -> Value {
    json!({"name": name, "arguments": arguments})
}

/// Legacy tools/call; the result.
fn call(s: &mut StdioServer, id: i64, name: &str, arguments: Value) -> Value {
    let r = s.call(&request(json!(id), "tools/call", tool(name, arguments)));
    r["result"].clone()
}

/// The next message that is not a notification: a server request or a response.
fn next_message(s: &mut StdioServer) -> Value {
    loop {
        let m = s.recv();
        if m.get("method").is_none() || m.get("id").is_some() {
            return m;
        }
    }
}

/// The user approves `doc` with the spec-approve prompt (legacy session).
fn approve_with_prompt(s: &mut StdioServer, id: i64, spec: &str, doc: &str) {
    let r = s.call(&request(
        json!(id),
        "prompts/get",
        json!({"name": "spec-approve", "arguments": {"name": spec, "doc": doc}}),
    ));
    assert!(
        r["result"]["messages"][0]["content"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("approve it exactly as it is now")),
        "{r}"
    );
}

#[test]
fn legacy_elicitation_round_trip_in_each_revision_that_has_it() {
    for version in ["2025-06-18", "2025-11-25"] {
        let schema = Schema::load(version);
        let dir = fixture_workspace("elicit-legacy");
        let mut s = legacy(dir.path(), version, json!({"elicitation": {}}), &[]);
        s.send(&request(
            json!("review-1"),
            "tools/call",
            tool(
                "spec_review",
                json!({"name": "todo-export", "doc": "requirements", "action": "approve"}),
            ),
        ));
        // The server asks; the call itself stays open.
        let ask = next_message(&mut s);
        assert_eq!(ask["method"], "elicitation/create", "{version}: {ask}");
        schema.assert_valid("JSONRPCRequest", &ask);
        schema.assert_valid("ElicitRequest", &ask);
        assert_eq!(ask["params"].get("mode").is_some(), version == "2025-11-25");
        let message = ask["params"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("specs/todo-export/requirements.md") && message.contains("SHA-256")
        );
        assert_eq!(
            state(dir.path(), "todo-export")["documents"]["requirements"]["status"],
            "in_review"
        );

        // The user submits the form.
        let answer = json!({"action": "accept", "content": {"decision": "approve", "comment": "looks right"}});
        schema.assert_valid("ElicitResult", &answer);
        s.send(&json!({"jsonrpc": "2.0", "id": ask["id"], "result": answer}));
        let done = next_message(&mut s);
        assert_eq!(
            done["id"], "review-1",
            "{version}: the original call completes"
        );
        schema.assert_valid("CallToolResult", &done["result"]);
        assert_eq!(done["result"]["isError"], false, "{done}");
        assert_eq!(done["result"]["structuredContent"]["status"], "approved");
        let doc = &state(dir.path(), "todo-export")["documents"]["requirements"];
        assert_eq!(doc["status"], "approved");
        assert_eq!(doc["approval"]["channel"], "elicitation");
        assert_eq!(doc["note"], "looks right");
        assert_eq!(
            doc["approval"]["sha256"].as_str().map(str::len),
            Some(64),
            "the approved bytes' SHA-256"
        );

        // Declining records nothing.
        s.send(&request(
            json!(2),
            "tools/call",
            tool(
                "spec_review",
                json!({"name": "todo-export", "doc": "design", "action": "approve"}),
            ),
        ));
        let ask = next_message(&mut s);
        s.send(&json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "decline"}}));
        let done = next_message(&mut s);
        assert_eq!(done["id"], 2);
        assert!(text_of(&done["result"]).contains("declined"));
        assert_ne!(
            state(dir.path(), "todo-export")["documents"]["design"]["status"],
            "approved"
        );
    }
}

#[test]
fn legacy_client_without_elicitation_is_told_the_other_channels() {
    let dir = fixture_workspace("elicit-none");
    let mut s = legacy(dir.path(), "2025-11-25", json!({}), &[]);
    let r = call(
        &mut s,
        1,
        "spec_review",
        json!({"name": "todo-export", "doc": "requirements", "action": "approve"}),
    );
    assert_eq!(r["isError"], true);
    let text = text_of(&r);
    assert!(
        text.contains("spec-approve")
            && text.contains("mcp-server-spec approve todo-export requirements"),
        "{text}"
    );
    assert!(
        !dir.path().join("specs/todo-export/spec.json").exists(),
        "nothing recorded"
    );
}

#[test]
fn modern_input_required_round_trip_and_missing_capability() {
    let schema = Schema::load("2026-07-28");
    let dir = fixture_workspace("elicit-modern");
    let mut s = StdioServer::start(dir.path(), &[]);
    let args = json!({"name": "todo-export", "doc": "requirements", "action": "approve"});
    let mut first = modern_request(json!(1), "tools/call", tool("spec_review", args.clone()));
    first["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] =
        json!({"elicitation": {}});
    let r = s.call(&first);
    schema.assert_valid("JSONRPCResultResponse", &r);
    schema.assert_valid("InputRequiredResult", &r["result"]);
    assert_eq!(r["result"]["resultType"], "input_required");
    let input = &r["result"]["inputRequests"]["review"];
    schema.assert_valid("ElicitRequest", input);
    assert_eq!(input["params"]["mode"], "form");
    let state_token = r["result"]["requestState"]
        .as_str()
        .expect("requestState")
        .to_string();

    // The client retries the same call (new id) with the user's answer.
    let answer = json!({"action": "accept", "content": {"decision": "approve"}});
    schema.assert_valid("ElicitResult", &answer);
    let mut retry = first.clone();
    retry["id"] = json!(2);
    retry["params"]["inputResponses"] = json!({"review": answer});
    retry["params"]["requestState"] = json!(state_token);
    let r = s.call(&retry);
    schema.assert_valid("CallToolResultResponse", &r);
    assert_eq!(r["result"]["resultType"], "complete");
    assert_eq!(
        r["result"]["structuredContent"]["status"], "approved",
        "{r}"
    );
    assert_eq!(
        state(dir.path(), "todo-export")["documents"]["requirements"]["approval"]["channel"],
        "elicitation"
    );

    // Another process would not accept this state: here, altered arguments do not.
    let mut forged = retry.clone();
    forged["id"] = json!(3);
    forged["params"]["arguments"]["doc"] = json!("design");
    let r = s.call(&forged);
    assert_eq!(r["error"]["code"], -32602, "{r}");

    // A client without the capability: -32021, as the spec requires.
    let r = s.call(&modern_request(
        json!(4),
        "tools/call",
        tool(
            "spec_review",
            json!({"name": "todo-export", "doc": "design", "action": "approve"}),
        ),
    ));
    schema.assert_valid("MissingRequiredClientCapabilityError", &r);
    assert_eq!(
        r["error"]["data"]["requiredCapabilities"],
        json!({"elicitation": {"form": {}}})
    );
}

#[test]
fn prompt_and_cli_channels() {
    let schema = Schema::load("2025-11-25");
    let dir = fixture_workspace("channels");
    let mut s = legacy(dir.path(), "2025-11-25", json!({}), &[]);
    let r = s.call(&request(
        json!(1),
        "prompts/get",
        json!({"name": "spec-approve", "arguments": {"name": "todo-export", "doc": "requirements", "note": "ok"}}),
    ));
    schema.assert_valid("GetPromptResult", &r["result"]);
    assert_eq!(
        state(dir.path(), "todo-export")["documents"]["requirements"]["approval"]["channel"],
        "prompt"
    );
    let r = s.call(&request(
        json!(2),
        "prompts/get",
        json!({"name": "spec-request-changes", "arguments": {"name": "todo-export", "doc": "design", "note": "Name the JSON schema"}}),
    ));
    schema.assert_valid("GetPromptResult", &r["result"]);
    let design = &state(dir.path(), "todo-export")["documents"]["design"];
    assert_eq!(
        (design["status"].clone(), design["note"].clone()),
        (json!("changes_requested"), json!("Name the JSON schema"))
    );

    // The CLI refuses to approve without a terminal (a script, an assistant's shell)…
    let ws = dir.path().to_str().expect("utf-8 path");
    let (code, _, stderr) = run(&["approve", "todo-export", "design", "--workspace", ws]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("must be a terminal"), "{stderr}");
    // …but requesting changes approves nothing and needs none.
    let (code, stdout, _) = run(&[
        "request-changes",
        "todo-export",
        "tasks",
        "--note",
        "Split task 2",
        "--workspace",
        ws,
    ]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(
        state(dir.path(), "todo-export")["documents"]["tasks"]["status"],
        "changes_requested"
    );

    // A person at a terminal: `script` gives the binary a pseudo-terminal.
    if Command::new("script").arg("--version").output().is_ok() {
        let cmd = format!("{BIN} approve todo-export design --note 'now fine' --workspace {ws}");
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("run script");
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            printed.contains("approved specs/todo-export/design.md"),
            "{printed}"
        );
        let design = &state(dir.path(), "todo-export")["documents"]["design"];
        assert_eq!(design["approval"]["channel"], "cli");
    }
    let log = &state(dir.path(), "todo-export")["reviews"];
    assert!(
        log.as_array().is_some_and(|l| l.len() >= 3),
        "every decision is logged: {log}"
    );
}

#[test]
fn an_edit_after_approval_reopens_the_document() {
    let dir = fixture_workspace("invalidate");
    let mut s = legacy(dir.path(), "2025-11-25", json!({}), &[]);
    approve_with_prompt(&mut s, 1, "todo-export", "requirements");
    approve_with_prompt(&mut s, 2, "todo-export", "tasks");
    // Progress is not an edit of the plan…
    let r = call(
        &mut s,
        3,
        "task_update",
        json!({"name": "todo-export", "task_ids": ["3"], "status": "in_progress"}),
    );
    assert_eq!(r["isError"], false);
    let r = call(&mut s, 4, "spec_status", json!({"name": "todo-export"}));
    assert_eq!(
        r["structuredContent"]["documents"][2]["status"], "approved",
        "{r}"
    );
    // …but any other byte is, whoever writes it.
    let path = dir.path().join("specs/todo-export/requirements.md");
    std::fs::write(&path, REQUIREMENTS.replace("exit code 2", "exit code 3")).expect("edit");
    let r = call(&mut s, 5, "spec_status", json!({"name": "todo-export"}));
    let doc = &r["structuredContent"]["documents"][0];
    assert_eq!(doc["status"], "draft", "{r}");
    assert!(doc["reopened"]["reason"]
        .as_str()
        .is_some_and(|t| t.contains("changed after its approval")));
    assert!(
        text_of(&r).contains("Reopened"),
        "spec_status says so: {}",
        text_of(&r)
    );
    assert_eq!(
        state(dir.path(), "todo-export")["documents"]["requirements"]["status"],
        "draft",
        "recorded"
    );
    // Restoring the approved bytes does not silently re-approve.
    std::fs::write(&path, REQUIREMENTS).expect("restore");
    let r = call(&mut s, 6, "spec_status", json!({"name": "todo-export"}));
    assert_eq!(r["structuredContent"]["documents"][0]["status"], "draft");
    let (_, stdout, _) = run(&[
        "status",
        "todo-export",
        "--workspace",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert!(stdout.contains("requirements:draft"), "{stdout}");
}

#[test]
fn gate_modes() {
    // strict (the default): a later document and task_next wait for approvals.
    let dir = fixture_workspace("gates");
    let mut s = legacy(dir.path(), "2025-11-25", json!({}), &[]);
    let write_design = json!({"name": "todo-export", "doc": "design", "content": DESIGN});
    let r = call(&mut s, 1, "spec_write", write_design.clone());
    assert_eq!(r["isError"], true);
    assert!(
        text_of(&r).contains("Refused by strict review gates")
            && text_of(&r).contains("requirements.md (draft"),
        "{}",
        text_of(&r)
    );
    let r = call(&mut s, 2, "task_next", json!({"name": "todo-export"}));
    assert_eq!(r["isError"], false, "no task is an answer, not a failure");
    assert_eq!(r["structuredContent"]["task"], Value::Null);
    assert_eq!(r["structuredContent"]["gate"]["refused"], true);
    approve_with_prompt(&mut s, 3, "todo-export", "requirements");
    let r = call(&mut s, 4, "spec_write", write_design);
    assert_eq!(r["isError"], false, "{r}");
    for (id, doc) in [(5, "design"), (6, "tasks")] {
        approve_with_prompt(&mut s, id, "todo-export", doc);
    }
    let r = call(&mut s, 7, "task_next", json!({"name": "todo-export"}));
    assert_eq!(r["structuredContent"]["task"]["id"], "3", "{r}");
    drop(s);

    // advisory: the same checks as warnings.
    let dir = fixture_workspace("gates-advisory");
    let mut cmd = Command::new(BIN);
    cmd.env("MCP_GATES", "advisory")
        .args(["--workspace"])
        .arg(dir.path());
    let mut s = StdioServer::spawn(cmd);
    s.call(&request(json!(0), "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "it", "version": "1"}})));
    let r = call(&mut s, 1, "task_next", json!({"name": "todo-export"}));
    assert_eq!(r["structuredContent"]["task"]["id"], "3");
    assert!(
        text_of(&r).contains("Review gate warning (advisory mode)"),
        "{}",
        text_of(&r)
    );
    let r = call(
        &mut s,
        2,
        "spec_review",
        json!({"name": "todo-export", "doc": "design", "action": "approve"}),
    );
    assert_eq!(
        r["isError"], true,
        "advisory never lets the assistant approve"
    );
    drop(s);

    // off: no checks, and spec_review records the assistant's own decision, labelled.
    let dir = fixture_workspace("gates-off");
    let mut s = legacy(dir.path(), "2025-11-25", json!({}), &["--gates", "off"]);
    let r = call(&mut s, 1, "task_next", json!({"name": "todo-export"}));
    assert!(!text_of(&r).contains("gate"), "{}", text_of(&r));
    let r = call(
        &mut s,
        2,
        "spec_review",
        json!({"name": "todo-export", "doc": "design", "action": "approve"}),
    );
    assert_eq!(r["structuredContent"]["channel"], "assistant");

    let (code, _, stderr) = run(&["--gates", "lax", "--workspace", "."]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--gates: invalid value 'lax'"), "{stderr}");
}

const DELTA: &str = "## MODIFIED Requirements

### Requirement 2: Export

**User Story:** As a user, I want to export my todos as CSV, so that I can open them in a spreadsheet.

#### Acceptance Criteria

1. WHEN the user runs `todo export` THEN the todo app SHALL write every todo to `todos.csv`

## REMOVED Requirements

### Requirement 3: Print

Nobody prints any more.

## ADDED Requirements

### Requirement 4: Import

**User Story:** As a user, I want to import todos, so that I can move my list between machines.

#### Acceptance Criteria

1. WHEN the user runs `todo import <file>` THEN the todo app SHALL add every todo in the file
";

#[test]
fn change_request_propose_review_apply() {
    let dir = fixture_workspace("change");
    let mut s = legacy(dir.path(), "2025-11-25", json!({}), &[]);
    let r = call(
        &mut s,
        1,
        "spec_change",
        json!({"name": "todo-export", "summary": "CSV export, no printing", "action": "propose", "delta": DELTA}),
    );
    assert_eq!(
        r["isError"], true,
        "only approved specs take change requests"
    );
    for (id, doc) in [(2, "requirements"), (3, "design"), (4, "tasks")] {
        approve_with_prompt(&mut s, id, "todo-export", doc);
    }
    let bad = DELTA.replace("SHALL write every todo to `todos.csv`", "should write CSV");
    let r = call(
        &mut s,
        5,
        "spec_change",
        json!({"name": "todo-export", "summary": "x", "action": "propose", "delta": bad}),
    );
    assert_eq!(r["isError"], true);
    assert!(
        text_of(&r).contains("no-shall") && text_of(&r).contains("nothing was written"),
        "{}",
        text_of(&r)
    );

    let r = call(
        &mut s,
        6,
        "spec_change",
        json!({"name": "todo-export", "summary": "CSV export, no printing", "action": "propose", "delta": DELTA}),
    );
    assert_eq!(r["isError"], false, "{r}");
    let c = &r["structuredContent"];
    assert_eq!(c["change"], "001-csv-export-no-printing");
    assert_eq!(
        (
            c["modified"].clone(),
            c["removed"].clone(),
            c["added"].clone()
        ),
        (json!(["2"]), json!(["3"]), json!(["4"]))
    );
    assert_eq!(c["design_sections"], json!(["Exporter", "Printer"]));
    assert_eq!(c["tasks"], json!(["2", "3"]));
    assert_eq!(
        c["reworked"],
        json!(["2"]),
        "the done export task goes back to todo"
    );
    assert_eq!(
        c["reopened"],
        json!(["requirements.md", "design.md", "tasks.md"])
    );
    let file = std::fs::read_to_string(
        dir.path()
            .join("specs/todo-export/changes/001-csv-export-no-printing.md"),
    )
    .expect("change file");
    assert!(
        file.contains("## MODIFIED Requirements")
            && file.contains("- Design sections: Exporter, Printer")
            && file.contains("- Status: proposed"),
        "{file}"
    );
    let tasks =
        std::fs::read_to_string(dir.path().join("specs/todo-export/tasks.md")).expect("tasks");
    assert!(tasks.contains("- [ ] 2. Exporter\n  - _Rework: change 001-csv-export-no-printing: CSV export, no printing_\n"), "{tasks}");
    assert!(
        tasks.contains("- [x] 1. Store"),
        "unimpacted work stays done"
    );
    let r = call(&mut s, 7, "task_next", json!({"name": "todo-export"}));
    assert_eq!(
        r["structuredContent"]["task"],
        Value::Null,
        "the reopened spec holds implementation"
    );

    let r = call(
        &mut s,
        8,
        "spec_change",
        json!({"name": "todo-export", "summary": "CSV export, no printing", "action": "apply"}),
    );
    assert!(
        r["isError"] == true && text_of(&r).contains("not approved"),
        "{r}"
    );
    approve_with_prompt(&mut s, 9, "todo-export", "change");
    let r = call(
        &mut s,
        10,
        "spec_change",
        json!({"name": "todo-export", "summary": "CSV export, no printing", "action": "apply"}),
    );
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["structuredContent"]["status"], "applied");

    let requirements =
        std::fs::read_to_string(dir.path().join("specs/todo-export/requirements.md"))
            .expect("requirements");
    assert!(
        requirements.contains("`todos.csv`") && !requirements.contains("Requirement 3: Print"),
        "{requirements}"
    );
    assert!(
        requirements.ends_with("SHALL add every todo in the file\n"),
        "{requirements}"
    );
    assert!(
        requirements.starts_with("# Requirements Document\n\n## Introduction\n"),
        "other bytes kept"
    );
    let tasks =
        std::fs::read_to_string(dir.path().join("specs/todo-export/tasks.md")).expect("tasks");
    assert!(
        tasks.contains("- [x] 1. Store"),
        "completed work kept: {tasks}"
    );
    assert!(
        tasks.contains("- [ ] 4. Implement requirement 4: Import\n  - _Requirements: 4_\n"),
        "{tasks}"
    );
    assert!(
        !tasks.contains("3.1"),
        "citations of the removed requirement are gone: {tasks}"
    );
    let st = state(dir.path(), "todo-export");
    assert_eq!(
        st["documents"]["requirements"]["approval"]["channel"],
        "change"
    );
    assert!(st.get("change").is_none(), "no open change any more");
    let file = std::fs::read_to_string(
        dir.path()
            .join("specs/todo-export/changes/001-csv-export-no-printing.md"),
    )
    .expect("change file");
    assert!(file.contains("- Status: applied"), "{file}");
    // The design still cites the removed criterion: the next step is plainly design.md.
    let r = call(&mut s, 11, "spec_status", json!({"name": "todo-export"}));
    assert_eq!(r["structuredContent"]["phase"], "design", "{r}");
    let r = call(
        &mut s,
        12,
        "spec_validate",
        json!({"name": "todo-export", "doc": "design"}),
    );
    let unknown = r["structuredContent"]["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .any(|d| d["code"] == "unknown-reference" && d["id"] == "3.1");
    assert!(unknown, "{r}");
}

#[test]
fn bugfix_spec_from_init_to_implement() {
    let dir = TempDir::new("bugfix");
    let mut s = legacy(dir.path(), "2025-11-25", json!({}), &[]);
    let r = call(
        &mut s,
        1,
        "spec_init",
        json!({"name": "empty-export", "idea": "export of an empty list", "kind": "bugfix"}),
    );
    assert_eq!(r["structuredContent"]["phase"], "bugfix");
    let r = call(
        &mut s,
        2,
        "spec_guide",
        json!({"phase": "bugfix", "name": "empty-export"}),
    );
    let template = r["structuredContent"]["template"]
        .as_str()
        .expect("template")
        .to_string();
    let r = call(
        &mut s,
        3,
        "spec_write",
        json!({"name": "empty-export", "doc": "bugfix", "content": template}),
    );
    let codes: Vec<&str> = r["structuredContent"]["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert!(
        codes.iter().all(|c| *c == "incomplete-bugfix") && codes.len() == 5,
        "the bare template is incomplete: {codes:?}"
    );
    assert_eq!(r["structuredContent"]["phase"], "bugfix");
    let r = call(
        &mut s,
        4,
        "spec_write",
        json!({"name": "empty-export", "doc": "bugfix", "content": BUGFIX}),
    );
    assert_eq!(
        (
            r["structuredContent"]["errors"].clone(),
            r["structuredContent"]["phase"].clone()
        ),
        (json!(0), json!("design")),
        "{r}"
    );

    let design = DESIGN
        .replace("_Requirements: 1.1, 1.2_", "_Requirements: 1.1, 2.1_")
        .replace("_Requirements: 2.1_", "_Requirements: 2.2, 3.1_")
        .replace("_Requirements: 3.1_", "_Requirements: 3.2_");
    let write_design = json!({"name": "empty-export", "doc": "design", "content": design});
    let r = call(&mut s, 5, "spec_write", write_design.clone());
    assert!(
        r["isError"] == true && text_of(&r).contains("bugfix.md (draft"),
        "bugfix.md first: {}",
        text_of(&r)
    );
    approve_with_prompt(&mut s, 6, "empty-export", "bugfix");
    let r = call(&mut s, 7, "spec_write", write_design);
    assert_eq!(r["structuredContent"]["phase"], "tasks", "{r}");
    approve_with_prompt(&mut s, 8, "empty-export", "design");
    let tasks = "# Tasks\n\n- [ ] 1. Failing test for the empty export\n  - _Requirements: 1.1, 2.1_\n- [ ] 2. Write `[]` and report write errors\n  - _Requirements: 2.1, 2.2_\n  - _Depends: 1_\n- [ ] 3. Regression tests for non-empty exports\n  - _Requirements: 3.1, 3.2_\n";
    let r = call(
        &mut s,
        9,
        "spec_write",
        json!({"name": "empty-export", "doc": "tasks", "content": tasks}),
    );
    assert_eq!(r["structuredContent"]["phase"], "implement", "{r}");
    let r = call(&mut s, 10, "spec_trace", json!({"name": "empty-export"}));
    assert_eq!(
        r["structuredContent"]["coverage"]["both_percent"], 100.0,
        "{r}"
    );
    approve_with_prompt(&mut s, 11, "empty-export", "tasks");
    let r = call(&mut s, 12, "task_next", json!({"name": "empty-export"}));
    assert_eq!(r["structuredContent"]["task"]["id"], "1");
    assert_eq!(r["structuredContent"]["criteria"][1]["id"], "2.1", "{r}");
}
