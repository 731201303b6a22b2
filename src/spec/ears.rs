//! The EARS check for one acceptance-criterion sentence: which pattern it follows and
//! what is wrong with its wording. Knows nothing about documents or numbering.
//!
//! Both dialects are accepted, case-insensitively, because keywords are matched as
//! ASCII words (so they are found even between CJK characters):
//! - canonical EARS: `The <system> shall …`, `When …, the <system> shall …`,
//!   `While …, …`, `Where …, …`, `If …, then the <system> shall …`;
//! - Kiro: `WHEN … THEN <system> SHALL …`, `IF … THEN … SHALL …`, `WHILE … THE … SHALL`.
//!
//! Classification rules:
//! - A *leader* is `when`, `while`, `where` or `if` before the first `shall`, at the
//!   start of the sentence or of a clause (after `,` `;` `:` `，` `；` or after `and`/`or`).
//! - No leader: ubiquitous, provided something (the system name) precedes `shall`.
//! - Leaders, the first opening the sentence: one kind → event-driven (`when`),
//!   state-driven (`while`), optional feature (`where`), unwanted behaviour (`if`);
//!   several kinds → complex ("While …, when …, the system shall …").
//! - Otherwise unknown: the condition sits mid-sentence or after `shall`, `THEN` has no
//!   `WHEN`/`IF`, or nothing names the system.

use serde::Serialize;

use super::markdown::{self, Word};
use super::{Code, Diagnostic, Document};

/// The EARS pattern a criterion follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// `The <system> shall <response>`.
    Ubiquitous,
    /// `When <trigger>, the <system> shall …`.
    EventDriven,
    /// `While <state>, the <system> shall …`.
    StateDriven,
    /// `Where <feature is included>, the <system> shall …`.
    OptionalFeature,
    /// `If <unwanted condition>, then the <system> shall …`.
    UnwantedBehaviour,
    /// More than one kind of leader, e.g. `While …, when …, the <system> shall …`.
    Complex,
    /// Fits no pattern (including sentences without `shall`).
    Unknown,
}

/// The result of checking one criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CriterionCheck {
    /// The pattern the sentence follows.
    pub pattern: Pattern,
    /// Wording problems, all carrying the `line` and `id` given to [`check_criterion`].
    pub diagnostics: Vec<Diagnostic>,
}

/// Classifies `text` and reports `no-shall`, `multiple-shall`, `if-without-then`,
/// `unknown-pattern` and `vague-term`. Placeholders (`tbd`) are checked per line by the
/// linter, not here, so they are reported once even in multi-line criteria.
pub fn check_criterion(text: &str, line: usize, id: Option<&str>) -> CriterionCheck {
    let words = markdown::words(text);
    let (pattern, mut findings) = structure(text, &words);
    findings.extend(vague_terms(text, &words).into_iter().map(vague));
    let diagnostics = findings
        .into_iter()
        .map(|(code, msg, hint)| {
            Diagnostic::new(Document::Requirements, code, line, id, msg).suggest(hint)
        })
        .collect();
    CriterionCheck {
        pattern,
        diagnostics,
    }
}

/// A wording problem before it is given a line and an ID: code, message, suggestion.
type Finding = (Code, String, String);

