//! Change requests after approval, on disk: `propose` writes `changes/NNN-slug.md` and
//! reopens what it touches; `apply` merges an approved change into `requirements.md` and
//! refreshes `tasks.md`. The text work lives in `delta.rs`; this file owns the sequence
//! and the review state.
//!
//! A spec has at most one open change request. Proposing again before it is approved
//! replaces it (same number); once approved it must be applied first.
//!
//! On propose, from the traceability of the modified and removed requirements:
//! `requirements.md` goes back to draft (it is about to change), `design.md` and `tasks.md`
//! too when components or tasks cite them (or requirements are added), and every impacted
//! task that was done goes back to todo with a rework note under it. On apply, the merged
//! `requirements.md` is approved through the change (its content is exactly what the user
//! approved plus the approved delta); design and tasks wait for their own review.

use serde::Serialize;

use super::delta::{self, Delta, Op};
use super::review::{
    self, content_hash, Approval, Channel, Decision, Reopened, ReviewEntry, Target,
};
use super::store::{
    ChangeState, DocKind, DocState, DocStatus, Kind, SpecState, Store, StoreError, TaskLogEntry,
};
use super::workflow::{evaluate, Evaluation, Loaded};
use super::{impact, set_task_status, Diagnostic, ImpactOf, TaskStatus};

/// Longest slug taken from a summary, in words.
const SLUG_WORDS: usize = 5;

/// What `propose` or `apply` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeReport {
    pub name: String,
    /// `NNN-slug`.
    pub change: String,
    pub path: String,
    /// `proposed` or `applied`.
    pub status: &'static str,
    pub summary: String,
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
    /// Design components citing modified or removed requirements.
    pub design_sections: Vec<String>,
    /// Tasks citing modified or removed requirements.
    pub tasks: Vec<String>,
    /// Documents put back to draft.
    pub reopened: Vec<String>,
    /// Done tasks turned back to todo with a rework note.
    pub reworked: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// The short rendering for the assistant.
    #[serde(skip)]
    pub text: String,
}

/// Why a change step was refused.
#[derive(Debug)]
pub enum ChangeError {
    Store(StoreError),
    /// The request cannot go ahead; the message says what to do instead.
    Refused(String),
    /// The delta has errors; nothing was written.
    Invalid(Vec<Diagnostic>),
}

impl std::fmt::Display for ChangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeError::Store(e) => e.fmt(f),
            ChangeError::Refused(why) => f.write_str(why),
            ChangeError::Invalid(diagnostics) => {
                write!(
                    f,
                    "the change has {} problem(s); nothing was written:",
                    diagnostics.len()
                )?;
                for d in diagnostics {
                    write!(f, "\n- line {} {}: {}", d.line, d.code.as_str(), d.message)?;
                }
                Ok(())
            }
        }
    }
}

impl From<StoreError> for ChangeError {
    fn from(e: StoreError) -> ChangeError {
        ChangeError::Store(e)
    }
}

/// Components and tasks that cite the modified or removed requirements.
struct Reach {
    components: Vec<String>,
    tasks: Vec<String>,
}

fn reach(e: &Evaluation, d: &Delta) -> Reach {
    let mut out = Reach {
        components: Vec::new(),
        tasks: Vec::new(),
    };
    let (Some(req), Some(design), Some(tasks)) =
        (&e.parsed.requirements, &e.parsed.design, &e.parsed.tasks)
    else {
        return out;
    };
    let touched = d.blocks.iter().filter(|b| b.op != Op::Added);
    for slice in touched.filter_map(|b| impact(req, design, tasks, ImpactOf::Requirement(&b.id))) {
        for c in slice.components {
            if !out.components.contains(&c) {
                out.components.push(c);
            }
        }
        for t in slice.tasks {
            if !out.tasks.contains(&t) {
                out.tasks.push(t);
            }
        }
    }
    out
}

/// `propose`: checks the delta, writes the change request, reopens what it touches; all
/// under the spec's state lock (two proposals cannot take the same number).
pub fn propose(
    store: &Store<'_>,
    name: &str,
    summary: &str,
    delta_text: &str,
) -> Result<ChangeReport, ChangeError> {
    Loaded::update(store, store.find(name)?, |loaded| {
        let (report, state) = propose_loaded(store, loaded, summary, delta_text)?;
        loaded.state = state;
        Ok(report)
    })
}

