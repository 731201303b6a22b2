//! The spec parsers, linter and trace on arbitrary text: never a panic, and the task
//! writer's contract holds (a status edit changes exactly one byte, or nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_server_spec::spec::{
    lint_requirements, parse_design, parse_requirements, parse_tasks, set_task_status, trace,
    TaskStatus,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let requirements = parse_requirements(text);
    let _ = lint_requirements(text);
    let design = parse_design(text);
    let tasks = parse_tasks(text);
    let _ = trace(&requirements, &design, &tasks);
    for task in tasks.tasks.iter().take(8) {
        if let Ok(edited) = set_task_status(text, &task.id, TaskStatus::Done) {
            assert_eq!(edited.len(), text.len(), "a status edit keeps the length");
            let changed = edited
                .bytes()
                .zip(text.bytes())
                .filter(|(a, b)| a != b)
                .count();
            assert!(changed <= 1, "a status edit changes at most one byte");
        }
    }
});
