//! The spec-workflow tools: thin adapters from tool arguments to the `spec` domain
//! (store, checks, workflow) and back to small, structured, token-cheap results.
//!
//! Every result has a short text rendering plus `structuredContent` matching the tool's
//! `outputSchema`. Long lists (specs, diagnostics, trace rows) are cut at
//! [`RESULT_BUDGET_BYTES`] (about 8k tokens) and continue with an opaque `cursor`.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::mcp::meta::LogLevel;
use crate::mcp::tools::{Annotations, Run, ToolDef, ToolOutput};
use crate::mcp::{RequestCtx, Server};
use crate::spec::gates;
use crate::spec::review;
use crate::spec::store::{DocKind, Kind, Store, StoreError, TaskLogEntry};
use crate::spec::workflow::{evaluate, Evaluation, Loaded, Phase};
use crate::spec::{impact, set_task_status, ImpactOf, TaskStatus};

/// Largest serialized list a tool returns in one page (about 8k tokens).
pub const RESULT_BUDGET_BYTES: usize = 32 * 1024;

const READ_ONLY: Annotations = Annotations {
    read_only: true,
    destructive: false,
    idempotent: true,
};

/// Every spec-workflow tool, in listing order.
pub const SPEC_TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "spec_init",
        title: "Start a spec",
        description: "Create a new spec (a feature or a bugfix) under specs/<name>/. Call this first for new work; it writes no documents, only the spec's state. Then follow spec_guide for the first phase.",
        input_schema: || {
            json!({"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1, "description": "kebab-case spec name, e.g. user-auth"},
                "idea": {"type": "string", "description": "The rough idea in the user's words"},
                "kind": {"type": "string", "enum": ["feature", "bugfix"], "description": "Default: feature"}
            }, "required": ["name", "idea"], "additionalProperties": false})
        },
        output_schema: Some(|| object_schema(&["name", "dir", "kind", "phase"])),
        annotations: Annotations { read_only: false, destructive: false, idempotent: false },
        call: Run::Now(spec_init),
    },
    ToolDef {
        name: "spec_status",
        title: "Spec status",
        description: "Without a name: an index of every spec with its phase and document states. With a name: that spec's phase, documents, diagnostics counts, coverage, task progress and next task.",
        input_schema: || {
            json!({"type": "object", "properties": {
                "name": {"type": "string", "description": "Spec name; omit for the index"},
                "cursor": {"type": "string", "description": "From next_cursor of a previous page"}
            }, "additionalProperties": false})
        },
        output_schema: Some(|| object_schema(&[])),
        annotations: READ_ONLY,
        call: Run::Now(spec_status),
    },
    ToolDef {
        name: "spec_guide",
        title: "How to write the next document",
        description: "Concise instructions for a phase (requirements, bugfix, design, tasks, implement), the effective template and the steering documents that apply. Read it before writing a document.",
        input_schema: || {
            json!({"type": "object", "properties": {
                "phase": {"type": "string", "enum": ["requirements", "bugfix", "design", "tasks", "implement"]},
                "name": {"type": "string", "description": "Spec name, to include its current diagnostics"}
            }, "required": ["phase"], "additionalProperties": false})
        },
        output_schema: Some(|| object_schema(&["phase", "instructions", "template"])),
        annotations: READ_ONLY,
        call: Run::Now(spec_guide),
    },
    ToolDef {
        name: "spec_write",
        title: "Write a spec document",
        description: "Write requirements.md, bugfix.md, design.md or tasks.md of a spec (atomically) and get its diagnostics back. The document becomes a draft for the user to review.",
        input_schema: || {
            json!({"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1},
                "doc": {"type": "string", "enum": ["requirements", "bugfix", "design", "tasks"]},
                "content": {"type": "string", "description": "The whole Markdown document"}
            }, "required": ["name", "doc", "content"], "additionalProperties": false})
        },
        output_schema: Some(|| object_schema(&["name", "doc", "path", "phase", "errors", "warnings", "diagnostics"])),
        annotations: Annotations { read_only: false, destructive: true, idempotent: true },
        call: Run::Now(spec_write),
    },
    ToolDef {
        name: "spec_validate",
        title: "Check a spec",
        description: "Deterministic checks of a spec's documents: EARS wording, numbering, required design sections, task format, traceability. Returns diagnostics with line, id and a suggestion.",
        input_schema: || {
            json!({"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1},
                "doc": {"type": "string", "enum": ["requirements", "bugfix", "design", "tasks"]},
                "cursor": {"type": "string"}
            }, "required": ["name"], "additionalProperties": false})
        },
        output_schema: Some(|| object_schema(&["name", "phase", "errors", "warnings", "diagnostics"])),
        annotations: READ_ONLY,
        call: Run::Now(spec_validate),
    },
    ToolDef {
        name: "spec_trace",
        title: "Traceability",
        description: "The requirement -> design -> task matrix with coverage, or with id the impact slice of one requirement, criterion, task or design component.",
        input_schema: || {
            json!({"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1},
                "id": {"type": "string", "description": "Requirement (2), criterion (2.1), task (3.1) or component name"},
                "cursor": {"type": "string"}
            }, "required": ["name"], "additionalProperties": false})
        },
        output_schema: Some(|| object_schema(&["name"])),
        annotations: READ_ONLY,
        call: Run::Now(spec_trace),
    },
    ToolDef {
        name: "task_next",
        title: "Next task",
        description: "The next actionable task (dependencies done, in-progress first) with exactly the context needed: its text, the criteria it cites, the design sections that cite them, and its files.",
        input_schema: || {
            json!({"type": "object", "properties": {
                "name": {"type": "string", "description": "Spec name; omit to take the first spec with work left"}
            }, "additionalProperties": false})
        },
        output_schema: Some(|| object_schema(&[])),
        annotations: READ_ONLY,
        call: Run::Now(task_next),
    },
    ToolDef {
        name: "task_update",
        title: "Update task status",
        description: "Set the status of tasks in tasks.md (only their checkboxes change). Mark a task done only with evidence (tests passing, code written); put the evidence in note.",
        input_schema: || {
            json!({"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1},
                "task_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "status": {"type": "string", "enum": ["todo", "in_progress", "done", "blocked"]},
                "note": {"type": "string", "description": "Evidence or reason, recorded in spec.json"}
            }, "required": ["name", "task_ids", "status"], "additionalProperties": false})
        },
        output_schema: Some(|| object_schema(&["name", "updated", "progress"])),
        annotations: Annotations { read_only: false, destructive: false, idempotent: true },
        call: Run::Now(task_update),
    },
];

