//! Reading `requirements.md` (Kiro's layout) into requirements and numbered acceptance
//! criteria, plus the structural checks on that numbering. Sentence-level checks on each
//! criterion (EARS) live in `ears.rs`; `lint.rs` combines both.
//!
//! Rules:
//! - A requirement starts at a heading `Requirement N` (any level, case-insensitive, also
//!   `需求 N`), optionally followed by `:`/`.`/`-` and a title. Its ID is `N`. It ends at
//!   the next heading of the same or a higher level.
//! - The user story is the first `**User Story:** …` (or `User Story:`, `用户故事：`) line.
//! - Acceptance criteria are numbered items in the requirement's body. `1. …` (a Markdown
//!   ordered list) under Requirement N gets ID `N.1`; the number *as written* is used, so
//!   a list numbered `1.` `1.` `1.` yields a duplicate ID rather than a silent renumbering
//!   (the source is what assistants cite). Explicit IDs (`1.1 …`, `- 1.1 …`, `**1.1** …`)
//!   are kept as written.
//! - A `#### Acceptance Criteria` (or `验收标准`) heading makes the block explicit: there, a
//!   top-level bullet without a number is reported, because it cannot be traced. Numbered
//!   items under any other sub-heading (`#### Notes`) are not criteria.
//! - A non-blank line right after a criterion that is not itself a list item continues it.

use std::collections::HashSet;

use serde::Serialize;

use super::markdown::{self, Line};
use super::{sort_diagnostics, Code, Diagnostic, Document};

/// A parsed `requirements.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequirementsDoc {
    /// Requirements in document order.
    pub requirements: Vec<Requirement>,
    /// Structural problems: numbering, missing user stories, missing criteria.
    pub diagnostics: Vec<Diagnostic>,
}

/// One `Requirement N` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    /// `"N"`, normalised (`Requirement 01` has ID `"1"`).
    pub id: String,
    /// The heading text after the number; may be empty.
    pub title: String,
    /// Line of the heading.
    pub line: usize,
    /// Last line that belongs to this requirement.
    pub end_line: usize,
    /// The user story, when present.
    pub user_story: Option<UserStory>,
    /// Acceptance criteria in document order.
    pub criteria: Vec<Criterion>,
}

/// A `**User Story:** As a …, I want …, so that …` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserStory {
    /// The story after the label.
    pub text: String,
    /// Its line.
    pub line: usize,
}

/// One acceptance criterion: the unit of traceability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Criterion {
    /// `"N.M"` (or an explicit ID as written).
    pub id: String,
    /// The owning requirement's ID.
    pub requirement_id: String,
    /// Line where the criterion starts.
    pub line: usize,
    /// Last line of the criterion, including continuation lines.
    pub end_line: usize,
    /// The sentence, continuation lines joined with a space.
    pub text: String,
}

impl RequirementsDoc {
    /// Every criterion in document order.
    pub fn criteria(&self) -> impl Iterator<Item = &Criterion> {
        self.requirements.iter().flat_map(|r| r.criteria.iter())
    }

    /// The first requirement with this ID.
    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }

    /// The criterion or requirement ID that owns `line`, if any.
    pub fn id_at_line(&self, line: usize) -> Option<&str> {
        let within = |start: usize, end: usize| (start..=end).contains(&line);
        if let Some(c) = self.criteria().find(|c| within(c.line, c.end_line)) {
            return Some(&c.id);
        }
        let r = self
            .requirements
            .iter()
            .find(|r| within(r.line, r.end_line))?;
        Some(&r.id)
    }
}

/// Parses `requirements.md` and checks its structure. Never fails.
pub fn parse_requirements(text: &str) -> RequirementsDoc {
    let mut parser = Parser::default();
    for line in markdown::lines(text) {
        parser.line(line);
    }
    parser.close();
    let mut diagnostics = parser.diagnostics;
    diagnostics.extend(check_structure(&parser.done));
    sort_diagnostics(&mut diagnostics);
    RequirementsDoc {
        requirements: parser.done,
        diagnostics,
    }
}

