//! The operational endpoints the deployment guide promises: `GET /health` (for load
//! balancers, Docker `HEALTHCHECK` and `health_check.sh`) and `GET /info`. They ignore
//! `MCP-Protocol-Version`, so the guide's `curl -H "MCP-Protocol-Version: 2.1" …/health`
//! works. Anything else outside `/mcp` is a JSON 404.

use serde_json::{json, Value};

use crate::mcp::version::ProtocolVersion;

/// Numbers `/health` reports, read at request time.
pub struct Gauges {
    pub uptime_seconds: u64,
    pub sessions: usize,
    pub streams: usize,
    pub connections: usize,
    pub busy: usize,
    pub tls: bool,
}

/// `GET /health`.
pub fn health(g: &Gauges) -> Value {
    json!({
        "status": "healthy",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": g.uptime_seconds,
        "transport": "http-stream",
        "tls": g.tls,
        "active_sessions": g.sessions,
        "active_streams": g.streams,
        "open_connections": g.connections,
        "requests_in_progress": g.busy,
    })
}

/// `GET /info`.
pub fn info(tls: bool) -> Value {
    json!({
        "name": env!("CARGO_PKG_NAME"),
        "server_name": crate::mcp::SERVER_NAME,
        "version": env!("CARGO_PKG_VERSION"),
        "description": env!("CARGO_PKG_DESCRIPTION"),
        "protocol_versions": ProtocolVersion::all_strings(),
        "transports": ["stdio", "http-stream"],
        "endpoints": {
            "mcp": "/mcp",
            "health": "/health",
            "info": "/info",
        },
        "features": {
            "capabilities": ["tools", "prompts", "resources", "logging"],
            "stateless_requests": true,
            "legacy_sessions": true,
            "sse": true,
            "subscriptions_listen": true,
            "json_rpc_batches": "2025-03-26 only",
            "https": tls,
        },
    })
}

/// The body of a 404 for a path we do not serve.
pub fn not_found(path: &str) -> Value {
    json!({
        "error": "not found",
        "path": path,
        "endpoints": ["/mcp", "/health", "/info"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_shape() {
        let g = Gauges {
            uptime_seconds: 3,
            sessions: 1,
            streams: 0,
            connections: 2,
            busy: 1,
            tls: false,
        };
        let h = health(&g);
        assert_eq!(h["status"], "healthy");
        assert_eq!(h["uptime_seconds"], 3);
        assert_eq!(info(true)["protocol_versions"][0], "2026-07-28");
        assert_eq!(not_found("/x")["path"], "/x");
    }
}
