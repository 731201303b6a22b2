//! Change requests after approval, as text: the delta format, its checks, and the merge
//! into `requirements.md` and `tasks.md`. Pure functions; `changes.rs` does the I/O.
//!
//! A change request (`changes/NNN-slug.md`) holds requirement blocks in the same format
//! as `requirements.md`, under three sections (OpenSpec's convention):
//! ```text
//! ## ADDED Requirements       new `### Requirement N: …` blocks (N not used yet)
//! ## MODIFIED Requirements    whole replacement blocks for existing requirements
//! ## REMOVED Requirements     headings of requirements to drop (a reason may follow)
//! ```
//! Any other section (`## Summary`, `## Impact`) is commentary. Merging replaces or drops
//! exactly the named blocks and appends the added ones; every other byte of
//! `requirements.md` is kept, and requirement numbers are never reused or shifted, so
//! existing citations stay valid.

use serde::Serialize;

use super::ears::check_criterion;
use super::lint::placeholders;
use super::markdown;
use super::requirements::{parse_requirements, RequirementsDoc};
use super::tasks::{parse_tasks, TaskStatus};
use super::{sort_diagnostics, Code, Diagnostic, Document, Severity};

/// Which section a block sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Added,
    Modified,
    Removed,
}

/// One requirement block of a change request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Block {
    pub op: Op,
    /// The requirement ID, e.g. `"3"`.
    pub id: String,
    pub title: String,
    /// Line of the block's heading in the change request.
    pub line: usize,
    /// The block as written, trailing blank lines dropped, ending with a newline.
    #[serde(skip)]
    pub text: String,
}

/// A parsed and checked change request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delta {
    pub blocks: Vec<Block>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Delta {
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// IDs of the blocks under `op`, in document order.
    pub fn ids(&self, op: Op) -> Vec<&str> {
        self.blocks
            .iter()
            .filter(|b| b.op == op)
            .map(|b| b.id.as_str())
            .collect()
    }
}

/// Parses a change request and runs the checks that need nothing else: every block in
/// a section, no ID twice, criteria of added and modified blocks in EARS, no
/// placeholders.
pub fn check(text: &str) -> Delta {
    let sections = sections(text);
    let doc = parse_requirements(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut blocks = Vec::new();
    let mut diagnostics = Vec::new();
    for req in &doc.requirements {
        let op = sections
            .iter()
            .rev()
            .find(|(line, _)| *line < req.line)
            .and_then(|(_, op)| *op);
        let Some(op) = op else {
            let msg = format!(
                "requirement {} is outside the ADDED, MODIFIED and REMOVED sections",
                req.id
            );
            diagnostics.push(
                Diagnostic::new(Document::Change, Code::MisplacedRequirement, req.line, Some(&req.id), msg)
                    .suggest("put it under `## ADDED Requirements`, `## MODIFIED Requirements` or `## REMOVED Requirements`"),
            );
            continue;
        };
        if blocks.iter().any(|b: &Block| b.id == req.id) {
            let msg = format!("requirement {} appears twice in the change", req.id);
            diagnostics.push(Diagnostic::new(
                Document::Change,
                Code::DuplicateId,
                req.line,
                Some(&req.id),
                msg,
            ));
            continue;
        }
        if op != Op::Removed {
            diagnostics.extend(check_block(req));
        }
        let body = lines[req.line - 1..req.end_line.min(lines.len())].concat();
        blocks.push(Block {
            op,
            id: req.id.clone(),
            title: req.title.clone(),
            line: req.line,
            text: format!("{}\n", body.trim_end()),
        });
    }
    if doc.requirements.is_empty() {
        diagnostics.push(
            Diagnostic::new(Document::Change, Code::NoRequirements, 1, None, "the change names no requirement")
                .suggest("add `### Requirement N: …` blocks under `## ADDED Requirements`, `## MODIFIED Requirements` or `## REMOVED Requirements`"),
        );
    }
    diagnostics.extend(placeholders(text, Document::Change, |l| doc.id_at_line(l)));
    sort_diagnostics(&mut diagnostics);
    Delta {
        blocks,
        diagnostics,
    }
}

/// EARS and completeness checks of one added or modified block.
fn check_block(req: &super::requirements::Requirement) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if req.criteria.is_empty() {
        let msg = format!("requirement {} has no acceptance criteria", req.id);
        out.push(Diagnostic::new(
            Document::Change,
            Code::NoCriteria,
            req.line,
            Some(&req.id),
            msg,
        ));
    }
    for c in &req.criteria {
        for mut d in check_criterion(&c.text, c.line, Some(&c.id)).diagnostics {
            d.document = Document::Change;
            out.push(d);
        }
    }
    out
}

