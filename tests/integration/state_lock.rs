//! Concurrent updates of one spec through the real binary: two server processes on one
//! workspace, several clients each, every `task_update` recorded. Guards the lost-update
//! bug: `spec.json` (and `tasks.md`) were read, changed and written without a lock, so the
//! last writer silently dropped what a concurrent request had just recorded.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::http_client::{modern, raw_mcp, Conn, HttpServer};
use crate::support::TempDir;

/// Clients, each with its own task, and the calls each makes.
const CLIENTS: usize = 6;
const CALLS: usize = 5;

/// `task_update` of `task` over a fresh connection to `port`; the tool result.
fn task_update(port: u16, id: i64, task: usize, status: &str, note: &str) -> Value {
    let (body, headers) = modern(
        id,
        "tools/call",
        json!({"name": "task_update", "arguments": {
            "name": "race", "task_ids": [task.to_string()], "status": status, "note": note,
        }}),
    );
    let mut conn = Conn::plain(port);
    conn.send(&raw_mcp(port, &body, &headers));
    let r = conn.response();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["result"].clone()
}

#[test]
fn concurrent_task_updates_on_two_instances_are_all_recorded() {
    let dir = TempDir::new("state-lock");
    let spec = dir.path().join("specs/race");
    std::fs::create_dir_all(&spec).expect("spec folder");
    let tasks: String = (1..=CLIENTS)
        .map(|t| format!("- [ ] {t}. Task {t}\n  - _Requirements: 1.1_\n"))
        .collect();
    std::fs::write(spec.join("tasks.md"), format!("# Tasks\n\n{tasks}")).expect("tasks.md");
    let servers = [
        HttpServer::start(dir.path(), &[]),
        HttpServer::start(dir.path(), &[]),
    ];
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    std::thread::scope(|s| {
        for client in 0..CLIENTS {
            let port = ports[client % ports.len()];
            s.spawn(move || {
                let task = client + 1;
                for call in 0..CALLS {
                    let status = if call + 1 == CALLS {
                        "done"
                    } else {
                        "in_progress"
                    };
                    let id = i64::try_from(client * CALLS + call).expect("small");
                    let note = format!("client {client} call {call}");
                    let result = task_update(port, id, task, status, &note);
                    assert_eq!(result["isError"], false, "{note}: {result}");
                }
            });
        }
    });
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(spec.join("spec.json")).expect("spec.json"))
            .expect("spec.json is JSON");
    let recorded: BTreeSet<String> = state["task_log"]
        .as_array()
        .expect("task_log")
        .iter()
        .map(|e| e["note"].as_str().expect("note").to_string())
        .collect();
    let expected: BTreeSet<String> = (0..CLIENTS)
        .flat_map(|c| (0..CALLS).map(move |call| format!("client {c} call {call}")))
        .collect();
    assert_eq!(recorded, expected, "every update is in the task log");
    assert_eq!(
        state["task_log"].as_array().map(Vec::len),
        Some(CLIENTS * CALLS)
    );
    let tasks = std::fs::read_to_string(spec.join("tasks.md")).expect("tasks.md");
    for t in 1..=CLIENTS {
        assert!(
            tasks.contains(&format!("- [x] {t}. Task {t}")),
            "task {t} done:\n{tasks}"
        );
    }
    let lock_files: Vec<String> = std::fs::read_dir(dir.path().join("specs/.locks"))
        .expect("lock folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(lock_files, [".gitignore", "race.lock"]);
}
