//! Building and sending plain (non-SSE) responses, the HTTP status of a JSON-RPC
//! response, and the bookkeeping every request ends with: the access-log line and the
//! in-flight count the front waits on.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde_json::Value;
use tiny_http::{HTTPVersion, Method, StatusCode};

use super::front::ConnEntry;
use super::head::is_tchar;
use super::request::Request;
use crate::clock::push_http_date;
use crate::jsonrpc::{self, code, ErrorObject, Response};
use crate::mcp::error::mcp_code;

/// Extra response headers, in order.
pub type Headers = Vec<(String, String)>;

/// A complete non-streaming response.
pub struct Reply {
    pub status: u16,
    /// A JSON body (or another type named in `headers`), or none (202, 204).
    pub body: Option<String>,
    pub headers: Headers,
    /// The body is a JSON-RPC error the core produced (metrics: outcome `error`, not a
    /// rejection by the HTTP layer).
    pub rpc_error: bool,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            body: Some(body.to_string()),
            headers: Vec::new(),
            rpc_error: false,
        }
    }

    /// A JSON-RPC message as the body.
    pub fn rpc<T: serde::Serialize + ?Sized>(status: u16, message: &T) -> Reply {
        Reply {
            status,
            body: Some(jsonrpc::encode(message)),
            headers: Vec::new(),
            rpc_error: false,
        }
    }

    /// A JSON-RPC error response without an id (transport-level rejections).
    pub fn rpc_error(status: u16, code: i64, message: impl Into<String>) -> Reply {
        Reply::rpc(
            status,
            &Response::err(None, ErrorObject::new(code, message)),
        )
    }

    /// -32600 with the given HTTP status: the binding's own rejections (400, 403, 404,
    /// 406, 415).
    pub fn rejected(status: u16, message: impl Into<String>) -> Reply {
        Reply::rpc_error(status, code::INVALID_REQUEST, message)
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
            rpc_error: false,
        }
    }

    /// A body of another media type (`/metrics`).
    pub fn text(status: u16, body: String, content_type: &str) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: vec![("Content-Type".into(), content_type.into())],
            rpc_error: false,
        }
    }

    /// Marks the body as the core's JSON-RPC error (see [`Reply::rpc_error`]).
    pub fn core_error(mut self, is_error: bool) -> Reply {
        self.rpc_error = is_error;
        self
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn with_headers(mut self, headers: &[(String, String)]) -> Reply {
        self.headers.extend_from_slice(headers);
        self
    }
}

/// The one mapping from a JSON-RPC response to an HTTP status. Modern unknown methods are
/// 404 (2026-07-28 streamable-http "Protocol Version Header"); version, header and
/// capability errors and malformed requests are 400; every other outcome is 200.
pub fn status_for(response: &Response, modern: bool) -> u16 {
    match &response.outcome {
        Ok(_) => 200,
        Err(e) => match e.code {
            code::PARSE_ERROR | code::INVALID_REQUEST => 400,
            mcp_code::HEADER_MISMATCH
            | mcp_code::UNSUPPORTED_PROTOCOL_VERSION
            | mcp_code::MISSING_REQUIRED_CLIENT_CAPABILITY => 400,
            code::METHOD_NOT_FOUND if modern => 404,
            _ => 200,
        },
    }
}

/// The HTTP status of a core error on the REST mirror: the caller's mistakes (bad
/// params, unknown method, missing capability) are 4xx, anything else 500.
pub fn rest_status(error_code: i64) -> u16 {
    match error_code {
        code::PARSE_ERROR | code::INVALID_REQUEST | code::INVALID_PARAMS => 400,
        mcp_code::HEADER_MISMATCH
        | mcp_code::UNSUPPORTED_PROTOCOL_VERSION
        | mcp_code::MISSING_REQUIRED_CLIENT_CAPABILITY => 400,
        code::METHOD_NOT_FOUND | mcp_code::LEGACY_RESOURCE_NOT_FOUND => 404,
        _ => 500,
    }
}

/// Sends a reply; I/O errors mean the client left, which the access log still records.
pub fn send(request: Request, reply: Reply) {
    if let Some(body) = &reply.body {
        log::trace!("http -> {} {body}", reply.status);
    }
    let how = Framing {
        http10: *request.http_version() == HTTPVersion(1, 0),
        head_request: *request.method() == Method::Head,
        keep_alive10: http10_keep_alive(&request),
        close: request.closes_after(),
    };
    let wire = frame(&reply, how, SystemTime::now());
    let mut out = request.into_writer();
    if let Err(e) = out.write_all(&wire).and_then(|()| out.flush()) {
        log::debug!("response not delivered: {e}");
    }
}

