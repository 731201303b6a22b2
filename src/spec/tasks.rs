//! Reading `tasks.md`: checkbox tasks with their status, hierarchy and the fields under
//! each (`_Requirements_`, `_Depends_`, `_Files_`). Writing lives in `task_write.rs`,
//! scheduling in `schedule.rs`.
//!
//! Rules:
//! - A task is a bullet `- [m] ID Title`: `- [ ] 1. Set up` or `  - [x] 1.1 Write`.
//!   Markers: ` ` todo, `-` in progress, `x`/`X` done, `~` blocked. Any other marker, or
//!   a checkbox without a number, is reported and the line is not a task.
//! - Hierarchy comes from the IDs, not the indentation: a task's parent is the task
//!   whose ID is its longest proper dotted prefix (`2.1.3` → `2.1`, else `2`). IDs are
//!   what authors and assistants cite, and indentation is the part most often mangled.
//! - Lines after a task that are bullets, indented, or field lines belong to it. Field
//!   lines are `Requirements:`, `Depends:` (also `Depends on:`, `Dependencies:`) and
//!   `Files:`, with or without `_…_` or a bullet; any other line is a note. A heading, a
//!   checkbox, or an unindented prose line ends the task.

use std::collections::HashMap;

use serde::Serialize;

use super::markdown;
use super::{sort_diagnostics, Citation, Code, Diagnostic, Document};

/// The state of a task's checkbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// `[ ]`.
    Todo,
    /// `[-]`.
    InProgress,
    /// `[x]` or `[X]`.
    Done,
    /// `[~]`.
    Blocked,
}

impl TaskStatus {
    /// The status a checkbox marker stands for.
    pub fn from_marker(marker: char) -> Option<Self> {
        match marker {
            ' ' => Some(TaskStatus::Todo),
            '-' => Some(TaskStatus::InProgress),
            'x' | 'X' => Some(TaskStatus::Done),
            '~' => Some(TaskStatus::Blocked),
            _ => None,
        }
    }

    /// The marker the canonical writer uses.
    pub fn marker(self) -> char {
        match self {
            TaskStatus::Todo => ' ',
            TaskStatus::InProgress => '-',
            TaskStatus::Done => 'x',
            TaskStatus::Blocked => '~',
        }
    }
}

/// One task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Dotted ID without a trailing dot, e.g. `"2"` or `"2.1"`.
    pub id: String,
    /// Title after the ID.
    pub title: String,
    /// Checkbox state.
    pub status: TaskStatus,
    /// Line of the checkbox.
    pub line: usize,
    /// The parent task's ID, if any.
    pub parent: Option<String>,
    /// IDs of direct sub-tasks, in document order.
    pub children: Vec<String>,
    /// Detail lines that are not fields, bullet removed.
    pub notes: Vec<String>,
    /// Cited requirement or criterion IDs.
    pub requirements: Vec<Citation>,
    /// IDs of tasks this one waits for.
    pub depends: Vec<Citation>,
    /// Files the task touches.
    pub files: Vec<String>,
}

/// A parsed `tasks.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TasksDoc {
    /// The first `#` heading, if any.
    pub title: Option<String>,
    /// Tasks in document order.
    pub tasks: Vec<Task>,
    /// `duplicate-id`, `unnumbered-task` and `unknown-status` diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

impl TasksDoc {
    /// The first task with this ID.
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// Ancestors of `task`, nearest first.
    pub fn ancestors<'a>(&'a self, task: &'a Task) -> Vec<&'a Task> {
        let mut out = Vec::new();
        let mut cursor = task.parent.as_deref().and_then(|p| self.task(p));
        while let Some(t) = cursor {
            out.push(t);
            cursor = t.parent.as_deref().and_then(|p| self.task(p));
        }
        out
    }

    /// `task` and every task below it, in document order.
    pub fn subtree<'a>(&'a self, task: &'a Task) -> Vec<&'a Task> {
        self.tasks
            .iter()
            .filter(|t| t.id == task.id || is_within(&t.id, &task.id))
            .collect()
    }
}