/// Section headings of the change request: (line, the op they open, if any).
fn sections(text: &str) -> Vec<(usize, Option<Op>)> {
    markdown::lines(text)
        .into_iter()
        .filter(|l| !l.fenced)
        .filter_map(|l| {
            let (level, title) = markdown::heading(l.text)?;
            let title = title.to_ascii_lowercase();
            // `## Requirement 4` inside a section is a block, not a new section.
            if level > 2 || title.starts_with("requirement") || title.starts_with("需求") {
                return None;
            }
            let op = if title.starts_with("added") {
                Some(Op::Added)
            } else if title.starts_with("modified") {
                Some(Op::Modified)
            } else if title.starts_with("removed") {
                Some(Op::Removed)
            } else {
                None
            };
            Some((l.number, op))
        })
        .collect()
}

/// Checks the delta against the current requirements: modified and removed IDs must
/// exist, added IDs must not.
pub fn check_against(delta: &Delta, current: &RequirementsDoc) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for b in &delta.blocks {
        let exists = current.requirement(&b.id).is_some();
        let problem = match (b.op, exists) {
            (Op::Added, true) => Some((
                Code::DuplicateId,
                format!("requirement {} already exists: list it under MODIFIED, or give the new one the next free number", b.id),
            )),
            (Op::Modified | Op::Removed, false) => Some((
                Code::UnknownReference,
                format!("requirement {} does not exist in requirements.md", b.id),
            )),
            _ => None,
        };
        if let Some((code, msg)) = problem {
            out.push(Diagnostic::new(
                Document::Change,
                code,
                b.line,
                Some(&b.id),
                msg,
            ));
        }
    }
    out
}

/// Why a merge was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError(pub String);

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `requirements.md` with the delta applied: modified blocks replaced, removed blocks
/// dropped, added blocks appended; all other bytes unchanged.
pub fn merge_requirements(current: &str, delta: &Delta) -> Result<String, MergeError> {
    let doc = parse_requirements(current);
    if let Some(d) = check_against(delta, &doc).first() {
        return Err(MergeError(d.message.clone()));
    }
    let lines: Vec<&str> = current.split_inclusive('\n').collect();
    let mut out = String::with_capacity(current.len());
    let mut at = 0; // next line index (0-based) to copy
    for req in &doc.requirements {
        let Some(block) = delta.blocks.iter().find(|b| b.id == req.id) else {
            continue;
        };
        let (start, end) = (req.line - 1, req.end_line.min(lines.len()));
        out.push_str(&lines[at..start].concat());
        let trailing = lines[start..end]
            .iter()
            .rev()
            .take_while(|l| l.trim().is_empty())
            .count();
        if block.op == Op::Modified {
            out.push_str(&relevel(&block.text, heading_level(lines[start])));
            out.push_str(&"\n".repeat(trailing.min(1)));
        }
        at = end;
    }
    out.push_str(&lines[at..].concat());
    let level = doc
        .requirements
        .last()
        .map_or(3, |r| heading_level(lines[r.line - 1]));
    for block in delta.blocks.iter().filter(|b| b.op == Op::Added) {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
        out.push_str(&relevel(&block.text, level));
    }
    Ok(out)
}

fn heading_level(line: &str) -> usize {
    markdown::heading(line).map_or(3, |(level, _)| level)
}

/// The block with its heading at `level`, so merged blocks match the document's layout.
fn relevel(block: &str, level: usize) -> String {
    let (first, rest) = block.split_once('\n').unwrap_or((block, ""));
    match markdown::heading(first) {
        Some((_, title)) => format!("{} {title}\n{rest}", "#".repeat(level)),
        None => block.to_string(),
    }
}

/// Tasks to reopen for a change: `(task ID, its line)` of every done task among `ids`.
pub fn done_tasks(tasks_text: &str, ids: &[String]) -> Vec<(String, usize)> {
    parse_tasks(tasks_text)
        .tasks
        .into_iter()
        .filter(|t| t.status == TaskStatus::Done && ids.contains(&t.id))
        .map(|t| (t.id, t.line))
        .collect()
}

/// `tasks.md` with a note line inserted under each task in `notes` (task line, note),
/// indented two spaces deeper than the task. Every other line is kept byte for byte.
pub fn add_task_notes(tasks_text: &str, notes: &[(usize, String)]) -> String {
    let mut out = String::with_capacity(tasks_text.len() + 128);
    for (i, line) in tasks_text.split_inclusive('\n').enumerate() {
        out.push_str(line);
        for (_, note) in notes.iter().filter(|(at, _)| *at == i + 1) {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            let indent = markdown::indent_width(line) + 2;
            out.push_str(&format!("{}- {note}\n", " ".repeat(indent)));
        }
    }
    out
}