fn object_schema(required: &[&str]) -> Value {
    json!({"type": "object", "required": required})
}

fn str_arg<'a>(args: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    args.get(name).and_then(Value::as_str)
}

/// A successful result: short text plus structured content.
fn done(text: String, structured: Value) -> ToolOutput {
    ToolOutput {
        text,
        structured: Some(structured),
        is_error: false,
    }
}

fn failed(e: StoreError) -> ToolOutput {
    ToolOutput::error(e.to_string())
}

fn load(server: &Server, name: &str) -> Result<(Loaded, Evaluation), StoreError> {
    let store = Store::new(&server.workspace);
    let loaded = Loaded::load(&store, store.find(name)?)?;
    let evaluation = evaluate(&loaded);
    Ok((loaded, evaluation))
}

/// Cuts `items` to one page within the byte budget, starting at `cursor` (an offset we
/// issued). Returns the page and the cursor of the next one.
pub fn page<T: Serialize>(
    items: &[T],
    cursor: Option<&str>,
) -> Result<(Vec<Value>, Option<String>), String> {
    let start = match cursor {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|&n| n < items.len())
            .ok_or_else(|| format!("invalid cursor {c:?}"))?,
    };
    let mut out = Vec::new();
    let mut used = 0;
    for item in &items[start..] {
        let value = serde_json::to_value(item).expect("domain types serialize");
        let size = value.to_string().len();
        if !out.is_empty() && used + size > RESULT_BUDGET_BYTES {
            break;
        }
        used += size;
        out.push(value);
    }
    let end = start + out.len();
    Ok((out, (end < items.len()).then(|| end.to_string())))
}

