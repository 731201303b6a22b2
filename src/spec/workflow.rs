//! A spec's documents evaluated together: diagnostics of every document, traceability,
//! task progress and the phase the spec is in. The phase is computed from the files every
//! time (files are the source of truth); `spec.json` only caches it for humans.

use serde::Serialize;

use super::bugfix::lint_bugfix;
use super::review::{self, Approval, Reopened};
use super::store::{DocKind, DocStatus, Kind, Source, SpecRef, SpecState, Store, StoreError};
use super::{
    lint_requirements, next_task, parse_design, parse_requirements, parse_tasks, progress, trace,
    Coverage, DesignDoc, Diagnostic, Document, Progress, RequirementsDoc, Severity, TasksDoc,
};

/// Where a spec stands. The order is the workflow's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Requirements,
    Bugfix,
    Design,
    Tasks,
    Implement,
    Done,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Requirements => "requirements",
            Phase::Bugfix => "bugfix",
            Phase::Design => "design",
            Phase::Tasks => "tasks",
            Phase::Implement => "implement",
            Phase::Done => "done",
        }
    }

    pub fn parse(text: &str) -> Option<Phase> {
        [
            Phase::Requirements,
            Phase::Bugfix,
            Phase::Design,
            Phase::Tasks,
            Phase::Implement,
            Phase::Done,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
    }

    fn of_document(doc: DocKind) -> Phase {
        match doc {
            DocKind::Requirements => Phase::Requirements,
            DocKind::Bugfix => Phase::Bugfix,
            DocKind::Design => Phase::Design,
            DocKind::Tasks => Phase::Tasks,
        }
    }
}

/// One document's summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocReport {
    pub doc: DocKind,
    pub path: String,
    pub exists: bool,
    pub status: DocStatus,
    pub errors: usize,
    pub warnings: usize,
    /// The approval in force (hash, time, channel), while approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// The reviewer's last comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why the document went back to draft after an approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reopened: Option<Reopened>,
}

/// The texts of a spec's documents, read once, with approvals already checked against
/// them (see [`review::reconcile`]).
pub struct Loaded {
    pub spec: SpecRef,
    pub state: SpecState,
    pub texts: Vec<(DocKind, Option<String>)>,
    /// The open change request's text, if there is one and its file exists.
    pub change_text: Option<String>,
    /// Error diagnostics of the open change request.
    pub change_errors: usize,
    /// Approvals this load found invalid (edited or deleted documents).
    pub notices: Vec<String>,
}

impl Loaded {
    /// Reads the state and the documents, and reopens approved documents whose bytes
    /// changed; that is saved at once (best effort, under the state lock), so every reader
    /// agrees. For requests that only read; a change goes through [`Loaded::update`].
    pub fn load(store: &Store<'_>, spec: SpecRef) -> Result<Loaded, StoreError> {
        let state = store.state(&spec)?;
        let loaded = Loaded::from_state(store, spec, state)?;
        if loaded.notices.is_empty() || loaded.spec.read_only() {
            return Ok(loaded);
        }
        // Read again under the lock: spec.json or a document may have changed since.
        let spec = loaded.spec.clone();
        let saved = store.update_state(&spec, |state| {
            let fresh = Loaded::from_state(store, spec.clone(), std::mem::take(state))?;
            state.clone_from(&fresh.state);
            Ok::<_, StoreError>(fresh)
        });
        match saved {
            Ok(fresh) => {
                fresh.log_notices();
                Ok(fresh)
            }
            Err(e) => {
                loaded.log_notices();
                log::warn!("{}: cannot record reopened documents: {e}", spec.name);
                Ok(loaded)
            }
        }
    }

    /// Loads the spec under its state lock and runs `change` on it: `loaded.state` as
    /// `change` leaves it is saved when `change` succeeds; when it fails, only what loading
    /// found (reopened approvals) is, as [`Loaded::load`] would. Documents `change` reads
    /// from `loaded` and writes are serialized with the state (see [`Store::update_state`]).
    ///
    /// `change` must not call [`Loaded::load`] or [`Loaded::update`] for the same spec (the
    /// lock is not re-entrant); [`Loaded::from_state`] looks again without the lock.
    pub fn update<T, E: From<StoreError>>(
        store: &Store<'_>,
        spec: SpecRef,
        change: impl FnOnce(&mut Loaded) -> Result<T, E>,
    ) -> Result<T, E> {
        let key = spec.clone();
        store.update_state(&key, |state| {
            let mut loaded = Loaded::from_state(store, spec, std::mem::take(state))?;
            loaded.log_notices();
            let reconciled = loaded.state.clone();
            let outcome = change(&mut loaded);
            *state = if outcome.is_ok() {
                loaded.state
            } else {
                reconciled
            };
            Ok(outcome)
        })?
    }

