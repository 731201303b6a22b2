//! The review tools: `spec_review` asks the user to approve a document (elicitation, see
//! `ask.rs`) and records their answer; `spec_change` proposes and applies change requests
//! after approval (`spec::changes`).
//!
//! The assistant can ask for a review but never give one: `spec_review` records only what
//! the user answered in the client's own form, bound to the SHA-256 of the bytes the
//! question named. The one exception is `--gates off`, where the operator has chosen
//! unattended runs: with no way to ask, the assistant's proposal is recorded under the
//! channel `assistant`, never disguised as the user's.

use serde_json::{json, Map, Value};

use crate::mcp::ask::{Answer, Question, Reach, Step, UserReply};
use crate::mcp::meta::LogLevel;
use crate::mcp::tools::{Annotations, Run, ToolDef, ToolOutput};
use crate::mcp::{RequestCtx, Server};
use crate::spec::changes;
use crate::spec::gates::GateMode;
use crate::spec::review::{self, Channel, Decided, Decision, Subject, Target, Verdict};
use crate::spec::store::{DocStatus, Store};

/// The review tools, in listing order.
pub const REVIEW_TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "spec_review",
        title: "Ask the user to review a document",
        description: "Ask the user, in the chat, to approve a spec document (or the open change request) or to request changes, and record their answer bound to the document's exact bytes (SHA-256). You cannot approve by yourself: call this after writing a document with no errors, and continue only once it is approved. action is what you propose; the user decides.",
        input_schema: || {
            json!({"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1, "description": "Spec name"},
                "doc": {"type": "string", "enum": Target::NAMES, "description": "The document to review, or change for the open change request"},
                "action": {"type": "string", "enum": ["approve", "request_changes"], "description": "What you propose; the user may choose otherwise"}
            }, "required": ["name", "doc", "action"], "additionalProperties": false})
        },
        output_schema: Some(|| {
            json!({"type": "object", "properties": {
                "name": {"type": "string"}, "doc": {"type": "string"},
                "status": {"type": "string", "enum": ["draft", "in_review", "approved", "changes_requested"]},
                "decision": {"type": ["string", "null"]}, "channel": {"type": ["string", "null"]},
                "sha256": {"type": "string"}, "path": {"type": "string"}, "next": {"type": "string"}
            }, "required": ["name", "doc", "status"]})
        }),
        annotations: Annotations { read_only: false, destructive: false, idempotent: false },
        call: Run::Asks { key: "review", run: spec_review },
    },
    ToolDef {
        name: "spec_change",
        title: "Change an approved spec",
        description: "Evolve a spec after approval. propose: write changes/NNN-<slug>.md from delta (Markdown with '## ADDED Requirements', '## MODIFIED Requirements' and '## REMOVED Requirements' sections of '### Requirement N: ...' blocks), list the design sections and tasks it impacts, reopen those documents and turn impacted done tasks back to todo with a rework note. apply (after the user approved the change with spec_review doc=change): merge it into requirements.md and refresh tasks.md, keeping completed work.",
        input_schema: || {
            json!({"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1, "description": "Spec name"},
                "summary": {"type": "string", "description": "One line: what changes and why"},
                "action": {"type": "string", "enum": ["propose", "apply"]},
                "delta": {"type": "string", "description": "propose: the ADDED / MODIFIED / REMOVED requirement blocks"}
            }, "required": ["name", "summary", "action"], "additionalProperties": false})
        },
        output_schema: Some(|| {
            json!({"type": "object", "properties": {
                "name": {"type": "string"}, "change": {"type": "string"}, "path": {"type": "string"},
                "status": {"type": "string"}, "diagnostics": {"type": "array"}
            }, "required": ["name", "status"]})
        }),
        annotations: Annotations { read_only: false, destructive: true, idempotent: false },
        call: Run::Now(spec_change),
    },
];

fn str_arg<'a>(args: &'a Map<String, Value>, name: &str) -> &'a str {
    args.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn done(text: String, structured: Value) -> ToolOutput {
    ToolOutput {
        text,
        structured: Some(structured),
        is_error: false,
    }
}