fn spec_init(server: &Server, ctx: &mut RequestCtx<'_>, args: &Map<String, Value>) -> ToolOutput {
    let name = str_arg(args, "name").unwrap_or_default();
    let kind = str_arg(args, "kind")
        .and_then(Kind::parse)
        .unwrap_or_default();
    let store = Store::new(&server.workspace);
    let spec = match store.init(name, kind, str_arg(args, "idea").unwrap_or_default()) {
        Ok(spec) => spec,
        Err(e) => return failed(e),
    };
    server.changes.publish();
    ctx.log(
        LogLevel::Info,
        "spec_init",
        json!({"name": spec.name, "kind": kind}),
    );
    let first = kind.documents()[0];
    let text = format!(
        "Created {} spec '{}' in {}/. Next: call spec_guide(phase=\"{}\", name=\"{}\"), write {} with spec_write, then ask the user to approve it with spec_review.",
        if kind == Kind::Bugfix { "bugfix" } else { "feature" },
        spec.name,
        spec.dir,
        first.as_str(),
        spec.name,
        first.file_name()
    );
    done(
        text,
        json!({"name": spec.name, "dir": spec.dir, "kind": kind, "phase": first.as_str()}),
    )
}

fn spec_status(
    server: &Server,
    _ctx: &mut RequestCtx<'_>,
    args: &Map<String, Value>,
) -> ToolOutput {
    let result = match str_arg(args, "name") {
        Some(name) => load(server, name).map(|(_, e)| status_of(&e, server.gates())),
        None => index(server, str_arg(args, "cursor")),
    };
    result.unwrap_or_else(failed)
}

fn status_of(e: &Evaluation, mode: gates::GateMode) -> ToolOutput {
    let docs: Vec<String> = e
        .documents
        .iter()
        .map(|d| {
            let mut state = if d.exists {
                status_word(d.status).to_string()
            } else {
                "missing".to_string()
            };
            if let Some(a) = &d.approval {
                state.push_str(&format!(" via {} at {}", a.channel.as_str(), a.at));
            }
            if let (Some(note), false) = (&d.note, d.approval.is_some()) {
                state.push_str(&format!(" (reviewer: {note:?})"));
            }
            format!(
                "{} {state} ({} errors, {} warnings)",
                d.doc.as_str(),
                d.errors,
                d.warnings
            )
        })
        .collect();
    let mut text = format!(
        "{} [{}]: phase {}. {}.",
        e.name,
        kind_str(e.kind),
        e.phase.as_str(),
        docs.join("; ")
    );
    if let Some(p) = &e.progress {
        text.push_str(&format!(" Tasks {}/{} done.", p.done, p.total));
    }
    if let Some(c) = &e.coverage {
        text.push_str(&format!(
            " Coverage: design {}%, tasks {}%.",
            c.design_percent, c.tasks_percent
        ));
    }
    if let Some(next) = &e.next_task {
        text.push_str(&format!(" Next task: {next}."));
    }
    for d in e.documents.iter().filter(|d| d.approval.is_none()) {
        if let Some(r) = &d.reopened {
            text.push_str(&format!("\nReopened {}: {}.", r.at, r.reason));
        }
    }
    if let Some(id) = &e.open_change {
        text.push_str(&format!(
            "\nOpen change request: {id} (review it, then spec_change action=apply)."
        ));
    }
    let gate = gates::before_implement(e, mode);
    if !gate.clear() {
        let list: Vec<String> = gate
            .blockers
            .iter()
            .map(|b| format!("{} ({})", b.target, b.reason))
            .collect();
        text.push_str(&format!(
            "\nReview gates ({}): implementation waits for {}.",
            mode.as_str(),
            list.join(", ")
        ));
    }
    let structured = json!({
        "name": e.name, "source": e.source, "kind": e.kind, "phase": e.phase,
        "documents": e.documents, "errors": e.errors(),
        "warnings": e.diagnostics.iter().filter(|d| d.severity == crate::spec::Severity::Warning).count(),
        "coverage": e.coverage, "progress": e.progress, "next_task": e.next_task,
        "open_change": e.open_change, "notices": e.notices, "gate": gate,
    });
    done(text, structured)
}

fn status_word(status: crate::spec::store::DocStatus) -> &'static str {
    use crate::spec::store::DocStatus;
    match status {
        DocStatus::Draft => "draft",
        DocStatus::InReview => "in_review",
        DocStatus::Approved => "approved",
        DocStatus::ChangesRequested => "changes_requested",
    }
}

