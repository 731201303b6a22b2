//! The small slice of Markdown the spec documents use, read line by line: splitting into
//! numbered lines with byte offsets (so writers can patch bytes in place), fenced code
//! blocks, ATX headings, list bullets, `Key: value` fields, ID lists and ASCII word
//! tokens. Everything here is char-aware: it never slices inside a UTF-8 sequence,
//! because spec text is often not English.

/// One physical line of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    /// 1-based line number.
    pub number: usize,
    /// Byte offset of `text` in the whole document.
    pub start: usize,
    /// The line without its `\n` or `\r\n` (and, on line 1, without a BOM).
    pub text: &'a str,
    /// Inside a fenced code block (fence lines included): never interpreted.
    pub fenced: bool,
}

/// Splits `text` into lines, tracking fenced code blocks.
pub(crate) fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut offset = 0;
    let mut fence: Option<char> = None;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let mut start = offset;
        offset += raw.len();
        let mut body = raw.strip_suffix('\n').unwrap_or(raw);
        body = body.strip_suffix('\r').unwrap_or(body);
        if index == 0 {
            if let Some(rest) = body.strip_prefix('\u{feff}') {
                start += '\u{feff}'.len_utf8();
                body = rest;
            }
        }
        let marker = fence_marker(body);
        let fenced = fence.is_some() || marker.is_some();
        match (fence, marker) {
            (None, Some(c)) => fence = Some(c),
            (Some(open), Some(c)) if open == c => fence = None,
            _ => {}
        }
        out.push(Line {
            number: index + 1,
            start,
            text: body,
            fenced,
        });
    }
    out
}

/// `Some('`')` or `Some('~')` when the line opens or closes a code fence.
fn fence_marker(line: &str) -> Option<char> {
    let t = line.trim_start();
    ['`', '~']
        .into_iter()
        .find(|&c| t.chars().take_while(|&x| x == c).count() >= 3)
}

/// An ATX heading: `(level, title)` with the closing `#`s removed. Setext headings
/// (underlined with `===`) are not recognised; Kiro and its imitators never write them.
pub(crate) fn heading(line: &str) -> Option<(usize, &str)> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None; // four spaces of indentation is a code block, not a heading
    }
    let level = t.chars().take_while(|&c| c == '#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &t[level..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some((level, rest.trim().trim_end_matches('#').trim_end()))
}

/// The text after a `-`, `*` or `+` bullet (indentation allowed), or `None`.
pub(crate) fn strip_bullet(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let rest = t.strip_prefix(['-', '*', '+'])?;
    if rest.is_empty() {
        return Some("");
    }
    rest.starts_with([' ', '\t']).then(|| rest.trim_start())
}

/// Leading indentation in columns, a tab counting as four.
pub(crate) fn indent_width(line: &str) -> usize {
    line.chars()
        .take_while(|c| c.is_whitespace())
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum()
}

/// A `Key: value` field line, in any of the spellings authors use:
/// `Requirements: 1.1`, `- _Requirements: 1.1_`, `**User Story:** As a …`,
/// `*Files*: a.rs`. Returns the key lowercased and the value trimmed of emphasis.
pub(crate) fn field(line: &str) -> Option<(String, &str)> {
    let t = strip_bullet(line).unwrap_or(line).trim_start();
    let t = t.trim_start_matches(['_', '*']);
    let colon = t.find([':', '：'])?;
    let key = t[..colon].trim().trim_end_matches(['_', '*']).trim();
    let key_ok = !key.is_empty()
        && key.chars().count() <= 30
        && key.chars().all(|c| c.is_alphabetic() || c == ' ');
    if !key_ok {
        return None;
    }
    let colon_len = t[colon..].chars().next().map_or(1, char::len_utf8);
    let value = t[colon + colon_len..].trim_start_matches(['_', '*']).trim();
    let value = value.trim_end_matches(['_', '*']).trim_end();
    Some((key.to_lowercase(), value))
}

