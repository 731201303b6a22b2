//! The dashboard's HTTP endpoints (same listener and port as `/mcp`):
//!
//! - `GET /ui`: the page (HTML from `crate::ui`, inline CSS/JS, the CSRF token);
//! - `GET /ui/fragment`: the live part, re-fetched by the page on every event;
//! - `GET /ui/events`: SSE, one event per file change (`ui_events.rs`);
//! - `POST /ui/review`: a decision, recorded through `review::decide` with channel
//!   `dashboard`, the single code path of every approval channel.
//!
//! `endpoint::route` has already applied the Origin and Host rules of `/mcp`. A POST also
//! needs an `Origin` header (browsers always send one on `fetch` POSTs), must not be
//! `Sec-Fetch-Site: cross-site`, and must carry the page's CSRF token in `X-CSRF-Token`: an
//! HMAC-SHA-256 of a fixed label under a per-process random secret, so only a page this
//! process served knows it. A custom header also forces a CORS preflight on any other
//! origin, which `/ui` never grants. No cookies are set, so there is nothing for SameSite
//! to protect.

use std::io::Read;
use std::sync::Arc;

use serde_json::json;
use tiny_http::Method;

use super::endpoint::{busy_streams, Outcome};
use super::request::Request;
use super::respond::{header, Answered, Headers, Reply};
use super::sse::SseWriter;
use super::ui_events::Watcher;
use super::App;
use crate::sha256::{constant_time_eq, hex, hmac_sha256};
use crate::spec::review::{self, Channel, Decision, ReviewError, Target, Verdict};
use crate::spec::store::{Store, StoreError};

/// Largest `POST /ui/review` body.
pub const MAX_REVIEW_BODY: u64 = 64 * 1024;
/// What the CSRF token is an HMAC of.
const CSRF_LABEL: &[u8] = b"mcp-server-spec dashboard csrf v1";
/// Locks the page down to itself: inline style and script, requests to this origin only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

/// The dashboard's process-wide state: the CSRF secret and the file watcher.
pub struct Dashboard {
    secret: [u8; 32],
    pub watcher: Watcher,
}

impl Dashboard {
    pub fn new(workspace_root: &std::path::Path) -> Dashboard {
        Dashboard {
            secret: crate::mcp::ask::random_key(),
            watcher: Watcher::new(workspace_root),
        }
    }

    /// The token the page embeds and every POST must echo.
    pub fn csrf_token(&self) -> String {
        hex(&hmac_sha256(&self.secret, CSRF_LABEL))
    }

    fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented
            .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), self.csrf_token().as_bytes()))
    }

    /// Stops the watcher thread (shutdown).
    pub fn stop(&self) {
        self.watcher.stop();
    }
}

/// Access control beyond Origin/Host: the hook for the bearer-token rules of `/mcp`.
/// Every dashboard request passes through here first; while the server has no token
/// option it admits everything (the listener's Origin/Host checks still apply).
pub(super) fn authorize(_app: &App, _request: &Request) -> Result<(), Reply> {
    Ok(())
}

/// Routes `/ui` and `/ui/…`.
pub(super) fn route(
    app: &Arc<App>,
    request: Request,
    path: &str,
    cors: &Headers,
    answered: Answered,
) -> Outcome {
    if let Err(reply) = authorize(app, &request) {
        return Outcome::sent(request, reply.with_headers(cors));
    }
    if let Err(e) = app.ui.watcher.ensure_started() {
        log::error!("cannot start the dashboard watcher: {e}");
    }
    let method = request.method().clone();
    match (path, method) {
        ("/ui" | "/ui/", Method::Get | Method::Head) => {
            let page = crate::ui::page(&app.server.workspace, &app.ui.csrf_token());
            Outcome::sent(request, html(page))
        }
        ("/ui/fragment", Method::Get | Method::Head) => {
            Outcome::sent(request, html(crate::ui::fragment(&app.server.workspace)))
        }
        ("/ui/events", Method::Get) => events(app, request, answered),
        ("/ui/review", Method::Post) => {
            let (request, reply) = request_review(app, request);
            Outcome::sent(request, reply)
        }
        ("/ui" | "/ui/" | "/ui/fragment" | "/ui/events", _) => Outcome::sent(
            request,
            Reply::json(405, &json!({"error": "method not allowed"})).with_header("Allow", "GET"),
        ),
        ("/ui/review", _) => Outcome::sent(
            request,
            Reply::json(405, &json!({"error": "method not allowed"})).with_header("Allow", "POST"),
        ),
        _ => Outcome::sent(request, Reply::json(404, &json!({"error": "not found"}))),
    }
}

fn html(body: String) -> Reply {
    Reply {
        status: 200,
        body: Some(body),
        headers: Vec::new(),
        rpc_error: false,
    }
    .with_header("Content-Type", "text/html; charset=utf-8")
    .with_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    .with_header("X-Content-Type-Options", "nosniff")
    .with_header("Referrer-Policy", "no-referrer")
    .with_header("Cache-Control", "no-store")
}

