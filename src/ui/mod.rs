//! The dashboard's HTML, rendered on the server from the same evaluation every tool uses:
//! all specs with phase and document badges, task progress, the traceability matrix
//! (uncovered criteria highlighted), diagnostics, and a review queue whose buttons record
//! decisions through `review::decide` (the HTTP side is `transport/http/ui.rs`).
//!
//! Plain functions of the workspace; no HTTP here. Every value that comes from a file or
//! from `spec.json` goes through [`escape`] before it reaches the page.

pub mod assets;

use std::fmt::Write as _;

use crate::spec::review::{self, Target};
use crate::spec::store::{DocStatus, Store};
use crate::spec::workflow::{evaluate, Evaluation, Loaded};
use crate::spec::{trace, Severity};
use crate::workspace::Workspace;

/// Diagnostics listed per spec; the rest are counted.
pub const MAX_DIAGNOSTICS_SHOWN: usize = 50;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page: head, inline assets, the CSRF token for the review buttons, and the
/// first rendering of the fragment.
pub fn page(ws: &Workspace, csrf_token: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"csrf-token\" content=\"{token}\">\
         <title>Specs · {root}</title><style>{css}</style></head>\
         <body><h1>Specs <span id=\"status\">connecting…</span></h1>\
         <div id=\"app\">{fragment}</div><script>{js}</script></body></html>\n",
        token = escape(csrf_token),
        root = escape(&ws.root().display().to_string()),
        css = assets::CSS,
        fragment = fragment(ws),
        js = assets::JS,
    )
}

/// The live part of the page: the review queue, then one section per spec.
pub fn fragment(ws: &Workspace) -> String {
    let store = Store::new(ws);
    let specs = match store.list() {
        Ok(specs) => specs,
        Err(e) => return format!("<p class=\"error\">{}</p>", escape(&e.to_string())),
    };
    let mut queue = String::new();
    let mut sections = String::new();
    for spec in specs {
        let name = spec.name.clone();
        let read_only = spec.read_only();
        match Loaded::load(&store, spec) {
            Ok(loaded) => {
                let e = evaluate(&loaded);
                if !read_only {
                    queue_items(&mut queue, &loaded, &e);
                }
                spec_section(&mut sections, &e);
            }
            Err(err) => {
                let _ = write!(
                    sections,
                    "<section class=\"spec\"><h2>{}</h2><p class=\"error\">{}</p></section>",
                    escape(&name),
                    escape(&err.to_string())
                );
            }
        }
    }
    if sections.is_empty() {
        sections.push_str("<p>No specs yet: <code>spec_init</code> creates one.</p>");
    }
    if queue.is_empty() {
        queue.push_str("<li class=\"info\">Nothing waits for review.</li>");
    }
    format!("<h2>Review queue</h2><ul class=\"queue\">{queue}</ul>{sections}")
}

/// One `<li>` per existing document (or open change) of the spec that is not approved.
fn queue_items(out: &mut String, loaded: &Loaded, e: &Evaluation) {
    let mut targets: Vec<Target> = e
        .documents
        .iter()
        .filter(|d| d.exists && d.status != DocStatus::Approved)
        .map(|d| Target::Doc(d.doc))
        .collect();
    if e.open_change.is_some() {
        targets.push(Target::Change);
    }
    for target in targets {
        let Ok(subject) = review::subject_of(loaded, e, target) else {
            continue;
        };
        if subject.status == DocStatus::Approved {
            continue;
        }
        let _ = write!(
            out,
            "<li data-spec=\"{spec}\" data-doc=\"{doc}\" data-sha256=\"{sha}\">\
             <b>{spec}</b> / {doc} {badge} <span class=\"info\">{summary}</span>{errors} \
             <textarea placeholder=\"comment\" aria-label=\"comment\"></textarea>\
             <button data-decision=\"approve\">Approve</button>\
             <button data-decision=\"request_changes\">Request changes</button></li>",
            spec = escape(&subject.spec),
            doc = escape(target.as_str()),
            sha = escape(&subject.sha256),
            badge = status_badge(subject.status),
            summary = escape(&subject.summary),
            errors = if subject.errors > 0 {
                format!(" <span class=\"error\">{} error(s)</span>", subject.errors)
            } else {
                String::new()
            },
        );
    }
}

