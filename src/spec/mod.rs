//! The spec-workflow domain: document parsing, the EARS linter, traceability and task
//! tracking, reviews and change requests. It knows nothing about JSON-RPC, MCP or HTTP.
//! The checks do no I/O: every entry point takes document text (`&str`) or an already
//! parsed document and returns a typed, serialisable result. Files are read and written
//! only through `store.rs`, by the orchestrating modules (`workflow.rs`, `review.rs`,
//! `changes.rs`).
//!
//! This file owns the types every document shares: [`Diagnostic`], its stable [`Code`],
//! [`Severity`], the [`Document`] a diagnostic points into, and [`Citation`].
//!
//! Pipeline: `requirements.md` ([`parse_requirements`], [`lint_requirements`]) →
//! `design.md` ([`parse_design`]) → `tasks.md` ([`parse_tasks`], [`set_task_status`],
//! [`render_tasks`], [`next_task`]) → traceability across all three ([`trace`],
//! [`impact`]).
//!
//! Files: `markdown.rs` (line splitting, headings, fields, IDs), `requirements.rs`
//! (requirements and criteria, numbering checks), `ears.rs` (one sentence's EARS pattern
//! and wording), `lint.rs` (the requirements report, placeholders), `design.rs`,
//! `tasks.rs` (reading), `task_write.rs` (status edit, canonical rendering),
//! `schedule.rs` (done-ness, next task, progress), `cycles.rs` (dependency knots),
//! `trace.rs` (coverage matrix), `impact.rs` (what one change touches), `bugfix.rs`
//! (`bugfix.md` as three traceable behaviour sections), `delta.rs` (change-request text:
//! ADDED / MODIFIED / REMOVED blocks and their merge). With the store: `workflow.rs`
//! (a spec evaluated as a whole), `review.rs` (content-bound approvals, hash
//! invalidation), `gates.rs` (strict / advisory / off), `changes.rs` (propose, apply).
//!
//! Conventions shared by every parser:
//! - Lines are 1-based; `\r\n` and `\n` both end a line; a leading BOM is ignored.
//! - Lines inside fenced code blocks (```` ``` ```` or `~~~`) are never interpreted.
//! - Diagnostics about a whole document (for example a missing section) use line 1.
//! - Each `parse_*` function returns the document plus the structural diagnostics found
//!   while reading it; parsing never fails, it only reports.
//! - All JSON produced by these types uses snake_case field names.

mod bugfix;
pub mod changes;
mod cycles;
pub mod delta;
mod design;
mod ears;
pub mod gates;
mod impact;
mod lint;
mod markdown;
mod requirements;
pub mod review;
mod schedule;
pub mod store;
mod task_write;
mod tasks;
pub mod templates;
mod trace;
pub mod workflow;

pub use design::{parse_design, Component, DesignDoc, RequiredSection, Section};
pub use ears::{check_criterion, CriterionCheck, Pattern};
pub use impact::{impact, Impact, ImpactOf};
pub use lint::{lint_requirements, ClassifiedCriterion, PatternCounts, RequirementsLint};
pub use requirements::{parse_requirements, Criterion, Requirement, RequirementsDoc, UserStory};
pub use schedule::{next_task, progress, Progress};
pub use task_write::{render_tasks, set_task_status, TaskEditError};
pub use tasks::{parse_tasks, Task, TaskStatus, TasksDoc};
pub use trace::{trace, Coverage, CriterionTrace, TraceReport};

use serde::{Serialize, Serializer};

/// How serious a [`Diagnostic`] is. Fixed per [`Code`], so clients can filter on either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The document is wrong or unfinished; a spec with errors should not move on.
    Error,
    /// Likely a quality problem worth fixing.
    Warning,
    /// A remark; nothing is necessarily wrong.
    Info,
}

/// Which spec document a [`Diagnostic`]'s line number refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Document {
    /// `requirements.md`.
    Requirements,
    /// `design.md`.
    Design,
    /// `tasks.md`.
    Tasks,
    /// `bugfix.md`.
    Bugfix,
    /// A change request, `changes/NNN-slug.md`.
    Change,
}

