//! The review prompts `spec-approve` and `spec-request-changes`: approval channel (2).
//!
//! Prompts are user-controlled (docs/2026-07-28/server/prompts.mdx, "User Interaction
//! Model"): the user picks one in the client's UI, so getting it *is* the person's
//! decision. It is recorded through the same path as every channel (`review::decide`),
//! bound to the document's bytes at that moment, and the message tells the assistant what
//! was decided and what comes next. Unlike the other prompts these write `spec.json`; a
//! refusal (unknown spec, missing file, errors) is -32602 with the reason, and records
//! nothing.

use crate::mcp::error::McpError;
use crate::mcp::prompts::Args;
use crate::mcp::Server;
use crate::spec::review::{self, Channel, Decided, Decision, Target, Verdict};
use crate::spec::store::Store;

/// `spec-approve`: the user approves a document (or the open change request).
pub fn spec_approve(server: &Server, args: &Args<'_>) -> Result<String, McpError> {
    let d = record(server, args, Decision::Approve)?;
    let note = if d.note.is_empty() {
        String::new()
    } else {
        format!(" My comment: {}", d.note)
    };
    Ok(format!(
        "I reviewed {} and approve it exactly as it is now (SHA-256 {}…); this is recorded in \
         spec.json through the spec-approve prompt.{note}\n\nNext: {}. Any later edit of the file \
         reopens it for review.",
        d.subject.path,
        &d.subject.sha256[..12],
        d.next
    ))
}

/// `spec-request-changes`: the user sends a document back with a comment.
pub fn spec_request_changes(server: &Server, args: &Args<'_>) -> Result<String, McpError> {
    let d = record(server, args, Decision::RequestChanges)?;
    Ok(format!(
        "I reviewed {} and request changes: {}\n\nThis is recorded in spec.json (status \
         changes_requested). Next: {}.",
        d.subject.path, d.note, d.next
    ))
}

fn record(server: &Server, args: &Args<'_>, decision: Decision) -> Result<Decided, McpError> {
    let name = args.get("name").unwrap_or_default();
    let doc = args.get("doc").unwrap_or_default();
    let target = Target::parse(doc).ok_or_else(|| {
        McpError::invalid_params(format!(
            "argument 'doc' must be one of {}, not {doc:?}",
            Target::NAMES.join(", ")
        ))
    })?;
    let verdict = Verdict {
        decision,
        channel: Channel::Prompt,
        note: args.get("note").unwrap_or_default(),
        seen_sha256: None,
    };
    let store = Store::new(&server.workspace);
    let decided = review::decide(&store, name, target, &verdict)
        .map_err(|e| McpError::invalid_params(e.to_string()))?;
    log::info!(
        "{name}: {} {} through the {} prompt",
        decided.subject.target,
        decision.as_str(),
        if decision == Decision::Approve {
            "spec-approve"
        } else {
            "spec-request-changes"
        }
    );
    Ok(decided)
}
