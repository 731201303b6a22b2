//! Reading and checking `bugfix.md`, the first document of a bugfix spec (in place of
//! requirements.md; then design, tasks, implement).
//!
//! Sections (`##`, matched by their first words, `Behaviour` or `Behavior`):
//! 1. **Current Behaviour**: the defect, with exact inputs. Numbered items get IDs `1.M`.
//! 2. **Expected Behaviour**: numbered EARS criteria, IDs `2.M`, checked like
//!    acceptance criteria (one SHALL, no vague words, no placeholders).
//! 3. **Unchanged Behaviour**: the regression guard, numbered EARS criteria, IDs `3.M`.
//! 4. **Reproduction**: the steps that trigger the defect.
//! 5. **Root Cause**: why it happens; required before the fix is designed.
//!
//! The three behaviour sections become requirements `1`, `2` and `3` of an ordinary
//! [`RequirementsDoc`], so design components and tasks cite `2.1` or `3.2` and the
//! traceability, impact and `task_next` machinery work unchanged for bugfixes.

use super::ears::check_criterion;
use super::lint::placeholders;
use super::markdown;
use super::requirements::{Criterion, Requirement, RequirementsDoc};
use super::{sort_diagnostics, Code, Diagnostic, Document};

/// A parsed and checked `bugfix.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BugfixDoc {
    /// Requirement 1 (current), 2 (expected) and 3 (unchanged), when present.
    pub requirements: RequirementsDoc,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Current,
    Expected,
    Unchanged,
    Reproduction,
    RootCause,
}

impl Part {
    const ALL: [Part; 5] = [
        Part::Current,
        Part::Expected,
        Part::Unchanged,
        Part::Reproduction,
        Part::RootCause,
    ];

    fn title(self) -> &'static str {
        match self {
            Part::Current => "Current Behaviour",
            Part::Expected => "Expected Behaviour",
            Part::Unchanged => "Unchanged Behaviour",
            Part::Reproduction => "Reproduction",
            Part::RootCause => "Root Cause",
        }
    }

    fn of_heading(title: &str) -> Option<Part> {
        let t = title.to_ascii_lowercase();
        let first = |w: &str| t.starts_with(w);
        if first("current") {
            Some(Part::Current)
        } else if first("expected") {
            Some(Part::Expected)
        } else if first("unchanged") || first("regression") {
            Some(Part::Unchanged)
        } else if first("reproduc") || first("steps to reproduce") {
            Some(Part::Reproduction)
        } else if first("root cause") {
            Some(Part::RootCause)
        } else {
            None
        }
    }

    /// The requirement ID of a behaviour section.
    fn requirement_id(self) -> Option<&'static str> {
        match self {
            Part::Current => Some("1"),
            Part::Expected => Some("2"),
            Part::Unchanged => Some("3"),
            Part::Reproduction | Part::RootCause => None,
        }
    }
}

/// One section as read: heading line, last line, content lines and numbered items.
struct Read {
    part: Part,
    line: usize,
    end_line: usize,
    /// Non-blank content lines that are not template placeholders (`<…>`).
    substance: usize,
    criteria: Vec<Criterion>,
}

/// Parses and checks `bugfix.md`. Never fails.
pub fn lint_bugfix(text: &str) -> BugfixDoc {
    let read = read_sections(text);
    let mut diagnostics = Vec::new();
    let mut requirements = Vec::new();
    for part in Part::ALL {
        let Some(section) = read.iter().find(|s| s.part == part) else {
            diagnostics.push(incomplete(
                1,
                format!("bugfix.md has no `## {}` section", part.title()),
            ));
            continue;
        };
        if section.substance == 0 {
            let msg = format!(
                "`## {}` is empty or still holds the template's placeholder",
                part.title()
            );
            diagnostics.push(incomplete(section.line, msg));
        }
        let Some(id) = part.requirement_id() else {
            continue;
        };
        if part != Part::Current {
            if section.criteria.is_empty() && section.substance > 0 {
                let msg = format!("`## {}` has no numbered criterion", part.title());
                diagnostics.push(
                    Diagnostic::new(Document::Bugfix, Code::NoCriteria, section.line, Some(id), msg)
                        .suggest(format!("write them as `1. WHEN … THEN the <system> SHALL …` (IDs {id}.1, {id}.2, …)")),
                );
            }
            for c in &section.criteria {
                for mut d in check_criterion(&c.text, c.line, Some(&c.id)).diagnostics {
                    d.document = Document::Bugfix;
                    diagnostics.push(d);
                }
            }
        }
        requirements.push(Requirement {
            id: id.to_string(),
            title: part.title().to_string(),
            line: section.line,
            end_line: section.end_line,
            user_story: None,
            criteria: section.criteria.clone(),
        });
    }
    let doc = RequirementsDoc {
        requirements,
        diagnostics: Vec::new(),
    };
    diagnostics.extend(placeholders(text, Document::Bugfix, |l| doc.id_at_line(l)));
    sort_diagnostics(&mut diagnostics);
    BugfixDoc {
        requirements: doc,
        diagnostics,
    }
}

