//! Human review of spec documents: approvals bound to content, the one code path every
//! approval channel takes ([`decide`]), and hash invalidation ([`reconcile`]).
//!
//! An approval records the SHA-256 of the bytes the person approved, when, and through
//! which channel (elicitation in the chat, a user-chosen prompt, the CLI, the dashboard,
//! or an applied change request). Whenever a spec is loaded, the stored hash is compared
//! with the file: a document whose bytes changed since (by any means: an editor, `git
//! checkout`, `create_file`) goes back to draft, and `reopened` says why. For `tasks.md`
//! the hash ignores checkbox marks, so recording progress never reopens an approved plan;
//! every other byte counts.
//!
//! Nothing here decides *who* may approve: the MCP tools never call [`decide`] with an
//! approval unless a person answered (or the operator turned gates off). This module only
//! makes an approval mean "these exact bytes".

use serde::{Deserialize, Serialize};

use super::markdown;
use super::store::{DocKind, DocState, DocStatus, SpecRef, SpecState, Store, StoreError};
use super::workflow::{evaluate, Evaluation, Loaded};
use crate::sha256::sha256_hex;

/// Through which channel a person gave a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// `spec_review`: an elicitation answered in the chat.
    Elicitation,
    /// The user-chosen prompts `spec-approve` / `spec-request-changes`.
    Prompt,
    /// `mcp-server-spec approve|request-changes` in a terminal.
    Cli,
    /// The HTTP dashboard.
    Dashboard,
    /// Derived: requirements merged from an approved change request.
    Change,
    /// The assistant itself; only possible with `--gates off`.
    Assistant,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Elicitation => "elicitation",
            Channel::Prompt => "prompt",
            Channel::Cli => "cli",
            Channel::Dashboard => "dashboard",
            Channel::Change => "change",
            Channel::Assistant => "assistant",
        }
    }
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    RequestChanges,
}

impl Decision {
    pub fn parse(text: &str) -> Option<Decision> {
        match text {
            "approve" => Some(Decision::Approve),
            "request_changes" | "request-changes" => Some(Decision::RequestChanges),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::RequestChanges => "request_changes",
        }
    }
}

/// The approval a document's status rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// SHA-256 (hex) of the approved bytes (see [`content_hash`]).
    pub sha256: String,
    pub at: String,
    pub channel: Channel,
}

/// Why the server turned a document back to draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reopened {
    pub at: String,
    pub reason: String,
}

/// One decision in the review log of `spec.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewEntry {
    /// `requirements`, `design`, …, or `change NNN-slug`.
    pub target: String,
    pub decision: Decision,
    pub channel: Channel,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub at: String,
}

/// What is reviewed: one of the spec's documents, or its open change request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Doc(DocKind),
    Change,
}

impl Target {
    /// `requirements`, `bugfix`, `design`, `tasks` or `change`.
    pub fn parse(text: &str) -> Option<Target> {
        match text {
            "change" => Some(Target::Change),
            other => DocKind::parse(other).map(Target::Doc),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Target::Doc(doc) => doc.as_str(),
            Target::Change => "change",
        }
    }

    /// Every value [`Target::parse`] accepts, for schemas and completion.
    pub const NAMES: [&'static str; 5] = ["requirements", "bugfix", "design", "tasks", "change"];
}

/// The SHA-256 an approval of `target` binds to. For `tasks.md`, checkbox marks are read
/// as blank (`[x]` counts as `[ ]`), so task progress is not an edit of the plan.
pub fn content_hash(target: Target, text: &str) -> String {
    if target != Target::Doc(DocKind::Tasks) {
        return sha256_hex(text.as_bytes());
    }
    let mut plan = text.as_bytes().to_vec();
    for line in markdown::lines(text).into_iter().filter(|l| !l.fenced) {
        if let Some(cb) = super::tasks::checkbox(line.text) {
            if cb.marker.is_ascii() {
                plan[line.start + cb.marker_at] = b' ';
            }
        }
    }
    sha256_hex(&plan)
}

/// What a reviewer is asked about: the target's current bytes and their checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subject {
    pub spec: String,
    pub target: String,
    /// Workspace-relative path of the file.
    pub path: String,
    /// [`content_hash`] of the current text.
    pub sha256: String,
    pub bytes: usize,
    pub errors: usize,
    pub warnings: usize,
    pub status: DocStatus,
    /// A one-line summary of the content, e.g. "3 requirements, 9 criteria".
    pub summary: String,
}