/// Which kind of block inside a requirement we are reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// Before any sub-heading: numbered items count, bullets are prose.
    Implicit,
    /// Under an "Acceptance Criteria" heading.
    Explicit,
    /// Under some other sub-heading: nothing counts.
    Other,
}

struct Open {
    req: Requirement,
    level: usize,
    block: Block,
    /// The previous line was part of a criterion, so prose continues it.
    continuing: bool,
}

impl Open {
    /// Reads one non-blank body line; returns a diagnostic for an unnumbered criterion.
    fn body(&mut self, text: &str, number: usize, was_continuing: bool) -> Option<Diagnostic> {
        if self.req.user_story.is_none() {
            if let Some(story) = user_story(text) {
                let text = story.to_owned();
                self.req.user_story = Some(UserStory { text, line: number });
                return None;
            }
        }
        if self.block != Block::Other {
            if let Some((id, body)) = criterion_item(text, &self.req.id) {
                self.req.criteria.push(Criterion {
                    id,
                    requirement_id: self.req.id.clone(),
                    line: number,
                    end_line: number,
                    text: body.to_owned(),
                });
                self.continuing = true;
                return None;
            }
            if self.block == Block::Explicit && is_unnumbered_item(text) {
                return Some(unnumbered(number, &self.req.id));
            }
        }
        if was_continuing && !is_list_item(text) {
            if let Some(c) = self.req.criteria.last_mut() {
                c.text.push(' ');
                c.text.push_str(text.trim());
                c.end_line = number;
                self.continuing = true;
            }
        }
        None
    }
}

#[derive(Default)]
struct Parser {
    done: Vec<Requirement>,
    current: Option<Open>,
    diagnostics: Vec<Diagnostic>,
}

impl Parser {
    fn line(&mut self, line: Line<'_>) {
        if !line.fenced {
            if let Some((level, title)) = markdown::heading(line.text) {
                return self.heading(level, title, line.number);
            }
        }
        let Some(open) = self.current.as_mut() else {
            return;
        };
        open.req.end_line = line.number;
        let was_continuing = std::mem::replace(&mut open.continuing, false);
        // Code is never a criterion, but it still belongs to the open requirement.
        if line.fenced || line.text.trim().is_empty() {
            return;
        }
        if let Some(d) = open.body(line.text, line.number, was_continuing) {
            self.diagnostics.push(d);
        }
    }

    fn heading(&mut self, level: usize, title: &str, number: usize) {
        if let Some((id, title)) = requirement_heading(title) {
            self.close();
            let req = Requirement {
                id,
                title: title.to_owned(),
                line: number,
                end_line: number,
                user_story: None,
                criteria: Vec::new(),
            };
            self.current = Some(Open {
                req,
                level,
                block: Block::Implicit,
                continuing: false,
            });
            return;
        }
        let Some(open) = self.current.as_mut() else {
            return;
        };
        if level <= open.level {
            return self.close();
        }
        open.block = if is_criteria_heading(title) {
            Block::Explicit
        } else {
            Block::Other
        };
        open.continuing = false;
        open.req.end_line = number;
    }

    fn close(&mut self) {
        if let Some(open) = self.current.take() {
            self.done.push(open.req);
        }
    }
}

/// `Requirement 3: Title` → `("3", "Title")`.
fn requirement_heading(title: &str) -> Option<(String, &str)> {
    const EN: &str = "requirement";
    let rest = if title.to_ascii_lowercase().starts_with(EN) {
        &title[EN.len()..] // the prefix is ASCII, so this is a char boundary
    } else {
        title.strip_prefix("需求")?
    };
    let rest = rest.trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let number: u32 = rest[..digits].parse().ok()?;
    let after = &rest[digits..];
    if after.starts_with(|c: char| c.is_alphanumeric()) {
        return None;
    }
    let seps: &[char] = &[':', '：', '.', '-', '–', '—', ')', ' ', '\t'];
    Some((number.to_string(), after.trim_start_matches(seps).trim()))
}

fn is_criteria_heading(title: &str) -> bool {
    title.to_ascii_lowercase().contains("acceptance criteria")
        || title.contains("验收标准")
        || title.contains("验收准则")
}