fn kind_str(kind: Kind) -> &'static str {
    match kind {
        Kind::Feature => "feature",
        Kind::Bugfix => "bugfix",
    }
}

/// One line per spec, for the index.
#[derive(Serialize)]
struct IndexEntry {
    name: String,
    source: crate::spec::store::Source,
    kind: Kind,
    phase: Phase,
    errors: usize,
    tasks_done: Option<String>,
}

fn index(server: &Server, cursor: Option<&str>) -> Result<ToolOutput, StoreError> {
    let store = Store::new(&server.workspace);
    let mut entries = Vec::new();
    for spec in store.list()? {
        let e = evaluate(&Loaded::load(&store, spec)?);
        let tasks_done = e.progress.map(|p| format!("{}/{}", p.done, p.total));
        entries.push(IndexEntry {
            errors: e.errors(),
            name: e.name,
            source: e.source,
            kind: e.kind,
            phase: e.phase,
            tasks_done,
        });
    }
    let (specs, next) = match page(&entries, cursor) {
        Ok(p) => p,
        Err(e) => return Ok(ToolOutput::error(e)),
    };
    let lines: Vec<String> = specs
        .iter()
        .map(|s| {
            format!(
                "- {} ({}, phase {}, {} errors)",
                s["name"].as_str().unwrap_or("?"),
                s["kind"].as_str().unwrap_or("?"),
                s["phase"].as_str().unwrap_or("?"),
                s["errors"]
            )
        })
        .collect();
    let text = if entries.is_empty() {
        "No specs yet. Start one with spec_init(name, idea).".to_string()
    } else {
        format!("{} spec(s):\n{}", entries.len(), lines.join("\n"))
    };
    let mut structured = json!({"total": entries.len(), "specs": specs});
    if let Some(next) = next {
        structured["next_cursor"] = json!(next);
    }
    Ok(done(text, structured))
}

/// What to do in each phase: the contract in a few lines, not an essay.
fn instructions(phase: &str) -> &'static str {
    match phase {
        "requirements" => "Write requirements.md: an Introduction, then numbered requirements (### Requirement N: Title), each with a **User Story:** line (As a …, I want …, so that …) and #### Acceptance Criteria numbered 1., 2., … . Write every criterion as one EARS sentence with exactly one SHALL: WHEN <trigger> THEN the <system> SHALL <response>; IF <unwanted condition> THEN …; WHILE <state> …; WHERE <feature> …; or The <system> SHALL … . Avoid vague words (fast, easy, robust); use numbers. No TBD: ask the user instead. Save with spec_write, fix every error spec_validate reports, then call spec_review so the user can approve it before any design.",
        "bugfix" => "Write bugfix.md with five ## sections: Current Behaviour (the defect with exact inputs, items 1.1, 1.2 …), Expected Behaviour and Unchanged Behaviour as numbered EARS criteria with one SHALL each (IDs 2.1 … and 3.1 …; the unchanged ones guard against regressions, e.g. SHALL CONTINUE TO …), Reproduction (numbered steps) and Root Cause (found before the fix is designed). Design components and tasks cite these IDs like acceptance criteria. Save with spec_write, then call spec_review so the user can approve it.",
        "design" => "Write design.md from the approved requirements with the sections Overview, Architecture, Components and Interfaces, Data Models, Error Handling, Testing Strategy. Give each component a ### heading and a line _Requirements: 1.1, 2.3_ naming the criteria it satisfies; every criterion must be cited by some component. Save with spec_write, then call spec_review so the user can approve it.",
        "tasks" => "Write tasks.md as small, testable, ordered steps: - [ ] 1. Title, sub-tasks - [ ] 1.1 …, each with sub-bullets _Requirements: 1.1_ (every criterion cited by some task), _Depends: 1_ where order matters, _Files: src/…_ . No task without a requirement. Save with spec_write, then call spec_review so the user can approve it.",
        "implement" => "Loop: task_next gives one task and its context; implement only that; run the tests; task_update(status=\"in_progress\") when starting and status=\"done\" with the evidence in note only when the tests pass. Never mark a task done without evidence, never skip a dependency, and stop to ask when the design does not cover something.",
        _ => "",
    }
}