/// Why a review step was refused; messages say what to do instead.
#[derive(Debug)]
pub enum ReviewError {
    Store(StoreError),
    /// The document is not part of this kind of spec.
    NotInSpec {
        spec: String,
        target: String,
    },
    /// The file does not exist yet.
    Missing {
        path: String,
    },
    /// Approval refused: the deterministic checks found errors.
    HasErrors {
        path: String,
        errors: usize,
    },
    /// The bytes changed between showing them and the decision.
    Changed {
        path: String,
    },
    /// `change` was named but the spec has no open change request.
    NoOpenChange {
        spec: String,
    },
}

impl std::fmt::Display for ReviewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReviewError::Store(e) => e.fmt(f),
            ReviewError::NotInSpec { spec, target } => {
                write!(f, "spec {spec:?} has no {target} document")
            }
            ReviewError::Missing { path } => {
                write!(f, "{path} does not exist yet: write it before asking for a review")
            }
            ReviewError::HasErrors { path, errors } => write!(
                f,
                "{path} has {errors} error(s): it cannot be approved until spec_validate reports none"
            ),
            ReviewError::Changed { path } => write!(
                f,
                "{path} changed after it was shown for review: nothing was recorded; review the current text again"
            ),
            ReviewError::NoOpenChange { spec } => write!(
                f,
                "spec {spec:?} has no open change request (propose one with spec_change)"
            ),
        }
    }
}

impl From<StoreError> for ReviewError {
    fn from(e: StoreError) -> ReviewError {
        ReviewError::Store(e)
    }
}

/// A person's decision, as one of the channels received it.
#[derive(Debug, Clone, Copy)]
pub struct Verdict<'a> {
    pub decision: Decision,
    pub channel: Channel,
    /// The reviewer's comment (may be empty).
    pub note: &'a str,
    /// The hash of the bytes the person was shown, when the channel knows it; the
    /// decision is refused if the file changed since.
    pub seen_sha256: Option<&'a str>,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decided {
    pub subject: Subject,
    pub decision: Decision,
    pub channel: Channel,
    /// The reviewer's comment, trimmed (may be empty).
    pub note: String,
    /// What the assistant should do next, in one sentence.
    pub next: String,
}

/// The subject of a review of `target` in spec `name`.
pub fn subject(store: &Store<'_>, name: &str, target: Target) -> Result<Subject, ReviewError> {
    let loaded = Loaded::load(store, store.find(name)?)?;
    let e = evaluate(&loaded);
    subject_of(&loaded, &e, target)
}

/// Puts `target` in review: a question about it is on its way to a person.
pub fn submit(store: &Store<'_>, name: &str, target: Target) -> Result<Subject, ReviewError> {
    Loaded::update(store, store.find(name)?, |loaded| {
        let e = evaluate(loaded);
        let mut subject = subject_of(loaded, &e, target)?;
        let slot = slot(&mut loaded.state, target).ok_or_else(|| no_target(&e.name, target))?;
        if slot.status != DocStatus::Approved {
            slot.status = DocStatus::InReview;
            subject.status = DocStatus::InReview;
        }
        Ok(subject)
    })
}

/// Records a person's decision on `target`: the single code path of every channel.
pub fn decide(
    store: &Store<'_>,
    name: &str,
    target: Target,
    verdict: &Verdict<'_>,
) -> Result<Decided, ReviewError> {
    Loaded::update(store, store.find(name)?, |loaded| {
        decide_loaded(loaded, target, verdict)
    })
}

