//! The spec workflow through the real binary: a whole feature from `spec_init` to the last
//! `task_update` over stdio, resources, completion, change notifications, tool profiles,
//! and the `validate` / `status` / `trace` subcommands.

use std::process::Command;

use serde_json::{json, Value};

use crate::schema_check::Schema;
use crate::support::{initialize, modern_request, request, StdioServer, TempDir, BIN};

const REQUIREMENTS: &str = "# Requirements Document

## Introduction

A command-line todo list.

## Requirements

### Requirement 1: Add todos

**User Story:** As a user, I want to add todos, so that I remember my work.

#### Acceptance Criteria

1. WHEN the user runs `todo add <title>` THEN the todo app SHALL store the todo with status open
2. IF the title is empty THEN the todo app SHALL reject it with exit code 2

### Requirement 2: Complete todos

**User Story:** As a user, I want to complete todos, so that I see my progress.

#### Acceptance Criteria

1. WHEN the user runs `todo done <id>` THEN the todo app SHALL mark the todo done
";

const DESIGN: &str = "# Design Document

## Overview

A single binary storing todos in a JSON file.

## Architecture

CLI parser, store, file persistence.

## Components and Interfaces

### Store

Adds and completes todos.

_Requirements: 1.1, 1.2, 2.1_

## Data Models

Todo { id, title, done }.

## Error Handling

Empty titles exit with code 2.

## Testing Strategy

Integration tests drive the binary.
";

const TASKS: &str = "# Implementation Plan

- [ ] 1. Store
  - [ ] 1.1 Add todos
    - _Requirements: 1.1, 1.2_
    - _Files: src/store.rs_
  - [ ] 1.2 Complete todos
    - _Requirements: 2.1_
    - _Depends: 1.1_
    - _Files: src/store.rs_
";

/// The user approves a document of `todo-cli` with the spec-approve prompt.
fn approve(s: &mut StdioServer, id: i64, doc: &str) {
    let r = s.call(&modern_request(
        json!(id),
        "prompts/get",
        json!({"name": "spec-approve", "arguments": {"name": "todo-cli", "doc": doc}}),
    ));
    let text = r["result"]["messages"][0]["content"]["text"].as_str();
    assert!(
        text.is_some_and(|t| t.contains("approve it exactly as it is now")),
        "{r}"
    );
}

fn call_tool(s: &mut StdioServer, id: i64, name: &str, arguments: Value) -> Value {
    let r = s.call(&modern_request(
        json!(id),
        "tools/call",
        json!({"name": name, "arguments": arguments}),
    ));
    Schema::load("2026-07-28").assert_valid("CallToolResultResponse", &r);
    if r["result"]["isError"] == false {
        assert!(
            r["result"]["structuredContent"].is_object(),
            "{name}: structured content: {r}"
        );
    }
    r["result"].clone()
}

