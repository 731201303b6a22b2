//! The impact slice: everything connected to one requirement, criterion, task or
//! component, so an assistant knows what to revisit when it changes.
//!
//! Rules (citations match as in `trace.rs`: citing `2` cites every criterion of 2):
//! - Requirement `N` → its criteria; criterion `N.M` → itself. Then the components and
//!   tasks citing any of those criteria or the subject ID itself, and those tasks' files.
//! - Task → the task and its sub-tasks; the criteria they cite; the components citing
//!   any of those criteria or the same IDs; their files.
//! - Component (name, case-insensitive) → the criteria it cites; the tasks citing any of
//!   them or the same IDs; their files.

use serde::Serialize;

use super::design::DesignDoc;
use super::requirements::{Criterion, RequirementsDoc};
use super::tasks::{Task, TasksDoc};
use super::trace::covers;
use super::Citation;

/// What to compute the impact of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImpactOf<'a> {
    /// A requirement (`"2"`) or criterion (`"2.1"`) ID.
    Requirement(&'a str),
    /// A task ID.
    Task(&'a str),
    /// A design component's name.
    Component(&'a str),
}

/// Everything connected to the subject, each list in document order without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Impact {
    /// Criterion IDs.
    pub criteria: Vec<String>,
    /// Component names.
    pub components: Vec<String>,
    /// Task IDs.
    pub tasks: Vec<String>,
    /// Files named by those tasks.
    pub files: Vec<String>,
}

/// The impact slice of `of`, or `None` when the subject does not exist.
pub fn impact(
    requirements: &RequirementsDoc,
    design: &DesignDoc,
    tasks: &TasksDoc,
    of: ImpactOf<'_>,
) -> Option<Impact> {
    let Seed {
        ids,
        tasks: own_tasks,
    } = seed(requirements, design, tasks, of)?;
    let criteria: Vec<&Criterion> = requirements
        .criteria()
        .filter(|c| ids.iter().any(|i| covers(i, c)))
        .collect();
    let touches = |cites: &[Citation]| {
        let cited = |c: &Citation| ids.contains(&c.id.as_str());
        cites
            .iter()
            .any(|c| cited(c) || criteria.iter().any(|cr| covers(&c.id, cr)))
    };
    let citing_tasks = || {
        tasks
            .tasks
            .iter()
            .filter(|t| touches(&t.requirements))
            .collect()
    };
    let slice_tasks: Vec<&Task> = own_tasks.unwrap_or_else(citing_tasks);
    let components = design
        .components
        .iter()
        .filter(|c| touches(&c.requirements));
    let files = slice_tasks.iter().flat_map(|t| t.files.iter());
    Some(Impact {
        criteria: unique(criteria.iter().map(|c| c.id.as_str())),
        components: unique(components.map(|c| c.name.as_str())),
        tasks: unique(slice_tasks.iter().map(|t| t.id.as_str())),
        files: unique(files.map(String::as_str)),
    })
}

/// Where a slice starts: the IDs the subject is or cites, and, for a task, its subtree.
struct Seed<'a> {
    ids: Vec<&'a str>,
    tasks: Option<Vec<&'a Task>>,
}

fn seed<'a>(
    requirements: &'a RequirementsDoc,
    design: &'a DesignDoc,
    tasks: &'a TasksDoc,
    of: ImpactOf<'a>,
) -> Option<Seed<'a>> {
    match of {
        ImpactOf::Requirement(id) => {
            let exists = requirements.requirement(id).is_some()
                || requirements.criteria().any(|c| c.id == id);
            exists.then(|| Seed {
                ids: vec![id],
                tasks: None,
            })
        }
        ImpactOf::Task(id) => {
            let subtree = tasks.subtree(tasks.task(id.trim_end_matches('.'))?);
            let ids = subtree
                .iter()
                .flat_map(|t| ids_of(&t.requirements))
                .collect();
            Some(Seed {
                ids,
                tasks: Some(subtree),
            })
        }
        ImpactOf::Component(name) => {
            let wanted = name.trim();
            let found = design
                .components
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(wanted));
            Some(Seed {
                ids: ids_of(&found?.requirements).collect(),
                tasks: None,
            })
        }
    }
}

fn ids_of(cites: &[Citation]) -> impl Iterator<Item = &str> {
    cites.iter().map(|c| c.id.as_str())
}

fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{parse_design, parse_requirements, parse_tasks};

    const REQ: &str = include_str!("../../tests/fixtures/specs/good-kiro/requirements.md");
    const DESIGN: &str = include_str!("../../tests/fixtures/specs/good-kiro/design.md");
    const TASKS: &str = include_str!("../../tests/fixtures/specs/good-kiro/tasks.md");

    type Slice = (
        Vec<&'static str>,
        Vec<&'static str>,
        Vec<&'static str>,
        Vec<&'static str>,
    );

    fn slice(of: ImpactOf<'_>) -> Option<Impact> {
        impact(
            &parse_requirements(REQ),
            &parse_design(DESIGN),
            &parse_tasks(TASKS),
            of,
        )
    }

    fn want(s: Slice) -> Option<Impact> {
        let own = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect();
        Some(Impact {
            criteria: own(s.0),
            components: own(s.1),
            tasks: own(s.2),
            files: own(s.3),
        })
    }

    #[test]
    fn impact_table() {
        let cases: Vec<(ImpactOf<'_>, Option<Slice>)> = vec![
            (
                ImpactOf::Requirement("3"),
                Some((
                    vec!["3.1", "3.2", "3.3"],
                    vec!["ItemStore", "Progress View"],
                    vec!["2.2", "2.3"],
                    vec!["src/store.rs", "src/progress.rs"],
                )),
            ),
            (
                ImpactOf::Requirement("1.3"),
                Some((
                    vec!["1.3"],
                    vec!["ItemStore"],
                    vec!["1", "2.1"],
                    vec!["src/store.rs"],
                )),
            ),
            (
                ImpactOf::Task("3"),
                Some((
                    vec!["2.1", "2.2", "2.3"],
                    vec!["Reminder Scheduler"],
                    vec!["3", "3.1", "3.2"],
                    vec!["src/scheduler.rs"],
                )),
            ),
            (
                ImpactOf::Task("2.3."),
                Some((
                    vec!["3.2"],
                    vec!["Progress View"],
                    vec!["2.3"],
                    vec!["src/progress.rs"],
                )),
            ),
            (
                ImpactOf::Component("progress view"),
                Some((
                    vec!["3.2"],
                    vec!["Progress View"],
                    vec!["2.3"],
                    vec!["src/progress.rs"],
                )),
            ),
            (ImpactOf::Requirement("9"), None),
            (ImpactOf::Task("9.9"), None),
            (ImpactOf::Component("Nope"), None),
        ];
        for (of, expected) in cases {
            assert_eq!(slice(of), expected.and_then(want), "{of:?}");
        }
    }

    #[test]
    fn requirement_without_criteria_still_finds_citers() {
        let req = "### Requirement 1\n**User Story:** a\n";
        let design = "## Components and Interfaces\n### A\n_Requirements: 1_\n";
        let tasks = "- [ ] 1. T\n  - _Requirements: 1_\n  - _Files: a.rs_\n";
        let got = impact(
            &parse_requirements(req),
            &parse_design(design),
            &parse_tasks(tasks),
            ImpactOf::Requirement("1"),
        );
        assert_eq!(got, want((vec![], vec!["A"], vec!["1"], vec!["a.rs"])));
    }
}