/// [`decide`] on the spec loaded under its state lock: the bytes checked are the bytes
/// recorded, and no concurrent decision is lost.
fn decide_loaded(
    loaded: &mut Loaded,
    target: Target,
    verdict: &Verdict<'_>,
) -> Result<Decided, ReviewError> {
    let e = evaluate(loaded);
    let mut subject = subject_of(loaded, &e, target)?;
    if verdict
        .seen_sha256
        .is_some_and(|seen| seen != subject.sha256)
    {
        return Err(ReviewError::Changed { path: subject.path });
    }
    if verdict.decision == Decision::Approve && subject.errors > 0 {
        return Err(ReviewError::HasErrors {
            path: subject.path,
            errors: subject.errors,
        });
    }
    let now = crate::clock::now_rfc3339();
    let note = verdict.note.trim();
    let state = &mut loaded.state;
    let slot = slot(state, target).ok_or_else(|| no_target(&e.name, target))?;
    slot.note = (!note.is_empty()).then(|| note.to_string());
    match verdict.decision {
        Decision::Approve => {
            slot.status = DocStatus::Approved;
            slot.reopened = None;
            slot.approval = Some(Approval {
                sha256: subject.sha256.clone(),
                at: now.clone(),
                channel: verdict.channel,
            });
        }
        Decision::RequestChanges => {
            slot.status = DocStatus::ChangesRequested;
            slot.approval = None;
        }
    }
    subject.status = slot.status;
    state.reviews.push(ReviewEntry {
        target: log_name(state, target),
        decision: verdict.decision,
        channel: verdict.channel,
        sha256: subject.sha256.clone(),
        note: note.to_string(),
        at: now,
    });
    let next = next_step(&e, target, verdict.decision);
    Ok(Decided {
        subject,
        decision: verdict.decision,
        channel: verdict.channel,
        note: note.to_string(),
        next,
    })
}

/// Hash invalidation: every approved target whose current bytes differ from the approved
/// hash (or whose file is gone) goes back to draft with `reopened` saying why. Returns one
/// notice per reopened target; `state` is unchanged when the list is empty.
pub fn reconcile(
    state: &mut SpecState,
    spec: &SpecRef,
    texts: &[(DocKind, Option<String>)],
    change_text: Option<&str>,
    now: &str,
) -> Vec<String> {
    let mut notices = Vec::new();
    for (doc, text) in texts {
        if let Some(slot) = state.documents.get_mut(doc) {
            let path = spec.path_of(*doc);
            notices.extend(recheck(
                slot,
                Target::Doc(*doc),
                &path,
                text.as_deref(),
                now,
            ));
        }
    }
    if let Some(change) = state.change.as_mut() {
        let path = spec.change_path(&change.id);
        notices.extend(recheck(
            &mut change.review,
            Target::Change,
            &path,
            change_text,
            now,
        ));
    }
    notices
}

/// Reopens one approved target if its bytes no longer match.
fn recheck(
    slot: &mut DocState,
    target: Target,
    path: &str,
    text: Option<&str>,
    now: &str,
) -> Option<String> {
    let approval = slot
        .approval
        .as_ref()
        .filter(|_| slot.status == DocStatus::Approved)?;
    let reason = match text {
        Some(t) if content_hash(target, t) == approval.sha256 => return None,
        Some(_) => format!(
            "{path} changed after its approval of {} via {} (approved sha256 {}…): back to draft",
            approval.at,
            approval.channel.as_str(),
            &approval.sha256[..12.min(approval.sha256.len())]
        ),
        None => format!("{path} was deleted after its approval: back to draft"),
    };
    slot.status = DocStatus::Draft;
    slot.approval = None;
    slot.reopened = Some(Reopened {
        at: now.to_string(),
        reason: reason.clone(),
    });
    Some(reason)
}

/// The review state `spec_write` leaves behind: unchanged bytes keep an approval,
/// anything else is a draft (reopened if it was approved).
pub fn after_write(
    previous: Option<&DocState>,
    doc: DocKind,
    content: &str,
    now: &str,
) -> DocState {
    let mut state = previous.cloned().unwrap_or_default();
    state.updated_at = Some(now.to_string());
    let kept = state
        .approval
        .as_ref()
        .is_some_and(|a| a.sha256 == content_hash(Target::Doc(doc), content));
    if kept && state.status == DocStatus::Approved {
        return state;
    }
    if state.status == DocStatus::Approved {
        state.reopened = Some(Reopened {
            at: now.to_string(),
            reason: format!(
                "{} was rewritten after its approval: back to draft",
                doc.file_name()
            ),
        });
    }
    state.status = DocStatus::Draft;
    state.approval = None;
    state
}

