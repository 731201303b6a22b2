//! Task scheduling: what is done, what a task waits on, what may start next, and overall
//! progress. Cycle detection over the same waits-on relation lives in `cycles.rs`.
//!
//! Rules:
//! - A task is *done* when its box is ticked, or when it has sub-tasks and all of them
//!   are done (authors often forget to tick the parent).
//! - A task waits on its own `_Depends_` entries and on those of its ancestors (if task 3
//!   depends on 2, so does 3.1), except entries naming itself or its own sub-tasks.
//! - [`next_task`] picks a leaf (a task without sub-tasks) that is todo or in progress,
//!   has no ancestor ticked done or blocked, and whose dependencies are all done. An
//!   in-progress task wins over a todo one (finish before starting); otherwise document
//!   order decides. Dependencies on unknown IDs are ignored here, because [`trace`]
//!   reports them as errors and a typo should not silently stall the whole plan.
//!
//! [`trace`]: super::trace

use std::collections::HashMap;

use serde::Serialize;

use super::tasks::{is_within, Task, TaskStatus, TasksDoc};

/// Counts of leaf tasks by status.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Progress {
    /// Leaf tasks (tasks without sub-tasks).
    pub total: usize,
    /// Leaves marked `[ ]`.
    pub todo: usize,
    /// Leaves marked `[-]`.
    pub in_progress: usize,
    /// Leaves marked `[x]`.
    pub done: usize,
    /// Leaves marked `[~]`.
    pub blocked: usize,
    /// `done / total` in percent, rounded down to one decimal; 0 with no tasks.
    pub percent_done: f64,
}

/// Counts leaf tasks by status.
pub fn progress(doc: &TasksDoc) -> Progress {
    let leaves: Vec<&Task> = doc.tasks.iter().filter(|t| t.children.is_empty()).collect();
    let count = |s: TaskStatus| leaves.iter().filter(|t| t.status == s).count();
    let done = count(TaskStatus::Done);
    Progress {
        total: leaves.len(),
        todo: count(TaskStatus::Todo),
        in_progress: count(TaskStatus::InProgress),
        done,
        blocked: count(TaskStatus::Blocked),
        percent_done: percent(done, leaves.len()),
    }
}

/// `part / whole` in percent, rounded down to one decimal so 99.95% never shows as 100.
pub(crate) fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part.saturating_mul(1000) / whole) as f64 / 10.0
}

/// The task to work on next, or `None` when nothing can start.
pub fn next_task(doc: &TasksDoc) -> Option<&Task> {
    let done = done_map(doc);
    let is_done = |id: &str| done.get(id).copied();
    let ready = |t: &&Task| {
        t.children.is_empty()
            && matches!(t.status, TaskStatus::Todo | TaskStatus::InProgress)
            && !doc
                .ancestors(t)
                .iter()
                .any(|a| matches!(a.status, TaskStatus::Done | TaskStatus::Blocked))
            && waits_on(doc, t).iter().all(|d| is_done(d).unwrap_or(true))
    };
    let candidates: Vec<&Task> = doc.tasks.iter().filter(ready).collect();
    let in_progress = candidates
        .iter()
        .find(|t| t.status == TaskStatus::InProgress);
    in_progress.or(candidates.first()).copied()
}

/// Done-ness of every task ID (first occurrence), computed bottom-up without recursion.
pub(crate) fn done_map(doc: &TasksDoc) -> HashMap<&str, bool> {
    let mut order: Vec<&Task> = doc.tasks.iter().collect();
    // Deeper IDs first, so children are settled before their parents.
    order.sort_by_key(|t| std::cmp::Reverse(t.id.matches('.').count()));
    let mut done: HashMap<&str, bool> = HashMap::new();
    for t in order {
        let own = t.status == TaskStatus::Done;
        let by_children = !t.children.is_empty()
            && t.children
                .iter()
                .all(|c| done.get(c.as_str()) == Some(&true));
        done.entry(t.id.as_str()).or_insert(own || by_children);
    }
    done
}

/// The `_Depends_` IDs `task` waits on: its own and its ancestors', minus itself and its
/// own sub-tasks. May include unknown IDs.
pub(crate) fn waits_on<'a>(doc: &'a TasksDoc, task: &'a Task) -> Vec<&'a str> {
    let own = task.depends.iter().map(|d| d.id.as_str());
    let inherited = doc
        .ancestors(task)
        .into_iter()
        .flat_map(|a| a.depends.iter().map(|d| d.id.as_str()));
    let inherited = inherited.filter(|d| *d != task.id && !is_within(d, &task.id));
    let mut out: Vec<&str> = Vec::new();
    for id in own.chain(inherited) {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tasks::parse_tasks;

    const GOOD_KIRO: &str = include_str!("../../tests/fixtures/specs/good-kiro/tasks.md");

    fn next(text: &str) -> Option<String> {
        next_task(&parse_tasks(text)).map(|t| t.id.clone())
    }

    #[test]
    fn next_task_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("kiro fixture: in progress first", GOOD_KIRO, Some("2.2")),
            ("first todo leaf", "- [ ] 1. A\n- [ ] 2. B\n", Some("1")),
            (
                "in progress beats earlier todo",
                "- [ ] 1. A\n- [-] 2. B\n",
                Some("2"),
            ),
            (
                "parents are skipped for leaves",
                "- [ ] 1. A\n  - [x] 1.1 B\n  - [ ] 1.2 C\n",
                Some("1.2"),
            ),
            (
                "dependency not done",
                "- [ ] 1. A\n  - _Depends: 2_\n- [ ] 2. B\n",
                Some("2"),
            ),
            (
                "parent ticked via children",
                "- [ ] 1. A\n  - [x] 1.1 B\n- [ ] 2. C\n  - _Depends: 1_\n",
                Some("2"),
            ),
            (
                "inherited dependency",
                "- [ ] 1. A\n  - _Depends: 2_\n  - [ ] 1.1 B\n- [~] 2. C\n",
                None,
            ),
            ("blocked skipped", "- [~] 1. A\n- [ ] 2. B\n", Some("2")),
            ("blocked ancestor", "- [~] 1. A\n  - [ ] 1.1 B\n", None),
            (
                "done ancestor",
                "- [x] 1. A\n  - [ ] 1.1 B\n- [ ] 2. C\n",
                Some("2"),
            ),
            (
                "unknown dependency ignored",
                "- [ ] 1. A\n  - _Depends: 42_\n",
                Some("1"),
            ),
            ("all done", "- [x] 1. A\n- [X] 2. B\n", None),
            (
                "cycle stalls",
                "- [ ] 1. A\n  - _Depends: 2_\n- [ ] 2. B\n  - _Depends: 1_\n",
                None,
            ),
            ("empty", "", None),
        ];
        for (name, text, want) in cases {
            assert_eq!(next(text).as_deref(), *want, "{name}");
        }
    }

    #[test]
    fn progress_counts_leaves() {
        let p = progress(&parse_tasks(GOOD_KIRO));
        let want = Progress {
            total: 6,
            todo: 2,
            in_progress: 1,
            done: 2,
            blocked: 1,
            percent_done: 33.3,
        };
        assert_eq!(p, want);
        assert_eq!(progress(&parse_tasks("")).percent_done, 0.0);
        assert_eq!(percent(1999, 2000), 99.9);
    }
}