#[test]
fn a_whole_feature_from_init_to_the_last_task() {
    let dir = TempDir::new("workflow");
    // Default (strict) gates: each document is approved with the spec-approve prompt
    // before the next one (the other channels are exercised in approvals.rs).
    let mut s = StdioServer::start(dir.path(), &[]);

    let r = call_tool(
        &mut s,
        1,
        "spec_init",
        json!({"name": "todo-cli", "idea": "a todo list for the terminal"}),
    );
    assert_eq!(r["structuredContent"]["phase"], "requirements");
    assert!(dir.path().join("specs/todo-cli/spec.json").is_file());
    let r = call_tool(
        &mut s,
        2,
        "spec_init",
        json!({"name": "todo-cli", "idea": "again"}),
    );
    assert_eq!(r["isError"], true, "duplicate spec refused");

    let r = call_tool(
        &mut s,
        3,
        "spec_guide",
        json!({"phase": "requirements", "name": "todo-cli"}),
    );
    assert!(r["structuredContent"]["template"]
        .as_str()
        .is_some_and(|t| t.contains("#### Acceptance Criteria")));

    let bad = "### Requirement 1: Add\n\n#### Acceptance Criteria\n\n1. The app should be fast\n";
    let r = call_tool(
        &mut s,
        4,
        "spec_write",
        json!({"name": "todo-cli", "doc": "requirements", "content": bad}),
    );
    let codes: Vec<&str> = r["structuredContent"]["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert!(
        codes.contains(&"no-shall")
            && codes.contains(&"vague-term")
            && codes.contains(&"missing-user-story"),
        "{codes:?}"
    );
    assert_eq!(
        r["structuredContent"]["phase"], "requirements",
        "errors keep the phase"
    );

    let r = call_tool(
        &mut s,
        5,
        "spec_write",
        json!({"name": "todo-cli", "doc": "requirements", "content": REQUIREMENTS}),
    );
    assert_eq!(
        (
            r["structuredContent"]["errors"].clone(),
            r["structuredContent"]["phase"].clone()
        ),
        (json!(0), json!("design"))
    );
    approve(&mut s, 105, "requirements");
    let r = call_tool(
        &mut s,
        6,
        "spec_write",
        json!({"name": "todo-cli", "doc": "design", "content": DESIGN}),
    );
    assert_eq!(r["structuredContent"]["phase"], "tasks");
    approve(&mut s, 106, "design");
    let r = call_tool(
        &mut s,
        7,
        "spec_write",
        json!({"name": "todo-cli", "doc": "tasks", "content": TASKS}),
    );
    assert_eq!(r["structuredContent"]["phase"], "implement");
    let r = call_tool(&mut s, 107, "task_next", json!({"name": "todo-cli"}));
    assert_eq!(
        r["structuredContent"]["task"],
        Value::Null,
        "tasks.md not approved yet"
    );
    approve(&mut s, 108, "tasks");

    let r = call_tool(&mut s, 8, "spec_validate", json!({"name": "todo-cli"}));
    assert_eq!(r["structuredContent"]["errors"], 0, "{r}");
    assert_eq!(r["structuredContent"]["ears_patterns"]["event_driven"], 2);
    let r = call_tool(&mut s, 9, "spec_trace", json!({"name": "todo-cli"}));
    assert_eq!(r["structuredContent"]["coverage"]["both_percent"], 100.0);
    let r = call_tool(
        &mut s,
        10,
        "spec_trace",
        json!({"name": "todo-cli", "id": "2.1"}),
    );
    assert_eq!(r["structuredContent"]["impact"]["tasks"], json!(["1.2"]));

    let r = call_tool(&mut s, 11, "task_next", json!({"name": "todo-cli"}));
    assert_eq!(r["structuredContent"]["task"]["id"], "1.1");
    assert_eq!(r["structuredContent"]["criteria"][0]["id"], "1.1");
    assert_eq!(r["structuredContent"]["design"][0]["name"], "Store");
    assert_eq!(r["structuredContent"]["files"], json!(["src/store.rs"]));

    let r = call_tool(
        &mut s,
        12,
        "task_update",
        json!({"name": "todo-cli", "task_ids": ["9.9"], "status": "done"}),
    );
    assert_eq!(r["isError"], true, "unknown task id refused");
    let before =
        std::fs::read_to_string(dir.path().join("specs/todo-cli/tasks.md")).expect("tasks");
    assert_eq!(before, TASKS, "a refused update changes nothing");
    let r = call_tool(
        &mut s,
        13,
        "task_update",
        json!({"name": "todo-cli", "task_ids": ["1.1"], "status": "done", "note": "cargo test: 4 passed"}),
    );
    assert_eq!(r["structuredContent"]["next_task"], "1.2");
    let r = call_tool(&mut s, 109, "task_next", json!({"name": "todo-cli"}));
    assert_eq!(
        r["structuredContent"]["task"]["id"], "1.2",
        "progress marks do not reopen the approved plan"
    );
    let after = std::fs::read_to_string(dir.path().join("specs/todo-cli/tasks.md")).expect("tasks");
    assert_eq!(
        after,
        TASKS.replacen("- [ ] 1.1", "- [x] 1.1", 1),
        "only the checkbox changed"
    );
    call_tool(
        &mut s,
        14,
        "task_update",
        json!({"name": "todo-cli", "task_ids": ["1.2"], "status": "done", "note": "tests pass"}),
    );
    let r = call_tool(&mut s, 15, "spec_status", json!({"name": "todo-cli"}));
    assert_eq!(r["structuredContent"]["phase"], "done");
    let r = call_tool(&mut s, 16, "task_next", json!({}));
    assert_eq!(r["structuredContent"]["task"], Value::Null);
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("specs/todo-cli/spec.json")).expect("state"),
    )
    .expect("json");
    assert_eq!(state["phase"], "done");
    assert_eq!(state["task_log"][0]["note"], "cargo test: 4 passed");
    let r = call_tool(&mut s, 17, "spec_status", json!({}));
    assert_eq!(r["structuredContent"]["total"], 1);
}

