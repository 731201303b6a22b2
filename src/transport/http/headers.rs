//! Header checks of the Streamable HTTP binding, as pure functions over header values.
//!
//! - `Accept` negotiation (docs/2026-07-28/basic/transports/streamable-http.mdx, "Sending
//!   Messages": clients list `application/json` and `text/event-stream`);
//! - `Origin` and `Host` against DNS rebinding ("Security & Endpoint");
//! - the modern request-metadata headers `MCP-Protocol-Version`, `Mcp-Method` and
//!   `Mcp-Name` against the body ("Request Metadata", "Server Validation"), including the
//!   `=?base64?…?=` sentinel of "Value Encoding".

use serde_json::Value;

use crate::mcp::error::McpError;
use crate::mcp::meta::KEY_PROTOCOL_VERSION;

/// Which response media types a request accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts {
    pub json: bool,
    pub sse: bool,
}

/// Parses `Accept`. Absent means anything; `q=0` excludes a type; wildcards count.
pub fn accepts(header: Option<&str>) -> Accepts {
    let Some(header) = header else {
        return Accepts {
            json: true,
            sse: true,
        };
    };
    let mut out = Accepts {
        json: false,
        sse: false,
    };
    for range in header.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if refused {
            continue;
        }
        match media.as_str() {
            "*/*" => {
                out.json = true;
                out.sse = true;
            }
            "application/*" | "application/json" => out.json = true,
            "text/*" | "text/event-stream" => out.sse = true,
            _ => {}
        }
    }
    out
}

/// Whether `Content-Type` names JSON (parameters such as `charset` allowed).
pub fn is_json_content_type(header: Option<&str>) -> bool {
    header.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Whether `origin` is in the allow list (`*` allows any). Scheme and host compare
/// case-insensitively, as browsers serialize them in lower case anyway.
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// The default allow list: the localhost origins of the bound port.
pub fn default_origins(port: u16, tls: bool) -> Vec<String> {
    let scheme = if tls { "https" } else { "http" };
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|host| format!("{scheme}://{host}:{port}"))
        .collect()
}

/// Whether a `Host` is acceptable on a loopback listener: a loopback name, or the host of
/// an explicitly allowed origin (a reverse proxy forwarding `Host: example.com` to a
/// server bound to 127.0.0.1 lists `https://example.com`), or any host with `*`.
pub fn host_allowed(host: &str, allowed_origins: &[String]) -> bool {
    if host_is_loopback(host) {
        return true;
    }
    let name = strip_port(host.trim());
    allowed_origins.iter().any(|origin| {
        origin == "*"
            || origin
                .split_once("://")
                .is_some_and(|(_, authority)| strip_port(authority).eq_ignore_ascii_case(name))
    })
}

/// `host[:port]` or `[v6][:port]` without the port.
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority, |(v6, _)| &authority[..=v6.len()]);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(name, _)| name)
}

/// Whether a `Host` header names this machine's loopback (name, IPv4 or IPv6 literal,
/// with or without port).
pub fn host_is_loopback(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, _)) => inner,
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The modern request-metadata headers of one request.
#[derive(Debug, Default, Clone, Copy)]
pub struct McpHeaders<'a> {
    pub protocol_version: Option<&'a str>,
    pub method: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// The body field `Mcp-Name` mirrors, for the methods that require it.
fn name_source(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// Checks a modern message's headers against its body ("Server Validation"). `request`
/// is false for notifications, whose header requirements the revision leaves undefined:
/// there only headers that are present are compared.
pub fn check_modern(
    headers: &McpHeaders<'_>,
    method: &str,
    params: Option<&Value>,
    request: bool,
) -> Result<(), McpError> {
    let mismatch = |m: String| Err(McpError::HeaderMismatch(m));
    let body_version = params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(KEY_PROTOCOL_VERSION))
        .and_then(Value::as_str);
    match (headers.protocol_version, body_version) {
        (Some(h), Some(b)) if h == b => {}
        (Some(h), Some(b)) => {
            return mismatch(format!(
                "Header mismatch: MCP-Protocol-Version header value '{h}' does not match body value '{b}'"
            ))
        }
        (Some(h), None) => {
            return mismatch(format!(
                "Header mismatch: MCP-Protocol-Version header is '{h}' but the body has no _meta[\"{KEY_PROTOCOL_VERSION}\"]"
            ))
        }
        (None, _) => return mismatch("Header mismatch: missing MCP-Protocol-Version header".into()),
    }
    match headers.method {
        Some(h) if h == method => {}
        Some(h) => {
            return mismatch(format!(
            "Header mismatch: Mcp-Method header value '{h}' does not match body value '{method}'"
        ))
        }
        None if request => return mismatch("Header mismatch: missing Mcp-Method header".into()),
        None => {}
    }
    let Some(field) = name_source(method) else {
        return Ok(());
    };
    let body_name = params.and_then(|p| p.get(field)).and_then(Value::as_str);
    match (headers.name, body_name) {
        (None, _) if !request => Ok(()),
        (None, _) => mismatch(format!(
            "Header mismatch: missing Mcp-Name header for {method}"
        )),
        (Some(raw), body) => {
            let decoded = decode_header_value(raw).map_err(McpError::HeaderMismatch)?;
            match body {
                Some(b) if b == decoded => Ok(()),
                Some(b) => mismatch(format!(
                    "Header mismatch: Mcp-Name header value '{decoded}' does not match body value '{b}'"
                )),
                None => mismatch(format!(
                    "Header mismatch: Mcp-Name header is present but params.{field} is missing"
                )),
            }
        }
    }
}

