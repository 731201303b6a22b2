//! The operational endpoints the deployment guide promises: `GET /health` (for load
//! balancers, Docker `HEALTHCHECK` and `health_check.sh`), `GET /info` and `GET /metrics`
//! (Prometheus, see `metrics.rs`). They ignore `MCP-Protocol-Version`, so the guide's
//! `curl -H "MCP-Protocol-Version: 2.1" …/health` works. Any path the server does not
//! serve is a JSON 404 listing the ones it does.

use serde_json::{json, Value};

use crate::mcp::version::ProtocolVersion;

/// Numbers `/health` reports, read at request time.
pub struct Gauges {
    pub uptime_seconds: u64,
    /// Legacy Streamable HTTP sessions.
    pub sessions: usize,
    /// Legacy HTTP+SSE sessions.
    pub sse_sessions: usize,
    /// REST connections (`POST /connect`).
    pub rest_connections: usize,
    pub streams: usize,
    /// Open client TCP connections.
    pub connections: usize,
    pub busy: usize,
    pub tls: bool,
    /// Workers running now (the pool starts with one per core and grows on demand).
    pub workers: usize,
    /// `--workers`: what the pool may grow to.
    pub workers_max: usize,
    pub queue_capacity: usize,
    /// `--transport` as given: `http-stream` or `sse`.
    pub transport: &'static str,
}

/// What this deployment serves, for `/info` and 404 bodies.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    pub tls: bool,
    /// The REST mirror and the connection API (not `--disable-rest`).
    pub rest: bool,
    /// A bearer token is required (`--auth-token-file`).
    pub auth: bool,
    /// `--transport` as given: `http-stream` or `sse` (both serve every endpoint).
    pub transport: &'static str,
}

/// Paths of the REST mirror and the connection API.
const REST_ENDPOINTS: [&str; 8] = [
    "/connect",
    "/heartbeat/{id}",
    "/disconnect/{id}",
    "/connections",
    "/prompts",
    "/prompts/{name}",
    "/tools",
    "/tools/{name}",
];

/// Every path served.
pub fn endpoints(rest: bool) -> Vec<&'static str> {
    let mut all = vec![
        "/mcp",
        "/sse",
        "/messages",
        "/health",
        "/info",
        "/metrics",
        "/ui",
    ];
    if rest {
        all.extend(REST_ENDPOINTS);
    }
    all
}

/// `GET /health`.
pub fn health(g: &Gauges) -> Value {
    json!({
        "status": "healthy",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": g.uptime_seconds,
        "transport": g.transport,
        "tls": g.tls,
        "active_sessions": g.sessions + g.sse_sessions,
        "sessions": {
            "streamable_http": g.sessions,
            "sse": g.sse_sessions,
        },
        "rest_connections": g.rest_connections,
        "active_streams": g.streams,
        "open_connections": g.connections,
        "requests_in_progress": g.busy,
    })
}

/// `GET /info`.
pub fn info(served: Served) -> Value {
    let tls = served.tls;
    json!({
        "name": env!("CARGO_PKG_NAME"),
        "server_name": crate::mcp::SERVER_NAME,
        "version": env!("CARGO_PKG_VERSION"),
        "description": env!("CARGO_PKG_DESCRIPTION"),
        "protocol_versions": ProtocolVersion::all_strings(),
        "transports": ["stdio", "http-stream", "sse"],
        "transport": served.transport,
        "endpoints": {
            "mcp": "/mcp",
            "sse": "/sse",
            "messages": "/messages",
            "health": "/health",
            "info": "/info",
            "metrics": "/metrics",
            "rest": if served.rest { json!(REST_ENDPOINTS) } else { json!([]) },
        },
        "features": {
            "capabilities": ["tools", "prompts", "resources", "logging"],
            "stateless_requests": true,
            "legacy_sessions": true,
            "sse": true,
            "subscriptions_listen": true,
            "json_rpc_batches": "2025-03-26 only",
            "https": tls,
            "legacy_http_sse": true,
            "rest_api": served.rest,
            "bearer_auth": served.auth,
            "prometheus_metrics": true,
        },
    })
}

/// The body of a 404 for a path we do not serve.
pub fn not_found(path: &str, rest: bool) -> Value {
    json!({
        "error": "not found",
        "path": path,
        "endpoints": endpoints(rest),
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
            sse_sessions: 2,
            rest_connections: 4,
            streams: 0,
            connections: 2,
            busy: 1,
            tls: false,
            workers: 2,
            workers_max: 4,
            queue_capacity: 128,
            transport: "http-stream",
        };
        let h = health(&g);
        assert_eq!(h["status"], "healthy");
        assert_eq!(h["uptime_seconds"], 3);
        assert_eq!(h["active_sessions"], 3);
        assert_eq!(h["rest_connections"], 4);
        let served = Served {
            tls: true,
            rest: false,
            auth: true,
            transport: "sse",
        };
        assert_eq!(info(served)["protocol_versions"][0], "2026-07-28");
        assert_eq!(info(served)["endpoints"]["rest"], json!([]));
        assert_eq!(not_found("/x", true)["path"], "/x");
        assert!(!not_found("/x", false)["endpoints"]
            .as_array()
            .expect("list")
            .contains(&json!("/tools")));
    }
}