fn spec_guide(server: &Server, _ctx: &mut RequestCtx<'_>, args: &Map<String, Value>) -> ToolOutput {
    let phase = str_arg(args, "phase").unwrap_or("requirements");
    let store = Store::new(&server.workspace);
    let doc = match phase {
        "implement" => None,
        other => DocKind::parse(other),
    };
    let (template, template_source) = doc.map(|d| store.template(d)).unwrap_or_default();
    let steering = match store.steering() {
        Ok(docs) => docs,
        Err(e) => return failed(e),
    };
    let mut text = format!("Phase {phase}: {}", instructions(phase));
    for (name, body) in &steering {
        text.push_str(&format!("\n\n## Steering: {name}\n{body}"));
    }
    if !template.is_empty() {
        text.push_str(&format!("\n\n## Template ({template_source})\n{template}"));
    }
    let mut structured = json!({
        "phase": phase, "instructions": instructions(phase), "template": template,
        "template_source": template_source,
        "steering": steering.iter().map(|(n, t)| json!({"name": n, "text": t})).collect::<Vec<_>>(),
    });
    if let Some(name) = str_arg(args, "name") {
        match load(server, name) {
            Ok((_, e)) => {
                let (diagnostics, _) = page(&e.diagnostics, None).unwrap_or_default();
                text.push_str(&format!(
                    "\n\n## Current state of {name}: phase {}, {} error(s)",
                    e.phase.as_str(),
                    e.errors()
                ));
                structured["current"] =
                    json!({"phase": e.phase, "errors": e.errors(), "diagnostics": diagnostics});
            }
            Err(e) => return failed(e),
        }
    }
    done(text, structured)
}

fn spec_write(server: &Server, ctx: &mut RequestCtx<'_>, args: &Map<String, Value>) -> ToolOutput {
    let name = str_arg(args, "name").unwrap_or_default();
    let doc = str_arg(args, "doc")
        .and_then(DocKind::parse)
        .unwrap_or(DocKind::Requirements);
    let store = Store::new(&server.workspace);
    let content = str_arg(args, "content").unwrap_or_default();
    let result = (|| {
        let spec = store.locate(name)?;
        if spec.read_only() {
            return Err(StoreError::ReadOnly(spec.name));
        }
        Loaded::update(&store, spec.clone(), |before| {
            let mut state = before.state.clone();
            if !state.kind.documents().contains(&doc) {
                return Err(StoreError::WrongDocument {
                    name: spec.name.clone(),
                    doc,
                    kind: state.kind,
                });
            }
            let gate = gates::before_write(&evaluate(before), doc, server.gates());
            if gate.refused {
                return Ok(Err(gate));
            }
            let created_spec = state.created_at.is_none() && store.find(name).is_err();
            let written = store.write_doc(&spec, doc, content)?;
            let after = Loaded::from_state(&store, spec.clone(), state.clone())?;
            let evaluation = evaluate(&after);
            let now = crate::clock::now_rfc3339();
            state.phase = evaluation.phase.as_str().to_string();
            if state.created_at.is_none() {
                state.created_at = Some(now.clone());
            }
            let review = review::after_write(state.documents.get(&doc), doc, content, &now);
            state.documents.insert(doc, review);
            before.state = state;
            Ok(Ok((written, evaluation, created_spec, gate)))
        })
    })();
    let (written, e, created_spec, gate) = match result {
        Ok(Ok(r)) => r,
        Ok(Err(gate)) => {
            let step = format!("writing {}", doc.file_name());
            return ToolOutput::error(gate.explain(name, &step));
        }
        Err(err) => return failed(err),
    };
    if created_spec {
        server.changes.publish();
    }
    ctx.log(
        LogLevel::Info,
        "spec_write",
        json!({"name": e.name, "doc": doc.as_str(), "bytes": written.bytes}),
    );
    let mine: Vec<_> = e
        .diagnostics
        .iter()
        .filter(|d| belongs_to(d, doc))
        .cloned()
        .collect();
    let (diagnostics, next) = page(&mine, None).unwrap_or_default();
    let errors = mine
        .iter()
        .filter(|d| d.severity == crate::spec::Severity::Error)
        .count();
    let warnings = mine
        .iter()
        .filter(|d| d.severity == crate::spec::Severity::Warning)
        .count();
    let mut text = format!(
        "Wrote {} ({} bytes). {errors} error(s), {warnings} warning(s); phase {}.",
        written.path,
        written.bytes,
        e.phase.as_str()
    );
    for d in diagnostics.iter().take(10) {
        text.push_str(&format!(
            "\n- line {} {}: {}",
            d["line"],
            d["code"].as_str().unwrap_or("?"),
            d["message"].as_str().unwrap_or("")
        ));
    }
    if !gate.clear() {
        let step = format!("writing {}", doc.file_name());
        text.push_str(&format!("\n{}", gate.explain(name, &step)));
    }
    let mut structured = json!({"name": e.name, "doc": doc, "path": written.path, "bytes": written.bytes, "phase": e.phase,
        "errors": errors, "warnings": warnings, "diagnostics": diagnostics});
    if !gate.clear() {
        structured["gate"] = json!(gate);
    }
    if let Some(next) = next {
        structured["next_cursor"] = json!(next);
    }
    done(text, structured)
}