/// The pattern, plus `no-shall`, `multiple-shall`, `if-without-then`, `unknown-pattern`.
fn structure(text: &str, words: &[Word<'_>]) -> (Pattern, Vec<Finding>) {
    let shalls: Vec<usize> = (0..words.len())
        .filter(|&i| is(&words[i], "shall"))
        .collect();
    let Some(&first) = shalls.first() else {
        let msg = "criterion has no `shall`".to_owned();
        return (
            Pattern::Unknown,
            vec![(Code::NoShall, msg, no_shall_hint(words))],
        );
    };
    let mut out: Vec<Finding> = Vec::new();
    if shalls.len() > 1 {
        let msg = format!(
            "criterion has {} `shall`s, so it is not singular",
            shalls.len()
        );
        let hint = "split it into one numbered criterion per `shall`".to_owned();
        out.push((Code::MultipleShall, msg, hint));
    }
    let leaders = leaders(text, words, first);
    if if_lacks_then(words, &leaders, first) {
        let msg = "`if` clause has no `then` before `shall`".to_owned();
        let hint = "write `IF <condition> THEN the <system> SHALL …` (or `If …, then …`)";
        out.push((Code::IfWithoutThen, msg, hint.to_owned()));
    }
    let pattern = shape(text, words, &leaders, first).unwrap_or_else(|why| {
        let msg = format!("criterion matches no EARS pattern: {why}");
        out.push((Code::UnknownPattern, msg, PATTERN_HINT.to_owned()));
        Pattern::Unknown
    });
    (pattern, out)
}

const PATTERN_HINT: &str = "use `WHEN|WHILE|WHERE|IF <condition> THEN the <system> SHALL \
    <response>` or `The <system> SHALL <response>`";

fn vague(term: &str) -> Finding {
    let msg = format!("vague term `{term}` cannot be tested");
    let hint =
        format!("replace `{term}` with a measurable value (a time, count, size or percentage)");
    (Code::VagueTerm, msg, hint)
}

/// A condition keyword that can open an EARS clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Leader {
    When,
    While,
    Where,
    If,
}

fn is(word: &Word<'_>, keyword: &str) -> bool {
    word.text.eq_ignore_ascii_case(keyword)
}

fn leader(word: &Word<'_>) -> Option<Leader> {
    [
        ("when", Leader::When),
        ("while", Leader::While),
        ("where", Leader::Where),
        ("if", Leader::If),
    ]
    .into_iter()
    .find(|(k, _)| is(word, k))
    .map(|(_, l)| l)
}