fn spec_review(
    server: &Server,
    ctx: &mut RequestCtx<'_>,
    args: &Map<String, Value>,
    answer: Option<Answer<'_>>,
) -> Step {
    let name = str_arg(args, "name");
    let Some(target) = Target::parse(str_arg(args, "doc")) else {
        return Step::Done(ToolOutput::error(
            "doc must be requirements, bugfix, design, tasks or change",
        ));
    };
    let proposed = Decision::parse(str_arg(args, "action")).unwrap_or(Decision::Approve);
    let store = Store::new(&server.workspace);
    match answer {
        Some(answer) => Step::Done(finish_review(&store, ctx, name, target, answer)),
        None => start_review(server, &store, ctx, name, target, proposed),
    }
}

/// First call: check the subject, then ask (or, with gates off and no way to ask, record).
fn start_review(
    server: &Server,
    store: &Store<'_>,
    ctx: &RequestCtx<'_>,
    name: &str,
    target: Target,
    proposed: Decision,
) -> Step {
    let subject = match review::subject(store, name, target) {
        Ok(s) => s,
        Err(e) => return Step::Done(ToolOutput::error(e.to_string())),
    };
    if proposed == Decision::Approve && subject.errors > 0 {
        let e = review::ReviewError::HasErrors {
            path: subject.path,
            errors: subject.errors,
        };
        return Step::Done(ToolOutput::error(e.to_string()));
    }
    if proposed == Decision::Approve && subject.status == DocStatus::Approved {
        let text = format!(
            "{} is already approved, exactly as it is now (sha256 {}).",
            subject.path,
            short(&subject.sha256)
        );
        return Step::Done(done(text, subject_json(&subject, None)));
    }
    if ctx.reach == Reach::None && server.gates() == GateMode::Off {
        let verdict = Verdict {
            decision: proposed,
            channel: Channel::Assistant,
            note: "recorded by the assistant: gates are off and the client cannot ask the user",
            seen_sha256: Some(&subject.sha256),
        };
        return Step::Done(recorded(review::decide(store, name, target, &verdict)));
    }
    let subject = if ctx.reach == Reach::None {
        subject
    } else {
        match review::submit(store, name, target) {
            Ok(s) => s,
            Err(e) => return Step::Done(ToolOutput::error(e.to_string())),
        }
    };
    Step::Ask(question(&subject, target, proposed))
}

/// The form the user sees.
fn question(subject: &Subject, target: Target, proposed: Decision) -> Question {
    let what = match target {
        Target::Change => format!("the change request {}", subject.path),
        Target::Doc(doc) => format!("{} of spec '{}'", doc.file_name(), subject.spec),
    };
    let message = format!(
        "Please review {what} ({}, {} bytes, SHA-256 {}…): {}; {} error(s), {} warning(s). \
         The assistant proposes: {}. Approving records these exact bytes; any later edit reopens it.",
        subject.path,
        subject.bytes,
        short(&subject.sha256),
        if subject.summary.is_empty() { "no summary" } else { &subject.summary },
        subject.errors,
        subject.warnings,
        proposed.as_str().replace('_', " "),
    );
    let schema = json!({
        "type": "object",
        "properties": {
            "decision": {"type": "string", "title": "Decision", "description": "Approve these exact bytes, or ask for changes", "enum": ["approve", "request_changes"]},
            "comment": {"type": "string", "title": "Comment", "description": "What should change (optional when approving)"}
        },
        "required": ["decision"]
    });
    let fallback = format!(
        "Ask the user to review {} and record the decision themselves: the prompt spec-approve \
         (or spec-request-changes) with name={} and doc={}, or `mcp-server-spec approve {} {}` in \
         a terminal. Do not approve on their behalf, and do not continue until it is approved.",
        subject.path, subject.spec, subject.target, subject.spec, subject.target
    );
    Question {
        key: "review",
        message,
        schema,
        state: format!(
            "{}|{}|{}",
            subject.target,
            proposed.as_str(),
            subject.sha256
        ),
        fallback,
    }
}

