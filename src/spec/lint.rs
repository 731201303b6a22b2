//! The requirements linter: parses `requirements.md`, runs the EARS check on every
//! criterion, scans every line for placeholders, and summarises the result (pattern
//! counts and diagnostic counts by severity). Also owns the placeholder scan that
//! `design.rs` reuses.
//!
//! Placeholders (`tbd`): the uppercase words `TBD`, `TBC`, `TODO`, `FIXME` (uppercase
//! only, so "the todo list" in a todo app is fine), `???`, and `[NEEDS CLARIFICATION`
//! in any case. They are looked for on every line outside code fences, not only in
//! criteria, because an open question anywhere means the document is unfinished. One
//! diagnostic per line, naming the first placeholder on it.

use serde::Serialize;

use super::ears::{check_criterion, Pattern};
use super::markdown;
use super::requirements::parse_requirements;
use super::{sort_diagnostics, Code, Diagnostic, Document, Severity};

/// Everything the linter found in one `requirements.md`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequirementsLint {
    /// Number of requirements.
    pub requirements: usize,
    /// Every criterion with its pattern, in document order.
    pub criteria: Vec<ClassifiedCriterion>,
    /// How many criteria follow each pattern.
    pub pattern_counts: PatternCounts,
    /// Number of error diagnostics.
    pub errors: usize,
    /// Number of warning diagnostics.
    pub warnings: usize,
    /// Number of info diagnostics.
    pub infos: usize,
    /// Structural, EARS and placeholder diagnostics, ordered by line then code.
    pub diagnostics: Vec<Diagnostic>,
}

/// A criterion and the EARS pattern it follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassifiedCriterion {
    /// Criterion ID, e.g. `"1.2"`.
    pub id: String,
    /// Line where it starts.
    pub line: usize,
    /// Its pattern.
    pub pattern: Pattern,
}

/// Criteria per EARS pattern.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PatternCounts {
    /// `The <system> shall …`.
    pub ubiquitous: usize,
    /// "When …".
    pub event_driven: usize,
    /// "While …".
    pub state_driven: usize,
    /// "Where …".
    pub optional_feature: usize,
    /// "If … then …".
    pub unwanted_behaviour: usize,
    /// Several leaders.
    pub complex: usize,
    /// No pattern.
    pub unknown: usize,
}

impl PatternCounts {
    fn add(&mut self, pattern: Pattern) {
        let slot = match pattern {
            Pattern::Ubiquitous => &mut self.ubiquitous,
            Pattern::EventDriven => &mut self.event_driven,
            Pattern::StateDriven => &mut self.state_driven,
            Pattern::OptionalFeature => &mut self.optional_feature,
            Pattern::UnwantedBehaviour => &mut self.unwanted_behaviour,
            Pattern::Complex => &mut self.complex,
            Pattern::Unknown => &mut self.unknown,
        };
        *slot += 1;
    }
}

/// Lints `requirements.md`. Never fails; an empty text yields `no-requirements`.
pub fn lint_requirements(text: &str) -> RequirementsLint {
    let doc = parse_requirements(text);
    let mut diagnostics = doc.diagnostics.clone();
    let mut criteria = Vec::new();
    let mut pattern_counts = PatternCounts::default();
    for c in doc.criteria() {
        let check = check_criterion(&c.text, c.line, Some(&c.id));
        pattern_counts.add(check.pattern);
        criteria.push(ClassifiedCriterion {
            id: c.id.clone(),
            line: c.line,
            pattern: check.pattern,
        });
        diagnostics.extend(check.diagnostics);
    }
    diagnostics.extend(placeholders(text, Document::Requirements, |line| {
        doc.id_at_line(line)
    }));
    sort_diagnostics(&mut diagnostics);
    let count = |s: Severity| diagnostics.iter().filter(|d| d.severity == s).count();
    RequirementsLint {
        requirements: doc.requirements.len(),
        criteria,
        pattern_counts,
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        infos: count(Severity::Info),
        diagnostics,
    }
}

/// One `tbd` diagnostic per line that holds a placeholder. `id_at` names the ID that
/// owns a line, if any.
pub(crate) fn placeholders<'a>(
    text: &str,
    document: Document,
    id_at: impl Fn(usize) -> Option<&'a str>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for line in markdown::lines(text).into_iter().filter(|l| !l.fenced) {
        let Some(marker) = placeholder(line.text) else {
            continue;
        };
        let msg = format!("placeholder `{marker}` left in the document");
        let d = Diagnostic::new(document, Code::Tbd, line.number, id_at(line.number), msg);
        out.push(d.suggest("resolve the open point, or ask the user, before moving on"));
    }
    out
}