fn belongs_to(d: &crate::spec::Diagnostic, doc: DocKind) -> bool {
    use crate::spec::Document;
    matches!(
        (d.document, doc),
        (Document::Requirements, DocKind::Requirements)
            | (Document::Design, DocKind::Design)
            | (Document::Tasks, DocKind::Tasks)
            | (Document::Bugfix, DocKind::Bugfix)
    )
}

fn spec_validate(
    server: &Server,
    _ctx: &mut RequestCtx<'_>,
    args: &Map<String, Value>,
) -> ToolOutput {
    let name = str_arg(args, "name").unwrap_or_default();
    let (loaded, e) = match load(server, name) {
        Ok(r) => r,
        Err(err) => return failed(err),
    };
    let doc = str_arg(args, "doc").and_then(DocKind::parse);
    let selected: Vec<_> = e
        .diagnostics
        .iter()
        .filter(|d| doc.is_none_or(|k| belongs_to(d, k)))
        .cloned()
        .collect();
    let (diagnostics, next) = match page(&selected, str_arg(args, "cursor")) {
        Ok(p) => p,
        Err(msg) => return ToolOutput::error(msg),
    };
    let errors = selected
        .iter()
        .filter(|d| d.severity == crate::spec::Severity::Error)
        .count();
    let warnings = selected
        .iter()
        .filter(|d| d.severity == crate::spec::Severity::Warning)
        .count();
    let mut text = format!(
        "{}: {errors} error(s), {warnings} warning(s); phase {}.",
        e.name,
        e.phase.as_str()
    );
    for d in &diagnostics {
        text.push_str(&format!(
            "\n- {} line {} {} [{}]: {}",
            d["document"].as_str().unwrap_or("?"),
            d["line"],
            d["code"].as_str().unwrap_or("?"),
            d["severity"].as_str().unwrap_or("?"),
            d["message"].as_str().unwrap_or("")
        ));
    }
    let mut structured = json!({"name": e.name, "phase": e.phase, "errors": errors, "warnings": warnings, "diagnostics": diagnostics});
    if let (Some(text), true) = (
        loaded.text(DocKind::Requirements),
        doc.is_none_or(|d| d == DocKind::Requirements),
    ) {
        structured["ears_patterns"] = json!(crate::spec::lint_requirements(text).pattern_counts);
    }
    if let Some(next) = next {
        structured["next_cursor"] = json!(next);
    }
    done(text, structured)
}

