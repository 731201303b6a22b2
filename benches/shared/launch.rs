//! What the load benches (`http`, `soak`) share about the server under test: the command
//! that starts it on a free loopback port, and the address it then logs.

use std::path::Path;
use std::process::Command;

/// The server binary: `MCP_BENCH_BIN` (another build, e.g. one with symbols for perf, or
/// the static one), else the one cargo built for this bench.
pub fn server_binary() -> String {
    std::env::var("MCP_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mcp-server-spec").to_string())
}

/// `--transport http-stream` on 127.0.0.1, port 0, logging at warn: access lines are info
/// and would cost the server time in the measurement.
pub fn http_command(workspace: &Path) -> Command {
    let mut cmd = Command::new(server_binary());
    cmd.args([
        "--transport",
        "http-stream",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ])
    .args(["--log-level", "warn", "--workspace"])
    .arg(workspace)
    .env("MCP_LOG_LEVEL", "warn");
    cmd
}

/// `host:port` from the server's "listening on http://…" line (not tiny_http's debug line
/// about its private listener, which has no scheme).
pub fn address_in(line: &str) -> Option<String> {
    let start = line.find("http://")? + "http://".len();
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c == '/' || c.is_whitespace())
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}
