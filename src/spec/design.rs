//! Reading `design.md`: its `##` sections, checked against the sections a design must
//! have, and its components with the requirement IDs each cites.
//!
//! Rules:
//! - Required sections are `##` headings: Overview, Architecture, Components and
//!   Interfaces, Data Models, Error Handling, Testing Strategy. Matching ignores case,
//!   leading numbering (`## 2. Architecture`), `&` for "and", and accepts a few short
//!   forms ("Components", "Data Model", "Testing") and the Chinese titles.
//! - A component is a `###` heading. It ends at the next heading of level 3 or less; its
//!   `####` sub-headings belong to it. Every `###` under Components and Interfaces is a
//!   component; elsewhere a `###` (or a `##` section's own text before its first `###`)
//!   counts only if it cites requirements, so a data model that cites requirements is
//!   traced too.
//! - Citations are field lines `Requirements: 1.1, 2.3`, `_Requirements: 1.1_`,
//!   `**Requirements:** 1.1` (also `Requirement:`, `需求：`). Citing `2` cites every
//!   criterion of requirement 2 (see `trace.rs`).

use serde::Serialize;

use super::lint::placeholders;
use super::markdown;
use super::{sort_diagnostics, Citation, Code, Diagnostic, Document};

/// A parsed `design.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesignDoc {
    /// Every `##` section in document order.
    pub sections: Vec<Section>,
    /// Components in document order.
    pub components: Vec<Component>,
    /// `missing-section`, `uncited-component` and `tbd` diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

/// A `##` heading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Heading text as written.
    pub title: String,
    /// Its line.
    pub line: usize,
    /// The required section it satisfies, if any.
    pub required: Option<RequiredSection>,
}

/// The sections every design must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredSection {
    /// What is being built and why.
    Overview,
    /// How the parts fit together.
    Architecture,
    /// The components and their interfaces.
    ComponentsAndInterfaces,
    /// Data structures and storage.
    DataModels,
    /// Failure modes and responses.
    ErrorHandling,
    /// How it will be tested.
    TestingStrategy,
}

impl RequiredSection {
    /// All required sections in the order a design presents them.
    pub const ALL: [RequiredSection; 6] = [
        RequiredSection::Overview,
        RequiredSection::Architecture,
        RequiredSection::ComponentsAndInterfaces,
        RequiredSection::DataModels,
        RequiredSection::ErrorHandling,
        RequiredSection::TestingStrategy,
    ];

    /// The canonical heading text.
    pub fn title(self) -> &'static str {
        match self {
            RequiredSection::Overview => "Overview",
            RequiredSection::Architecture => "Architecture",
            RequiredSection::ComponentsAndInterfaces => "Components and Interfaces",
            RequiredSection::DataModels => "Data Models",
            RequiredSection::ErrorHandling => "Error Handling",
            RequiredSection::TestingStrategy => "Testing Strategy",
        }
    }

    /// The required section a `##` heading names, if any.
    fn from_heading(title: &str) -> Option<Self> {
        let name = title.trim_start_matches(|c: char| {
            c.is_ascii_digit() || matches!(c, '.' | ')') || c.is_whitespace()
        });
        let name = name.to_lowercase().replace('&', " and ");
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        Some(match name.as_str() {
            "overview" | "概述" => RequiredSection::Overview,
            "architecture" | "架构" => RequiredSection::Architecture,
            "components and interfaces" | "components" | "组件和接口" => {
                RequiredSection::ComponentsAndInterfaces
            }
            "data models" | "data model" | "数据模型" => RequiredSection::DataModels,
            "error handling" | "错误处理" => RequiredSection::ErrorHandling,
            "testing strategy" | "testing" | "测试策略" => RequiredSection::TestingStrategy,
            _ => return None,
        })
    }
}

/// A design element that can be traced to requirements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// Heading text as written.
    pub name: String,
    /// Line of the heading.
    pub line: usize,
    /// Title of the enclosing `##` section, if any (`None` for a section itself).
    pub section: Option<String>,
    /// Requirement or criterion IDs cited, in order.
    pub requirements: Vec<Citation>,
}

/// Parses `design.md`. Never fails.
pub fn parse_design(text: &str) -> DesignDoc {
    let mut p = Parser::default();
    for line in markdown::lines(text).into_iter().filter(|l| !l.fenced) {
        match markdown::heading(line.text) {
            Some((level, title)) => p.heading(level, title, line.number),
            None => p.body(line.text, line.number),
        }
    }
    p.close();
    let mut diagnostics = p.diagnostics;
    diagnostics.extend(missing_sections(&p.sections));
    diagnostics.extend(placeholders(text, Document::Design, |_| None));
    sort_diagnostics(&mut diagnostics);
    DesignDoc {
        sections: p.sections,
        components: p.components,
        diagnostics,
    }
}

#[derive(Default)]
struct Parser {
    sections: Vec<Section>,
    components: Vec<Component>,
    diagnostics: Vec<Diagnostic>,
    open: Option<(Component, bool)>,
}

impl Parser {
    fn heading(&mut self, level: usize, title: &str, number: usize) {
        if level > 3 {
            return;
        }
        self.close();
        let component = |section| Component {
            name: title.to_owned(),
            line: number,
            section,
            requirements: Vec::new(),
        };
        if level == 2 {
            let required = RequiredSection::from_heading(title);
            self.sections.push(Section {
                title: title.to_owned(),
                line: number,
                required,
            });
            self.open = Some((component(None), false));
        } else if level == 3 {
            let current = self.sections.last();
            let in_components = current
                .is_some_and(|s| s.required == Some(RequiredSection::ComponentsAndInterfaces));
            self.open = Some((component(current.map(|s| s.title.clone())), in_components));
        }
    }