/// Splits a field value such as `1.1, 2.3` or `` `src/a.rs`, `src/b.rs` `` into items,
/// dropping wrapping punctuation. Separators: commas (ASCII and CJK), semicolons, `、`
/// and whitespace.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    let is_sep = |c: char| matches!(c, ',' | ';' | '，' | '；' | '、') || c.is_whitespace();
    let wrap: &[char] = &['*', '_', '(', ')', '[', ']', '`', '"', '\''];
    value
        .split(is_sep)
        .map(|item| item.trim_matches(wrap).trim_end_matches('.'))
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The numeric parts of an ID like `2.13`; `None` unless it is digits joined by dots.
pub(crate) fn id_parts(id: &str) -> Option<Vec<u32>> {
    id.split('.')
        .map(|p| p.parse::<u32>().ok().filter(|_| is_digits(p)))
        .collect()
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// An ID at the start of `text`: `1.`, `1)`, `1.2`, `1.2.`, `1.2:` followed by
/// whitespace (bold `**1.1**` tolerated). Returns the ID and the trimmed text after it.
/// An ID of one part needs a terminator (`.`, `)`, `:`), so "2023 was…" is not an ID.
pub(crate) fn leading_id(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut end = 0;
    loop {
        let digits = bytes[end..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        end += digits;
        let dot_digit =
            bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(|b| b.is_ascii_digit());
        if !dot_digit {
            break;
        }
        end += 1;
    }
    let id = &text[..end];
    let mut rest = &text[end..];
    let terminated = rest.starts_with(['.', ')', ':']);
    if terminated {
        rest = &rest[1..];
    }
    let rest = rest.trim_start_matches('*'); // `**1.1**` bold IDs
    if !id.contains('.') && !terminated {
        return None;
    }
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    Some((id, rest.trim()))
}

/// A run of ASCII letters or digits, with its byte span in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word<'a> {
    pub text: &'a str,
    pub start: usize,
    pub end: usize,
}

/// ASCII words of `text`. Any other character separates words, so keywords are found
/// even when glued to CJK text (`WHEN用户登录THEN`).
pub(crate) fn words(text: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match (c.is_ascii_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(Word {
                    text: &text[s..i],
                    start: s,
                    end: i,
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Word {
            text: &text[s..],
            start: s,
            end: text.len(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_handle_crlf_bom_and_missing_final_newline() {
        let text = "\u{feff}a\r\nb\n\nc";
        let got: Vec<_> = lines(text)
            .iter()
            .map(|l| (l.number, l.start, l.text))
            .collect();
        assert_eq!(got, [(1, 3, "a"), (2, 6, "b"), (3, 8, ""), (4, 9, "c")]);
        assert!(lines("").is_empty());
    }

    #[test]
    fn fenced_lines_are_marked() {
        let text = "a\n```rust\n# not a heading\n```\nb\n~~~\nx\n~~~";
        let fenced: Vec<_> = lines(text).iter().map(|l| l.fenced).collect();
        assert_eq!(fenced, [false, true, true, true, false, true, true, true]);
    }

    #[test]
    fn headings() {
        let cases = [
            ("## Overview", Some((2, "Overview"))),
            (
                "### Requirement 1: Login ##",
                Some((3, "Requirement 1: Login")),
            ),
            ("#NoSpace", None),
            ("    # code", None),
            ("#", Some((1, ""))),
            ("####### seven", None),
            ("## 概述", Some((2, "概述"))),
        ];
        for (input, want) in cases {
            assert_eq!(heading(input), want, "{input}");
        }
    }

    #[test]
    fn bullets_and_indent() {
        assert_eq!(strip_bullet("  - item"), Some("item"));
        assert_eq!(strip_bullet("* item"), Some("item"));
        assert_eq!(strip_bullet("-item"), None);
        assert_eq!(strip_bullet("**bold**"), None);
        assert_eq!(indent_width("\t  x"), 6);
    }

    #[test]
    fn fields_in_every_spelling() {
        let cases = [
            (
                "_Requirements: 1.1, 2.3_",
                Some(("requirements", "1.1, 2.3")),
            ),
            ("  - _Requirements: 1.1_", Some(("requirements", "1.1"))),
            ("Requirements: 1.1", Some(("requirements", "1.1"))),
            (
                "**User Story:** As a user",
                Some(("user story", "As a user")),
            ),
            ("- *Files*: src/a.rs", Some(("files", "src/a.rs"))),
            ("**用户故事：** 作为用户", Some(("用户故事", "作为用户"))),
            ("WHEN x: y", Some(("when x", "y"))),
            ("1.1 WHEN a: b", None),
            ("no colon here", None),
        ];
        for (input, want) in cases {
            let got = field(input);
            let got = got.as_ref().map(|(k, v)| (k.as_str(), *v));
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn lists_split_and_unwrap() {
        assert_eq!(split_list("1.1, 2.3;4"), ["1.1", "2.3", "4"]);
        assert_eq!(split_list("`src/a.rs`, `b.rs`"), ["src/a.rs", "b.rs"]);
        assert_eq!(split_list("1.1、1.2，2."), ["1.1", "1.2", "2"]);
        assert!(split_list("  ").is_empty());
    }

    #[test]
    fn ids() {
        assert_eq!(id_parts("2.13"), Some(vec![2, 13]));
        assert_eq!(id_parts("2."), None);
        assert_eq!(id_parts("+2"), None);
        assert_eq!(id_parts("99999999999"), None);
        let cases = [
            ("1. WHEN x", Some(("1", "WHEN x"))),
            ("1) x", Some(("1", "x"))),
            ("1.2 x", Some(("1.2", "x"))),
            ("1.2. x", Some(("1.2", "x"))),
            ("1.2: x", Some(("1.2", "x"))),
            ("1.2** x", Some(("1.2", "x"))),
            ("2023 was", None),
            ("1.5s later", None),
            ("v1.2 x", None),
            ("3.", Some(("3", ""))),
        ];
        for (input, want) in cases {
            assert_eq!(leading_id(input), want, "{input}");
        }
    }

    #[test]
    fn words_split_on_non_ascii() {
        let got: Vec<_> = words("WHEN用户登录THEN 系统 SHALL, ok")
            .iter()
            .map(|w| w.text)
            .collect();
        assert_eq!(got, ["WHEN", "THEN", "SHALL", "ok"]);
        let w = words("é fast");
        assert_eq!((w[0].text, w[0].start, w[0].end), ("fast", 3, 7));
    }
}