/// The first placeholder on a line, by position.
fn placeholder(line: &str) -> Option<&'static str> {
    const WORDS: [&str; 4] = ["TBD", "TBC", "TODO", "FIXME"];
    let mut found: Vec<(usize, &'static str)> = markdown::words(line)
        .iter()
        .filter_map(|w| WORDS.iter().find(|&&m| m == w.text).map(|&m| (w.start, m)))
        .collect();
    // ASCII lowercasing keeps byte offsets, so positions stay comparable.
    let lower = line.to_ascii_lowercase();
    if let Some(at) = lower.find("[needs clarification") {
        found.push((at, "[NEEDS CLARIFICATION]"));
    }
    if let Some(at) = line.find("???") {
        found.push((at, "???"));
    }
    found.into_iter().min().map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD_KIRO: &str = include_str!("../../tests/fixtures/specs/good-kiro/requirements.md");
    const GOOD_CANONICAL: &str =
        include_str!("../../tests/fixtures/specs/good-canonical/requirements.md");
    const BAD: &str =
        include_str!("../../tests/fixtures/specs/bad-every-diagnostic/requirements.md");
    const CHINESE: &str = include_str!("../../tests/fixtures/specs/chinese/requirements.md");
    const CRLF: &str = include_str!("../../tests/fixtures/specs/crlf/requirements.md");

    fn found(lint: &RequirementsLint) -> Vec<(&'static str, usize, Option<&str>)> {
        lint.diagnostics
            .iter()
            .map(|d| (d.code.as_str(), d.line, d.id.as_deref()))
            .collect()
    }

    #[test]
    fn clean_fixtures_have_no_diagnostics() {
        for (name, text) in [
            ("good-kiro", GOOD_KIRO),
            ("good-canonical", GOOD_CANONICAL),
            ("chinese", CHINESE),
            ("crlf", CRLF),
        ] {
            let lint = lint_requirements(text);
            assert_eq!(found(&lint), [], "{name}");
            assert!(lint.criteria.len() >= 3, "{name}");
            assert_eq!(lint.pattern_counts.unknown, 0, "{name}");
        }
    }

    #[test]
    fn kiro_fixture_counts() {
        let lint = lint_requirements(GOOD_KIRO);
        assert_eq!(lint.requirements, 3);
        let want = PatternCounts {
            ubiquitous: 1,
            event_driven: 4,
            state_driven: 1,
            unwanted_behaviour: 2,
            complex: 1,
            ..Default::default()
        };
        assert_eq!(lint.pattern_counts, want);
    }

    #[test]
    fn canonical_fixture_uses_every_pattern() {
        let c = lint_requirements(GOOD_CANONICAL).pattern_counts;
        let want = PatternCounts {
            ubiquitous: 2,
            event_driven: 2,
            state_driven: 1,
            optional_feature: 1,
            unwanted_behaviour: 1,
            complex: 1,
            unknown: 0,
        };
        assert_eq!(c, want);
    }

    #[test]
    fn bad_fixture_triggers_every_requirements_code_at_exact_lines() {
        let lint = lint_requirements(BAD);
        let want = [
            ("tbd", 5, None),
            ("missing-user-story", 7, Some("1")),
            ("no-shall", 10, Some("1.1")),
            ("multiple-shall", 11, Some("1.2")),
            ("if-without-then", 12, Some("1.3")),
            ("vague-term", 13, Some("1.4")),
            ("vague-term", 13, Some("1.4")),
            ("tbd", 14, Some("1.5")),
            ("gapped-id", 15, Some("1.7")),
            ("unknown-pattern", 15, Some("1.7")),
            ("duplicate-id", 16, Some("1.7")),
            ("unnumbered-criterion", 17, Some("1")),
            ("mismatched-id", 18, Some("2.9")),
            ("no-criteria", 20, Some("2")),
            ("tbd", 24, Some("2")),
            ("gapped-id", 26, Some("4")),
        ];
        assert_eq!(found(&lint), want);
        assert_eq!((lint.errors, lint.warnings, lint.infos), (7, 9, 0));
        let vague: Vec<_> = lint
            .diagnostics
            .iter()
            .filter(|d| d.code == Code::VagueTerm)
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(
            vague,
            [
                "vague term `fast` cannot be tested",
                "vague term `user-friendly` cannot be tested"
            ]
        );
    }

    #[test]
    fn empty_document_has_no_requirements() {
        let lint = lint_requirements("");
        assert_eq!(found(&lint), [("no-requirements", 1, None)]);
    }

    #[test]
    fn placeholder_markers() {
        let cases = [
            ("Latency: TBD", Some("TBD")),
            ("TODO: decide", Some("TODO")),
            ("add it to the todo list", None),
            (
                "[Needs Clarification: which DB?] and TBD",
                Some("[NEEDS CLARIFICATION]"),
            ),
            ("size ??? bytes", Some("???")),
            ("FIXME later", Some("FIXME")),
            ("TBDs", None),
            ("超时 TBD 秒", Some("TBD")),
        ];
        for (line, want) in cases {
            assert_eq!(placeholder(line), want, "{line}");
        }
    }

    #[test]
    fn lint_serializes_with_snake_case_fields() {
        let json = serde_json::to_value(lint_requirements(GOOD_KIRO)).expect("lint serializes");
        assert_eq!(json["pattern_counts"]["event_driven"], 4);
        assert_eq!(json["criteria"][0]["pattern"], "event_driven");
    }
}