/// The stable identifier of a diagnostic. The kebab-case string from [`Code::as_str`] is
/// part of the public contract: clients match on it, so a code is never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// A requirements document with no `Requirement N` heading at all.
    NoRequirements,
    /// The same requirement, criterion or task ID appears twice.
    DuplicateId,
    /// A numbering sequence skips a number or goes backwards.
    GappedId,
    /// A requirement without a `**User Story:**` line.
    MissingUserStory,
    /// A requirement without any acceptance criterion.
    NoCriteria,
    /// A bullet under `Acceptance Criteria` that carries no number, so it cannot be traced.
    UnnumberedCriterion,
    /// An explicit criterion ID whose first part is not its requirement's number.
    MismatchedId,
    /// A criterion with no `shall`.
    NoShall,
    /// A criterion with more than one `shall`: it is not singular.
    MultipleShall,
    /// An `If` clause with no `then` before the `shall`.
    IfWithoutThen,
    /// A word that cannot be tested, such as "fast" or "user-friendly".
    VagueTerm,
    /// A placeholder: `TBD`, `TODO`, `[NEEDS CLARIFICATION…]` and the like.
    Tbd,
    /// A criterion with a `shall` that fits no EARS pattern.
    UnknownPattern,
    /// A required `##` section is absent from design.md.
    MissingSection,
    /// A component under "Components and Interfaces" that cites no requirement.
    UncitedComponent,
    /// A checkbox line in tasks.md with no task number, so it cannot be addressed.
    UnnumberedTask,
    /// A checkbox whose marker is not one of ` `, `-`, `x`, `X`, `~`.
    UnknownStatus,
    /// An acceptance criterion no design component cites.
    UncoveredByDesign,
    /// An acceptance criterion no task cites.
    UncoveredByTasks,
    /// A design component or task cites an ID that is not in requirements.md.
    UnknownReference,
    /// A task that cites nothing, with no ancestor or descendant that cites anything.
    OrphanTask,
    /// Tasks that wait on each other, so none of them can ever start.
    DependencyCycle,
    /// A `_Depends_` entry naming a task that does not exist.
    UnknownDependency,
    /// A requirement in a change request outside its ADDED, MODIFIED and REMOVED sections.
    MisplacedRequirement,
    /// A section bugfix.md needs is missing or still holds only the template's placeholder.
    IncompleteBugfix,
}

impl Code {
    /// Every code, in declaration order; used by tests and by clients listing codes.
    pub const ALL: [Code; 25] = [
        Code::NoRequirements,
        Code::DuplicateId,
        Code::GappedId,
        Code::MissingUserStory,
        Code::NoCriteria,
        Code::UnnumberedCriterion,
        Code::MismatchedId,
        Code::NoShall,
        Code::MultipleShall,
        Code::IfWithoutThen,
        Code::VagueTerm,
        Code::Tbd,
        Code::UnknownPattern,
        Code::MissingSection,
        Code::UncitedComponent,
        Code::UnnumberedTask,
        Code::UnknownStatus,
        Code::UncoveredByDesign,
        Code::UncoveredByTasks,
        Code::UnknownReference,
        Code::OrphanTask,
        Code::DependencyCycle,
        Code::UnknownDependency,
        Code::MisplacedRequirement,
        Code::IncompleteBugfix,
    ];

    /// The stable wire string, e.g. `"no-shall"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::NoRequirements => "no-requirements",
            Code::DuplicateId => "duplicate-id",
            Code::GappedId => "gapped-id",
            Code::MissingUserStory => "missing-user-story",
            Code::NoCriteria => "no-criteria",
            Code::UnnumberedCriterion => "unnumbered-criterion",
            Code::MismatchedId => "mismatched-id",
            Code::NoShall => "no-shall",
            Code::MultipleShall => "multiple-shall",
            Code::IfWithoutThen => "if-without-then",
            Code::VagueTerm => "vague-term",
            Code::Tbd => "tbd",
            Code::UnknownPattern => "unknown-pattern",
            Code::MissingSection => "missing-section",
            Code::UncitedComponent => "uncited-component",
            Code::UnnumberedTask => "unnumbered-task",
            Code::UnknownStatus => "unknown-status",
            Code::UncoveredByDesign => "uncovered-by-design",
            Code::UncoveredByTasks => "uncovered-by-tasks",
            Code::UnknownReference => "unknown-reference",
            Code::OrphanTask => "orphan-task",
            Code::DependencyCycle => "dependency-cycle",
            Code::UnknownDependency => "unknown-dependency",
            Code::MisplacedRequirement => "misplaced-requirement",
            Code::IncompleteBugfix => "incomplete-bugfix",
        }
    }

    /// The severity this code always carries.
    pub fn severity(self) -> Severity {
        match self {
            Code::NoRequirements
            | Code::DuplicateId
            | Code::NoCriteria
            | Code::NoShall
            | Code::IfWithoutThen
            | Code::Tbd
            | Code::UnknownReference
            | Code::DependencyCycle
            | Code::UnknownDependency
            | Code::MisplacedRequirement
            | Code::IncompleteBugfix => Severity::Error,
            Code::GappedId
            | Code::MissingUserStory
            | Code::UnnumberedCriterion
            | Code::MismatchedId
            | Code::MultipleShall
            | Code::VagueTerm
            | Code::UnknownPattern
            | Code::MissingSection
            | Code::UncitedComponent
            | Code::UnnumberedTask
            | Code::UnknownStatus
            | Code::UncoveredByDesign
            | Code::UncoveredByTasks
            | Code::OrphanTask => Severity::Warning,
        }
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One finding about a spec document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable machine-readable code.
    pub code: Code,
    /// Always `code.severity()`; carried so JSON clients need no lookup table.
    pub severity: Severity,
    /// 1-based line in [`Diagnostic::document`].
    pub line: usize,
    /// The requirement, criterion or task ID concerned, when there is one.
    pub id: Option<String>,
    /// What is wrong, for a human or an assistant.
    pub message: String,
    /// How to fix it, when there is a concrete suggestion.
    pub suggestion: Option<String>,
    /// The document `line` refers to.
    pub document: Document,
}