/// Second call: the user's answer.
fn finish_review(
    store: &Store<'_>,
    ctx: &mut RequestCtx<'_>,
    name: &str,
    target: Target,
    answer: Answer<'_>,
) -> ToolOutput {
    let mut parts = answer.state.splitn(3, '|');
    let (Some(asked), Some(proposed), Some(seen)) = (parts.next(), parts.next(), parts.next())
    else {
        return ToolOutput::error("the review state is malformed; call spec_review again");
    };
    if asked != target.as_str() {
        return ToolOutput::error("the answer belongs to another document; call spec_review again");
    }
    let proposed = Decision::parse(proposed).unwrap_or(Decision::Approve);
    let path = match target {
        Target::Doc(doc) => doc.file_name().to_string(),
        Target::Change => "the change request".to_string(),
    };
    let content = match answer.reply {
        UserReply::Accept(content) => content,
        UserReply::Decline | UserReply::Cancel => {
            let how = if answer.reply == UserReply::Decline {
                "declined"
            } else {
                "dismissed"
            };
            let text = format!(
                "The user {how} the review of {path}: nothing was recorded. Ask the user what \
                 should change; do not continue to the next phase."
            );
            let status = review::subject(store, name, target)
                .map(|s| s.status)
                .unwrap_or_default();
            return done(
                text,
                json!({"name": name, "doc": target.as_str(), "status": status, "decision": null}),
            );
        }
        UserReply::Sampled(_) => {
            return ToolOutput::error("the client answered the review with a sampling result");
        }
        UserReply::Failed(why) => {
            return ToolOutput::error(format!(
                "{why}: the user could not be asked. Ask them to use the spec-approve or \
                 spec-request-changes prompt, or `mcp-server-spec approve {name} {}`.",
                target.as_str()
            ))
        }
    };
    let decision = content
        .get("decision")
        .and_then(Value::as_str)
        .and_then(Decision::parse)
        .unwrap_or(proposed);
    let comment = content
        .get("comment")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let verdict = Verdict {
        decision,
        channel: Channel::Elicitation,
        note: comment,
        seen_sha256: Some(seen),
    };
    let outcome = review::decide(store, name, target, &verdict);
    if let Ok(d) = &outcome {
        ctx.log(
            LogLevel::Info,
            "spec_review",
            json!({"name": name, "doc": d.subject.target, "decision": decision.as_str(), "sha256": d.subject.sha256}),
        );
    }
    recorded(outcome)
}

/// The result of a recorded decision.
fn recorded(outcome: Result<Decided, review::ReviewError>) -> ToolOutput {
    let d = match outcome {
        Ok(d) => d,
        Err(e) => return ToolOutput::error(e.to_string()),
    };
    let verb = match d.decision {
        Decision::Approve => "approved",
        Decision::RequestChanges => "requested changes to",
    };
    let who = if d.channel == Channel::Assistant {
        "the assistant (gates off)"
    } else {
        "the user"
    };
    let mut text = format!(
        "Recorded: {who} {verb} {} (sha256 {}…, via {}).",
        d.subject.path,
        short(&d.subject.sha256),
        d.channel.as_str()
    );
    if !d.note.is_empty() {
        text.push_str(&format!(" Comment: {}", d.note));
    }
    text.push_str(&format!(" Next: {}.", d.next));
    let mut structured = subject_json(&d.subject, Some(&d));
    structured["next"] = json!(d.next);
    done(text, structured)
}

fn subject_json(s: &Subject, d: Option<&Decided>) -> Value {
    json!({
        "name": s.spec, "doc": s.target, "status": s.status, "path": s.path, "sha256": s.sha256,
        "decision": d.map(|d| d.decision), "channel": d.map(|d| d.channel),
    })
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

fn spec_change(server: &Server, ctx: &mut RequestCtx<'_>, args: &Map<String, Value>) -> ToolOutput {
    let name = str_arg(args, "name");
    let store = Store::new(&server.workspace);
    let outcome = match str_arg(args, "action") {
        "apply" => changes::apply(&store, name),
        _ => changes::propose(
            &store,
            name,
            str_arg(args, "summary"),
            str_arg(args, "delta"),
        ),
    };
    match outcome {
        Ok(report) => {
            ctx.log(
                LogLevel::Info,
                "spec_change",
                json!({"name": name, "change": report.change, "status": report.status}),
            );
            let structured = serde_json::to_value(&report).expect("change reports serialize");
            done(report.text.clone(), structured)
        }
        Err(e) => ToolOutput::error(e.to_string()),
    }
}
