//! Review gates: whether the workflow may move on while an earlier document is not
//! approved and valid.
//!
//! - `strict` (the default): `spec_write` of a later document is refused, and `task_next`
//!   hands out no task, while an earlier document is missing, has errors, or is not
//!   approved (or a change request is open).
//! - `advisory`: the same checks, reported as warnings; nothing is refused.
//! - `off`: no checks; `spec_review` may record the assistant's own decision when the
//!   client cannot ask the user (for unattended runs the operator chose).
//!
//! The mode is the operator's choice (`--gates`, `MCP_GATES`); no tool can change it.

use serde::Serialize;

use super::store::{DocKind, DocStatus};
use super::workflow::Evaluation;

/// How review gates are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateMode {
    #[default]
    Strict,
    Advisory,
    Off,
}

impl GateMode {
    pub fn parse(text: &str) -> Option<GateMode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "strict" => Some(GateMode::Strict),
            "advisory" => Some(GateMode::Advisory),
            "off" => Some(GateMode::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GateMode::Strict => "strict",
            GateMode::Advisory => "advisory",
            GateMode::Off => "off",
        }
    }
}

/// One reason the workflow may not move on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// The document (or `change`) in the way.
    pub target: String,
    /// Why, e.g. "draft", "2 error(s)", "missing".
    pub reason: String,
}

/// What a gate check found, ready to render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    pub mode: GateMode,
    /// True when the step is refused (strict mode with blockers).
    pub refused: bool,
    pub blockers: Vec<Blocker>,
}

impl Gate {
    fn new(mode: GateMode, blockers: Vec<Blocker>) -> Gate {
        let blockers = if mode == GateMode::Off {
            Vec::new()
        } else {
            blockers
        };
        Gate {
            mode,
            refused: mode == GateMode::Strict && !blockers.is_empty(),
            blockers,
        }
    }

    /// Nothing to report.
    pub fn clear(&self) -> bool {
        self.blockers.is_empty()
    }

    /// One paragraph for the assistant: what is in the way and how the user clears it.
    pub fn explain(&self, spec: &str, step: &str) -> String {
        let list: Vec<String> = self
            .blockers
            .iter()
            .map(|b| format!("{} ({})", b.target, b.reason))
            .collect();
        let verdict = if self.refused {
            format!("Refused by strict review gates: {step} needs")
        } else {
            format!(
                "Review gate warning ({} mode): {step} should wait for",
                self.mode.as_str()
            )
        };
        format!(
            "{verdict} every earlier document approved and valid; not yet: {}. Fix any errors, then \
             ask the user to review: spec_review(name=\"{spec}\", doc=<document>, action=\"approve\") \
             asks them in the chat; they can also pick the spec-approve prompt or run \
             `mcp-server-spec approve {spec} <document>`. Do not approve on their behalf.",
            list.join(", ")
        )
    }
}

/// The gate before writing `doc`: every document before it must be approved and valid.
pub fn before_write(e: &Evaluation, doc: DocKind, mode: GateMode) -> Gate {
    let earlier = e.kind.documents().into_iter().take_while(|d| *d != doc);
    let mut blockers: Vec<Blocker> = earlier.filter_map(|d| blocker(e, d)).collect();
    blockers.extend(open_change(e));
    Gate::new(mode, blockers)
}

/// The gate before implementing: every document approved and valid, no open change.
pub fn before_implement(e: &Evaluation, mode: GateMode) -> Gate {
    let mut blockers: Vec<Blocker> = e
        .kind
        .documents()
        .into_iter()
        .filter_map(|d| blocker(e, d))
        .collect();
    blockers.extend(open_change(e));
    Gate::new(mode, blockers)
}

