//! Protocol errors and their single mapping to JSON-RPC error objects.
//!
//! Handlers return [`McpError`]; [`McpError::to_error_object`] is the only place that
//! chooses a wire code. Codes follow docs/2026-07-28/basic/index.mdx ("Error Codes"):
//! the standard JSON-RPC codes plus the renumbered MCP codes -32020..-32022.

use serde_json::{json, Value};

use crate::jsonrpc::{code, ErrorObject};
use crate::mcp::version::ProtocolVersion;

/// MCP-defined codes (2026-07-28 numbering).
pub mod mcp_code {
    pub const HEADER_MISMATCH: i64 = -32020;
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
    /// Resource not found in revisions up to 2025-11-25 (never emitted for 2026-07-28).
    pub const LEGACY_RESOURCE_NOT_FOUND: i64 = -32002;
}

/// Why a request failed at the protocol level.
#[derive(Debug, Clone, PartialEq)]
pub enum McpError {
    /// The envelope is valid JSON-RPC but not a valid request here.
    InvalidRequest(String),
    MethodNotFound(String),
    InvalidParams(String),
    /// A handler failed unexpectedly (or panicked).
    Internal(String),
    /// The requested revision is not one we speak.
    UnsupportedVersion {
        requested: String,
    },
    /// An HTTP header disagrees with the body (Streamable HTTP, 2026-07-28).
    HeaderMismatch(String),
    /// The request needs client capabilities that were not declared: a
    /// `ClientCapabilities` object such as `{"elicitation": {"form": {}}}`.
    MissingClientCapability(Value),
    /// `resources/read` of a URI we do not have: -32602 from 2026-07-28 on, -32002 before.
    ResourceNotFound {
        uri: String,
        modern: bool,
    },
}

impl McpError {
    pub fn invalid_params(message: impl Into<String>) -> McpError {
        McpError::InvalidParams(message.into())
    }

    /// The JSON-RPC error object sent on the wire.
    pub fn to_error_object(&self) -> ErrorObject {
        match self {
            McpError::InvalidRequest(m) => ErrorObject::new(code::INVALID_REQUEST, m.clone()),
            McpError::MethodNotFound(method) => ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!("method not found: {method}"),
            ),
            McpError::InvalidParams(m) => ErrorObject::new(code::INVALID_PARAMS, m.clone()),
            McpError::Internal(m) => ErrorObject::new(code::INTERNAL_ERROR, m.clone()),
            McpError::UnsupportedVersion { requested } => ErrorObject::new(
                mcp_code::UNSUPPORTED_PROTOCOL_VERSION,
                "Unsupported protocol version",
            )
            .with_data(json!({
                "supported": ProtocolVersion::all_strings(),
                "requested": requested,
            })),
            McpError::HeaderMismatch(m) => ErrorObject::new(mcp_code::HEADER_MISMATCH, m.clone()),
            McpError::ResourceNotFound { uri, modern } => ErrorObject::new(
                if *modern {
                    code::INVALID_PARAMS
                } else {
                    mcp_code::LEGACY_RESOURCE_NOT_FOUND
                },
                "Resource not found",
            )
            .with_data(json!({ "uri": uri })),
            McpError::MissingClientCapability(caps) => {
                let names: Vec<&str> = caps
                    .as_object()
                    .map(|m| m.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                ErrorObject::new(
                    mcp_code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                    format!("missing required client capability: {}", names.join(", ")),
                )
                .with_data(json!({ "requiredCapabilities": caps }))
            }
        }
    }
}

impl std::fmt::Display for McpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_error_object().message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonrpc::encode;

    #[test]
    fn unsupported_version_wire_shape() {
        let e = McpError::UnsupportedVersion {
            requested: "1900-01-01".into(),
        }
        .to_error_object();
        assert_eq!(
            encode(&e),
            r#"{"code":-32022,"message":"Unsupported protocol version","data":{"requested":"1900-01-01","supported":["2026-07-28","2025-11-25","2025-06-18","2025-03-26","2024-11-05"]}}"#
        );
    }

    #[test]
    fn codes() {
        assert_eq!(
            McpError::MethodNotFound("x".into()).to_error_object().code,
            -32601
        );
        assert_eq!(McpError::invalid_params("x").to_error_object().code, -32602);
        assert_eq!(
            McpError::InvalidRequest("x".into()).to_error_object().code,
            -32600
        );
        assert_eq!(
            McpError::Internal("x".into()).to_error_object().code,
            -32603
        );
        assert_eq!(
            McpError::HeaderMismatch("x".into()).to_error_object().code,
            -32020
        );
        let caps = json!({"elicitation": {"form": {}}});
        let e = McpError::MissingClientCapability(caps).to_error_object();
        assert_eq!(e.code, -32021);
        assert_eq!(e.message, "missing required client capability: elicitation");
        assert_eq!(
            e.data,
            Some(json!({"requiredCapabilities": {"elicitation": {"form": {}}}}))
        );
    }
}