fn incomplete(line: usize, msg: String) -> Diagnostic {
    Diagnostic::new(Document::Bugfix, Code::IncompleteBugfix, line, None, msg)
        .suggest("fill in current, expected and unchanged behaviour, reproduction and root cause (see spec_guide phase bugfix)")
}

fn read_sections(text: &str) -> Vec<Read> {
    let mut out: Vec<Read> = Vec::new();
    let mut open: Option<Read> = None;
    let mut continuing = false;
    for line in markdown::lines(text) {
        if !line.fenced {
            if let Some((level, title)) = markdown::heading(line.text) {
                if level <= 2 {
                    out.extend(open.take());
                    open = Part::of_heading(title).map(|part| Read {
                        part,
                        line: line.number,
                        end_line: line.number,
                        substance: 0,
                        criteria: Vec::new(),
                    });
                    continuing = false;
                    continue;
                }
            }
        }
        let Some(section) = open.as_mut() else {
            continue;
        };
        section.end_line = line.number;
        let t = line.text.trim();
        if t.is_empty() {
            continuing = false;
            continue;
        }
        let item = markdown::strip_bullet(t).unwrap_or(t);
        let numbered = markdown::leading_id(item);
        let body = numbered.map_or(item, |(_, body)| body);
        if !has_placeholder(body) {
            section.substance += 1;
        }
        match (section.part.requirement_id(), numbered) {
            (Some(req), Some((id, body))) if !line.fenced => {
                let id = if id.contains('.') {
                    id.to_string()
                } else {
                    format!("{req}.{id}")
                };
                section.criteria.push(Criterion {
                    id,
                    requirement_id: req.to_string(),
                    line: line.number,
                    end_line: line.number,
                    text: body.to_string(),
                });
                continuing = true;
            }
            _ if continuing && markdown::strip_bullet(t).is_none() => {
                if let Some(c) = section.criteria.last_mut() {
                    c.text.push(' ');
                    c.text.push_str(t);
                    c.end_line = line.number;
                }
            }
            _ => continuing = false,
        }
    }
    out.extend(open);
    out
}

/// Whether `text` holds a template placeholder such as `<trigger>` or `<correct
/// response>`: angle brackets around lowercase prose (so `Vec<String>` is not one).
fn has_placeholder(text: &str) -> bool {
    text.split('<').skip(1).any(|rest| {
        rest.split_once('>').is_some_and(|(inside, _)| {
            inside.starts_with(|c: char| c.is_ascii_lowercase())
                && inside
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || matches!(c, ' ' | ',' | '-' | '\'' | ':'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = include_str!("../../tests/fixtures/specs/good-bugfix/bugfix.md");

    #[test]
    fn good_bugfix_has_three_traceable_behaviours() {
        let doc = lint_bugfix(GOOD);
        assert_eq!(doc.diagnostics, []);
        let ids: Vec<&str> = doc.requirements.criteria().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["1.1", "2.1", "2.2", "3.1", "3.2"]);
        let titles: Vec<&str> = doc
            .requirements
            .requirements
            .iter()
            .map(|r| r.title.as_str())
            .collect();
        assert_eq!(
            titles,
            [
                "Current Behaviour",
                "Expected Behaviour",
                "Unchanged Behaviour"
            ]
        );
    }

    #[test]
    fn the_template_is_incomplete_until_filled_in() {
        let doc = lint_bugfix(crate::spec::templates::BUGFIX);
        let found: Vec<(Code, usize)> = doc.diagnostics.iter().map(|d| (d.code, d.line)).collect();
        assert_eq!(
            found,
            [3, 7, 11, 15, 19].map(|line| (Code::IncompleteBugfix, line)),
            "{:#?}",
            doc.diagnostics
        );
    }

    #[test]
    fn each_check() {
        let text = "# Bugfix\n\n## Current Behavior\n\nSaving an empty list crashes.\n\n## Expected Behavior\n\nIt should work.\n\n## Unchanged Behaviour\n\n1. WHEN a list has items THEN the app SHALL save them quickly\n2. the app must TBD\n";
        let doc = lint_bugfix(text);
        let found: Vec<(Code, usize)> = doc.diagnostics.iter().map(|d| (d.code, d.line)).collect();
        assert_eq!(
            found,
            [
                (Code::IncompleteBugfix, 1),
                (Code::IncompleteBugfix, 1),
                (Code::NoCriteria, 7),
                (Code::VagueTerm, 13),
                (Code::NoShall, 14),
                (Code::Tbd, 14)
            ]
        );
        assert!(doc
            .diagnostics
            .iter()
            .all(|d| d.document == Document::Bugfix));
        assert_eq!(doc.diagnostics[4].id.as_deref(), Some("3.2"));
    }
}