fn spec_trace(server: &Server, _ctx: &mut RequestCtx<'_>, args: &Map<String, Value>) -> ToolOutput {
    let name = str_arg(args, "name").unwrap_or_default();
    let (_, e) = match load(server, name) {
        Ok(r) => r,
        Err(err) => return failed(err),
    };
    let (Some(req), Some(design), Some(tasks)) =
        (&e.parsed.requirements, &e.parsed.design, &e.parsed.tasks)
    else {
        let missing: Vec<&str> = e
            .documents
            .iter()
            .filter(|d| !d.exists)
            .map(|d| d.doc.as_str())
            .collect();
        return ToolOutput::error(format!(
            "{name}: tracing needs requirements, design and tasks; missing: {}",
            missing.join(", ")
        ));
    };
    if let Some(id) = str_arg(args, "id") {
        let slice = [
            ImpactOf::Requirement(id),
            ImpactOf::Task(id),
            ImpactOf::Component(id),
        ]
        .into_iter()
        .find_map(|of| impact(req, design, tasks, of));
        return match slice {
            Some(slice) => {
                let text = format!(
                    "{id} touches criteria [{}], components [{}], tasks [{}], files [{}]",
                    slice.criteria.join(", "),
                    slice.components.join(", "),
                    slice.tasks.join(", "),
                    slice.files.join(", ")
                );
                done(text, json!({"name": e.name, "id": id, "impact": slice}))
            }
            None => ToolOutput::error(format!(
                "{id} is not a requirement, criterion, task or component of {name}"
            )),
        };
    }
    let report = crate::spec::trace(req, design, tasks);
    let (rows, next) = match page(&report.criteria, str_arg(args, "cursor")) {
        Ok(p) => p,
        Err(msg) => return ToolOutput::error(msg),
    };
    let c = report.coverage;
    let mut text = format!(
        "{}: {} criteria; design covers {}%, tasks {}%, both {}%.",
        e.name, c.criteria, c.design_percent, c.tasks_percent, c.both_percent
    );
    for row in report
        .criteria
        .iter()
        .filter(|r| r.components.is_empty() || r.tasks.is_empty())
        .take(20)
    {
        text.push_str(&format!(
            "\n- {} uncovered by {}",
            row.id,
            if row.components.is_empty() {
                "design"
            } else {
                "tasks"
            }
        ));
    }
    let mut structured =
        json!({"name": e.name, "coverage": c, "rows": rows, "diagnostics": report.diagnostics});
    if let Some(next) = next {
        structured["next_cursor"] = json!(next);
    }
    done(text, structured)
}

fn task_next(server: &Server, _ctx: &mut RequestCtx<'_>, args: &Map<String, Value>) -> ToolOutput {
    let store = Store::new(&server.workspace);
    let names: Vec<String> = match str_arg(args, "name") {
        Some(n) => vec![n.to_string()],
        None => match store.list() {
            Ok(specs) => specs.into_iter().map(|s| s.name).collect(),
            Err(e) => return failed(e),
        },
    };
    let mut held = Vec::new();
    for name in &names {
        let (_, e) = match load(server, name) {
            Ok(r) => r,
            Err(err) => return failed(err),
        };
        if e.next_task.is_none() {
            continue;
        }
        // Strict gates hold the work back; that is an answer, not a failure.
        let gate = gates::before_implement(&e, server.gates());
        if gate.refused {
            held.push((name.clone(), gate));
            continue;
        }
        if let Some(mut out) = next_task_context(&e) {
            if !gate.clear() {
                out.text
                    .push_str(&format!("\n{}", gate.explain(name, "implementing")));
                if let Some(s) = out.structured.as_mut() {
                    s["gate"] = json!(gate);
                }
            }
            return out;
        }
    }
    if let Some((name, gate)) = held.into_iter().next() {
        let text = format!(
            "No task handed out for {name}. {}",
            gate.explain(&name, "implementing")
        );
        return done(text, json!({"task": null, "name": name, "gate": gate}));
    }
    let why = match str_arg(args, "name") {
        Some(n) => format!("{n} has no actionable task (no tasks.md, everything done, or every open task is blocked or waiting)"),
        None => "no spec has an actionable task".to_string(),
    };
    done(why, json!({"task": null}))
}