fn user_story(text: &str) -> Option<&str> {
    let (key, value) = markdown::field(text)?;
    matches!(key.as_str(), "user story" | "用户故事").then_some(value)
}

/// A numbered criterion line → `(full ID, sentence)`.
fn criterion_item<'a>(text: &'a str, requirement_id: &str) -> Option<(String, &'a str)> {
    let t = text.trim_start();
    let t = markdown::strip_bullet(t).unwrap_or(t);
    let t = t.strip_prefix("**").unwrap_or(t);
    let (id, body) = markdown::leading_id(t)?;
    let full = if id.contains('.') {
        id.to_owned()
    } else {
        format!("{requirement_id}.{id}")
    };
    Some((full, body))
}

fn is_list_item(text: &str) -> bool {
    markdown::strip_bullet(text).is_some() || markdown::leading_id(text.trim_start()).is_some()
}

/// A top-level bullet with content; indented bullets are details of the item above.
fn is_unnumbered_item(text: &str) -> bool {
    markdown::indent_width(text) < 2 && markdown::strip_bullet(text).is_some_and(|b| !b.is_empty())
}

fn unnumbered(line: usize, requirement_id: &str) -> Diagnostic {
    let msg = format!("acceptance criterion in requirement {requirement_id} has no number");
    Diagnostic::new(
        Document::Requirements,
        Code::UnnumberedCriterion,
        line,
        Some(requirement_id),
        msg,
    )
    .suggest(format!(
        "number it, e.g. `1. WHEN …` or `{requirement_id}.1 …`, so it can be traced"
    ))
}

/// Numbering, user story and criteria checks over the parsed requirements.
fn check_structure(reqs: &[Requirement]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if reqs.is_empty() {
        let d = Diagnostic::new(
            Document::Requirements,
            Code::NoRequirements,
            1,
            None,
            "no `### Requirement N` heading found",
        );
        out.push(d.suggest("add requirements as `### Requirement 1: <title>` headings"));
        return out;
    }
    let numbered: Vec<_> = reqs
        .iter()
        .filter_map(|r| Some((number(&r.id)?, r.line, r.id.as_str())))
        .collect();
    check_gaps(&numbered, "requirement", &mut out);
    check_duplicates(
        reqs.iter().map(|r| (r.id.as_str(), r.line)),
        "requirement",
        &mut out,
    );
    check_duplicates(
        reqs.iter()
            .flat_map(|r| &r.criteria)
            .map(|c| (c.id.as_str(), c.line)),
        "criterion",
        &mut out,
    );
    for req in reqs {
        check_requirement(req, &mut out);
    }
    out
}

fn check_requirement(req: &Requirement, out: &mut Vec<Diagnostic>) {
    let id = Some(req.id.as_str());
    if req.user_story.is_none() {
        let msg = format!("requirement {} has no user story", req.id);
        let d = Diagnostic::new(
            Document::Requirements,
            Code::MissingUserStory,
            req.line,
            id,
            msg,
        );
        out.push(
            d.suggest("add `**User Story:** As a <role>, I want <feature>, so that <benefit>`"),
        );
    }
    if req.criteria.is_empty() {
        let msg = format!("requirement {} has no acceptance criteria", req.id);
        let d = Diagnostic::new(Document::Requirements, Code::NoCriteria, req.line, id, msg);
        out.push(d.suggest("add `#### Acceptance Criteria` with numbered EARS sentences"));
    }
    let mut own = Vec::new();
    for c in &req.criteria {
        match markdown::id_parts(&c.id).as_deref() {
            Some([r, m]) if r.to_string() == req.id => own.push((*m, c.line, c.id.as_str())),
            Some([_, ..]) => out.push(mismatched(c, req)),
            _ => {}
        }
    }
    check_gaps(&own, "criterion", out);
}

fn mismatched(c: &Criterion, req: &Requirement) -> Diagnostic {
    let msg = format!("criterion {} sits under requirement {}", c.id, req.id);
    Diagnostic::new(
        Document::Requirements,
        Code::MismatchedId,
        c.line,
        Some(&c.id),
        msg,
    )
    .suggest(format!(
        "renumber it as {}.<n> or move it under its requirement",
        req.id
    ))
}

