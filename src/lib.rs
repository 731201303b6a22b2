//! mcp-server-spec: a Model Context Protocol server for spec-driven development.
//!
//! Architecture invariants:
//! - One protocol core ([`mcp::handle`]) is a pure function of (message, session state):
//!   it performs no transport I/O, so stdio and HTTP share it exactly.
//! - Transports only move bytes: `line | body -> jsonrpc::decode -> mcp::handle ->
//!   jsonrpc::encode -> line | body`.
//! - Only [`workspace`] touches the file system on behalf of a client, and never outside
//!   the workspace root.
//! - stdout belongs to the protocol in stdio mode: nothing but `main.rs` prints.

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod error;
pub mod file_lock;
pub mod healthcheck;
pub mod jsonrpc;
pub mod logging;
pub mod mcp;
pub mod sha256;
pub mod signals;
pub mod spec;
pub mod transport;
pub mod ui;
pub mod workspace;
