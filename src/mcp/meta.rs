//! Per-request `_meta` of the modern revision, log levels, and the fields every modern
//! result carries.
//!
//! docs/2026-07-28/basic/index.mdx ("Per-request protocol fields"): `protocolVersion` and
//! `clientCapabilities` are required on every request (else -32602), `clientInfo` and
//! `logLevel` optional; results carry `resultType` and `_meta` serverInfo, and list results
//! carry `ttlMs` and `cacheScope` (server/utilities/caching.mdx).

use serde_json::{json, Map, Value};

use crate::mcp::error::McpError;
use crate::mcp::version::ProtocolVersion;

pub const KEY_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const KEY_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const KEY_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const KEY_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const KEY_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// How long clients may cache our lists: they only change when the binary does.
pub const LIST_TTL_MS: u64 = 3_600_000;

/// Syslog severities (RFC 5424) used by `notifications/message`, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

impl LogLevel {
    const ALL: [LogLevel; 8] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Notice,
        LogLevel::Warning,
        LogLevel::Error,
        LogLevel::Critical,
        LogLevel::Alert,
        LogLevel::Emergency,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
            LogLevel::Alert => "alert",
            LogLevel::Emergency => "emergency",
        }
    }

    /// Parses a level from a JSON value, with an error naming the field.
    pub fn from_value(value: &Value, field: &str) -> Result<LogLevel, McpError> {
        value
            .as_str()
            .and_then(|s| LogLevel::ALL.into_iter().find(|l| l.as_str() == s))
            .ok_or_else(|| {
                McpError::invalid_params(format!(
                    "invalid {field}: expected one of debug, info, notice, warning, error, \
                     critical, alert, emergency"
                ))
            })
    }
}

/// The modern per-request fields, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestMeta {
    pub version: ProtocolVersion,
    pub client_capabilities: Map<String, Value>,
    pub log_level: Option<LogLevel>,
}

/// The `_meta` object of a request's params, if any.
pub fn params_meta(params: Option<&Value>) -> Option<&Map<String, Value>> {
    params?.get("_meta")?.as_object()
}

/// The `progressToken` of a request, if it asked for progress.
pub fn progress_token(params: Option<&Value>) -> Option<Value> {
    params_meta(params)?
        .get("progressToken")
        .filter(|t| t.is_string() || t.is_i64())
        .cloned()
}

/// Reads the modern fields. `Ok(None)` when the request carries no protocol version at all
/// (it is not a modern request).
pub fn parse_request_meta(params: Option<&Value>) -> Result<Option<RequestMeta>, McpError> {
    let Some(meta) = params_meta(params) else {
        return Ok(None);
    };
    let Some(raw) = meta.get(KEY_PROTOCOL_VERSION) else {
        return Ok(None);
    };
    let Some(text) = raw.as_str() else {
        return Err(McpError::invalid_params(format!(
            "_meta[\"{KEY_PROTOCOL_VERSION}\"] must be a string"
        )));
    };
    // Per-request metadata is the modern mechanism: a legacy revision named here is a
    // version this mechanism does not serve (legacy revisions begin with `initialize`).
    let version = match ProtocolVersion::parse(text) {
        Some(v) if v.is_modern() => v,
        _ => {
            return Err(McpError::UnsupportedVersion {
                requested: text.to_string(),
            })
        }
    };
    let client_capabilities = match meta.get(KEY_CLIENT_CAPABILITIES) {
        Some(Value::Object(caps)) => caps.clone(),
        Some(_) => {
            return Err(McpError::invalid_params(format!(
                "_meta[\"{KEY_CLIENT_CAPABILITIES}\"] must be an object"
            )))
        }
        None => {
            return Err(McpError::invalid_params(format!(
                "missing required _meta[\"{KEY_CLIENT_CAPABILITIES}\"]"
            )))
        }
    };
    let log_level = match meta.get(KEY_LOG_LEVEL) {
        None => None,
        Some(v) => Some(LogLevel::from_value(
            v,
            &format!("_meta[\"{KEY_LOG_LEVEL}\"]"),
        )?),
    };
    Ok(Some(RequestMeta {
        version,
        client_capabilities,
        log_level,
    }))
}

