//! Traceability across the three documents: for every acceptance criterion, the design
//! components and tasks that cite it; coverage percentages; and the cross-document
//! diagnostics (`uncovered-by-design`, `uncovered-by-tasks`, `unknown-reference`,
//! `orphan-task`, `dependency-cycle`, `unknown-dependency`).
//!
//! Rules:
//! - Citing a criterion `2.3` covers that criterion. Citing a requirement `2` covers
//!   every criterion of requirement 2: authors cite a whole requirement when a component
//!   or task implements all of it, and forcing them to list each criterion invites drift.
//! - A task covers only what it cites itself; sub-tasks are not credited with their
//!   parent's citations (the parent task is listed instead).
//! - A task is an orphan when neither it, nor an ancestor, nor a sub-task cites anything:
//!   such work cannot be traced to any requirement.
//! - An ID is known when it is a requirement ID or a criterion ID in requirements.md.
//! - Coverage percentages are rounded down to one decimal; with no criteria they are 0.

use std::collections::HashSet;

use serde::Serialize;

use super::cycles::{dependency_cycles, Cycle};
use super::design::DesignDoc;
use super::requirements::{Criterion, RequirementsDoc};
use super::schedule::percent;
use super::tasks::{Task, TasksDoc};
use super::{sort_diagnostics, Citation, Code, Diagnostic, Document};

/// The traceability matrix with coverage and cross-document diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceReport {
    /// One row per acceptance criterion, in document order.
    pub criteria: Vec<CriterionTrace>,
    /// Coverage totals.
    pub coverage: Coverage,
    /// Diagnostics, each pointing into the document it concerns; ordered by document
    /// (requirements, design, tasks), then line, then code.
    pub diagnostics: Vec<Diagnostic>,
}

/// Who cites one criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CriterionTrace {
    /// Criterion ID.
    pub id: String,
    /// Its requirement's ID.
    pub requirement_id: String,
    /// Its line in requirements.md.
    pub line: usize,
    /// Names of design components citing it (or its requirement).
    pub components: Vec<String>,
    /// IDs of tasks citing it (or its requirement).
    pub tasks: Vec<String>,
}

/// How many criteria are cited by the design, the tasks, and both.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Coverage {
    /// Number of acceptance criteria.
    pub criteria: usize,
    /// Criteria cited by at least one design component.
    pub by_design: usize,
    /// Criteria cited by at least one task.
    pub by_tasks: usize,
    /// Criteria cited by both.
    pub by_both: usize,
    /// `by_design / criteria` in percent.
    pub design_percent: f64,
    /// `by_tasks / criteria` in percent.
    pub tasks_percent: f64,
    /// `by_both / criteria` in percent.
    pub both_percent: f64,
}

/// Whether a citation covers a criterion (see the module rules).
pub(crate) fn covers(cited: &str, c: &Criterion) -> bool {
    cited == c.id || cited == c.requirement_id
}

/// Builds the trace matrix and cross-document diagnostics.
pub fn trace(requirements: &RequirementsDoc, design: &DesignDoc, tasks: &TasksDoc) -> TraceReport {
    let rows: Vec<CriterionTrace> = requirements
        .criteria()
        .map(|c| row(c, design, tasks))
        .collect();
    let mut diagnostics = uncovered(&rows);
    let known = known_ids(requirements);
    for comp in &design.components {
        diagnostics.extend(unknown_refs(
            &comp.requirements,
            &known,
            Document::Design,
            &format!("component `{}`", comp.name),
        ));
    }
    for task in &tasks.tasks {
        diagnostics.extend(unknown_refs(
            &task.requirements,
            &known,
            Document::Tasks,
            &format!("task {}", task.id),
        ));
        diagnostics.extend(unknown_deps(task, tasks));
        if is_orphan(task, tasks) {
            diagnostics.push(orphan(task));
        }
    }
    diagnostics.extend(dependency_cycles(tasks).iter().filter_map(cycle));
    sort_diagnostics(&mut diagnostics);
    diagnostics.sort_by_key(|d| d.document as u8);
    TraceReport {
        coverage: coverage(&rows),
        criteria: rows,
        diagnostics,
    }
}