/// Word `i` opens a clause: first word, after clause punctuation, or after `and`/`or`.
fn clause_start(text: &str, words: &[Word<'_>], i: usize) -> bool {
    let Some(prev) = i.checked_sub(1).map(|p| &words[p]) else {
        return true;
    };
    let gap = &text[prev.end..words[i].start];
    gap.contains([',', ';', ':', '，', '；', '：']) || is(prev, "and") || is(prev, "or")
}

/// Leaders before the first `shall`, as `(word index, kind)`.
fn leaders(text: &str, words: &[Word<'_>], first_shall: usize) -> Vec<(usize, Leader)> {
    (0..first_shall)
        .filter(|&i| clause_start(text, words, i))
        .filter_map(|i| leader(&words[i]).map(|l| (i, l)))
        .collect()
}

fn if_lacks_then(words: &[Word<'_>], leaders: &[(usize, Leader)], first_shall: usize) -> bool {
    let Some(&(at, _)) = leaders.iter().rev().find(|(_, l)| *l == Leader::If) else {
        return false;
    };
    !words[at + 1..first_shall].iter().any(|w| is(w, "then"))
}

/// The pattern, or why there is none.
fn shape(
    text: &str,
    words: &[Word<'_>],
    leaders: &[(usize, Leader)],
    first_shall: usize,
) -> Result<Pattern, &'static str> {
    let Some(&(first_at, _)) = leaders.first() else {
        return ubiquitous(text, words, first_shall);
    };
    if first_at != 0 {
        return Err("the condition should open the sentence");
    }
    let mut kinds: Vec<Leader> = leaders.iter().map(|&(_, l)| l).collect();
    kinds.sort();
    kinds.dedup();
    Ok(match kinds.as_slice() {
        [Leader::When] => Pattern::EventDriven,
        [Leader::While] => Pattern::StateDriven,
        [Leader::Where] => Pattern::OptionalFeature,
        [Leader::If] => Pattern::UnwantedBehaviour,
        _ => Pattern::Complex,
    })
}

fn ubiquitous(text: &str, words: &[Word<'_>], first_shall: usize) -> Result<Pattern, &'static str> {
    let after = first_shall + 1..words.len();
    if after.clone().any(|i| {
        clause_start(text, words, i) && matches!(leader(&words[i]), Some(l) if l != Leader::Where)
    }) {
        return Err("the condition comes after `shall`; EARS puts it first");
    }
    if text[..words[first_shall].start]
        .trim()
        .trim_start_matches('*')
        .is_empty()
    {
        return Err("nothing names the system before `shall`");
    }
    if words.first().is_some_and(|w| is(w, "then")) {
        return Err("`THEN` without a preceding `WHEN` or `IF`");
    }
    Ok(Pattern::Ubiquitous)
}

fn no_shall_hint(words: &[Word<'_>]) -> String {
    let modal = words.iter().find(|w| {
        ["should", "must", "will", "may", "can"]
            .iter()
            .any(|m| is(w, m))
    });
    match modal {
        Some(w) => format!("replace `{}` with `shall`", w.text),
        None => "state the required behaviour as `the <system> shall <response>`".to_owned(),
    }
}

/// Words and phrases no test can check. Matched as whole words, case-insensitively; a
/// space or hyphen inside an entry matches either separator.
const VAGUE: &[&str] = &[
    "as soon as possible",
    "easy to use",
    "state of the art",
    "user-friendly",
    "fast",
    "faster",
    "quick",
    "quickly",
    "slow",
    "slowly",
    "easy",
    "easily",
    "simple",
    "robust",
    "flexible",
    "efficient",
    "efficiently",
    "adequate",
    "adequately",
    "appropriate",
    "appropriately",
    "reasonable",
    "reasonably",
    "sufficient",
    "sufficiently",
    "intuitive",
    "seamless",
    "seamlessly",
    "optimal",
    "etc",
];

/// Vague terms in text order, each once; a longer phrase hides the words inside it.
fn vague_terms(text: &str, words: &[Word<'_>]) -> Vec<&'static str> {
    let mut hits: Vec<(usize, usize, &'static str)> = Vec::new();
    for term in VAGUE {
        let parts: Vec<&str> = term.split([' ', '-']).collect();
        for i in 0..words.len() {
            let Some((start, end)) = phrase_at(text, words, i, &parts) else {
                continue;
            };
            let overlaps = hits.iter().any(|&(s, e, _)| start < e && s < end);
            if !overlaps {
                hits.push((start, end, term));
            }
        }
    }
    hits.sort();
    let mut terms: Vec<&'static str> = Vec::new();
    for (_, _, term) in hits {
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    terms
}

/// The byte span of `parts` matched at word `i`, if it matches as a whole phrase.
fn phrase_at(text: &str, words: &[Word<'_>], i: usize, parts: &[&str]) -> Option<(usize, usize)> {
    let window = words.get(i..i + parts.len())?;
    let matches = window.iter().zip(parts).all(|(w, p)| is(w, p));
    let joined = window
        .windows(2)
        .all(|p| matches!(&text[p[0].end..p[1].start], " " | "-"));
    let (start, end) = (window.first()?.start, window.last()?.end);
    // "fast-forward" is one compound word, not the vague "fast".
    let glued = text[..start].ends_with('-') || text[end..].starts_with('-');
    (matches && joined && !glued).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Pattern, Vec<Code>) {
        let check = check_criterion(text, 3, Some("1.1"));
        (
            check.pattern,
            check.diagnostics.iter().map(|d| d.code).collect(),
        )
    }

    #[test]
    fn patterns_in_both_dialects() {
        use Pattern::*;
        let cases = [
            ("The system shall store every item.", Ubiquitous),
            ("THE system SHALL store every item", Ubiquitous),
            (
                "When the user saves, the editor shall write the file.",
                EventDriven,
            ),
            (
                "WHEN the user saves THEN the editor SHALL write the file",
                EventDriven,
            ),
            ("WHEN a AND WHEN b THEN the system SHALL c", EventDriven),
            ("While offline, the app shall queue changes.", StateDriven),
            ("WHILE offline THE app SHALL queue changes", StateDriven),
            (
                "Where the export module is installed, the app shall offer PDF.",
                OptionalFeature,
            ),
            (
                "If the password is wrong, then the system shall refuse the login.",
                UnwantedBehaviour,
            ),
            (
                "IF the password is wrong THEN the system SHALL refuse the login",
                UnwantedBehaviour,
            ),
            (
                "While offline, when the user saves, the app shall queue the change.",
                Complex,
            ),
            (
                "WHILE offline AND WHEN the user saves THEN the app SHALL queue it",
                Complex,
            ),
            (
                "WHEN the user picks where to save THEN the app SHALL remember it",
                EventDriven,
            ),
            ("WHEN 用户点击登录 THEN 系统 SHALL 显示主页", EventDriven),
            ("WHEN用户点击登录THEN系统SHALL显示主页", EventDriven),
            ("系统 SHALL 记录日志", Ubiquitous),
            (
                "The system shall show the date when the order was placed.",
                Ubiquitous,
            ),
            (
                "The app shall list files where they are stored.",
                Ubiquitous,
            ),
        ];
        for (text, want) in cases {
            let (got, codes) = run(text);
            assert_eq!((got, codes.as_slice()), (want, [].as_slice()), "{text}");
        }
    }

    #[test]
    fn diagnostics_table() {
        use Code::*;
        use Pattern::*;
        let cases: &[(&str, Pattern, &[Code])] = &[
            ("The system should store items.", Unknown, &[NoShall]),
            ("Items are stored.", Unknown, &[NoShall]),
            ("", Unknown, &[NoShall]),
            (
                "The system shall store items and shall log them.",
                Ubiquitous,
                &[MultipleShall],
            ),
            (
                "If the disk is full, the system shall warn.",
                UnwantedBehaviour,
                &[IfWithoutThen],
            ),
            (
                "IF the disk is full the system SHALL warn",
                UnwantedBehaviour,
                &[IfWithoutThen],
            ),
            (
                "While busy, if the disk is full, the system shall warn.",
                Complex,
                &[IfWithoutThen],
            ),
            (
                "The system, when asked, shall answer.",
                Unknown,
                &[UnknownPattern],
            ),
            (
                "The system shall retry, if the upload fails.",
                Unknown,
                &[UnknownPattern],
            ),
            ("THEN the system SHALL stop", Unknown, &[UnknownPattern]),
            ("SHALL stop", Unknown, &[UnknownPattern]),
            ("The system shall respond fast.", Ubiquitous, &[VagueTerm]),
            (
                "The UI shall be User-Friendly and EASY to use, etc.",
                Ubiquitous,
                &[VagueTerm, VagueTerm, VagueTerm],
            ),
        ];
        for (text, pattern, codes) in cases {
            assert_eq!(run(text), (*pattern, codes.to_vec()), "{text}");
        }
    }

    #[test]
    fn vague_terms_are_whole_words_and_named() {
        let cases: &[(&str, &[&str])] = &[
            (
                "The system shall respond fast and quickly.",
                &["fast", "quickly"],
            ),
            ("The system shall fast-forward the video.", &[]),
            ("The system shall serve breakfast steadfastly.", &[]),
            (
                "The app shall be easy to use and easy-to-use.",
                &["easy to use"],
            ),
            ("The app shall be easy.", &["easy"]),
            ("The system shall be user friendly.", &["user-friendly"]),
            ("系统 SHALL 快速 respond FAST", &["fast"]),
        ];
        for (text, want) in cases {
            assert_eq!(vague_terms(text, &markdown::words(text)), *want, "{text}");
        }
        let d = check_criterion("The system shall be robust.", 9, Some("2.1")).diagnostics;
        assert_eq!(d[0].message, "vague term `robust` cannot be tested");
        assert_eq!((d[0].line, d[0].id.as_deref()), (9, Some("2.1")));
    }

    #[test]
    fn no_shall_suggests_the_modal_to_replace() {
        let d = check_criterion("The system must log in.", 1, None).diagnostics;
        assert_eq!(
            d[0].suggestion.as_deref(),
            Some("replace `must` with `shall`")
        );
    }
}