/// `id` lies strictly below `ancestor` in the dotted hierarchy.
pub(crate) fn is_within(id: &str, ancestor: &str) -> bool {
    id.strip_prefix(ancestor)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// A checkbox bullet as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkbox<'a> {
    /// The character between the brackets.
    pub marker: char,
    /// Byte offset of `marker` within the line.
    pub marker_at: usize,
    /// The task ID, if the line has one.
    pub id: Option<&'a str>,
    /// Text after the ID (or after the checkbox when there is no ID).
    pub title: &'a str,
}

/// Recognises `- [m] …`; `None` for any other line.
pub(crate) fn checkbox(line: &str) -> Option<Checkbox<'_>> {
    let body = markdown::strip_bullet(line)?;
    // `strip_bullet` returns a suffix of `line`, so offsets carry over.
    let body_at = line.len() - body.len();
    let inner = body.strip_prefix('[')?;
    let marker = inner.chars().next()?;
    let after = inner[marker.len_utf8()..].strip_prefix(']')?;
    if !(after.is_empty() || after.starts_with(char::is_whitespace)) {
        return None;
    }
    let after = after.trim();
    let (id, title) = match markdown::leading_id(after) {
        Some((id, title)) => (Some(id), title),
        None => (None, after),
    };
    Some(Checkbox {
        marker,
        marker_at: body_at + 1,
        id,
        title,
    })
}

/// Parses `tasks.md`. Never fails.
pub fn parse_tasks(text: &str) -> TasksDoc {
    let mut title = None;
    let mut tasks: Vec<Task> = Vec::new();
    let mut diagnostics = Vec::new();
    let mut open = false;
    for line in markdown::lines(text).into_iter().filter(|l| !l.fenced) {
        if let Some((level, heading)) = markdown::heading(line.text) {
            if level == 1 && title.is_none() {
                title = Some(heading.to_owned());
            }
            open = false;
        } else if let Some(cb) = checkbox(line.text) {
            open = match task_from(cb, line.number) {
                Ok(task) => {
                    tasks.push(task);
                    true
                }
                Err(d) => {
                    diagnostics.push(d);
                    false
                }
            };
        } else if open && belongs_to_task(line.text) {
            if let Some(task) = tasks.last_mut() {
                add_detail(task, line.text, line.number);
            }
        } else if !line.text.trim().is_empty() {
            open = false;
        }
    }
    link_hierarchy(&mut tasks);
    diagnostics.extend(duplicates(&tasks));
    sort_diagnostics(&mut diagnostics);
    TasksDoc {
        title,
        tasks,
        diagnostics,
    }
}

fn task_from(cb: Checkbox<'_>, line: usize) -> Result<Task, Diagnostic> {
    let Some(status) = TaskStatus::from_marker(cb.marker) else {
        let msg = format!("unknown checkbox marker `[{}]`", cb.marker);
        let d = Diagnostic::new(Document::Tasks, Code::UnknownStatus, line, cb.id, msg);
        return Err(d.suggest("use `[ ]` todo, `[-]` in progress, `[x]` done or `[~]` blocked"));
    };
    let Some(id) = cb.id else {
        let msg = format!("task `{}` has no number", cb.title);
        let d = Diagnostic::new(Document::Tasks, Code::UnnumberedTask, line, None, msg);
        return Err(d.suggest(
            "number it, e.g. `- [ ] 3. Title` or `- [ ] 3.1 Title`, so it can be addressed",
        ));
    };
    Ok(Task {
        id: id.to_owned(),
        title: cb.title.to_owned(),
        status,
        line,
        parent: None,
        children: Vec::new(),
        notes: Vec::new(),
        requirements: Vec::new(),
        depends: Vec::new(),
        files: Vec::new(),
    })
}

/// Which field a detail line is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Requirements,
    Depends,
    Files,
}

fn task_field(text: &str) -> Option<(Field, &str)> {
    let (key, value) = markdown::field(text)?;
    let field = match key.as_str() {
        "requirements" | "requirement" | "需求" => Field::Requirements,
        "depends" | "depends on" | "dependencies" | "depend" | "依赖" => Field::Depends,
        "files" | "file" | "文件" => Field::Files,
        _ => return None,
    };
    Some((field, value))
}

/// Bullets, indented lines and known field lines (even unindented) belong to the task
/// above them.
fn belongs_to_task(text: &str) -> bool {
    text.trim().is_empty()
        || markdown::strip_bullet(text).is_some()
        || markdown::indent_width(text) > 0
        || task_field(text).is_some()
}

