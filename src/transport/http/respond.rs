//! Building and sending plain (non-SSE) responses, the HTTP status of a JSON-RPC
//! response, and the bookkeeping every request ends with: the access-log line and the
//! in-flight count the front waits on.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tiny_http::{Header, Response as HttpResponse};

use super::front::ConnEntry;
use super::request::Request;
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
    let mut response = match reply.body {
        Some(body) => HttpResponse::from_data(body.into_bytes()),
        None => HttpResponse::from_data(Vec::new()),
    }
    .with_status_code(reply.status);
    let has_body = response.data_length().is_some_and(|n| n > 0);
    let typed = reply
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("Content-Type"));
    if has_body && !typed {
        add(&mut response, "Content-Type", "application/json");
    }
    for (name, value) in &reply.headers {
        add(&mut response, name, value);
    }
    if let Err(e) = write_whole(request, response) {
        log::debug!("response not delivered: {e}");
    }
}

/// Writes head and body with one `write` instead of tiny_http's `respond`, which sends
/// the head, then the body in 8 KiB pieces: a syscall each, and a TCP segment each on the
/// client's socket, which the answer now goes to directly (request.rs).
/// tiny_http's own `raw_print` still frames it (status line, `Date`, `Content-Length`,
/// no body for HEAD, 204 and 304), so the bytes are the ones `respond` would send.
fn write_whole(
    request: Request,
    response: HttpResponse<std::io::Cursor<Vec<u8>>>,
) -> std::io::Result<()> {
    let body_len = response.data_length().unwrap_or(0);
    let mut wire = Vec::with_capacity(body_len + 512);
    // No request fields: the only one tiny_http looks at is `TE`, to pick a transfer
    // coding, and every answer here has its length.
    response.raw_print(
        &mut wire,
        request.http_version().clone(),
        &[],
        *request.method() == tiny_http::Method::Head,
        None,
    )?;
    if http10_keep_alive(&request) {
        // An HTTP/1.0 answer without it means "closing" (RFC 9112 §9.3), yet the
        // connection stays open: `ab -k` and other 1.0 clients then waited for the close.
        // tiny_http drops a `Connection` header given to `add_header`, so it goes in here.
        if let Some(end) = super::head::head_end(&wire) {
            let at = end - 2; // before the blank line that ends the head
            wire.splice(at..at, b"Connection: keep-alive\r\n".iter().copied());
        }
    }
    let mut out = request.into_writer();
    out.write_all(&wire)?;
    out.flush()
}

fn add<R: std::io::Read>(response: &mut HttpResponse<R>, name: &str, value: &str) {
    match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(h) => response.add_header(h),
        Err(()) => log::warn!("dropped an invalid response header {name}"),
    }
}

/// An HTTP/1.0 request that asks to keep the connection open.
fn http10_keep_alive(request: &Request) -> bool {
    *request.http_version() == tiny_http::HTTPVersion(1, 0)
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