/// Decodes a header value that may use the Base64 sentinel (`=?base64?…?=`); a plain
/// value must be visible ASCII, space or tab ("Value Encoding").
pub fn decode_header_value(raw: &str) -> Result<String, String> {
    if let Some(inner) = raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        let bytes = base64_decode(inner)
            .ok_or_else(|| format!("Header mismatch: invalid Base64 in header value '{raw}'"))?;
        return String::from_utf8(bytes)
            .map_err(|_| format!("Header mismatch: Base64 header value '{raw}' is not UTF-8"));
    }
    if raw
        .bytes()
        .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b))
    {
        Ok(raw.to_string())
    } else {
        Err("Header mismatch: header value contains invalid characters".into())
    }
}

/// Standard-alphabet Base64 with optional padding (RFC 4648 §4).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 || trimmed.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    for group in trimmed.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in group.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..group.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accept_negotiation() {
        let both = accepts(Some("application/json, text/event-stream"));
        assert!(both.json && both.sse);
        let sse_only = accepts(Some("text/event-stream"));
        assert!(!sse_only.json && sse_only.sse);
        assert_eq!(accepts(Some("*/*")), accepts(None));
        let html = accepts(Some("text/html"));
        assert!(!html.json && !html.sse);
        let refused = accepts(Some("application/json;q=0, text/*"));
        assert!(!refused.json && refused.sse);
    }

    #[test]
    fn content_types() {
        assert!(is_json_content_type(Some(
            "application/json; charset=utf-8"
        )));
        assert!(is_json_content_type(Some("Application/JSON")));
        assert!(!is_json_content_type(Some("text/plain")));
        assert!(!is_json_content_type(None));
    }

    #[test]
    fn origins_and_hosts() {
        let allowed = default_origins(3001, false);
        assert!(origin_allowed("http://localhost:3001", &allowed));
        assert!(origin_allowed("http://[::1]:3001", &allowed));
        assert!(!origin_allowed("http://evil.example", &allowed));
        assert!(!origin_allowed("http://localhost:3002", &allowed));
        assert!(origin_allowed("https://any.example", &["*".to_string()]));
        for ok in [
            "localhost",
            "localhost:3001",
            "127.0.0.1:80",
            "[::1]:3001",
            "127.1.2.3",
        ] {
            assert!(host_is_loopback(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:3001",
            "10.0.0.1",
            "[::2]:1",
            "localhost.evil.com",
        ] {
            assert!(!host_is_loopback(bad), "{bad}");
        }
    }

    #[test]
    fn hosts_of_allowed_origins() {
        let allowed = vec!["https://mcp.example.com".to_string()];
        assert!(host_allowed("mcp.example.com", &allowed));
        assert!(host_allowed("MCP.example.com:443", &allowed));
        assert!(host_allowed("localhost:3001", &allowed));
        assert!(!host_allowed("evil.example", &allowed));
        assert!(host_allowed("anything", &["*".to_string()]));
        assert_eq!(strip_port("[::1]:80"), "[::1]");
    }

    fn params(name: &str) -> Value {
        json!({"name": name, "_meta": {KEY_PROTOCOL_VERSION: "2026-07-28"}})
    }

    #[test]
    fn modern_headers_match_the_body() {
        let h = McpHeaders {
            protocol_version: Some("2026-07-28"),
            method: Some("tools/call"),
            name: Some("get_weather"),
        };
        assert!(check_modern(&h, "tools/call", Some(&params("get_weather")), true).is_ok());
        let wrong_name = check_modern(&h, "tools/call", Some(&params("other")), true);
        assert!(
            matches!(wrong_name, Err(McpError::HeaderMismatch(m)) if m.contains("'get_weather'"))
        );
        let wrong_method = check_modern(&h, "prompts/get", Some(&params("get_weather")), true);
        assert!(matches!(wrong_method, Err(McpError::HeaderMismatch(_))));
        let missing_name = McpHeaders { name: None, ..h };
        assert!(check_modern(&missing_name, "tools/call", Some(&params("x")), true).is_err());
        let no_version = McpHeaders {
            protocol_version: None,
            ..h
        };
        assert!(check_modern(
            &no_version,
            "tools/call",
            Some(&params("get_weather")),
            true
        )
        .is_err());
        let other_version = McpHeaders {
            protocol_version: Some("2025-11-25"),
            ..h
        };
        assert!(check_modern(
            &other_version,
            "tools/call",
            Some(&params("get_weather")),
            true
        )
        .is_err());
    }

    #[test]
    fn base64_sentinel() {
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?="),
            Ok("Hello, 世界".into())
        );
        assert_eq!(
            decode_header_value("=?base64?IHBhZGRlZCA=?="),
            Ok(" padded ".into())
        );
        assert_eq!(
            decode_header_value("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
            Ok("=?base64?literal?=".into())
        );
        assert!(decode_header_value("=?base64?***?=").is_err());
        assert_eq!(decode_header_value("us-west1"), Ok("us-west1".into()));
        assert!(decode_header_value("bad\u{1}value").is_err());
        let h = McpHeaders {
            protocol_version: Some("2026-07-28"),
            method: Some("tools/call"),
            name: Some("=?base64?SGVsbG8sIOS4lueVjA==?="),
        };
        assert!(check_modern(&h, "tools/call", Some(&params("Hello, 世界")), true).is_ok());
    }
}