/// What of the request decides how its answer is framed.
#[derive(Debug, Clone, Copy, Default)]
struct Framing {
    http10: bool,
    /// `HEAD`: the fields of the answer, not its body.
    head_request: bool,
    /// An HTTP/1.0 client asked for keep-alive: an answer without `Connection:
    /// keep-alive` would mean "closing" to it (RFC 9112 §9.3), and `ab -k` waited for a
    /// close that never came.
    keep_alive10: bool,
    /// The front closes the connection after this answer (`Connection: close`, plain
    /// HTTP/1.0): the answer says so (RFC 9112 §9.6).
    close: bool,
}

/// The whole answer in one buffer, for one `write` to the client: status line, `Server`,
/// `Date`, `Content-Type` (JSON unless the reply names one), the reply's fields,
/// `Content-Length`, body. This was tiny_http's `raw_print`, which built a `Header` (with
/// allocations) per field and per answer, chunked bodies over 32 KiB although their length
/// is known, and sent `Content-Length` with a 204 (RFC 9110 §8.6: must not).
fn frame(reply: &Reply, how: Framing, now: SystemTime) -> Vec<u8> {
    let body = reply.body.as_deref().unwrap_or("");
    // RFC 9110 §6.4.1: 1xx, 204 and 304 answers have no content.
    let bodiless = matches!(reply.status, 100..=199 | 204 | 304);
    let mut wire = String::with_capacity(192 + 48 * reply.headers.len() + body.len());
    wire.push_str(if how.http10 { "HTTP/1.0 " } else { "HTTP/1.1 " });
    let reason = StatusCode(reply.status).default_reason_phrase();
    // Writing to a String cannot fail.
    let _ = write!(
        wire,
        "{} {reason}\r\nServer: {SERVER}\r\nDate: ",
        reply.status
    );
    push_http_date(&mut wire, now);
    wire.push_str("\r\n");
    let typed = reply
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("Content-Type"));
    if !body.is_empty() && !typed {
        wire.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in &reply.headers {
        // Framing is ours to say.
        let framing = ["Content-Length", "Transfer-Encoding", "Connection"]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f));
        if !framing {
            push_field(&mut wire, name, value);
        }
    }
    if how.close {
        wire.push_str("Connection: close\r\n");
    } else if how.keep_alive10 {
        wire.push_str("Connection: keep-alive\r\n");
    }
    if !bodiless {
        let _ = write!(wire, "Content-Length: {}\r\n", body.len());
    }
    wire.push_str("\r\n");
    if !bodiless && !how.head_request {
        wire.push_str(body);
    }
    wire.into_bytes()
}

/// The `Server` field of every answer.
const SERVER: &str = "mcp-server-spec";

/// Appends `name: value\r\n`; a field that is not one is dropped (a name that is not a
/// token, a value with a control or non-ASCII character, which could end the head early
/// or split the answer).
pub fn push_field(out: &mut String, name: &str, value: &str) {
    let valid_name = !name.is_empty() && name.bytes().all(is_tchar);
    let valid_value = value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
    if !(valid_name && valid_value) {
        log::warn!("dropped an invalid response header {name}");
        return;
    }
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// An HTTP/1.0 request that asks to keep the connection open.
fn http10_keep_alive(request: &Request) -> bool {
    *request.http_version() == HTTPVersion(1, 0)
        && header(request, "Connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("keep-alive"))
}

/// A request header's value (first occurrence; names compare case-insensitively).
pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.header(name)
}

/// Marks the request answered when dropped: the front's connection then knows nothing is
/// in flight (idle timeout, drain). Moves with the request into stream threads.
pub struct Answered(pub Arc<ConnEntry>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.finish_request();
    }
}

/// What the access log records about one request.
pub struct Access {
    pub started: Instant,
    pub method: String,
    /// The path without its query string (which may carry a legacy SSE session id).
    pub path: String,
    pub mcp_method: Option<String>,
    pub status: u16,
    /// The metrics `transport` label: streamable-http, sse, rest or ops.
    pub transport: &'static str,
}