/// The review slot of `target` in `state`, created for a document on first use.
pub fn slot(state: &mut SpecState, target: Target) -> Option<&mut DocState> {
    match target {
        Target::Doc(doc) => Some(state.documents.entry(doc).or_default()),
        Target::Change => state.change.as_mut().map(|c| &mut c.review),
    }
}

fn no_target(spec: &str, target: Target) -> ReviewError {
    match target {
        Target::Change => ReviewError::NoOpenChange {
            spec: spec.to_string(),
        },
        Target::Doc(doc) => ReviewError::NotInSpec {
            spec: spec.to_string(),
            target: doc.as_str().to_string(),
        },
    }
}

fn log_name(state: &SpecState, target: Target) -> String {
    match (target, &state.change) {
        (Target::Change, Some(c)) => format!("change {}", c.id),
        _ => target.as_str().to_string(),
    }
}

/// Builds the subject from an already loaded and evaluated spec.
pub fn subject_of(loaded: &Loaded, e: &Evaluation, target: Target) -> Result<Subject, ReviewError> {
    let (path, text, errors, warnings, status, summary) = match target {
        Target::Doc(doc) => {
            let report = e
                .documents
                .iter()
                .find(|d| d.doc == doc)
                .ok_or_else(|| no_target(&e.name, target))?;
            let text = loaded.text(doc).map(str::to_string);
            let summary = summarize(e, doc);
            (
                report.path.clone(),
                text,
                report.errors,
                report.warnings,
                report.status,
                summary,
            )
        }
        Target::Change => {
            let change = loaded
                .state
                .change
                .as_ref()
                .ok_or_else(|| no_target(&e.name, target))?;
            let path = loaded.spec.change_path(&change.id);
            let errors = loaded.change_errors;
            let summary = format!("change {}: {}", change.id, change.summary);
            let text = loaded.change_text.clone();
            (path, text, errors, 0, change.review.status, summary)
        }
    };
    let text = text.ok_or_else(|| ReviewError::Missing { path: path.clone() })?;
    Ok(Subject {
        spec: e.name.clone(),
        target: target.as_str().to_string(),
        sha256: content_hash(target, &text),
        bytes: text.len(),
        path,
        errors,
        warnings,
        status,
        summary,
    })
}

fn summarize(e: &Evaluation, doc: DocKind) -> String {
    let p = &e.parsed;
    match doc {
        DocKind::Requirements | DocKind::Bugfix => {
            p.requirements.as_ref().map_or_else(String::new, |r| {
                format!(
                    "{} requirement(s), {} criteria",
                    r.requirements.len(),
                    r.criteria().count()
                )
            })
        }
        DocKind::Design => p.design.as_ref().map_or_else(String::new, |d| {
            format!("{} component(s)", d.components.len())
        }),
        DocKind::Tasks => p
            .tasks
            .as_ref()
            .map_or_else(String::new, |t| format!("{} task(s)", t.tasks.len())),
    }
}

