//! Integration tests: every test here spawns the real `mcp-server-spec` binary and talks
//! to it over its real transports. One crate, so the binary is built once.

mod approvals;
mod deploy;
mod http;
mod http_client;
mod http_elicitation;
mod http_limits;
mod http_notifications;
mod http_stall;
mod https;
mod ops;
mod ops_logs_auth;
mod ops_metrics;
mod ops_sse;
mod ops_support;
mod schema_check;
mod spec_workflow;
mod state_lock;
mod stdio;
mod support;
mod ui;