fn row(c: &Criterion, design: &DesignDoc, tasks: &TasksDoc) -> CriterionTrace {
    let cites = |list: &[Citation]| list.iter().any(|r| covers(&r.id, c));
    let mut components: Vec<String> = Vec::new();
    for comp in design
        .components
        .iter()
        .filter(|comp| cites(&comp.requirements))
    {
        if !components.contains(&comp.name) {
            components.push(comp.name.clone());
        }
    }
    let mut task_ids: Vec<String> = Vec::new();
    for t in tasks.tasks.iter().filter(|t| cites(&t.requirements)) {
        if !task_ids.contains(&t.id) {
            task_ids.push(t.id.clone());
        }
    }
    CriterionTrace {
        id: c.id.clone(),
        requirement_id: c.requirement_id.clone(),
        line: c.line,
        components,
        tasks: task_ids,
    }
}

fn coverage(rows: &[CriterionTrace]) -> Coverage {
    let count = |f: &dyn Fn(&CriterionTrace) -> bool| rows.iter().filter(|r| f(r)).count();
    let by_design = count(&|r| !r.components.is_empty());
    let by_tasks = count(&|r| !r.tasks.is_empty());
    let by_both = count(&|r| !r.components.is_empty() && !r.tasks.is_empty());
    Coverage {
        criteria: rows.len(),
        by_design,
        by_tasks,
        by_both,
        design_percent: percent(by_design, rows.len()),
        tasks_percent: percent(by_tasks, rows.len()),
        both_percent: percent(by_both, rows.len()),
    }
}

fn uncovered(rows: &[CriterionTrace]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for r in rows {
        let id = Some(r.id.as_str());
        if r.components.is_empty() {
            let msg = format!("criterion {} is not cited by any design component", r.id);
            let d = Diagnostic::new(
                Document::Requirements,
                Code::UncoveredByDesign,
                r.line,
                id,
                msg,
            );
            out.push(d.suggest(format!(
                "add {} to the `_Requirements:_` line of the component that implements it",
                r.id
            )));
        }
        if r.tasks.is_empty() {
            let msg = format!("criterion {} is not cited by any task", r.id);
            let d = Diagnostic::new(
                Document::Requirements,
                Code::UncoveredByTasks,
                r.line,
                id,
                msg,
            );
            out.push(d.suggest(format!(
                "add a task citing {} with `_Requirements: {}_`",
                r.id, r.id
            )));
        }
    }
    out
}

fn known_ids(requirements: &RequirementsDoc) -> HashSet<&str> {
    let reqs = requirements.requirements.iter().map(|r| r.id.as_str());
    reqs.chain(requirements.criteria().map(|c| c.id.as_str()))
        .collect()
}

fn unknown_refs(
    cites: &[Citation],
    known: &HashSet<&str>,
    document: Document,
    who: &str,
) -> Vec<Diagnostic> {
    let unknown = cites.iter().filter(|c| !known.contains(c.id.as_str()));
    unknown
        .map(|c| {
            let msg = format!("{who} cites {}, which is not in requirements.md", c.id);
            Diagnostic::new(document, Code::UnknownReference, c.line, Some(&c.id), msg)
                .suggest("cite an existing requirement (`2`) or criterion (`2.1`) ID")
        })
        .collect()
}

fn unknown_deps(task: &Task, tasks: &TasksDoc) -> Vec<Diagnostic> {
    let unknown = task.depends.iter().filter(|d| tasks.task(&d.id).is_none());
    unknown
        .map(|d| {
            let msg = format!("task {} depends on {}, which is not a task", task.id, d.id);
            Diagnostic::new(
                Document::Tasks,
                Code::UnknownDependency,
                d.line,
                Some(&d.id),
                msg,
            )
            .suggest("name an existing task ID in `_Depends:_`")
        })
        .collect()
}