fn blocker(e: &Evaluation, doc: DocKind) -> Option<Blocker> {
    let report = e.documents.iter().find(|r| r.doc == doc)?;
    let reason = if !report.exists {
        "missing".to_string()
    } else if report.errors > 0 {
        format!("{} error(s)", report.errors)
    } else if report.status != DocStatus::Approved {
        match report.status {
            DocStatus::InReview => "in review".to_string(),
            DocStatus::ChangesRequested => "changes requested".to_string(),
            _ if report.reopened.is_some() => "draft: edited after approval".to_string(),
            _ => "draft, not approved".to_string(),
        }
    } else {
        return None;
    };
    Some(Blocker {
        target: doc.file_name().to_string(),
        reason,
    })
}

fn open_change(e: &Evaluation) -> Option<Blocker> {
    e.open_change.as_ref().map(|id| Blocker {
        target: format!("change {id}"),
        reason: "open: approve and apply it first".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::store::Kind;
    use crate::spec::workflow::{DocReport, Parsed, Phase};

    fn report(doc: DocKind, status: DocStatus, errors: usize) -> DocReport {
        DocReport {
            doc,
            path: format!("specs/x/{}", doc.file_name()),
            exists: true,
            status,
            errors,
            warnings: 0,
            approval: None,
            note: None,
            reopened: None,
        }
    }

    fn evaluation(docs: Vec<DocReport>) -> Evaluation {
        Evaluation {
            name: "x".into(),
            source: crate::spec::store::Source::Native,
            kind: Kind::Feature,
            phase: Phase::Design,
            documents: docs,
            diagnostics: Vec::new(),
            coverage: None,
            progress: None,
            next_task: None,
            open_change: None,
            notices: Vec::new(),
            parsed: Parsed::default(),
        }
    }

    #[test]
    fn strict_refuses_advisory_warns_off_ignores() {
        let e = evaluation(vec![
            report(DocKind::Requirements, DocStatus::Draft, 0),
            report(DocKind::Design, DocStatus::Draft, 0),
            report(DocKind::Tasks, DocStatus::Draft, 0),
        ]);
        let strict = before_write(&e, DocKind::Design, GateMode::Strict);
        assert!(strict.refused);
        assert_eq!(strict.blockers.len(), 1);
        assert_eq!(strict.blockers[0].target, "requirements.md");
        assert!(strict
            .explain("x", "writing design.md")
            .contains("Refused by strict"));
        let advisory = before_write(&e, DocKind::Design, GateMode::Advisory);
        assert!(!advisory.refused && !advisory.clear());
        assert!(before_write(&e, DocKind::Design, GateMode::Off).clear());
        assert!(before_write(&e, DocKind::Requirements, GateMode::Strict).clear());
        assert_eq!(before_implement(&e, GateMode::Strict).blockers.len(), 3);
    }

    #[test]
    fn approved_and_valid_documents_open_the_gate() {
        let mut e = evaluation(vec![
            report(DocKind::Requirements, DocStatus::Approved, 0),
            report(DocKind::Design, DocStatus::Approved, 1),
            report(DocKind::Tasks, DocStatus::Approved, 0),
        ]);
        assert!(before_write(&e, DocKind::Design, GateMode::Strict).clear());
        let gate = before_write(&e, DocKind::Tasks, GateMode::Strict);
        assert_eq!(gate.blockers[0].reason, "1 error(s)");
        e.documents[1].errors = 0;
        assert!(before_implement(&e, GateMode::Strict).clear());
        e.open_change = Some("001-x".into());
        let gate = before_implement(&e, GateMode::Strict);
        assert_eq!(gate.blockers[0].target, "change 001-x");
    }

    #[test]
    fn modes_parse() {
        assert_eq!(GateMode::parse("Strict"), Some(GateMode::Strict));
        assert_eq!(GateMode::parse("advisory"), Some(GateMode::Advisory));
        assert_eq!(GateMode::parse("off"), Some(GateMode::Off));
        assert_eq!(GateMode::parse("lax"), None);
        assert_eq!(GateMode::default(), GateMode::Strict);
    }
}