/// `tasks.md` refreshed after a merge: citations of removed requirements dropped from
/// `Requirements:` lines (a line left empty is removed), and one new top-level task per
/// added requirement, citing it. Task states, and so completed work, are kept.
pub fn refresh_tasks(tasks_text: &str, removed: &[&str], added: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(tasks_text.len() + 256);
    for line in tasks_text.split_inclusive('\n') {
        match drop_citations(line, removed) {
            Some(kept) if kept.is_empty() => {}
            Some(kept) => out.push_str(&kept),
            None => out.push_str(line),
        }
    }
    let next = parse_tasks(tasks_text)
        .tasks
        .iter()
        .filter_map(|t| t.id.split('.').next()?.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    for (n, (id, title)) in (next..).zip(added) {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
        out.push_str(&format!(
            "- [ ] {n}. Implement requirement {id}: {title}\n  - _Requirements: {id}_\n"
        ));
    }
    out
}

/// The line rewritten without citations of `removed` requirements (or their criteria),
/// `Some("")` when nothing is left, `None` when the line is not a requirements field or
/// cites none of them.
fn drop_citations(line: &str, removed: &[&str]) -> Option<String> {
    let (key, value) = markdown::field(line)?;
    if !matches!(key.as_str(), "requirements" | "requirement") {
        return None;
    }
    let cited = markdown::split_list(value);
    let gone = |c: &String| {
        removed
            .iter()
            .any(|r| c == r || c.starts_with(&format!("{r}.")))
    };
    if !cited.iter().any(gone) {
        return None;
    }
    let kept: Vec<&String> = cited.iter().filter(|c| !gone(c)).collect();
    if kept.is_empty() {
        return Some(String::new());
    }
    let indent = &line[..line.len() - line.trim_start().len()];
    let bullet = if markdown::strip_bullet(line).is_some() {
        "- "
    } else {
        ""
    };
    let list: Vec<&str> = kept.iter().map(|s| s.as_str()).collect();
    let eol = if line.ends_with("\r\n") {
        "\r\n"
    } else if line.ends_with('\n') {
        "\n"
    } else {
        ""
    };
    Some(format!(
        "{indent}{bullet}_Requirements: {}_{eol}",
        list.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIREMENTS: &str = "# Requirements Document\n\n## Introduction\n\nA todo list.\n\n## Requirements\n\n### Requirement 1: Add\n\n**User Story:** As a user, I want to add todos, so that I remember them.\n\n#### Acceptance Criteria\n\n1. WHEN the user submits a title THEN the app SHALL store the todo\n\n### Requirement 2: Export\n\n**User Story:** As a user, I want an export, so that I keep a copy.\n\n#### Acceptance Criteria\n\n1. WHEN the user runs export THEN the app SHALL write todos.json\n\n### Requirement 3: Print\n\n**User Story:** As a user, I want to print, so that I have paper.\n\n#### Acceptance Criteria\n\n1. WHEN the user runs print THEN the app SHALL print the list\n";

    const DELTA: &str = "# Change 001-csv: CSV export\n\n## Summary\n\nCSV instead of JSON; printing goes.\n\n## ADDED Requirements\n\n### Requirement 4: Import\n\n**User Story:** As a user, I want to import, so that I can move lists.\n\n#### Acceptance Criteria\n\n1. WHEN the user runs import THEN the app SHALL read todos.csv\n\n## MODIFIED Requirements\n\n### Requirement 2: Export\n\n**User Story:** As a user, I want a CSV export, so that I can use a spreadsheet.\n\n#### Acceptance Criteria\n\n1. WHEN the user runs export THEN the app SHALL write todos.csv\n\n## REMOVED Requirements\n\n### Requirement 3: Print\n\nReason: nobody prints.\n\n## Impact\n\n- Tasks: 2\n";

    #[test]
    fn parses_blocks_by_section() {
        let d = check(DELTA);
        assert_eq!(d.diagnostics, []);
        assert_eq!(d.ids(Op::Added), ["4"]);
        assert_eq!(d.ids(Op::Modified), ["2"]);
        assert_eq!(d.ids(Op::Removed), ["3"]);
        assert!(d.blocks[1].text.starts_with("### Requirement 2: Export\n"));
        assert!(d.blocks[1].text.ends_with("todos.csv\n"));
        assert_eq!(check_against(&d, &parse_requirements(REQUIREMENTS)), []);
    }

    #[test]
    fn merge_replaces_drops_and_appends_keeping_other_bytes() {
        let merged = merge_requirements(REQUIREMENTS, &check(DELTA)).expect("merges");
        let want = REQUIREMENTS
            .replace("I want an export, so that I keep a copy", "I want a CSV export, so that I can use a spreadsheet")
            .replace("write todos.json", "write todos.csv")
            .replace("\n\n### Requirement 3: Print\n\n**User Story:** As a user, I want to print, so that I have paper.\n\n#### Acceptance Criteria\n\n1. WHEN the user runs print THEN the app SHALL print the list\n", "\n")
            + "\n### Requirement 4: Import\n\n**User Story:** As a user, I want to import, so that I can move lists.\n\n#### Acceptance Criteria\n\n1. WHEN the user runs import THEN the app SHALL read todos.csv\n";
        assert_eq!(merged, want);
        let lint = super::super::lint_requirements(&merged);
        let codes: Vec<_> = lint.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [Code::GappedId],
            "numbers are never reused: 3 stays a gap"
        );
    }

    #[test]
    fn merged_blocks_take_the_documents_heading_level() {
        let current = "## Requirement 1: A\n\n1. The app SHALL a\n\n## Requirement 2: B\n\n1. The app SHALL b\n";
        let delta = "## MODIFIED Requirements\n\n### Requirement 1: A2\n\n1. The app SHALL a2\n\n## ADDED Requirements\n\n## Requirement 3: C\n\n1. The app SHALL c\n";
        let d = check(delta);
        assert_eq!(d.diagnostics, []);
        let merged = merge_requirements(current, &d).expect("merges");
        assert_eq!(
            merged,
            "## Requirement 1: A2\n\n1. The app SHALL a2\n\n## Requirement 2: B\n\n1. The app SHALL b\n\n## Requirement 3: C\n\n1. The app SHALL c\n"
        );
    }

    #[test]
    fn diagnostics_of_bad_changes() {
        let bad = "### Requirement 9: Loose\n\n## MODIFIED Requirements\n\n### Requirement 2: X\n\n1. the app must do TBD\n\n## ADDED Requirements\n\n### Requirement 2: Again\n\n### Requirement 1: Taken\n\n1. The app SHALL x\n";
        let d = check(bad);
        let codes: Vec<_> = d.diagnostics.iter().map(|d| (d.code, d.line)).collect();
        assert_eq!(
            codes,
            [
                (Code::MisplacedRequirement, 1),
                (Code::NoShall, 7),
                (Code::Tbd, 7),
                (Code::DuplicateId, 11)
            ]
        );
        assert!(d.diagnostics.iter().all(|d| d.document == Document::Change));
        let against = check_against(&d, &parse_requirements(REQUIREMENTS));
        let codes: Vec<_> = against.iter().map(|d| (d.code, d.id.as_deref())).collect();
        assert_eq!(codes, [(Code::DuplicateId, Some("1"))]);
        assert_eq!(
            check("# nothing\n").diagnostics[0].code,
            Code::NoRequirements
        );
        assert!(merge_requirements(
            REQUIREMENTS,
            &check("## REMOVED\n\n### Requirement 7: Gone\n")
        )
        .is_err());
    }

    #[test]
    fn task_edits_keep_every_other_byte() {
        let tasks = "# Tasks\n\n- [x] 1. Store\n  - _Requirements: 1.1_\n- [x] 2. Export\n  - _Requirements: 2.1, 3_\n  - [x] 2.1 Print\n    - Requirements: 3.1\n";
        assert_eq!(
            done_tasks(tasks, &["2".into(), "9".into()]),
            [("2".to_string(), 5)]
        );
        let noted = add_task_notes(tasks, &[(5, "_Rework: change 001-csv_".into())]);
        assert_eq!(
            noted,
            tasks.replace(
                "- [x] 2. Export\n",
                "- [x] 2. Export\n  - _Rework: change 001-csv_\n"
            )
        );
        let refreshed = refresh_tasks(tasks, &["3"], &[("4", "Import")]);
        assert_eq!(
            refreshed,
            "# Tasks\n\n- [x] 1. Store\n  - _Requirements: 1.1_\n- [x] 2. Export\n  - _Requirements: 2.1_\n  - [x] 2.1 Print\n\n- [ ] 3. Implement requirement 4: Import\n  - _Requirements: 4_\n"
        );
    }
}