fn add_detail(task: &mut Task, text: &str, line: usize) {
    if text.trim().is_empty() {
        return;
    }
    let cites = |value: &str| {
        markdown::split_list(value)
            .into_iter()
            .map(|id| Citation { id, line })
    };
    match task_field(text) {
        Some((Field::Requirements, value)) => task.requirements.extend(cites(value)),
        Some((Field::Depends, value)) => task.depends.extend(cites(value)),
        Some((Field::Files, value)) => task.files.extend(markdown::split_list(value)),
        None => task.notes.push(note(text)),
    }
}

fn note(text: &str) -> String {
    markdown::strip_bullet(text)
        .unwrap_or(text)
        .trim()
        .to_owned()
}

/// Sets `parent` and `children` from the dotted IDs (first occurrence wins).
fn link_hierarchy(tasks: &mut [Task]) {
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, t) in tasks.iter().enumerate() {
        index.entry(t.id.clone()).or_insert(i);
    }
    for i in 0..tasks.len() {
        let id = tasks[i].id.clone();
        let parent = prefixes(&id).find_map(|p| index.get(p).copied());
        if let Some(p) = parent.filter(|&p| p != i) {
            tasks[i].parent = Some(tasks[p].id.clone());
            if index.get(&id) == Some(&i) {
                tasks[p].children.push(id);
            }
        }
    }
}

/// Proper dotted prefixes, longest first: `1.2.3` → `1.2`, `1`.
fn prefixes(id: &str) -> impl Iterator<Item = &str> {
    id.char_indices()
        .rev()
        .filter(|&(_, c)| c == '.')
        .map(move |(i, _)| &id[..i])
}

