//! The spec-workflow domain: document parsing, the EARS linter, traceability and task
//! tracking. It knows nothing about JSON-RPC, MCP or HTTP.