fn is_orphan(task: &Task, tasks: &TasksDoc) -> bool {
    let ancestors = tasks.ancestors(task);
    let subtree = tasks.subtree(task);
    let cites = |t: &&Task| !t.requirements.is_empty();
    !ancestors.iter().any(cites) && !subtree.iter().any(cites)
}

fn orphan(task: &Task) -> Diagnostic {
    let msg = format!(
        "task {} cites no requirement, and neither do its parent or sub-tasks",
        task.id
    );
    Diagnostic::new(
        Document::Tasks,
        Code::OrphanTask,
        task.line,
        Some(&task.id),
        msg,
    )
    .suggest("add `_Requirements: <criterion IDs>_`, or drop the task if nothing requires it")
}

fn cycle(knot: &Cycle<'_>) -> Option<Diagnostic> {
    let first = knot.path.first()?;
    let mut path: Vec<&str> = knot.path.iter().map(|t| t.id.as_str()).collect();
    path.push(&first.id);
    let mut msg = format!("tasks wait on each other: {}", path.join(" → "));
    let others: Vec<&str> = knot
        .members
        .iter()
        .map(|t| t.id.as_str())
        .filter(|id| !path.contains(id))
        .collect();
    if !others.is_empty() {
        msg.push_str(&format!(" (also stuck: {})", others.join(", ")));
    }
    let d = Diagnostic::new(
        Document::Tasks,
        Code::DependencyCycle,
        first.line,
        Some(&first.id),
        msg,
    );
    Some(d.suggest(
        "remove one `_Depends:_` entry in the cycle (a task cannot wait on its own parent)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{parse_design, parse_requirements, parse_tasks};

    macro_rules! fixture {
        ($dir:literal, $file:literal) => {
            include_str!(concat!("../../tests/fixtures/specs/", $dir, "/", $file))
        };
    }

    fn run(req: &str, design: &str, tasks: &str) -> TraceReport {
        trace(
            &parse_requirements(req),
            &parse_design(design),
            &parse_tasks(tasks),
        )
    }

    fn found(r: &TraceReport) -> Vec<(&'static str, Document, usize, Option<&str>)> {
        r.diagnostics
            .iter()
            .map(|d| (d.code.as_str(), d.document, d.line, d.id.as_deref()))
            .collect()
    }

    #[test]
    fn good_fixtures_trace_fully() {
        let kiro = run(
            fixture!("good-kiro", "requirements.md"),
            fixture!("good-kiro", "design.md"),
            fixture!("good-kiro", "tasks.md"),
        );
        let canonical = run(
            fixture!("good-canonical", "requirements.md"),
            fixture!("good-canonical", "design.md"),
            fixture!("good-canonical", "tasks.md"),
        );
        for (name, report, n) in [("kiro", &kiro, 9), ("canonical", &canonical, 8)] {
            assert_eq!(found(report), [], "{name}");
            let c = report.coverage;
            assert_eq!(
                (c.criteria, c.by_design, c.by_tasks, c.by_both),
                (n, n, n, n),
                "{name}"
            );
            assert_eq!(
                (c.design_percent, c.tasks_percent, c.both_percent),
                (100.0, 100.0, 100.0),
                "{name}"
            );
        }
        let row = &kiro.criteria[2];
        assert_eq!(
            (row.id.as_str(), row.components.clone(), row.tasks.clone()),
            (
                "1.3",
                vec!["ItemStore".into()],
                vec!["1".into(), "2.1".into()]
            )
        );
        let row = &canonical.criteria[0];
        assert_eq!(
            (row.components.clone(), row.tasks.clone()),
            (vec!["Exporter".into()], vec!["1".into()])
        );
    }

    #[test]
    fn bad_fixture_triggers_every_trace_code() {
        let r = run(
            fixture!("bad-every-diagnostic", "requirements.md"),
            fixture!("bad-every-diagnostic", "design.md"),
            fixture!("bad-every-diagnostic", "tasks.md"),
        );
        let not_uncovered: Vec<_> = found(&r)
            .into_iter()
            .filter(|d| !d.0.starts_with("uncovered"))
            .collect();
        let want = [
            ("unknown-reference", Document::Design, 15, Some("9.9")),
            ("dependency-cycle", Document::Tasks, 3, Some("1")),
            ("unknown-reference", Document::Tasks, 4, Some("7.7")),
            ("unknown-dependency", Document::Tasks, 8, Some("9")),
            ("orphan-task", Document::Tasks, 9, Some("3")),
        ];
        assert_eq!(not_uncovered, want);
        let uncovered: Vec<_> = found(&r)
            .into_iter()
            .filter(|d| d.0.starts_with("uncovered"))
            .collect();
        assert_eq!(
            uncovered.len(),
            16,
            "8 criteria besides 1.1, each uncovered twice"
        );
        assert_eq!(
            uncovered[0],
            (
                "uncovered-by-design",
                Document::Requirements,
                11,
                Some("1.2")
            )
        );
        assert_eq!(
            uncovered[1],
            (
                "uncovered-by-tasks",
                Document::Requirements,
                11,
                Some("1.2")
            )
        );
        let c = r.coverage;
        assert_eq!(
            (
                c.criteria,
                c.by_design,
                c.by_tasks,
                c.by_both,
                c.both_percent
            ),
            (9, 1, 1, 1, 11.1)
        );
        let msg = r
            .diagnostics
            .iter()
            .find(|d| d.code == Code::DependencyCycle)
            .map(|d| d.message.as_str());
        assert_eq!(
            msg,
            Some("tasks wait on each other: 1 → 2 → 1 (also stuck: 2.1)")
        );
    }

    #[test]
    fn requirement_citations_cover_all_their_criteria() {
        let req = "### Requirement 1\n**User Story:** a\n1. The system shall a\n2. The system shall b\n### Requirement 2\n**User Story:** b\n1. The system shall c\n";
        let design =
            "## Components and Interfaces\n### A\n_Requirements: 1_\n### B\n_Requirements: 2.1_\n";
        let tasks = "- [ ] 1. T\n  - _Requirements: 1.2, 2_\n  - [ ] 1.1 Sub\n";
        let r = run(req, design, tasks);
        let rows: Vec<_> = r
            .criteria
            .iter()
            .map(|c| (c.id.as_str(), c.components.join(","), c.tasks.join(",")))
            .collect();
        assert_eq!(
            rows,
            [
                ("1.1", "A".into(), "".into()),
                ("1.2", "A".into(), "1".into()),
                ("2.1", "B".into(), "1".into())
            ]
        );
        let codes: Vec<_> = found(&r).into_iter().map(|d| (d.0, d.2)).collect();
        assert_eq!(codes, [("uncovered-by-tasks", 3)]);
        assert_eq!(r.coverage.tasks_percent, 66.6);
    }

    #[test]
    fn orphans_consider_ancestors_and_subtasks() {
        let req = "### Requirement 1\n**User Story:** a\n1. The system shall a\n";
        let tasks = "- [ ] 1. Parent cites\n  - _Requirements: 1.1_\n  - [ ] 1.1 Child inherits\n- [ ] 2. Parent via child\n  - [ ] 2.1 Child cites\n    - _Requirements: 1_\n- [ ] 3. Orphan\n  - [ ] 3.1 Orphan child\n";
        let r = run(req, "", tasks);
        let orphans: Vec<_> = r
            .diagnostics
            .iter()
            .filter(|d| d.code == Code::OrphanTask)
            .map(|d| d.id.as_deref())
            .collect();
        assert_eq!(orphans, [Some("3"), Some("3.1")]);
    }

    #[test]
    fn empty_documents_give_zero_coverage() {
        let r = run("", "", "");
        assert_eq!(r.coverage.criteria, 0);
        assert_eq!(r.coverage.both_percent, 0.0);
        assert!(r.diagnostics.is_empty());
    }
}