fn status_badge(status: DocStatus) -> String {
    let class = match status {
        DocStatus::Draft => "draft",
        DocStatus::InReview => "in_review",
        DocStatus::Approved => "approved",
        DocStatus::ChangesRequested => "changes_requested",
    };
    format!("<span class=\"badge {class}\" data-status=\"{class}\">{class}</span>")
}

fn spec_section(out: &mut String, e: &Evaluation) {
    let _ = write!(
        out,
        "<section class=\"spec\" data-spec=\"{name}\"><h2>{name} \
         <span class=\"badge phase\">{phase}</span></h2><table><tr><th>document</th>\
         <th>status</th><th>errors</th><th>warnings</th></tr>",
        name = escape(&e.name),
        phase = escape(e.phase.as_str()),
    );
    for d in &e.documents {
        let edited = match &d.reopened {
            Some(r) => format!(
                "<span class=\"badge edited\" title=\"{}\">edited after approval</span>",
                escape(&r.reason)
            ),
            None => String::new(),
        };
        let note = match &d.note {
            Some(n) => format!("<div class=\"info note\">comment: {}</div>", escape(n)),
            None => String::new(),
        };
        let status = if d.exists {
            status_badge(d.status)
        } else {
            "<span class=\"info\">not written</span>".to_string()
        };
        let _ = write!(
            out,
            "<tr data-doc=\"{doc}\"><td>{path}</td><td>{status}{edited}{note}</td><td>{}</td><td>{}</td></tr>",
            d.errors,
            d.warnings,
            doc = escape(d.doc.as_str()),
            path = escape(&d.path),
        );
    }
    out.push_str("</table>");
    if let Some(p) = &e.progress {
        let _ = write!(
            out,
            "<h3>Tasks</h3><progress max=\"{}\" value=\"{}\"></progress> {} of {} done \
             ({} in progress, {} blocked)",
            p.total.max(1),
            p.done,
            p.done,
            p.total,
            p.in_progress,
            p.blocked
        );
    }
    trace_table(out, e);
    diagnostics(out, e);
    out.push_str("</section>");
}

/// The traceability matrix: one row per criterion; uncovered ones are highlighted.
fn trace_table(out: &mut String, e: &Evaluation) {
    let (Some(req), Some(design), Some(tasks)) =
        (&e.parsed.requirements, &e.parsed.design, &e.parsed.tasks)
    else {
        return;
    };
    let report = trace(req, design, tasks);
    let c = &report.coverage;
    let _ = write!(
        out,
        "<h3>Traceability</h3><p>{} criteria: {:.0}% in the design, {:.0}% in tasks</p>\
         <table class=\"trace\"><tr><th>criterion</th><th>design</th><th>tasks</th></tr>",
        c.criteria, c.design_percent, c.tasks_percent
    );
    for row in &report.criteria {
        let uncovered = row.components.is_empty() || row.tasks.is_empty();
        let _ = write!(
            out,
            "<tr{class}><td>{id}</td><td>{components}</td><td>{tasks}</td></tr>",
            class = if uncovered {
                " class=\"uncovered\""
            } else {
                ""
            },
            id = escape(&row.id),
            components = escape(&row.components.join(", ")),
            tasks = escape(&row.tasks.join(", ")),
        );
    }
    out.push_str("</table>");
}

fn diagnostics(out: &mut String, e: &Evaluation) {
    if e.diagnostics.is_empty() {
        out.push_str("<p class=\"info\">No diagnostics.</p>");
        return;
    }
    let _ = write!(out, "<h3>Diagnostics ({})</h3><ul>", e.diagnostics.len());
    for d in e.diagnostics.iter().take(MAX_DIAGNOSTICS_SHOWN) {
        let class = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let document = serde_json::to_value(d.document)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<li class=\"{class}\">{class} {code} {document}:{line} {message}</li>",
            code = escape(d.code.as_str()),
            document = escape(&document),
            line = d.line,
            message = escape(&d.message),
        );
    }
    if e.diagnostics.len() > MAX_DIAGNOSTICS_SHOWN {
        let _ = write!(
            out,
            "<li class=\"info\">… {} more</li>",
            e.diagnostics.len() - MAX_DIAGNOSTICS_SHOWN
        );
    }
    out.push_str("</ul>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
