//! stdio benchmarks: cold start, idle memory and pipelined throughput of the real binary.
//!
//! Run with `cargo bench --bench stdio` (release profile). Prints a Markdown table for
//! BENCHMARKS.md. Every loop is bounded; only processes this program spawned are touched.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-server-spec");
const COLD_STARTS: usize = 50;
const PIPELINED: usize = 100_000;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const DISCOVER: &str = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
const TOOLS_LIST_MODERN: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
const TOOLS_LIST_LEGACY: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;

fn spawn(workspace: &std::path::Path) -> Child {
    Command::new(BIN)
        .args([
            "--transport",
            "stdio",
            "--log-level",
            "error",
            "--workspace",
        ])
        .arg(workspace)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the server")
}

/// Spawn → first response line, for one opening message.
fn cold_start(workspace: &std::path::Path, first: &str) -> Duration {
    let start = Instant::now();
    let mut child = spawn(workspace);
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{first}").expect("write");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let elapsed = start.elapsed();
    assert!(line.contains("\"result\""), "unexpected answer: {line}");
    drop(stdin);
    child.wait().expect("wait");
    elapsed
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("field present")
}

/// Writes `count` copies of `line` from a thread and reads the answers; requests/s.
fn pipelined(
    workspace: &std::path::Path,
    opening: &str,
    line: &'static str,
    count: usize,
) -> (f64, u64) {
    let mut child = spawn(workspace);
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    writeln!(stdin, "{opening}").expect("write");
    let mut buf = String::new();
    stdout.read_line(&mut buf).expect("opening answer");
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdin);
        for _ in 0..count {
            out.write_all(line.as_bytes()).expect("write");
            out.write_all(b"\n").expect("write");
        }
        out.flush().expect("flush");
        // Dropping stdin here ends the server after it drained the input.
    });
    let mut answered = 0;
    while answered < count {
        buf.clear();
        if stdout.read_line(&mut buf).expect("read") == 0 {
            break;
        }
        answered += 1;
    }
    let elapsed = start.elapsed();
    let hwm = status_kib(pid, "VmHWM:");
    writer.join().expect("writer");
    child.wait().expect("wait");
    assert_eq!(answered, count, "every request answered");
    (count as f64 / elapsed.as_secs_f64(), hwm)
}

fn median(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() * 9 / 10])
}

fn main() {
    let workspace = std::env::temp_dir().join(format!("mcp-bench-stdio-{}", std::process::id()));
    std::fs::create_dir_all(&workspace).expect("workspace");

    println!("| stdio measurement | result |");
    println!("| --- | --- |");
    for (name, first) in [
        ("initialize (legacy)", INITIALIZE),
        ("server/discover (modern)", DISCOVER),
    ] {
        let samples: Vec<Duration> = (0..COLD_STARTS)
            .map(|_| cold_start(&workspace, first))
            .collect();
        let (p50, p90) = median(samples);
        println!("| cold start → first {name} response, median of {COLD_STARTS} | {:.2} ms (p90 {:.2} ms) |", ms(p50), ms(p90));
    }

    let mut child = spawn(&workspace);
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{DISCOVER}").expect("write");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    println!(
        "| idle RSS after one request | {} KiB |",
        status_kib(child.id(), "VmRSS:")
    );
    drop(stdin);
    child.wait().expect("wait");

    for (name, opening, request) in [
        ("modern", DISCOVER, TOOLS_LIST_MODERN),
        ("legacy", INITIALIZE, TOOLS_LIST_LEGACY),
    ] {
        let (rate, hwm) = pipelined(&workspace, opening, request, PIPELINED);
        println!(
            "| {PIPELINED} pipelined tools/list ({name}) | {rate:.0} req/s, peak RSS {hwm} KiB |"
        );
    }
    let _ = std::fs::remove_dir_all(&workspace);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
