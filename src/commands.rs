//! The spec subcommands for humans and CI: `validate`, `status`, `trace` (the same checks
//! the MCP tools run, printed as text or JSON) and the review decisions `approve` /
//! `request-changes`. Each returns the text to print and the exit
//! code; `main` does the printing.

use serde_json::json;

use crate::spec::review::{self, Channel, Decision, Target, Verdict};
use crate::spec::store::{Store, StoreError};
use crate::spec::workflow::{evaluate, Evaluation, Loaded};
use crate::spec::{Diagnostic, Document, Severity};
use crate::workspace::Workspace;

/// What a subcommand produced.
pub struct Outcome {
    pub text: String,
    /// 0 when clean, 1 when any error-severity diagnostic was found.
    pub exit_code: u8,
}

fn evaluations(ws: &Workspace, spec: Option<&str>) -> Result<Vec<Evaluation>, StoreError> {
    let store = Store::new(ws);
    let specs = match spec {
        Some(name) => vec![store.find(name)?],
        None => store.list()?,
    };
    specs
        .into_iter()
        .map(|s| Loaded::load(&store, s).map(|l| evaluate(&l)))
        .collect()
}

fn code_for(evaluations: &[Evaluation]) -> u8 {
    u8::from(evaluations.iter().any(|e| e.errors() > 0))
}

fn path_of(e: &Evaluation, d: &Diagnostic) -> String {
    let file = match d.document {
        Document::Requirements => "requirements.md",
        Document::Design => "design.md",
        Document::Tasks => "tasks.md",
        Document::Bugfix => "bugfix.md",
        Document::Change => return "changes/".to_string(),
    };
    e.documents
        .iter()
        .find(|r| r.path.ends_with(file))
        .map_or_else(|| file.to_string(), |r| r.path.clone())
}

/// `validate [SPEC]`.
pub fn validate(ws: &Workspace, spec: Option<&str>, as_json: bool) -> Result<Outcome, StoreError> {
    let all = evaluations(ws, spec)?;
    let exit_code = code_for(&all);
    if as_json {
        let specs: Vec<_> = all
            .iter()
            .map(|e| json!({"name": e.name, "phase": e.phase, "errors": e.errors(), "diagnostics": e.diagnostics}))
            .collect();
        return Ok(Outcome {
            text: pretty(&json!({"specs": specs})),
            exit_code,
        });
    }
    let mut text = String::new();
    if all.is_empty() {
        text.push_str("no specs found under specs/ or .kiro/specs/\n");
    }
    for e in &all {
        let warnings = e
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count();
        text.push_str(&format!(
            "{}: {} error(s), {warnings} warning(s), phase {}\n",
            e.name,
            e.errors(),
            e.phase.as_str()
        ));
        for d in &e.diagnostics {
            let id =
                d.id.as_deref()
                    .map(|id| format!(" [{id}]"))
                    .unwrap_or_default();
            let severity = severity_name(d.severity);
            text.push_str(&format!(
                "  {}:{}: {severity} {}{id}: {}",
                path_of(e, d),
                d.line,
                d.code.as_str(),
                d.message
            ));
            if let Some(s) = &d.suggestion {
                text.push_str(&format!(" (suggestion: {s})"));
            }
            text.push('\n');
        }
    }
    Ok(Outcome { text, exit_code })
}