fn number(id: &str) -> Option<u32> {
    id.parse().ok()
}

/// Reports numbers that do not continue the sequence 1, 2, 3… (repeats are left to
/// [`check_duplicates`]). `items` are `(number, line, id)` in document order.
fn check_gaps(items: &[(u32, usize, &str)], what: &str, out: &mut Vec<Diagnostic>) {
    let mut seen = HashSet::new();
    let mut expected = 1u32;
    for &(n, line, id) in items {
        if !seen.insert(n) {
            continue;
        }
        if n != expected {
            let msg = if n > expected {
                format!("{what} {id} skips number {expected}")
            } else {
                format!("{what} {id} is out of order (expected number {expected})")
            };
            let d = Diagnostic::new(Document::Requirements, Code::GappedId, line, Some(id), msg);
            out.push(d.suggest("number consecutively from 1 in document order"));
        }
        expected = expected.max(n.saturating_add(1));
    }
}

fn check_duplicates<'a>(
    items: impl Iterator<Item = (&'a str, usize)>,
    what: &str,
    out: &mut Vec<Diagnostic>,
) {
    let mut seen = HashSet::new();
    for (id, line) in items {
        if !seen.insert(id) {
            let msg = format!("{what} ID {id} is used more than once");
            let d = Diagnostic::new(
                Document::Requirements,
                Code::DuplicateId,
                line,
                Some(id),
                msg,
            );
            out.push(d.suggest("give every ID a unique number; IDs are traceability keys"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(doc: &RequirementsDoc) -> Vec<(Code, usize, Option<&str>)> {
        doc.diagnostics
            .iter()
            .map(|d| (d.code, d.line, d.id.as_deref()))
            .collect()
    }

    fn ids(doc: &RequirementsDoc) -> Vec<(&str, usize, &str)> {
        doc.criteria()
            .map(|c| (c.id.as_str(), c.line, c.text.as_str()))
            .collect()
    }

    const KIRO: &str = "# Requirements Document\n\n## Introduction\n\nA todo app.\n\n## Requirements\n\n\
### Requirement 1: Add items\n\n**User Story:** As a user, I want to add items, so that I remember them.\n\n\
#### Acceptance Criteria\n\n1. WHEN the user submits text THEN the system SHALL add an item\n\
2. IF the text is empty THEN the system SHALL reject it\n\n\
### Requirement 2\n\n**User Story:** As a user, I want to delete items, so that the list stays short.\n\n\
#### Acceptance Criteria\n\n1. WHEN the user deletes an item THEN the system SHALL remove it\n";

    #[test]
    fn kiro_numbered_lists_get_requirement_prefixed_ids() {
        let doc = parse_requirements(KIRO);
        assert_eq!(codes(&doc), []);
        let r: Vec<_> = doc
            .requirements
            .iter()
            .map(|r| (r.id.as_str(), r.title.as_str(), r.line))
            .collect();
        assert_eq!(r, [("1", "Add items", 9), ("2", "", 18)]);
        let story = doc.requirements[0]
            .user_story
            .as_ref()
            .map(|s| (s.line, s.text.as_str()));
        assert_eq!(
            story,
            Some((
                11,
                "As a user, I want to add items, so that I remember them."
            ))
        );
        let c: Vec<_> = ids(&doc).iter().map(|c| (c.0, c.1)).collect();
        assert_eq!(c, [("1.1", 15), ("1.2", 16), ("2.1", 24)]);
        assert_eq!(doc.id_at_line(16), Some("1.2"));
        assert_eq!(doc.id_at_line(12), Some("1"));
        assert_eq!(doc.id_at_line(3), None);
    }

    #[test]
    fn explicit_ids_bold_ids_and_continuations() {
        let text = "### Requirement 3 - Export\n\nUser Story: As a user, I want export.\n\n\
#### Acceptance Criteria\n- 3.1 The system shall export CSV\n  and JSON files.\n**3.2** The system shall log exports.\n3.3. The system shall\n\n\
    keep going? no, blank line ended it\n";
        let doc = parse_requirements(text);
        let want = [
            ("3.1", 6, "The system shall export CSV and JSON files."),
            ("3.2", 8, "The system shall log exports."),
            ("3.3", 9, "The system shall"),
        ];
        assert_eq!(ids(&doc), want);
        assert_eq!(doc.requirements[0].criteria[0].end_line, 7);
        // Requirement 3 first: numbering starts at 1.
        assert_eq!(codes(&doc), [(Code::GappedId, 1, Some("3"))]);
    }

    #[test]
    fn headings_recognised_and_rejected() {
        let cases = [
            ("Requirement 1: Login", Some(("1", "Login"))),
            ("requirement 12", Some(("12", ""))),
            ("REQUIREMENT 01. Login", Some(("1", "Login"))),
            ("需求 2：登录", Some(("2", "登录"))),
            ("Requirements", None),
            ("Requirement: Login", None),
            ("Requirement 1a", None),
            ("Requirement 99999999999", None),
        ];
        for (input, want) in cases {
            let got = requirement_heading(input);
            let got = got.as_ref().map(|(id, t)| (id.as_str(), *t));
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn structural_diagnostics_table() {
        let head = "### Requirement 1\n**User Story:** As a, I want b, so that c\n#### Acceptance Criteria\n";
        type Found<'a> = &'a [(Code, usize, Option<&'a str>)];
        let cases: &[(&str, Found<'_>)] = &[
            ("# Nothing here\n", &[(Code::NoRequirements, 1, None)]),
            ("### Requirement 1\n1. The system shall x\n", &[(Code::MissingUserStory, 1, Some("1"))]),
            ("### Requirement 1\n**User Story:** a\n", &[(Code::NoCriteria, 1, Some("1"))]),
            (
                "### Requirement 1\n**User Story:** a\n#### Acceptance Criteria\n- WHEN x THEN y SHALL z\n1. The system shall x\n",
                &[(Code::UnnumberedCriterion, 4, Some("1"))],
            ),
            (
                "### Requirement 1\n**User Story:** a\n1.1 The system shall x\n1.3 The system shall y\n1.2 The system shall z\n",
                &[(Code::GappedId, 4, Some("1.3")), (Code::GappedId, 5, Some("1.2"))],
            ),
            (
                "### Requirement 1\n**User Story:** a\n1. The system shall x\n1. The system shall y\n",
                &[(Code::DuplicateId, 4, Some("1.1"))],
            ),
            (
                "### Requirement 1\n**User Story:** a\n1.1 The system shall x\n2.1 The system shall y\n",
                &[(Code::MismatchedId, 4, Some("2.1"))],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(codes(&parse_requirements(text)), *want, "{text}");
        }
        let dup = format!("{head}1. The system shall x\n{head}1. The system shall y\n");
        let doc = parse_requirements(&dup);
        assert_eq!(
            codes(&doc),
            [
                (Code::DuplicateId, 5, Some("1")),
                (Code::DuplicateId, 8, Some("1.1"))
            ]
        );
    }

    #[test]
    fn other_subsections_and_code_fences_are_not_criteria() {
        let text = "### Requirement 1\n**User Story:** a\n#### Acceptance Criteria\n1. The system shall x\n\
#### Notes\n2. not a criterion\n- not flagged\n```\n### Requirement 9\n```\n## Glossary\n1. term\n";
        let doc = parse_requirements(text);
        assert_eq!(ids(&doc), [("1.1", 4, "The system shall x")]);
        assert_eq!(doc.requirements.len(), 1);
        assert_eq!(doc.requirements[0].end_line, 10);
        assert_eq!(codes(&doc), []);
    }

    #[test]
    fn crlf_and_indented_detail_bullets() {
        let text = "### Requirement 1\r\n**User Story:** a\r\n#### Acceptance Criteria\r\n1. The system shall x\r\n   - detail\r\n";
        let doc = parse_requirements(text);
        assert_eq!(ids(&doc), [("1.1", 4, "The system shall x")]);
        assert_eq!(codes(&doc), []);
    }
}