/// [`propose`] on the loaded spec: the report and the state to save.
fn propose_loaded(
    store: &Store<'_>,
    loaded: &Loaded,
    summary: &str,
    delta_text: &str,
) -> Result<(ChangeReport, SpecState), ChangeError> {
    let spec = loaded.spec.clone();
    let e = evaluate(loaded);
    precheck_propose(loaded, &e)?;
    if delta_text.trim().is_empty() {
        return Err(ChangeError::Refused(
            "propose needs delta: the ADDED / MODIFIED / REMOVED requirement blocks".into(),
        ));
    }
    let d = delta::check(delta_text);
    let mut problems = d.diagnostics.clone();
    if let Some(current) = &e.parsed.requirements {
        problems.extend(delta::check_against(&d, current));
    }
    let problems: Vec<Diagnostic> = problems
        .into_iter()
        .filter(|p| p.severity == super::Severity::Error)
        .collect();
    if !problems.is_empty() {
        return Err(ChangeError::Invalid(problems));
    }
    let mut state = loaded.state.clone();
    let id = match &state.change {
        Some(open) => open.id.clone(),
        None => next_id(store, &spec, summary)?,
    };
    let reach = reach(&e, &d);
    let now = crate::clock::now_rfc3339();
    let adds = !d.ids(Op::Added).is_empty();
    let mut reopened = vec![DocKind::Requirements];
    if loaded.text(DocKind::Design).is_some() && (adds || !reach.components.is_empty()) {
        reopened.push(DocKind::Design);
    }
    if loaded.text(DocKind::Tasks).is_some() && (adds || !reach.tasks.is_empty()) {
        reopened.push(DocKind::Tasks);
    }
    let reworked = rework(store, loaded, &mut state, &reach.tasks, &id, summary, &now)?;
    let text = render(
        &id, &spec.name, summary, delta_text, &d, &reach, &reopened, &now,
    );
    let written = store.write_change(&spec, &id, &text)?;
    for doc in &reopened {
        reopen(
            &mut state,
            *doc,
            format!("change {id} proposed: {summary}"),
            &now,
        );
    }
    state.change = Some(ChangeState {
        id: id.clone(),
        summary: summary.to_string(),
        proposed_at: now,
        review: DocState::default(),
    });
    let reopened: Vec<String> = reopened.iter().map(|d| d.file_name().to_string()).collect();
    let mut report = report(
        &spec.name,
        &id,
        written.path,
        "proposed",
        summary,
        &d,
        reach,
        reopened,
        reworked,
    );
    report.text = format!(
        "Proposed change {id} ({}): {}. Impacted design sections: {}; tasks: {}. Reopened {}{}. \
         Next: ask the user to review it with spec_review(name=\"{}\", doc=\"change\", action=\"approve\"), \
         then spec_change(action=\"apply\").",
        report.path,
        ops_text(&report),
        list_or_none(&report.design_sections),
        list_or_none(&report.tasks),
        report.reopened.join(", "),
        if report.reworked.is_empty() { String::new() } else { format!("; done tasks back to todo with a rework note: {}", report.reworked.join(", ")) },
        spec.name,
    );
    Ok((report, state))
}

fn precheck_propose(loaded: &Loaded, e: &Evaluation) -> Result<(), ChangeError> {
    if e.kind == Kind::Bugfix {
        return Err(ChangeError::Refused(
            "change requests evolve requirements.md of a feature spec; revise bugfix.md with spec_write instead".into(),
        ));
    }
    let approved = e
        .documents
        .iter()
        .any(|r| r.doc == DocKind::Requirements && r.status == DocStatus::Approved);
    let open = loaded.state.change.as_ref();
    if let Some(change) = open.filter(|c| c.review.status == DocStatus::Approved) {
        return Err(ChangeError::Refused(format!(
            "change {} is approved but not applied: apply it first with spec_change(action=\"apply\")",
            change.id
        )));
    }
    if !approved && open.is_none() {
        return Err(ChangeError::Refused(
            "requirements.md is not approved yet: edit it directly with spec_write; change requests are for approved specs".into(),
        ));
    }
    Ok(())
}