    fn body(&mut self, text: &str, number: usize) {
        let Some((component, _)) = self.open.as_mut() else {
            return;
        };
        let Some((key, value)) = markdown::field(text) else {
            return;
        };
        if matches!(key.as_str(), "requirements" | "requirement" | "需求") {
            let cites = markdown::split_list(value)
                .into_iter()
                .map(|id| Citation { id, line: number });
            component.requirements.extend(cites);
        }
    }

    fn close(&mut self) {
        let Some((component, must_cite)) = self.open.take() else {
            return;
        };
        if must_cite && component.requirements.is_empty() {
            let msg = format!("component `{}` cites no requirement", component.name);
            let d = Diagnostic::new(
                Document::Design,
                Code::UncitedComponent,
                component.line,
                None,
                msg,
            );
            self.diagnostics
                .push(d.suggest("add `_Requirements: <criterion IDs>_` naming what it implements"));
        }
        if must_cite || !component.requirements.is_empty() {
            self.components.push(component);
        }
    }
}

fn missing_sections(sections: &[Section]) -> Vec<Diagnostic> {
    let present: Vec<_> = sections.iter().filter_map(|s| s.required).collect();
    RequiredSection::ALL
        .into_iter()
        .filter(|r| !present.contains(r))
        .map(|r| {
            let msg = format!("design has no `## {}` section", r.title());
            Diagnostic::new(Document::Design, Code::MissingSection, 1, None, msg)
                .suggest(format!("add a `## {}` section", r.title()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD_KIRO: &str = include_str!("../../tests/fixtures/specs/good-kiro/design.md");
    const GOOD_CANONICAL: &str =
        include_str!("../../tests/fixtures/specs/good-canonical/design.md");
    const BAD: &str = include_str!("../../tests/fixtures/specs/bad-every-diagnostic/design.md");

    fn found(doc: &DesignDoc) -> Vec<(&'static str, usize)> {
        doc.diagnostics
            .iter()
            .map(|d| (d.code.as_str(), d.line))
            .collect()
    }

    fn cites(c: &Component) -> Vec<&str> {
        c.requirements.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn good_designs_are_clean() {
        for (name, text) in [("good-kiro", GOOD_KIRO), ("good-canonical", GOOD_CANONICAL)] {
            let doc = parse_design(text);
            assert_eq!(found(&doc), [], "{name}");
            assert!(
                doc.sections.iter().filter(|s| s.required.is_some()).count() == 6,
                "{name}"
            );
        }
    }

    #[test]
    fn kiro_components_and_citations() {
        let doc = parse_design(GOOD_KIRO);
        let got: Vec<_> = doc
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.line, cites(c)))
            .collect();
        assert_eq!(
            got,
            [
                ("ItemStore", 17, vec!["1.1", "1.2", "1.3", "3.1", "3.3"]),
                ("Reminder Scheduler", 24, vec!["2.1", "2.2", "2.3"]),
                ("Progress View", 31, vec!["3.2"]),
            ]
        );
        assert_eq!(
            doc.components[0].section.as_deref(),
            Some("Components and Interfaces")
        );
        assert_eq!(doc.components[0].requirements[0].line, 22);
    }

    #[test]
    fn canonical_numbering_and_cited_sections() {
        let doc = parse_design(GOOD_CANONICAL);
        let got: Vec<_> = doc
            .components
            .iter()
            .map(|c| (c.name.as_str(), cites(c)))
            .collect();
        assert_eq!(
            got,
            [
                ("Exporter", vec!["1"]),
                ("Export Job", vec!["2.2", "2.3", "2.4", "2.5"]),
                ("4. Error Handling", vec!["2.1"])
            ]
        );
        assert_eq!(doc.components[2].section, None);
    }

    #[test]
    fn bad_design_reports_exact_diagnostics() {
        let doc = parse_design(BAD);
        let want = [
            ("missing-section", 1),
            ("missing-section", 1),
            ("missing-section", 1),
            ("tbd", 5),
            ("uncited-component", 9),
        ];
        assert_eq!(found(&doc), want);
        let missing: Vec<_> = doc
            .diagnostics
            .iter()
            .filter(|d| d.code == Code::MissingSection)
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(
            missing,
            [
                "design has no `## Data Models` section",
                "design has no `## Error Handling` section",
                "design has no `## Testing Strategy` section",
            ]
        );
    }

    #[test]
    fn section_titles_tolerated() {
        let cases = [
            ("Overview", Some(RequiredSection::Overview)),
            ("2. Architecture", Some(RequiredSection::Architecture)),
            (
                "3) components &  INTERFACES",
                Some(RequiredSection::ComponentsAndInterfaces),
            ),
            ("Data Model", Some(RequiredSection::DataModels)),
            ("错误处理", Some(RequiredSection::ErrorHandling)),
            ("Testing", Some(RequiredSection::TestingStrategy)),
            ("Testing Strategy Notes", None),
            ("Appendix", None),
        ];
        for (title, want) in cases {
            assert_eq!(RequiredSection::from_heading(title), want, "{title}");
        }
    }

    #[test]
    fn fenced_headings_and_citations_are_ignored() {
        let text = "## Components and Interfaces\n### A\n```\n### Not a component\nRequirements: 9.9\n```\nRequirements: 1.1\n";
        let doc = parse_design(text);
        let got: Vec<_> = doc
            .components
            .iter()
            .map(|c| (c.name.as_str(), cites(c)))
            .collect();
        assert_eq!(got, [("A", vec!["1.1"])]);
    }

    #[test]
    fn empty_design_misses_every_section() {
        let doc = parse_design("");
        assert_eq!(doc.diagnostics.len(), 6);
        assert!(doc
            .diagnostics
            .iter()
            .all(|d| d.code == Code::MissingSection && d.line == 1));
    }
}