    /// Reads the documents of a spec whose state is `state` and reopens, in memory only,
    /// approved documents whose bytes changed. Takes no lock and saves nothing.
    pub fn from_state(
        store: &Store<'_>,
        spec: SpecRef,
        mut state: SpecState,
    ) -> Result<Loaded, StoreError> {
        let mut texts = Vec::new();
        for doc in state.kind.documents() {
            texts.push((doc, store.read_doc(&spec, doc)?));
        }
        let change_text = match &state.change {
            Some(change) => store.read_change(&spec, &change.id)?,
            None => None,
        };
        let now = crate::clock::now_rfc3339();
        let notices = review::reconcile(&mut state, &spec, &texts, change_text.as_deref(), &now);
        let change_errors = change_text
            .as_deref()
            .map_or(0, |t| super::delta::check(t).errors());
        Ok(Loaded {
            spec,
            state,
            texts,
            change_text,
            change_errors,
            notices,
        })
    }

    fn log_notices(&self) {
        for notice in &self.notices {
            log::info!("{}: {notice}", self.spec.name);
        }
    }

    pub fn text(&self, doc: DocKind) -> Option<&str> {
        self.texts
            .iter()
            .find(|(d, _)| *d == doc)
            .and_then(|(_, t)| t.as_deref())
    }
}

/// Everything the checks found in one spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub name: String,
    pub source: Source,
    pub kind: Kind,
    pub phase: Phase,
    pub documents: Vec<DocReport>,
    pub diagnostics: Vec<Diagnostic>,
    pub coverage: Option<Coverage>,
    pub progress: Option<Progress>,
    pub next_task: Option<String>,
    /// The open change request's ID, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_change: Option<String>,
    /// Approvals found invalid while loading (documents edited after approval).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    #[serde(skip)]
    pub parsed: Parsed,
}

/// The parsed documents, for callers that need more than the summary.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub requirements: Option<RequirementsDoc>,
    pub design: Option<DesignDoc>,
    pub tasks: Option<TasksDoc>,
}

impl Evaluation {
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
}

/// The diagnostics document of a spec document (every kind has one).
fn document_of(doc: DocKind) -> Option<Document> {
    match doc {
        DocKind::Requirements => Some(Document::Requirements),
        DocKind::Design => Some(Document::Design),
        DocKind::Tasks => Some(Document::Tasks),
        DocKind::Bugfix => Some(Document::Bugfix),
    }
}

/// Runs every check on a loaded spec.
pub fn evaluate(loaded: &Loaded) -> Evaluation {
    let mut diagnostics = Vec::new();
    let mut parsed = Parsed::default();
    if let Some(text) = loaded.text(DocKind::Requirements) {
        diagnostics.extend(lint_requirements(text).diagnostics);
        parsed.requirements = Some(parse_requirements(text));
    }
    if let Some(text) = loaded.text(DocKind::Bugfix) {
        let bugfix = lint_bugfix(text);
        diagnostics.extend(bugfix.diagnostics);
        parsed.requirements = Some(bugfix.requirements);
    }
    if let Some(text) = loaded.text(DocKind::Design) {
        let design = parse_design(text);
        diagnostics.extend(design.diagnostics.iter().cloned());
        parsed.design = Some(design);
    }
    if let Some(text) = loaded.text(DocKind::Tasks) {
        let tasks = parse_tasks(text);
        diagnostics.extend(tasks.diagnostics.iter().cloned());
        parsed.tasks = Some(tasks);
    }
    let mut coverage = None;
    if let (Some(req), Some(design), Some(tasks)) =
        (&parsed.requirements, &parsed.design, &parsed.tasks)
    {
        let report = trace(req, design, tasks);
        coverage = Some(report.coverage);
        diagnostics.extend(report.diagnostics);
    }
    let progress = parsed.tasks.as_ref().map(progress);
    let next = parsed
        .tasks
        .as_ref()
        .and_then(|t| next_task(t).map(|task| task.id.clone()));
    let documents: Vec<DocReport> = loaded
        .texts
        .iter()
        .map(|(doc, text)| {
            let mine = |d: &&Diagnostic| document_of(*doc) == Some(d.document);
            let review = loaded.state.documents.get(doc).cloned().unwrap_or_default();
            DocReport {
                doc: *doc,
                path: loaded.spec.path_of(*doc),
                exists: text.is_some(),
                status: review.status,
                approval: review.approval,
                note: review.note,
                reopened: review.reopened,
                errors: diagnostics
                    .iter()
                    .filter(mine)
                    .filter(|d| d.severity == Severity::Error)
                    .count(),
                warnings: diagnostics
                    .iter()
                    .filter(mine)
                    .filter(|d| d.severity == Severity::Warning)
                    .count(),
            }
        })
        .collect();
    let phase = phase(&documents, progress.as_ref());
    Evaluation {
        name: loaded.spec.name.clone(),
        source: loaded.spec.source,
        kind: loaded.state.kind,
        phase,
        documents,
        diagnostics,
        coverage,
        progress,
        next_task: next,
        open_change: loaded.state.change.as_ref().map(|c| c.id.clone()),
        notices: loaded.notices.clone(),
        parsed,
    }
}