/// Done tasks among `impacted` back to todo, each with a rework note; logged.
fn rework(
    store: &Store<'_>,
    loaded: &Loaded,
    state: &mut SpecState,
    impacted: &[String],
    id: &str,
    summary: &str,
    now: &str,
) -> Result<Vec<String>, ChangeError> {
    let Some(text) = loaded.text(DocKind::Tasks) else {
        return Ok(Vec::new());
    };
    let done = delta::done_tasks(text, impacted);
    if done.is_empty() {
        return Ok(Vec::new());
    }
    let mut updated = text.to_string();
    for (task, _) in &done {
        updated = set_task_status(&updated, task, TaskStatus::Todo)
            .map_err(|e| ChangeError::Refused(format!("task {task}: {e}")))?;
    }
    let note = format!("_Rework: change {id}: {summary}_");
    let notes: Vec<(usize, String)> = done.iter().map(|(_, line)| (*line, note.clone())).collect();
    store.write_doc(
        &loaded.spec,
        DocKind::Tasks,
        &delta::add_task_notes(&updated, &notes),
    )?;
    let ids: Vec<String> = done.into_iter().map(|(t, _)| t).collect();
    state.task_log.push(TaskLogEntry {
        tasks: ids.clone(),
        status: "todo".into(),
        note: format!("rework: change {id}: {summary}"),
        at: now.to_string(),
    });
    Ok(ids)
}

/// `apply`: merges the approved change into requirements.md and refreshes tasks.md, under
/// the spec's state lock.
pub fn apply(store: &Store<'_>, name: &str) -> Result<ChangeReport, ChangeError> {
    Loaded::update(store, store.find(name)?, |loaded| {
        let (report, state) = apply_loaded(store, loaded, name)?;
        loaded.state = state;
        Ok(report)
    })
}