impl Access {
    /// One line at `info`; the JSON log format also gets each field on its own.
    pub fn log(&self, entry: &ConnEntry) {
        let mcp_method = self.mcp_method.as_deref().unwrap_or("-");
        let duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        log::info!(
            target: "access",
            remote_addr:% = entry.peer,
            method = self.method.as_str(),
            path = self.path.as_str(),
            mcp_method = mcp_method,
            status = self.status,
            duration_ms = duration_ms,
            transport = self.transport;
            "{} {} {} {mcp_method} {} {duration_ms}ms",
            entry.peer,
            self.method,
            self.path,
            self.status,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonrpc::Id;
    use crate::mcp::error::McpError;
    use std::time::{Duration, UNIX_EPOCH};

    fn framed(reply: &Reply, how: Framing) -> String {
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
        String::from_utf8(frame(reply, how, at)).expect("ASCII head, UTF-8 body")
    }

    #[test]
    fn an_answer_is_framed_with_its_length_in_one_buffer() {
        let reply =
            Reply::json(200, &serde_json::json!({"ok": true})).with_header("Vary", "Origin");
        assert_eq!(
            framed(&reply, Framing::default()),
            "HTTP/1.1 200 OK\r\nServer: mcp-server-spec\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: application/json\r\nVary: Origin\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"
        );
        let head = Framing {
            head_request: true,
            ..Framing::default()
        };
        assert!(
            framed(&reply, head).ends_with("Content-Length: 11\r\n\r\n"),
            "HEAD: no body"
        );
        // Long bodies keep their length too (tiny_http chunked them past 32 KiB).
        let long = Reply::text(200, "x".repeat(40_000), "text/plain");
        let text = framed(&long, Framing::default());
        assert!(text.contains("Content-Type: text/plain\r\nContent-Length: 40000\r\n\r\n"));
        assert!(!text.contains("Transfer-Encoding") && !text.contains("application/json"));
    }

    #[test]
    fn an_answer_to_a_close_request_says_close() {
        let how = Framing {
            close: true,
            ..Framing::default()
        };
        let text = framed(&Reply::json(200, &serde_json::json!({})), how);
        assert!(
            text.contains("\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"),
            "{text}"
        );
        let text = framed(
            &Reply::json(200, &serde_json::json!({})),
            Framing::default(),
        );
        assert!(!text.contains("Connection"), "{text}");
    }

    #[test]
    fn no_content_answers_have_no_length_and_http10_keep_alive_is_said() {
        let text = framed(&Reply::empty(204), Framing::default());
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"), "{text}");
        assert!(
            text.ends_with("GMT\r\n\r\n") && !text.contains("Content-Length"),
            "{text}"
        );
        let how = Framing {
            http10: true,
            keep_alive10: true,
            ..Framing::default()
        };
        let text = framed(&Reply::empty(202), how);
        assert!(text.starts_with("HTTP/1.0 202 Accepted\r\n"), "{text}");
        assert!(
            text.ends_with("Connection: keep-alive\r\nContent-Length: 0\r\n\r\n"),
            "{text}"
        );
    }

    /// A field that could end the head early or split the answer never reaches the wire,
    /// nor a framing field a handler set: the framing is `frame`'s to say.
    #[test]
    fn invalid_and_framing_fields_are_dropped() {
        let reply = Reply::empty(200)
            .with_header("X-Evil", "a\r\nSet-Cookie: x=1")
            .with_header("X-Bare-Lf", "a\nb")
            .with_header("Bad Name", "v")
            .with_header("X-Accent", "caf\u{e9}")
            .with_header("Content-Length", "5")
            .with_header("Connection", "close")
            .with_header("X-Fine", "tab\tok");
        let text = framed(&reply, Framing::default());
        for gone in [
            "X-Evil",
            "Set-Cookie",
            "X-Bare-Lf",
            "Bad Name",
            "X-Accent",
            "Connection",
        ] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        assert_eq!(text.matches("Content-Length").count(), 1, "{text}");
        assert!(
            text.contains("X-Fine: tab\tok\r\nContent-Length: 0\r\n\r\n"),
            "{text}"
        );
    }

    #[test]
    fn statuses() {
        let ok = Response::ok(Id::Int(1), serde_json::json!({}));
        assert_eq!(status_for(&ok, true), 200);
        let missing = Response::err(
            Some(Id::Int(1)),
            McpError::MethodNotFound("x".into()).to_error_object(),
        );
        assert_eq!(status_for(&missing, true), 404);
        assert_eq!(status_for(&missing, false), 200);
        let version = Response::err(
            None,
            McpError::UnsupportedVersion {
                requested: "1".into(),
            }
            .to_error_object(),
        );
        assert_eq!(status_for(&version, false), 400);
        let params = Response::err(
            Some(Id::Int(1)),
            McpError::invalid_params("x").to_error_object(),
        );
        assert_eq!(status_for(&params, true), 200);
        assert_eq!(rest_status(code::INVALID_PARAMS), 400);
        assert_eq!(rest_status(code::METHOD_NOT_FOUND), 404);
        assert_eq!(rest_status(code::INTERNAL_ERROR), 500);
    }
}
