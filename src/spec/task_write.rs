//! Writing `tasks.md`: the one in-place edit ([`set_task_status`]) and the canonical
//! rendering ([`render_tasks`]).
//!
//! `set_task_status` patches exactly one checkbox character and keeps every other byte:
//! line endings (CRLF or LF), trailing whitespace, a missing final newline, other
//! markers (`[X]` stays `[X]` when asked to mark it done). It is the only way task
//! status should change, so a human's formatting survives an assistant's updates.
//!
//! `render_tasks` writes the Kiro layout from parsed tasks:
//!
//! ```text
//! # Title
//!
//! - [ ] 1. Top-level task
//!   - note
//!   - _Requirements: 1.1, 2.3_
//!   - _Depends: 1_
//!   - _Files: src/a.rs_
//!   - [x] 1.1 Sub-task
//! ```
//!
//! Two spaces of indentation per level (from the ID hierarchy), a blank line before every
//! top-level task but the first, one-part IDs with a trailing dot, LF endings, fields in
//! the order notes, Requirements, Depends, Files. Rendering a rendered document again
//! gives the same bytes.

use std::fmt;

use super::markdown;
use super::tasks::{checkbox, TaskStatus, TasksDoc};

/// Why a task's status could not be changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEditError {
    /// No checkbox line carries this ID.
    NotFound(String),
    /// Several checkbox lines carry this ID, so the edit would be a guess.
    Ambiguous {
        /// The ID asked for.
        id: String,
        /// Lines where it appears.
        lines: Vec<usize>,
    },
}

impl fmt::Display for TaskEditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskEditError::NotFound(id) => write!(f, "no task with id {id}"),
            TaskEditError::Ambiguous { id, lines } => {
                let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
                write!(f, "task id {id} appears on lines {}", lines.join(", "))
            }
        }
    }
}

impl std::error::Error for TaskEditError {}

/// Returns `text` with the checkbox of task `task_id` set to `status`; every other byte
/// is unchanged. `task_id` may be written with a trailing dot (`"1."`). A checkbox with
/// an unrecognised marker (`[?]`) can be repaired this way too.
pub fn set_task_status(
    text: &str,
    task_id: &str,
    status: TaskStatus,
) -> Result<String, TaskEditError> {
    let wanted = task_id.trim().trim_end_matches('.');
    let mut hits = Vec::new();
    for line in markdown::lines(text).into_iter().filter(|l| !l.fenced) {
        if let Some(cb) = checkbox(line.text).filter(|cb| cb.id == Some(wanted)) {
            hits.push((line.number, line.start + cb.marker_at, cb.marker));
        }
    }
    match hits.as_slice() {
        [] => Err(TaskEditError::NotFound(wanted.to_owned())),
        [(_, at, old)] => Ok(patch(text, *at, *old, status)),
        _ => Err(TaskEditError::Ambiguous {
            id: wanted.to_owned(),
            lines: hits.iter().map(|h| h.0).collect(),
        }),
    }
}

fn patch(text: &str, at: usize, old: char, status: TaskStatus) -> String {
    if TaskStatus::from_marker(old) == Some(status) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..at]);
    out.push(status.marker());
    out.push_str(&text[at + old.len_utf8()..]);
    out
}