fn next_task_context(e: &Evaluation) -> Option<ToolOutput> {
    let (tasks, id) = (e.parsed.tasks.as_ref()?, e.next_task.as_ref()?);
    let task = tasks.task(id)?;
    let cited: Vec<&str> = task.requirements.iter().map(|c| c.id.as_str()).collect();
    let criteria: Vec<Value> = e
        .parsed
        .requirements
        .iter()
        .flat_map(|r| r.criteria())
        .filter(|c| {
            cited
                .iter()
                .any(|id| *id == c.id || *id == c.requirement_id)
        })
        .map(|c| json!({"id": c.id, "text": c.text}))
        .collect();
    let criterion_ids: Vec<&str> = criteria.iter().filter_map(|c| c["id"].as_str()).collect();
    let design: Vec<Value> = e
        .parsed
        .design
        .iter()
        .flat_map(|d| d.components.iter())
        .filter(|comp| {
            comp.requirements
                .iter()
                .any(|c| criterion_ids.contains(&c.id.as_str()) || cited.contains(&c.id.as_str()))
        })
        .map(|comp| json!({"name": comp.name, "section": comp.section, "line": comp.line}))
        .collect();
    let mut text = format!(
        "{}: task {} \"{}\" ({}).",
        e.name,
        task.id,
        task.title,
        status_name(task.status)
    );
    for c in &criteria {
        text.push_str(&format!(
            "\n- criterion {}: {}",
            c["id"].as_str().unwrap_or("?"),
            c["text"].as_str().unwrap_or("")
        ));
    }
    for d in &design {
        text.push_str(&format!(
            "\n- design: {} (design.md line {})",
            d["name"].as_str().unwrap_or("?"),
            d["line"]
        ));
    }
    if !task.files.is_empty() {
        text.push_str(&format!("\n- files: {}", task.files.join(", ")));
    }
    let structured = json!({"name": e.name, "task": task, "criteria": criteria, "design": design, "files": task.files});
    Some(done(text, structured))
}

fn status_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Todo => "todo",
        TaskStatus::InProgress => "in_progress",
        TaskStatus::Done => "done",
        TaskStatus::Blocked => "blocked",
    }
}

fn task_update(server: &Server, ctx: &mut RequestCtx<'_>, args: &Map<String, Value>) -> ToolOutput {
    let name = str_arg(args, "name").unwrap_or_default();
    let status = match str_arg(args, "status") {
        Some("todo") => TaskStatus::Todo,
        Some("in_progress") => TaskStatus::InProgress,
        Some("blocked") => TaskStatus::Blocked,
        _ => TaskStatus::Done,
    };
    let status_text = status_name(status);
    let ids: Vec<&str> = args
        .get("task_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let store = Store::new(&server.workspace);
    // The checkboxes and the task log change together, under the spec's state lock.
    let result = store.find(name).and_then(|spec| {
        Loaded::update(&store, spec, |loaded| {
            let Some(mut text) = loaded.text(DocKind::Tasks).map(str::to_string) else {
                return Ok(Err(format!("{name} has no tasks.md yet")));
            };
            for id in &ids {
                match set_task_status(&text, id, status) {
                    Ok(updated) => text = updated,
                    Err(e) => return Ok(Err(format!("task {id}: {e}; nothing was changed"))),
                }
            }
            store.write_doc(&loaded.spec, DocKind::Tasks, &text)?;
            let after = Loaded::from_state(&store, loaded.spec.clone(), loaded.state.clone())?;
            let evaluation = evaluate(&after);
            loaded.state = after.state;
            loaded.state.phase = evaluation.phase.as_str().to_string();
            loaded.state.task_log.push(TaskLogEntry {
                tasks: ids.iter().map(|id| id.to_string()).collect(),
                status: status_name(status).to_string(),
                note: str_arg(args, "note").unwrap_or_default().to_string(),
                at: crate::clock::now_rfc3339(),
            });
            Ok::<_, StoreError>(Ok(evaluation))
        })
    });
    let e = match result {
        Ok(Ok(e)) => e,
        Ok(Err(msg)) => return ToolOutput::error(msg),
        Err(err) => return failed(err),
    };
    let note = str_arg(args, "note").unwrap_or_default();
    ctx.log(
        LogLevel::Info,
        "task_update",
        json!({"name": name, "tasks": ids, "status": status, "note": note}),
    );
    let p = e
        .progress
        .unwrap_or_else(|| crate::spec::progress(&crate::spec::parse_tasks("")));
    let text = format!(
        "Set {} to {status_text}. {}/{} tasks done; next: {}.",
        ids.join(", "),
        p.done,
        p.total,
        e.next_task.as_deref().unwrap_or("none")
    );
    done(
        text,
        json!({"name": name, "updated": ids, "status": status, "progress": p, "next_task": e.next_task, "phase": e.phase}),
    )
}