/// `GET /ui/events`: a long-lived stream on the capped stream thread set.
fn events(app: &Arc<App>, request: Request, answered: Answered) -> Outcome {
    let Some(permit) = app.streams.try_acquire() else {
        return Outcome::sent(request, busy_streams());
    };
    let streamed = Outcome::streamed();
    let Ok(mut out) = SseWriter::start(request, &[]) else {
        return streamed;
    };
    if out.comment("stream open").is_err() {
        return streamed;
    }
    let thread_app = Arc::clone(app);
    let spawned = app.streams.spawn(permit, move || {
        let _ = thread_app.ui.watcher.serve_stream(&thread_app.streams, out);
        drop(answered);
    });
    if let Err(e) = spawned {
        log::error!("cannot start a dashboard stream thread: {e}");
    }
    streamed
}

/// `POST /ui/review`; returns the request with its reply (sent by the caller).
fn request_review(app: &App, mut request: Request) -> (Request, Reply) {
    let refuse = |status, message: &str| Reply::json(status, &json!({ "error": message }));
    if header(&request, "Origin").is_none() {
        return (
            request,
            refuse(403, "forbidden: a dashboard POST needs an Origin header"),
        );
    }
    if header(&request, "Sec-Fetch-Site").is_some_and(|s| s.eq_ignore_ascii_case("cross-site")) {
        return (request, refuse(403, "forbidden: cross-site request"));
    }
    if !app.ui.csrf_ok(header(&request, "X-CSRF-Token")) {
        return (
            request,
            refuse(
                403,
                "forbidden: missing or wrong CSRF token (reload the page)",
            ),
        );
    }
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(MAX_REVIEW_BODY + 1)
        .read_to_end(&mut body);
    if read.is_err() || body.len() as u64 > MAX_REVIEW_BODY {
        return (request, refuse(413, "request body too large or unreadable"));
    }
    let reply = match decide(app, &String::from_utf8_lossy(&body)) {
        Ok(reply) => reply,
        Err((status, message)) => refuse(status, &message),
    };
    (request, reply)
}

/// Decodes the form and records the decision.
fn decide(app: &App, form: &str) -> Result<Reply, (u16, String)> {
    let field = |name: &str| form_field(form, name).unwrap_or_default();
    let spec = field("spec");
    let target = Target::parse(&field("doc"))
        .ok_or_else(|| (400, format!("unknown document {:?}", field("doc"))))?;
    let decision = Decision::parse(&field("decision")).ok_or_else(|| {
        (
            400,
            "decision must be approve or request_changes".to_string(),
        )
    })?;
    let note = field("note");
    if decision == Decision::RequestChanges && note.trim().is_empty() {
        return Err((400, "say what to change: a comment is required".into()));
    }
    let seen = field("sha256");
    let verdict = Verdict {
        decision,
        channel: Channel::Dashboard,
        note: &note,
        seen_sha256: (!seen.is_empty()).then_some(seen.as_str()),
    };
    let store = Store::new(&app.server.workspace);
    let decided = review::decide(&store, &spec, target, &verdict).map_err(|e| {
        let status = match &e {
            ReviewError::Store(StoreError::NotFound(_) | StoreError::InvalidName(_)) => 404,
            ReviewError::Store(StoreError::ReadOnly(_)) => 403,
            ReviewError::Store(StoreError::Busy { .. }) => 503,
            ReviewError::Store(_) => 500,
            ReviewError::NotInSpec { .. } | ReviewError::Missing { .. } => 404,
            _ => 409,
        };
        (status, e.to_string())
    })?;
    log::info!(
        "dashboard: {} {} of spec {} recorded",
        decided.decision.as_str(),
        target.as_str(),
        spec
    );
    app.ui.watcher.bump();
    Ok(Reply::json(
        200,
        &json!({
            "spec": decided.subject.spec,
            "doc": target.as_str(),
            "status": decided.subject.status,
            "sha256": decided.subject.sha256,
            "next": decided.next,
        }),
    ))
}

/// The first value of `name` in an `application/x-www-form-urlencoded` body.
fn form_field(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

/// `+` is a space; `%XX` a byte; invalid escapes stay as they are; bytes are read as UTF-8.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded() {
        let form = "spec=todo-export&doc=design&note=needs+a+%22cache%22%21&bad=%zz%4";
        assert_eq!(form_field(form, "spec").as_deref(), Some("todo-export"));
        assert_eq!(
            form_field(form, "note").as_deref(),
            Some("needs a \"cache\"!")
        );
        assert_eq!(form_field(form, "bad").as_deref(), Some("%zz%4"));
        assert_eq!(form_field(form, "missing"), None);
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn csrf_token_is_per_process_and_checked_in_constant_time() {
        let a = Dashboard::new(std::path::Path::new("."));
        let b = Dashboard::new(std::path::Path::new("."));
        assert_ne!(a.csrf_token(), b.csrf_token());
        assert!(a.csrf_ok(Some(&a.csrf_token())));
        assert!(!a.csrf_ok(Some(&b.csrf_token())));
        assert!(!a.csrf_ok(None));
    }
}