/// [`apply`] on the loaded spec: the report and the state to save.
fn apply_loaded(
    store: &Store<'_>,
    loaded: &Loaded,
    name: &str,
) -> Result<(ChangeReport, SpecState), ChangeError> {
    let spec = loaded.spec.clone();
    let e = evaluate(loaded);
    let Some(change) = loaded.state.change.clone() else {
        return Err(ChangeError::Refused(format!(
            "{name} has no open change request: propose one first"
        )));
    };
    if change.review.status != DocStatus::Approved {
        return Err(ChangeError::Refused(format!(
            "change {} is not approved (status {}): ask the user to review it with spec_review(name=\"{name}\", doc=\"change\", action=\"approve\")",
            change.id,
            serde_json::to_value(change.review.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
        )));
    }
    let text = loaded.change_text.clone().unwrap_or_default();
    let d = delta::check(&text);
    let current = loaded.text(DocKind::Requirements).unwrap_or_default();
    let merged = delta::merge_requirements(current, &d)
        .map_err(|m| ChangeError::Refused(format!("cannot apply change {}: {m}", change.id)))?;
    let reach = reach(&e, &d);
    let now = crate::clock::now_rfc3339();
    store.write_doc(&spec, DocKind::Requirements, &merged)?;
    if let Some(tasks) = loaded.text(DocKind::Tasks) {
        let added: Vec<(&str, &str)> = d
            .blocks
            .iter()
            .filter(|b| b.op == Op::Added)
            .map(|b| (b.id.as_str(), b.title.as_str()))
            .collect();
        let refreshed = delta::refresh_tasks(tasks, &d.ids(Op::Removed), &added);
        if refreshed != tasks {
            store.write_doc(&spec, DocKind::Tasks, &refreshed)?;
        }
    }
    let marked = text.replacen("- Status: proposed", &format!("- Status: applied {now}"), 1);
    store.write_change(&spec, &change.id, &marked)?;
    let mut state = loaded.state.clone();
    let sha = content_hash(Target::Doc(DocKind::Requirements), &merged);
    let note = format!("merged from approved change {}", change.id);
    state.documents.insert(
        DocKind::Requirements,
        DocState {
            status: DocStatus::Approved,
            updated_at: Some(now.clone()),
            approval: Some(Approval {
                sha256: sha.clone(),
                at: now.clone(),
                channel: Channel::Change,
            }),
            note: Some(note.clone()),
            reopened: None,
        },
    );
    state.reviews.push(ReviewEntry {
        target: "requirements".into(),
        decision: Decision::Approve,
        channel: Channel::Change,
        sha256: sha,
        note,
        at: now,
    });
    state.change = None;
    let path = spec.change_path(&change.id);
    let mut report = report(
        &spec.name,
        &change.id,
        path,
        "applied",
        &change.summary,
        &d,
        reach,
        Vec::new(),
        Vec::new(),
    );
    report.text = format!(
        "Applied change {}: {} merged into requirements.md (approved through the change); tasks.md refreshed, \
         completed tasks kept. Next: update design.md for {} and tasks.md where needed, then ask for their review.",
        change.id,
        ops_text(&report),
        list_or_none(&report.design_sections),
    );
    Ok((report, state))
}

/// Puts `doc` back to draft with a reason (no-op for a document never reviewed).
fn reopen(state: &mut SpecState, doc: DocKind, reason: String, now: &str) {
    let Some(slot) = review::slot(state, Target::Doc(doc)) else {
        return;
    };
    slot.status = DocStatus::Draft;
    slot.approval = None;
    slot.reopened = Some(Reopened {
        at: now.to_string(),
        reason,
    });
}

/// The next free `NNN-slug` for this spec.
fn next_id(
    store: &Store<'_>,
    spec: &super::store::SpecRef,
    summary: &str,
) -> Result<String, ChangeError> {
    let last = store
        .change_ids(spec)?
        .iter()
        .filter_map(|id| id.split('-').next()?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    Ok(format!("{:03}-{}", last + 1, slug(summary)))
}

fn slug(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(SLUG_WORDS)
        .map(str::to_ascii_lowercase)
        .collect();
    if words.is_empty() {
        "change".to_string()
    } else {
        words.join("-")
    }
}

#[allow(clippy::too_many_arguments)]
fn render(
    id: &str,
    spec: &str,
    summary: &str,
    delta_text: &str,
    d: &Delta,
    reach: &Reach,
    reopened: &[DocKind],
    now: &str,
) -> String {
    let ids = |op| d.ids(op).join(", ");
    let docs: Vec<&str> = reopened.iter().map(|d| d.file_name()).collect();
    format!(
        "# Change {id}\n\n- Spec: {spec}\n- Status: proposed\n- Proposed: {now}\n\n## Summary\n\n{}\n\n{}\n\n## Impact\n\n\
         - Added requirements: {}\n- Modified requirements: {}\n- Removed requirements: {}\n\
         - Design sections: {}\n- Tasks: {}\n- Reopened: {}\n",
        summary.trim(),
        delta_text.trim(),
        or_none(&ids(Op::Added)),
        or_none(&ids(Op::Modified)),
        or_none(&ids(Op::Removed)),
        list_or_none(&reach.components),
        list_or_none(&reach.tasks),
        docs.join(", "),
    )
}

#[allow(clippy::too_many_arguments)]
fn report(
    name: &str,
    id: &str,
    path: String,
    status: &'static str,
    summary: &str,
    d: &Delta,
    reach: Reach,
    reopened: Vec<String>,
    reworked: Vec<String>,
) -> ChangeReport {
    let owned = |op| d.ids(op).into_iter().map(str::to_string).collect();
    ChangeReport {
        name: name.to_string(),
        change: id.to_string(),
        path,
        status,
        summary: summary.to_string(),
        added: owned(Op::Added),
        modified: owned(Op::Modified),
        removed: owned(Op::Removed),
        design_sections: reach.components,
        tasks: reach.tasks,
        reopened,
        reworked,
        diagnostics: d.diagnostics.clone(),
        text: String::new(),
    }
}

fn ops_text(r: &ChangeReport) -> String {
    let part = |label: &str, ids: &[String]| {
        (!ids.is_empty()).then(|| format!("{label} {}", ids.join(", ")))
    };
    [
        part("ADDED", &r.added),
        part("MODIFIED", &r.modified),
        part("REMOVED", &r.removed),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ")
}

fn list_or_none(items: &[String]) -> String {
    or_none(&items.join(", "))
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        "none".to_string()
    } else {
        text.to_string()
    }
}