#[test]
fn seed_flat_layout_is_the_default_spec_and_kiro_specs_are_read_only() {
    let dir = TempDir::new("flat");
    std::fs::create_dir_all(dir.path().join("specs")).expect("mkdir");
    std::fs::write(dir.path().join("specs/requirements.md"), REQUIREMENTS).expect("write");
    std::fs::create_dir_all(dir.path().join(".kiro/specs/payments")).expect("mkdir");
    std::fs::write(
        dir.path().join(".kiro/specs/payments/requirements.md"),
        REQUIREMENTS,
    )
    .expect("write");
    let mut s = StdioServer::start(dir.path(), &[]);
    let r = call_tool(&mut s, 1, "spec_status", json!({}));
    let names: Vec<&str> = r["structuredContent"]["specs"]
        .as_array()
        .expect("specs")
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert_eq!(names, ["default", "payments"]);
    let r = call_tool(&mut s, 2, "spec_status", json!({"name": "default"}));
    assert_eq!(r["structuredContent"]["phase"], "design");
    let r = call_tool(
        &mut s,
        3,
        "spec_write",
        json!({"name": "payments", "doc": "design", "content": DESIGN}),
    );
    assert_eq!(r["isError"], true);
    assert!(r["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("read-only")));
    assert!(!dir.path().join(".kiro/specs/payments/design.md").exists());
}

#[test]
fn resources_completion_and_list_changed() {
    let schema = Schema::load("2026-07-28");
    let dir = TempDir::new("resources");
    let mut s = StdioServer::start(dir.path(), &[]);
    let listen = modern_request(
        json!("sub"),
        "subscriptions/listen",
        json!({"notifications": {"resourcesListChanged": true}}),
    );
    s.send(&listen);
    let ack = s.recv();
    assert_eq!(
        ack["params"]["notifications"],
        json!({"resourcesListChanged": true})
    );

    s.send(&modern_request(
        json!(1),
        "tools/call",
        json!({"name": "spec_init", "arguments": {"name": "alpha", "idea": "x"}}),
    ));
    let mut saw_change = false;
    loop {
        let m = s.recv();
        if m["method"] == "notifications/resources/list_changed" {
            assert_eq!(
                m["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
                "sub"
            );
            saw_change = true;
        }
        if m["id"] == 1 {
            break;
        }
    }
    assert!(
        saw_change,
        "list_changed on the subscription, before the response"
    );

    let r = s.call(&modern_request(json!(2), "resources/list", Value::Null));
    schema.assert_valid("ListResourcesResultResponse", &r);
    let uris: Vec<&str> = r["result"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|x| x["uri"].as_str())
        .collect();
    assert!(
        uris.contains(&"spec://index")
            && uris.contains(&"spec://alpha/status")
            && uris.contains(&"template://design"),
        "{uris:?}"
    );
    let r = s.call(&modern_request(
        json!(3),
        "resources/read",
        json!({"uri": "spec://index"}),
    ));
    schema.assert_valid("ReadResourceResultResponse", &r);
    assert!(r["result"]["contents"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("alpha")));
    let r = s.call(&modern_request(
        json!(4),
        "resources/read",
        json!({"uri": "spec://alpha/requirements"}),
    ));
    assert_eq!(r["error"]["code"], -32602, "missing document: not found");
    let r = s.call(&modern_request(
        json!(5),
        "resources/templates/list",
        Value::Null,
    ));
    schema.assert_valid("ListResourceTemplatesResultResponse", &r);

    let r = s.call(&modern_request(json!(6), "completion/complete", json!({"ref": {"type": "ref/prompt", "name": "spec-continue"}, "argument": {"name": "name", "value": "al"}})));
    schema.assert_valid("CompleteResultResponse", &r);
    assert_eq!(r["result"]["completion"]["values"], json!(["alpha"]));
    let r = s.call(&modern_request(json!(7), "completion/complete", json!({"ref": {"type": "ref/resource", "uri": "spec://{name}/{doc}"}, "argument": {"name": "doc", "value": "de"}})));
    assert_eq!(r["result"]["completion"]["values"], json!(["design"]));
    std::fs::write(dir.path().join("specs/alpha/tasks.md"), TASKS).expect("tasks");
    let r = s.call(&modern_request(
        json!(9),
        "completion/complete",
        json!({"ref": {"type": "ref/prompt", "name": "spec-implement-next"}, "argument": {"name": "task", "value": "1."}, "context": {"arguments": {"name": "alpha"}}}),
    ));
    assert_eq!(
        r["result"]["completion"]["values"],
        json!(["1.1", "1.2"]),
        "task IDs of the spec named in context"
    );
    let r = s.call(&modern_request(json!(8), "completion/complete", json!({"ref": {"type": "ref/prompt", "name": "nope"}, "argument": {"name": "name", "value": ""}})));
    assert_eq!(r["error"]["code"], -32602);
}

#[test]
fn legacy_sessions_get_list_changed_and_legacy_not_found_code() {
    let dir = TempDir::new("legacy-res");
    let mut s = StdioServer::start(dir.path(), &[]);
    s.call(&initialize(0, "2025-06-18"));
    s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    s.send(&request(
        json!(1),
        "tools/call",
        json!({"name": "spec_init", "arguments": {"name": "beta", "idea": "y"}}),
    ));
    let first = s.recv();
    let second = s.recv();
    let methods = [first["method"].clone(), second["method"].clone()];
    assert!(
        methods.contains(&json!("notifications/resources/list_changed")),
        "{first} {second}"
    );
    let r = s.call(&request(
        json!(2),
        "resources/read",
        json!({"uri": "spec://nope/requirements"}),
    ));
    assert_eq!(r["error"]["code"], -32002);
    Schema::load("2025-06-18").assert_valid(
        "ListResourcesResult",
        &s.call(&request(json!(3), "resources/list", Value::Null))["result"],
    );
}

#[test]
fn tool_profiles() {
    let dir = TempDir::new("profiles");
    let mut s = StdioServer::start(dir.path(), &["--tools", "core"]);
    let r = s.call(&modern_request(json!(1), "tools/list", Value::Null));
    let names: Vec<&str> = r["result"]["tools"]
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
            "task_next",
            "task_update",
            "spec_review"
        ]
    );
    let r = s.call(&modern_request(
        json!(2),
        "tools/call",
        json!({"name": "create_file", "arguments": {"path": "a", "content": "b"}}),
    ));
    assert_eq!(
        r["error"]["code"], -32602,
        "tools outside the profile do not exist"
    );
    let mut cmd = Command::new(BIN);
    cmd.env("MCP_TOOLS", "read_file,spec_status")
        .args(["--workspace"])
        .arg(dir.path());
    let mut s = StdioServer::spawn(cmd);
    let r = s.call(&modern_request(json!(1), "tools/list", Value::Null));
    assert_eq!(r["result"]["tools"].as_array().map(Vec::len), Some(2));
}

fn cli(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--workspace")
        .arg(dir)
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn validate_status_and_trace_subcommands() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/specs");
    let dir = TempDir::new("cli");
    for (from, to) in [("good-kiro", "good"), ("bad-every-diagnostic", "bad")] {
        let target = dir.path().join("specs").join(to);
        std::fs::create_dir_all(&target).expect("mkdir");
        for f in ["requirements.md", "design.md", "tasks.md"] {
            std::fs::copy(fixtures.join(from).join(f), target.join(f)).expect("copy fixture");
        }
    }
    let (code, out) = cli(dir.path(), &["validate", "good"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("good: 0 error(s)"), "{out}");
    let (code, out) = cli(dir.path(), &["validate"]);
    assert_eq!(code, Some(1), "errors in 'bad' fail the run");
    assert!(
        out.contains("specs/bad/requirements.md:") && out.contains("no-shall"),
        "{out}"
    );
    let (code, out) = cli(dir.path(), &["validate", "--json"]);
    assert_eq!(code, Some(1));
    let parsed: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(parsed["specs"].as_array().map(Vec::len), Some(2));
    let (code, out) = cli(dir.path(), &["status"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("good") && out.contains("phase implement"),
        "{out}"
    );
    let (code, out) = cli(dir.path(), &["trace", "good", "--json"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        serde_json::from_str::<Value>(&out).expect("json")["coverage"]["both_percent"],
        100.0
    );
    let (code, _) = cli(dir.path(), &["trace"]);
    assert_eq!(code, Some(2), "trace needs SPEC");
    let (code, _) = cli(dir.path(), &["status", "ghost"]);
    assert_eq!(code, Some(2), "unknown spec is a usage error");
}
