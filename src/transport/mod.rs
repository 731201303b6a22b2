//! Transports move bytes between a peer and [`crate::mcp::Server::handle`]; they never
//! branch on MCP method names.

pub mod activation;
pub mod http;
pub mod stdio;
pub mod tls;