impl Diagnostic {
    /// A diagnostic with the code's own severity and no suggestion.
    pub fn new(
        document: Document,
        code: Code,
        line: usize,
        id: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            line,
            id: id.map(str::to_owned),
            message: message.into(),
            suggestion: None,
            document,
        }
    }

    /// The same diagnostic with a suggestion attached.
    pub fn suggest(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }
}

/// Orders diagnostics by line, then by code, so output is stable whatever order the
/// checks ran in.
pub(crate) fn sort_diagnostics(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.line, d.code));
}

/// A reference to a requirement, criterion or task ID, with the line it was written on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Citation {
    /// The ID as written, e.g. `"2.3"` or `"2"`. Not validated: unknown IDs are kept so
    /// [`trace`] can report them.
    pub id: String,
    /// 1-based line of the `Requirements:`/`Depends:` field.
    pub line: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{s}");
        }
    }

    #[test]
    fn diagnostic_serializes_to_pinned_json() {
        let d = Diagnostic::new(Document::Requirements, Code::NoShall, 7, Some("1.2"), "m")
            .suggest("s");
        let json = serde_json::to_string(&d).expect("diagnostic serializes");
        assert_eq!(
            json,
            r#"{"code":"no-shall","severity":"error","line":7,"id":"1.2","message":"m","suggestion":"s","document":"requirements"}"#
        );
        let d = Diagnostic::new(Document::Tasks, Code::OrphanTask, 1, None, "m");
        let json = serde_json::to_string(&d).expect("diagnostic serializes");
        assert_eq!(
            json,
            r#"{"code":"orphan-task","severity":"warning","line":1,"id":null,"message":"m","suggestion":null,"document":"tasks"}"#
        );
    }

    macro_rules! fixture {
        ($dir:literal, $file:literal) => {
            include_str!(concat!("../../tests/fixtures/specs/", $dir, "/", $file))
        };
    }

    /// Every diagnostic from linting, parsing and tracing one spec.
    fn all_diagnostics(req: &str, design: &str, tasks: &str) -> Vec<Diagnostic> {
        let (r, d, t) = (
            parse_requirements(req),
            parse_design(design),
            parse_tasks(tasks),
        );
        let mut out = lint_requirements(req).diagnostics;
        out.extend(d.diagnostics.iter().cloned());
        out.extend(t.diagnostics.iter().cloned());
        out.extend(trace(&r, &d, &t).diagnostics);
        out
    }

    #[test]
    fn bad_corpus_triggers_every_code() {
        let mut found: HashSet<Code> = all_diagnostics(
            fixture!("bad-every-diagnostic", "requirements.md"),
            fixture!("bad-every-diagnostic", "design.md"),
            fixture!("bad-every-diagnostic", "tasks.md"),
        )
        .iter()
        .map(|d| d.code)
        .collect();
        found.extend(lint_requirements("").diagnostics.iter().map(|d| d.code));
        found.extend(bugfix::lint_bugfix("").diagnostics.iter().map(|d| d.code));
        let loose = "### Requirement 1: Outside any ADDED/MODIFIED/REMOVED section\n";
        found.extend(delta::check(loose).diagnostics.iter().map(|d| d.code));
        let missing: Vec<_> = Code::ALL.iter().filter(|c| !found.contains(c)).collect();
        assert!(missing.is_empty(), "codes never triggered: {missing:?}");
    }

    #[test]
    fn good_corpus_triggers_no_code() {
        let kiro = all_diagnostics(
            fixture!("good-kiro", "requirements.md"),
            fixture!("good-kiro", "design.md"),
            fixture!("good-kiro", "tasks.md"),
        );
        let canonical = all_diagnostics(
            fixture!("good-canonical", "requirements.md"),
            fixture!("good-canonical", "design.md"),
            fixture!("good-canonical", "tasks.md"),
        );
        assert_eq!(kiro, []);
        assert_eq!(canonical, []);
        assert_eq!(
            lint_requirements(fixture!("chinese", "requirements.md")).diagnostics,
            []
        );
        assert_eq!(
            lint_requirements(fixture!("crlf", "requirements.md")).diagnostics,
            []
        );
        assert_eq!(parse_tasks(fixture!("crlf", "tasks.md")).diagnostics, []);
    }

    #[test]
    fn diagnostics_sort_by_line_then_code() {
        let mut v = vec![
            Diagnostic::new(Document::Design, Code::Tbd, 3, None, ""),
            Diagnostic::new(Document::Design, Code::NoShall, 3, None, ""),
            Diagnostic::new(Document::Design, Code::GappedId, 1, None, ""),
        ];
        sort_diagnostics(&mut v);
        let got: Vec<_> = v.iter().map(|d| (d.line, d.code)).collect();
        assert_eq!(
            got,
            [(1, Code::GappedId), (3, Code::NoShall), (3, Code::Tbd)]
        );
    }
}