/// Our identity, as `Implementation` of the given revision.
pub fn server_info(version: ProtocolVersion) -> Value {
    let mut info = json!({ "name": super::SERVER_NAME, "version": env!("CARGO_PKG_VERSION") });
    if version.has_titles() {
        info["title"] = json!(super::SERVER_TITLE);
    }
    info
}

/// Adds the fields every modern result carries (`resultType`, serverInfo in `_meta`).
pub fn decorate_modern_result(result: &mut Value) {
    if let Value::Object(map) = result {
        // An `InputRequiredResult` already says what it is (patterns/mrtr.mdx).
        map.entry("resultType").or_insert_with(|| json!("complete"));
        let meta = map.entry("_meta").or_insert_with(|| json!({}));
        if let Value::Object(meta) = meta {
            meta.insert(
                KEY_SERVER_INFO.into(),
                server_info(ProtocolVersion::V2026_07_28),
            );
        }
    }
}

/// Adds the caching hints of a cacheable modern result: fresh for `ttl_ms`, and free of
/// user-specific data (`public`).
pub fn add_cache_hints(result: &mut Value, ttl_ms: u64) {
    if let Value::Object(map) = result {
        map.insert("ttlMs".into(), json!(ttl_ms));
        map.insert("cacheScope".into(), json!("public"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(value: Value) -> Result<Option<RequestMeta>, McpError> {
        parse_request_meta(Some(&json!({ "_meta": value })))
    }

    #[test]
    fn valid_modern_meta() {
        let m = meta(json!({
            KEY_PROTOCOL_VERSION: "2026-07-28",
            KEY_CLIENT_CAPABILITIES: {"elicitation": {}},
            KEY_LOG_LEVEL: "warning",
        }))
        .expect("valid")
        .expect("modern");
        assert_eq!(m.version, ProtocolVersion::V2026_07_28);
        assert_eq!(m.log_level, Some(LogLevel::Warning));
        assert!(m.client_capabilities.contains_key("elicitation"));
    }

    #[test]
    fn absent_version_is_not_modern() {
        assert_eq!(meta(json!({"progressToken": 1})), Ok(None));
        assert_eq!(parse_request_meta(None), Ok(None));
    }

    #[test]
    fn errors() {
        let unsupported = meta(json!({ KEY_PROTOCOL_VERSION: "1900-01-01" })).expect_err("unknown");
        assert_eq!(
            unsupported,
            McpError::UnsupportedVersion {
                requested: "1900-01-01".into()
            }
        );
        let legacy =
            meta(json!({ KEY_PROTOCOL_VERSION: "2025-06-18", KEY_CLIENT_CAPABILITIES: {} }));
        assert!(matches!(legacy, Err(McpError::UnsupportedVersion { .. })));
        let missing = meta(json!({ KEY_PROTOCOL_VERSION: "2026-07-28" })).expect_err("caps");
        assert!(matches!(missing, McpError::InvalidParams(m) if m.contains("clientCapabilities")));
        let level = meta(
            json!({ KEY_PROTOCOL_VERSION: "2026-07-28", KEY_CLIENT_CAPABILITIES: {}, KEY_LOG_LEVEL: "loud" }),
        );
        assert!(matches!(level, Err(McpError::InvalidParams(_))));
    }

    #[test]
    fn progress_tokens() {
        assert_eq!(
            progress_token(Some(&json!({"_meta": {"progressToken": "t"}}))),
            Some(json!("t"))
        );
        assert_eq!(
            progress_token(Some(&json!({"_meta": {"progressToken": 3}}))),
            Some(json!(3))
        );
        assert_eq!(
            progress_token(Some(&json!({"_meta": {"progressToken": null}}))),
            None
        );
    }

    #[test]
    fn modern_decoration() {
        let mut r = json!({"tools": []});
        decorate_modern_result(&mut r);
        add_cache_hints(&mut r, LIST_TTL_MS);
        assert_eq!(r["resultType"], "complete");
        assert_eq!(
            r["_meta"][KEY_SERVER_INFO]["name"],
            "spec-driven-development"
        );
        assert_eq!(r["ttlMs"], LIST_TTL_MS);
        assert_eq!(r["cacheScope"], "public");
    }
}
