//! Test-only helpers: temporary workspaces, spawning the binary, a line-based stdio
//! client with deadlines, and the 2026-07-28 `_meta` every modern request carries.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mcp-server-spec");

/// How long any single wait in a test may take before it fails (generous: CI is shared).
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("mcp-it-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path.canonicalize().expect("canonical temp dir"))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `_meta` of a modern (2026-07-28) request.
pub fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1.0.0"},
    })
}

/// A modern request with `_meta` merged into `params`.
pub fn modern_request(id: Value, method: &str, params: Value) -> Value {
    let mut params = if params.is_null() { json!({}) } else { params };
    params["_meta"] = modern_meta();
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A legacy request (no `_meta`).
pub fn request(id: Value, method: &str, params: Value) -> Value {
    let mut r = json!({"jsonrpc": "2.0", "id": id, "method": method});
    if !params.is_null() {
        r["params"] = params;
    }
    r
}

/// An `initialize` request for a legacy revision.
pub fn initialize(id: i64, version: &str) -> Value {
    request(
        json!(id),
        "initialize",
        json!({"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "it", "version": "1.0.0"}}),
    )
}

/// The binary running in stdio mode, with stdout read on a thread so every read has a
/// deadline, and stderr captured for diagnostics.
pub struct StdioServer {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub stderr: Receiver<String>,
}

impl StdioServer {
    /// Spawns `mcp-server-spec --transport stdio --workspace DIR` plus `extra` args.
    pub fn start(workspace: &Path, extra: &[&str]) -> StdioServer {
        let mut cmd = Command::new(BIN);
        cmd.args(["--transport", "stdio", "--workspace"])
            .arg(workspace)
            .args(extra);
        StdioServer::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> StdioServer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the server binary");
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        StdioServer {
            stdin: child.stdin.take(),
            lines: spawn_line_reader(stdout),
            stderr: spawn_line_reader(stderr),
            child,
        }
    }

    /// Writes raw bytes to stdin.
    pub fn write_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).expect("write to server stdin");
        stdin.flush().expect("flush server stdin");
    }

    /// Sends one message as a line.
    pub fn send(&mut self, message: &Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.write_raw(line.as_bytes());
    }

    /// The next stdout line as JSON, failing the test after [`DEADLINE`].
    pub fn recv(&mut self) -> Value {
        match self.lines.recv_timeout(DEADLINE) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}")),
            Err(e) => panic!(
                "no stdout line within {DEADLINE:?} ({e:?}); stderr: {}",
                self.drain_stderr()
            ),
        }
    }

    /// Sends a request and returns the next message that is not a notification.
    pub fn call(&mut self, message: &Value) -> Value {
        self.send(message);
        loop {
            let m = self.recv();
            if m.get("method").is_none() {
                return m;
            }
        }
    }

    /// True if no stdout line arrives within `wait`.
    pub fn silent_for(&mut self, wait: Duration) -> bool {
        matches!(
            self.lines.recv_timeout(wait),
            Err(RecvTimeoutError::Timeout)
        )
    }

    /// Closes stdin (the spec's shutdown signal).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        wait_with_deadline(&mut self.child)
    }

    pub fn drain_stderr(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for StdioServer {
    fn drop(&mut self) {
        // Only the process this test started, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to [`DEADLINE`] for `child` to exit; its exit code, or `None` if a signal ended it.
pub fn wait_with_deadline(child: &mut Child) -> Option<i32> {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "process did not exit within {DEADLINE:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn spawn_line_reader<R: std::io::Read + Send + 'static>(stream: R) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs the binary to completion with `args` (stdin closed); (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