/// One sentence: what comes after this decision.
fn next_step(e: &Evaluation, target: Target, decision: Decision) -> String {
    let doc = match (target, decision) {
        (Target::Change, Decision::Approve) => {
            return format!(
                "apply the change with spec_change(name=\"{}\", action=\"apply\")",
                e.name
            )
        }
        (Target::Change, Decision::RequestChanges) => {
            return "revise the change and propose it again with spec_change(action=\"propose\")"
                .into()
        }
        (Target::Doc(doc), Decision::RequestChanges) => {
            return format!(
            "revise {} as the reviewer asked, save it with spec_write and ask for a review again",
            doc.file_name()
        )
        }
        (Target::Doc(doc), Decision::Approve) => doc,
    };
    let docs = e.kind.documents();
    let later = docs.iter().skip_while(|d| **d != doc).skip(1).find(|d| {
        e.documents
            .iter()
            .any(|r| r.doc == **d && r.status != DocStatus::Approved)
    });
    match later {
        Some(next) => format!(
            "write {} (spec_guide(phase=\"{}\", name=\"{}\"))",
            next.file_name(),
            next.as_str(),
            e.name
        ),
        None => format!("implement the tasks with task_next(name=\"{}\")", e.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_hash_ignores_checkbox_marks_only() {
        let todo = "# Tasks\n\n- [ ] 1. A\n  - [ ] 1.1 B\n```\n- [ ] 9. fenced\n```\n";
        let done = todo.replace("- [ ] 1. A", "- [x] 1. A");
        let progress = done.replace("- [ ] 1.1", "- [-] 1.1");
        let tasks = Target::Doc(DocKind::Tasks);
        assert_eq!(content_hash(tasks, todo), content_hash(tasks, &progress));
        let reworded = todo.replace("1. A", "1. AA");
        assert_ne!(content_hash(tasks, todo), content_hash(tasks, &reworded));
        let fenced = todo.replace("[ ] 9.", "[x] 9.");
        assert_ne!(
            content_hash(tasks, todo),
            content_hash(tasks, &fenced),
            "code is content"
        );
        let req = Target::Doc(DocKind::Requirements);
        assert_ne!(content_hash(req, todo), content_hash(req, &progress));
        assert_eq!(content_hash(req, "abc"), crate::sha256::sha256_hex(b"abc"));
    }

    fn approved(sha: &str) -> DocState {
        DocState {
            status: DocStatus::Approved,
            approval: Some(Approval {
                sha256: sha.into(),
                at: "2026-01-01T00:00:00Z".into(),
                channel: Channel::Cli,
            }),
            ..DocState::default()
        }
    }

    #[test]
    fn reconcile_reopens_changed_and_deleted_documents() {
        let spec = SpecRef {
            name: "x".into(),
            source: super::super::store::Source::Native,
            dir: "specs/x".into(),
        };
        let req = "# R\n";
        let mut state = SpecState::default();
        let sha = content_hash(Target::Doc(DocKind::Requirements), req);
        state
            .documents
            .insert(DocKind::Requirements, approved(&sha));
        state.documents.insert(DocKind::Design, approved("00"));
        let texts = vec![
            (DocKind::Requirements, Some(req.to_string())),
            (DocKind::Design, None),
            (DocKind::Tasks, Some("x".to_string())),
        ];
        let notices = reconcile(&mut state, &spec, &texts, None, "now");
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(
            notices[0].contains("specs/x/design.md was deleted"),
            "{notices:?}"
        );
        assert_eq!(
            state.documents[&DocKind::Requirements].status,
            DocStatus::Approved
        );
        let design = &state.documents[&DocKind::Design];
        assert_eq!(design.status, DocStatus::Draft);
        assert!(design.approval.is_none() && design.reopened.is_some());
        let texts = vec![(DocKind::Requirements, Some("# R edited\n".to_string()))];
        let notices = reconcile(&mut state, &spec, &texts, None, "later");
        assert!(notices[0].contains("changed after its approval of 2026-01-01T00:00:00Z via cli"));
        assert!(
            reconcile(&mut state, &spec, &texts, None, "again").is_empty(),
            "once only"
        );
    }

    #[test]
    fn after_write_keeps_an_approval_only_for_identical_bytes() {
        let text = "# R\n";
        let sha = content_hash(Target::Doc(DocKind::Requirements), text);
        let prev = approved(&sha);
        let same = after_write(Some(&prev), DocKind::Requirements, text, "t");
        assert_eq!(same.status, DocStatus::Approved);
        let other = after_write(Some(&prev), DocKind::Requirements, "# S\n", "t");
        assert_eq!(other.status, DocStatus::Draft);
        assert!(other.approval.is_none());
        assert!(other
            .reopened
            .is_some_and(|r| r.reason.contains("rewritten")));
        let fresh = after_write(None, DocKind::Design, "x", "t");
        assert_eq!((fresh.status, fresh.reopened), (DocStatus::Draft, None));
    }

    #[test]
    fn targets_and_decisions_parse() {
        assert_eq!(Target::parse("change"), Some(Target::Change));
        assert_eq!(Target::parse("tasks"), Some(Target::Doc(DocKind::Tasks)));
        assert_eq!(Target::parse("code"), None);
        for name in Target::NAMES {
            assert_eq!(Target::parse(name).map(Target::as_str), Some(name));
        }
        assert_eq!(
            Decision::parse("request-changes"),
            Some(Decision::RequestChanges)
        );
        let json = serde_json::to_string(&approved("ab")).expect("serializes");
        assert_eq!(
            json,
            r#"{"status":"approved","approval":{"sha256":"ab","at":"2026-01-01T00:00:00Z","channel":"cli"}}"#
        );
    }
}