fn duplicates(tasks: &[Task]) -> Vec<Diagnostic> {
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for t in tasks {
        if let Some(first) = seen.insert(t.id.as_str(), t.line) {
            let msg = format!("task ID {} is already used on line {first}", t.id);
            let d = Diagnostic::new(Document::Tasks, Code::DuplicateId, t.line, Some(&t.id), msg);
            out.push(d.suggest("renumber it; status updates address tasks by ID"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD_KIRO: &str = include_str!("../../tests/fixtures/specs/good-kiro/tasks.md");
    const CRLF: &str = include_str!("../../tests/fixtures/specs/crlf/tasks.md");

    fn summary(doc: &TasksDoc) -> Vec<(&str, TaskStatus, usize, Option<&str>)> {
        doc.tasks
            .iter()
            .map(|t| (t.id.as_str(), t.status, t.line, t.parent.as_deref()))
            .collect()
    }

    #[test]
    fn kiro_fixture_structure() {
        use TaskStatus::*;
        let doc = parse_tasks(GOOD_KIRO);
        assert_eq!(doc.title.as_deref(), Some("Implementation Plan"));
        assert_eq!(doc.diagnostics, []);
        let want = [
            ("1", Done, 3, None),
            ("2", InProgress, 7, None),
            ("2.1", Done, 8, Some("2")),
            ("2.2", InProgress, 12, Some("2")),
            ("2.3", Todo, 16, Some("2")),
            ("3", Todo, 21, None),
            ("3.1", Todo, 23, Some("3")),
            ("3.2", Blocked, 26, Some("3")),
        ];
        assert_eq!(summary(&doc), want);
        let t = doc.task("2.1").expect("2.1 parsed");
        assert_eq!(t.title, "Implement ItemStore add");
        assert_eq!(t.notes, ["Reject empty titles"]);
        let reqs: Vec<_> = t
            .requirements
            .iter()
            .map(|c| (c.id.as_str(), c.line))
            .collect();
        assert_eq!(reqs, [("1.1", 10), ("1.2", 10), ("1.3", 10)]);
        assert_eq!(t.files, ["src/store.rs"]);
        assert_eq!(
            doc.task("2").map(|t| t.children.clone()),
            Some(vec!["2.1".into(), "2.2".into(), "2.3".into()])
        );
        let deps: Vec<_> = doc
            .task("3")
            .map(|t| t.depends.iter().map(|d| d.id.clone()).collect())
            .unwrap_or_default();
        assert_eq!(deps, ["2"]);
    }

    #[test]
    fn bad_fixture_diagnostics() {
        let doc = parse_tasks(include_str!(
            "../../tests/fixtures/specs/bad-every-diagnostic/tasks.md"
        ));
        let got: Vec<_> = doc
            .diagnostics
            .iter()
            .map(|d| (d.code.as_str(), d.line, d.id.as_deref()))
            .collect();
        let want = [
            ("unknown-status", 10, Some("4")),
            ("unnumbered-task", 11, None),
            ("duplicate-id", 12, Some("2")),
        ];
        assert_eq!(got, want);
        let ids: Vec<_> = doc.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3", "2", "2.1"]);
    }

    #[test]
    fn crlf_fixture_parses_like_lf() {
        let lf = CRLF.replace("\r\n", "\n");
        assert!(CRLF.contains("\r\n"));
        assert_eq!(parse_tasks(CRLF), parse_tasks(&lf));
    }

    #[test]
    fn checkbox_lines() {
        let cases = [
            ("- [ ] 1. Set up", Some((' ', 3, Some("1"), "Set up"))),
            ("  - [x] 1.1 Write", Some(('x', 5, Some("1.1"), "Write"))),
            ("* [X] 2.3. Done", Some(('X', 3, Some("2.3"), "Done"))),
            ("- [-] 4)", Some(('-', 3, Some("4"), ""))),
            ("- [?] 5. Odd", Some(('?', 3, Some("5"), "Odd"))),
            ("- [ ] Unnumbered", Some((' ', 3, None, "Unnumbered"))),
            ("- [é] 6. Wide", Some(('é', 3, Some("6"), "Wide"))),
            ("- [ ]1. glued", None),
            ("- [] 1. empty", None),
            ("[ ] 1. no bullet", None),
            ("- item", None),
        ];
        for (line, want) in cases {
            let got = checkbox(line).map(|c| (c.marker, c.marker_at, c.id, c.title));
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn diagnostics_table() {
        let cases: &[(&str, &[(Code, usize)])] = &[
            ("- [ ] 1. A\n- [ ] 1. B\n", &[(Code::DuplicateId, 2)]),
            ("- [ ] 1. A\n- [ ] Tidy up\n", &[(Code::UnnumberedTask, 2)]),
            ("- [?] 1. A\n- [ ] 2. B\n", &[(Code::UnknownStatus, 1)]),
            ("- [ ] 1. A\n  - [x] 1.1 B\n- [~] 2. C\n", &[]),
        ];
        for (text, want) in cases {
            let got: Vec<_> = parse_tasks(text)
                .diagnostics
                .iter()
                .map(|d| (d.code, d.line))
                .collect();
            assert_eq!(got, *want, "{text}");
        }
    }

    #[test]
    fn field_spellings_and_task_boundaries() {
        let text = "- [ ] 1. A\nRequirements: 1.1\n  Depends on: 2\n  - *Files*: `a.rs`, b.rs\n  - _Requirement: 2_\n\nProse ends the task.\n  - stray\n```\n- [ ] 9. fenced\n```\n- [ ] 2. B\n";
        let doc = parse_tasks(text);
        let a = &doc.tasks[0];
        let reqs: Vec<_> = a.requirements.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(reqs, ["1.1", "2"]);
        assert_eq!(
            a.depends.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["2"]
        );
        assert_eq!(a.files, ["a.rs", "b.rs"]);
        assert!(a.notes.is_empty());
        let ids: Vec<_> = doc.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["1", "2"]);
    }

    #[test]
    fn hierarchy_uses_ids_not_indentation() {
        let doc =
            parse_tasks("- [ ] 1. A\n- [ ] 1.1 B\n      - [ ] 1.1.1 C\n- [ ] 2.4 orphan id\n");
        let parents: Vec<_> = doc.tasks.iter().map(|t| t.parent.as_deref()).collect();
        assert_eq!(parents, [None, Some("1"), Some("1.1"), None]);
        let root = &doc.tasks[0];
        let sub: Vec<_> = doc.subtree(root).iter().map(|t| t.id.as_str()).collect();
        assert_eq!(sub, ["1", "1.1", "1.1.1"]);
        let anc: Vec<_> = doc
            .ancestors(&doc.tasks[2])
            .iter()
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(anc, ["1.1", "1"]);
        assert!(is_within("1.10", "1") && !is_within("10", "1") && !is_within("1", "1"));
    }
}