/// Renders parsed tasks in the canonical layout described in the module docs.
pub fn render_tasks(doc: &TasksDoc) -> String {
    let mut out = String::new();
    if let Some(title) = &doc.title {
        out.push_str(&format!("# {title}\n\n"));
    }
    for (i, task) in doc.tasks.iter().enumerate() {
        let depth = doc.ancestors(task).len();
        if depth == 0 && i > 0 {
            out.push('\n');
        }
        let indent = "  ".repeat(depth);
        let id = if task.id.contains('.') {
            task.id.clone()
        } else {
            format!("{}.", task.id)
        };
        let head = format!("{indent}- [{}] {id} {}", task.status.marker(), task.title);
        out.push_str(head.trim_end());
        out.push('\n');
        let mut detail = |text: String| out.push_str(&format!("{indent}  - {text}\n"));
        task.notes.iter().for_each(|n| detail(n.clone()));
        let ids = |cites: &[super::Citation]| {
            cites
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !task.requirements.is_empty() {
            detail(format!("_Requirements: {}_", ids(&task.requirements)));
        }
        if !task.depends.is_empty() {
            detail(format!("_Depends: {}_", ids(&task.depends)));
        }
        if !task.files.is_empty() {
            detail(format!("_Files: {}_", task.files.join(", ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tasks::parse_tasks;

    const GOOD_KIRO: &str = include_str!("../../tests/fixtures/specs/good-kiro/tasks.md");
    const CRLF: &str = include_str!("../../tests/fixtures/specs/crlf/tasks.md");
    const CANONICAL: &str = include_str!("../../tests/fixtures/specs/good-canonical/tasks.md");

    fn set(text: &str, id: &str, status: TaskStatus) -> String {
        set_task_status(text, id, status).expect("task exists once")
    }

    /// The byte positions where two equal-length strings differ.
    fn diff(a: &str, b: &str) -> Vec<usize> {
        assert_eq!(a.len(), b.len());
        a.bytes()
            .zip(b.bytes())
            .enumerate()
            .filter(|(_, (x, y))| x != y)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn unchanged_status_gives_identical_bytes() {
        for (text, ids) in [(GOOD_KIRO, ["1", "2.2", "3.2"]), (CRLF, ["1", "2", "3"])] {
            let doc = parse_tasks(text);
            for id in ids {
                let status = doc.task(id).map(|t| t.status).expect("fixture task");
                assert_eq!(set(text, id, status), text, "{id}");
            }
        }
    }

    #[test]
    fn changes_exactly_one_byte_and_keeps_crlf() {
        let cases = [
            ("3", TaskStatus::Done, '-', 'x'),
            ("2", TaskStatus::Blocked, ' ', '~'),
            ("1", TaskStatus::Todo, 'X', ' '),
        ];
        for (id, status, old, new) in cases {
            let out = set(CRLF, id, status);
            let at = diff(CRLF, &out);
            assert_eq!(at.len(), 1, "{id}");
            assert_eq!(
                (
                    CRLF.as_bytes()[at[0]] as char,
                    out.as_bytes()[at[0]] as char
                ),
                (old, new)
            );
            assert_eq!(parse_tasks(&out).task(id).map(|t| t.status), Some(status));
        }
        assert!(set(CRLF, "1", TaskStatus::Todo).contains("Sync client  \r\n"));
        assert!(set(CRLF, "3", TaskStatus::Done).ends_with("_Requirements: 1.3_"));
    }

    #[test]
    fn edits_next_to_multibyte_text_and_bom() {
        let text = "\u{feff}- [ ] 1. 写代码 ✓\n  - [ ] 1.1 测试\n";
        let out = set(text, "1.1", TaskStatus::InProgress);
        assert_eq!(out, "\u{feff}- [ ] 1. 写代码 ✓\n  - [-] 1.1 测试\n");
        let out = set(text, "1.", TaskStatus::Done);
        assert_eq!(out, "\u{feff}- [x] 1. 写代码 ✓\n  - [ ] 1.1 测试\n");
        assert_eq!(set("- [?] 1. odd", "1", TaskStatus::Todo), "- [ ] 1. odd");
        assert_eq!(set("- [é] 1. wide", "1", TaskStatus::Done), "- [x] 1. wide");
    }

    #[test]
    fn errors_for_missing_ambiguous_and_fenced_ids() {
        let text = "- [ ] 1. A\n```\n- [ ] 2. fenced\n```\n- [ ] 3. B\n- [ ] 3. C\n";
        assert_eq!(
            set_task_status(text, "2", TaskStatus::Done),
            Err(TaskEditError::NotFound("2".into()))
        );
        let err = set_task_status(text, "3", TaskStatus::Done);
        assert_eq!(
            err,
            Err(TaskEditError::Ambiguous {
                id: "3".into(),
                lines: vec![5, 6]
            })
        );
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("task id 3 appears on lines 5, 6".into())
        );
        assert_eq!(
            TaskEditError::NotFound("9".into()).to_string(),
            "no task with id 9"
        );
    }

    #[test]
    fn canonical_fixture_renders_to_itself() {
        assert_eq!(render_tasks(&parse_tasks(GOOD_KIRO)), GOOD_KIRO);
    }

    #[test]
    fn rendering_is_idempotent_and_normalises() {
        for text in [CRLF, CANONICAL] {
            let once = render_tasks(&parse_tasks(text));
            assert_eq!(render_tasks(&parse_tasks(&once)), once);
            assert_eq!(
                parse_tasks(&once).tasks.len(),
                parse_tasks(text).tasks.len()
            );
        }
        let want = "# Tasks\n\n- [x] 1. Sync client\n  - _Requirements: 1.1_\n\n- [ ] 2. Retry logic\n  - _Requirements: 1.2_\n  - _Depends: 1_\n\n- [-] 3. Change log\n  - _Requirements: 1.3_\n";
        assert_eq!(render_tasks(&parse_tasks(CRLF)), want);
    }
}