/// `status [SPEC]`.
pub fn status(ws: &Workspace, spec: Option<&str>, as_json: bool) -> Result<Outcome, StoreError> {
    let all = evaluations(ws, spec)?;
    if as_json {
        return Ok(Outcome {
            text: pretty(&json!({"specs": all})),
            exit_code: 0,
        });
    }
    let mut text = String::new();
    if all.is_empty() {
        text.push_str("no specs found under specs/ or .kiro/specs/\n");
    }
    for e in &all {
        let docs: Vec<String> = e
            .documents
            .iter()
            .map(|d| {
                format!(
                    "{}:{}",
                    d.doc.as_str(),
                    if d.exists {
                        serde_json::to_value(d.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    } else {
                        "missing".into()
                    }
                )
            })
            .collect();
        let tasks = e
            .progress
            .map_or_else(|| "-".to_string(), |p| format!("{}/{}", p.done, p.total));
        text.push_str(&format!(
            "{:<24} {:<8} phase {:<12} tasks {:<7} errors {:<3} {}\n",
            e.name,
            format!("{:?}", e.kind).to_lowercase(),
            e.phase.as_str(),
            tasks,
            e.errors(),
            docs.join(" ")
        ));
    }
    Ok(Outcome { text, exit_code: 0 })
}

/// `trace SPEC`.
pub fn trace(ws: &Workspace, spec: &str, as_json: bool) -> Result<Outcome, StoreError> {
    let all = evaluations(ws, Some(spec))?;
    let e = &all[0];
    let (Some(r), Some(d), Some(t)) = (&e.parsed.requirements, &e.parsed.design, &e.parsed.tasks)
    else {
        let text = format!("{spec}: tracing needs requirements.md, design.md and tasks.md\n");
        return Ok(Outcome { text, exit_code: 1 });
    };
    let report = crate::spec::trace(r, d, t);
    let exit_code = u8::from(
        report
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error),
    );
    if as_json {
        return Ok(Outcome {
            text: pretty(&json!(report)),
            exit_code,
        });
    }
    let c = report.coverage;
    let mut text = format!(
        "{spec}: {} criteria; design {}%, tasks {}%, both {}%\n",
        c.criteria, c.design_percent, c.tasks_percent, c.both_percent
    );
    for row in &report.criteria {
        let or_none = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        text.push_str(&format!(
            "  {:<6} design: {:<30} tasks: {}\n",
            row.id,
            or_none(&row.components),
            or_none(&row.tasks)
        ));
    }
    for d in &report.diagnostics {
        text.push_str(&format!(
            "  {}:{}: {} {}\n",
            path_of(e, d),
            d.line,
            d.code.as_str(),
            d.message
        ));
    }
    Ok(Outcome { text, exit_code })
}

/// `approve SPEC DOC [--note]` and `request-changes SPEC DOC --note`: approval channel (3).
///
/// Approving needs a person at a terminal: `interactive` (stdin and stdout are terminals)
/// must be true, so an assistant running shell commands, or a script, cannot approve
/// through the CLI by accident. Requesting changes is always allowed; it approves nothing.
/// Returns the confirmation to print, or the reason for refusing.
pub fn review(
    ws: &Workspace,
    approve: bool,
    spec: Option<&str>,
    doc: Option<&str>,
    note: Option<&str>,
    interactive: bool,
) -> Result<String, String> {
    let (spec, doc) = (spec.unwrap_or_default(), doc.unwrap_or_default());
    if approve && !interactive {
        return Err(format!(
            "approve: refused: stdin and stdout must be a terminal. Approvals on the command line \
             come from a person typing them, not from a script or an assistant's shell. Run \
             `mcp-server-spec approve {spec} {doc}` yourself in a terminal, or approve in your MCP \
             client (spec_review, or the spec-approve prompt)."
        ));
    }
    let target = Target::parse(doc).ok_or_else(|| {
        format!(
            "DOC must be one of {}, not {doc:?}",
            Target::NAMES.join(", ")
        )
    })?;
    let decision = if approve {
        Decision::Approve
    } else {
        Decision::RequestChanges
    };
    let verdict = Verdict {
        decision,
        channel: Channel::Cli,
        note: note.unwrap_or_default(),
        seen_sha256: None,
    };
    let d = review::decide(&Store::new(ws), spec, target, &verdict).map_err(|e| e.to_string())?;
    let verb = if approve {
        "approved"
    } else {
        "changes requested for"
    };
    Ok(format!(
        "{verb} {} (sha256 {}), recorded in spec.json
next for the assistant: {}
",
        d.subject.path, d.subject.sha256, d.next
    ))
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

fn pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("serializes");
    text.push('\n');
    text
}