/// The first document that is missing or has errors decides the phase; with every
/// document sound, the tasks decide between implementing and done.
fn phase(documents: &[DocReport], progress: Option<&Progress>) -> Phase {
    if let Some(doc) = documents.iter().find(|d| !d.exists || d.errors > 0) {
        return Phase::of_document(doc.doc);
    }
    match progress {
        Some(p) if p.total == 0 => Phase::Tasks,
        Some(p) if p.done == p.total => Phase::Done,
        _ => Phase::Implement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Workspace;

    const REQUIREMENTS: &str = "# Requirements\n\n### Requirement 1: Add\n\n**User Story:** As a user, I want to add todos, so that I remember them.\n\n#### Acceptance Criteria\n\n1. WHEN the user submits a title THEN the app SHALL store the todo\n";
    const DESIGN: &str = "# Design\n\n## Overview\nx\n## Architecture\nx\n## Components and Interfaces\n### Store\n_Requirements: 1.1_\n## Data Models\nx\n## Error Handling\nx\n## Testing Strategy\nx\n";
    const TASKS: &str = "# Tasks\n\n- [ ] 1. Store todos\n  - _Requirements: 1.1_\n";

    fn with_spec(files: &[(&str, &str)], check: impl FnOnce(Evaluation)) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("mcp-workflow-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir.join("specs/todo")).expect("mkdir");
        for (name, text) in files {
            std::fs::write(dir.join("specs/todo").join(name), text).expect("write");
        }
        let ws = Workspace::new(&dir, 1 << 20).expect("workspace");
        let store = Store::new(&ws);
        let loaded = Loaded::load(&store, store.find("todo").expect("spec")).expect("load");
        check(evaluate(&loaded));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn phases_follow_the_documents() {
        with_spec(&[], |e| assert_eq!(e.phase, Phase::Requirements));
        with_spec(
            &[("requirements.md", "### Requirement 1: x\n\n1. the app\n")],
            |e| {
                assert_eq!(e.phase, Phase::Requirements, "errors keep the phase");
                assert!(e.errors() > 0);
            },
        );
        with_spec(&[("requirements.md", REQUIREMENTS)], |e| {
            assert_eq!(e.phase, Phase::Design)
        });
        with_spec(
            &[("requirements.md", REQUIREMENTS), ("design.md", DESIGN)],
            |e| assert_eq!(e.phase, Phase::Tasks),
        );
        with_spec(
            &[
                ("requirements.md", REQUIREMENTS),
                ("design.md", DESIGN),
                ("tasks.md", TASKS),
            ],
            |e| {
                assert_eq!(e.phase, Phase::Implement);
                assert_eq!(e.next_task.as_deref(), Some("1"));
                assert_eq!(e.coverage.map(|c| c.both_percent), Some(100.0));
            },
        );
        let done = TASKS.replace("[ ]", "[x]");
        with_spec(
            &[
                ("requirements.md", REQUIREMENTS),
                ("design.md", DESIGN),
                ("tasks.md", &done),
            ],
            |e| assert_eq!(e.phase, Phase::Done),
        );
    }
}
