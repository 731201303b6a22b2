//! HTTP load generator: raw keep-alive HTTP/1.1 over 127.0.0.1 with std threads, against
//! the real binary (`--transport http-stream --port 0`) and, in the same run, a "ceiling"
//! server (tiny_http answering a fixed body from 4 threads: this very program re-run with
//! `MCP_BENCH_CEILING=1`), so BENCHMARKS.md can state what fraction of the achievable the
//! server reaches on this machine.
//!
//! Run: `cargo bench --bench http` (add `-- quick` for one short round, `-- only=TEXT` for
//! the scenarios whose name contains TEXT, `-- rounds=N` for the summary's rounds at c=64,
//! default 5). Prints Markdown.
//! Every loop is bounded by a deadline; only processes this program spawned are stopped.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "shared/launch.rs"]
mod launch;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const CONCURRENCY: [usize; 4] = [1, 16, 64, 256];
const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

/// One kind of request the generator repeats.
#[derive(Clone)]
struct Scenario {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    /// Extra header lines (each ending in \r\n).
    headers: String,
    body: String,
}

fn modern(
    name: &'static str,
    mcp_method: &'static str,
    mcp_name: Option<&str>,
    params: &str,
) -> Scenario {
    let mut headers = format!("MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: {mcp_method}\r\n");
    if let Some(n) = mcp_name {
        headers.push_str(&format!("Mcp-Name: {n}\r\n"));
    }
    let sep = if params.is_empty() { "" } else { "," };
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"{mcp_method}","params":{{{META}{sep}{params}}}}}"#
    );
    Scenario {
        name,
        method: "POST",
        path: "/mcp",
        headers,
        body,
    }
}

fn legacy(name: &'static str, session: &str, mcp_method: &'static str, params: &str) -> Scenario {
    let headers = format!("MCP-Protocol-Version: 2025-11-25\r\nMcp-Session-Id: {session}\r\n");
    let body =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{mcp_method}","params":{{{params}}}}}"#);
    Scenario {
        name,
        method: "POST",
        path: "/mcp",
        headers,
        body,
    }
}

/// `s` with one more header line (ending in \r\n).
fn with_header(mut s: Scenario, line: &str) -> Scenario {
    s.headers.push_str(line);
    s
}

fn request_bytes(s: &Scenario, host: &str) -> Vec<u8> {
    let mut r = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\n{}",
        s.method, s.path, s.headers
    );
    if s.method == "POST" {
        r.push_str(
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n",
        );
        r.push_str(&format!("Content-Length: {}\r\n", s.body.len()));
    }
    r.push_str("\r\n");
    r.push_str(&s.body);
    r.into_bytes()
}

/// Reads one response; returns (status, body).
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = vec![0; length.ok_or_else(|| std::io::Error::other("no content-length"))?];
    reader.read_exact(&mut body)?;
    Ok((status, body))
}

/// Latencies of one client thread and its error count.
struct ClientRun {
    latencies: Vec<Duration>,
    errors: usize,
}

/// One client thread: requests back to back on one keep-alive connection until `until`,
/// or, with `fresh`, each on a new connection (its connect counted in the latency).
fn client(addr: String, request: Vec<u8>, until: Instant, fresh: bool) -> ClientRun {
    let mut run = ClientRun {
        latencies: Vec::new(),
        errors: 0,
    };
    let connect = || -> std::io::Result<(TcpStream, BufReader<TcpStream>)> {
        let s = TcpStream::connect(&addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok((s.try_clone()?, BufReader::new(s)))
    };
    let Ok((mut w, mut r)) = connect() else {
        run.errors += 1;
        return run;
    };
    while Instant::now() < until {
        let start = Instant::now();
        if fresh && !run.latencies.is_empty() {
            match connect() {
                Ok((nw, nr)) => (w, r) = (nw, nr),
                Err(_) => {
                    run.errors += 1;
                    continue;
                }
            }
        }
        let ok = w.write_all(&request).is_ok() && matches!(read_response(&mut r), Ok((200, _)));
        if ok {
            run.latencies.push(start.elapsed());
        } else {
            run.errors += 1;
            match connect() {
                Ok((nw, nr)) => (w, r) = (nw, nr),
                Err(_) => break,
            }
        }
    }
    run
}

struct Measured {
    rps: f64,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    errors: usize,
    requests: usize,
}

fn load(addr: &str, scenario: &Scenario, concurrency: usize, duration: Duration) -> Measured {
    let request = request_bytes(scenario, addr);
    // A client that says `Connection: close` must open a new connection per request.
    let fresh = scenario.headers.contains("Connection: close");
    let until = Instant::now() + duration;
    let start = Instant::now();
    let handles: Vec<_> = (0..concurrency)
        .map(|_| {
            let (addr, request) = (addr.to_string(), request.clone());
            thread::spawn(move || client(addr, request, until, fresh))
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let run = h.join().expect("client thread");
        all.extend(run.latencies);
        errors += run.errors;
    }
    let elapsed = start.elapsed();
    all.sort();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Measured {
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pick(0.5),
        p99: pick(0.99),
        p999: pick(0.999),
        errors,
        requests: all.len(),
    }
}

/// Starts a server process and returns it with the `host:port` it logged.
fn spawn_and_wait_for_address(mut cmd: Command) -> (Child, String) {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn server");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Some(addr) = launch::address_in(&line) {
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server logged its address");
    (child, addr)
}

fn proc_stat(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let (user, system) = cpu_times(pid);
    (hwm, user + system)
}

/// User and system CPU seconds a process has used so far.
fn cpu_times(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

/// CPU the server spent on the requests of some loads: user and system seconds, requests.
#[derive(Default)]
struct CpuUse {
    user: f64,
    system: f64,
    requests: usize,
}

impl CpuUse {
    /// Runs `run` and adds what the server spent meanwhile.
    fn measure(&mut self, pid: u32, run: impl FnOnce() -> Measured) -> Measured {
        let (user, system) = cpu_times(pid);
        let m = run();
        let (user_after, system_after) = cpu_times(pid);
        self.user += user_after - user;
        self.system += system_after - system;
        self.requests += m.requests;
        m
    }

    /// `X µs (user U + system S)` per request.
    fn per_request(&self) -> String {
        let micros = |secs: f64| secs / self.requests.max(1) as f64 * 1e6;
        format!(
            "{:.1} µs (user {:.1} + system {:.1})",
            micros(self.user + self.system),
            micros(self.user),
            micros(self.system)
        )
    }
}

fn post(addr: &str, s: &Scenario) -> (u16, Vec<u8>, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(&request_bytes(s, addr)).expect("write");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut session = String::new();
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("mcp-session-id") {
                session = v.trim().to_string();
            }
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, body, session)
}

fn ceiling_server() {
    // TCP_NODELAY on the listener (Linux copies it to accepted sockets): tiny_http writes
    // head and body separately, and without it a body over one segment waits ~40 ms for
    // a delayed ACK, which would make the long-body ceiling meaningless.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    mcp_server_spec::transport::http::set_nodelay_inherited(&listener);
    let server = tiny_http::Server::from_listener(listener, None).expect("serve");
    eprintln!(
        "ceiling listening on http://{}",
        server.server_addr().to_ip().expect("ip")
    );
    let server = std::sync::Arc::new(server);
    // `/sized`: a body as long as our `tools/list` answer (MCP_BENCH_CEILING_BYTES).
    let bytes: usize = std::env::var("MCP_BENCH_CEILING_BYTES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let sized = std::sync::Arc::new(format!("\"{}\"", "x".repeat(bytes.saturating_sub(2))));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let server = std::sync::Arc::clone(&server);
            let sized = std::sync::Arc::clone(&sized);
            thread::spawn(move || {
                for request in server.incoming_requests() {
                    let body = if request.url() == "/sized" {
                        sized.as_str()
                    } else {
                        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#
                    };
                    let _ = request.respond(tiny_http::Response::from_string(body));
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}

fn main() {
    if std::env::var_os("MCP_BENCH_CEILING").is_some() {
        return ceiling_server();
    }
    let quick = std::env::args().any(|a| a == "quick");
    // `only=TEXT` runs just the scenarios whose name contains TEXT (for profiling).
    let only: Option<String> =
        std::env::args().find_map(|a| a.strip_prefix("only=").map(String::from));
    let duration = Duration::from_secs(if quick { 1 } else { 3 });
    // `rounds=N`: rounds of the c=64 summary (default 5, quick 1).
    let rounds = std::env::args()
        .find_map(|a| a.strip_prefix("rounds=").and_then(|n| n.parse().ok()))
        .unwrap_or(if quick { 1 } else { 5 })
        .max(1);
    let workspace = std::env::temp_dir().join(format!("mcp-bench-http-{}", std::process::id()));
    std::fs::create_dir_all(workspace.join("specs")).expect("workspace");
    std::fs::write(
        workspace.join("specs/small.md"),
        "# Small\n\nA small file for read_file.\n",
    )
    .expect("file");

    let (mut server, addr) = spawn_server(&workspace);
    let tools_list = modern("tools/list (2026-07-28)", "tools/list", None, "");
    let (status, tools_list_body, _) = post(&addr, &tools_list);
    assert_eq!(status, 200, "tools/list over HTTP");
    let mut ceiling_cmd = Command::new(std::env::current_exe().expect("own path"));
    ceiling_cmd
        .env("MCP_BENCH_CEILING", "1")
        .env("MCP_BENCH_CEILING_BYTES", tools_list_body.len().to_string());
    let (mut ceiling, ceiling_addr) = spawn_and_wait_for_address(ceiling_cmd);
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
    let init = Scenario {
        name: "init",
        method: "POST",
        path: "/mcp",
        headers: String::new(),
        body: init.to_string(),
    };
    let (status, _, session) = post(&addr, &init);
    assert_eq!(status, 200, "initialize over HTTP");
    let notified = Scenario {
        name: "initialized",
        method: "POST",
        path: "/mcp",
        headers: format!("MCP-Protocol-Version: 2025-11-25\r\nMcp-Session-Id: {session}\r\n"),
        body: r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string(),
    };
    post(&addr, &notified);

    let prompt = r#""name":"generate-requirements","arguments":{"requirements":"A todo app"}"#;
    let read = r#""name":"read_file","arguments":{"path":"specs/small.md"}"#;
    let scenarios = [
        Scenario {
            name: "GET /health",
            method: "GET",
            path: "/health",
            headers: String::new(),
            body: String::new(),
        },
        modern("tools/list (2026-07-28)", "tools/list", None, ""),
        legacy("tools/list (2025-11-25)", &session, "tools/list", ""),
        modern(
            "prompts/get generate-requirements (2026-07-28)",
            "prompts/get",
            Some("generate-requirements"),
            prompt,
        ),
        legacy(
            "prompts/get generate-requirements (2025-11-25)",
            &session,
            "prompts/get",
            prompt,
        ),
        modern(
            "tools/call read_file (2026-07-28)",
            "tools/call",
            Some("read_file"),
            read,
        ),
        legacy(
            "tools/call read_file (2025-11-25)",
            &session,
            "tools/call",
            read,
        ),
        // Short connections (health checks, scripts): one request each, then closed.
        with_header(
            modern(
                "tools/list (2026-07-28), Connection: close",
                "tools/list",
                None,
                "",
            ),
            "Connection: close\r\n",
        ),
    ];
    let ceiling_scenario = Scenario {
        name: "ceiling: tiny_http fixed body",
        method: "GET",
        path: "/",
        headers: String::new(),
        body: String::new(),
    };

    println!("| scenario | c | req/s | p50 ms | p99 ms | p99.9 ms | errors |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let (_, cpu_before) = proc_stat(server.id());
    let mut served = 0usize;
    for s in scenarios
        .iter()
        .filter(|s| only.as_ref().is_none_or(|o| s.name.contains(o.as_str())))
    {
        for c in CONCURRENCY {
            let m = load(&addr, s, c, duration);
            served += m.requests;
            print_row(s.name, c, &m);
        }
    }
    let (hwm, cpu_after) = proc_stat(server.id());
    for c in CONCURRENCY {
        print_row(
            ceiling_scenario.name,
            c,
            &load(&ceiling_addr, &ceiling_scenario, c, duration),
        );
    }

    // The headline ratios at c=64, alternating ours and the ceilings, median of rounds:
    // against the fixed small body and against a body as long as our tools/list answer
    // (the bytes any server answering tools/list must move).
    let sized_scenario = Scenario {
        name: "ceiling: tiny_http, body as long as tools/list's",
        path: "/sized",
        ..ceiling_scenario.clone()
    };
    let (mut ours, mut ours_p99, mut small, mut sized) = (vec![], vec![], vec![], vec![]);
    let (mut read, mut read_p99, mut paired) = (vec![], vec![], vec![]);
    let (mut list_cpu, mut read_cpu) = (CpuUse::default(), CpuUse::default());
    let pid = server.id();
    for _ in 0..rounds {
        // Ours and the same-length ceiling back to back, so each round's ratio sees the
        // same machine: the load of a shared machine drifts by a third within minutes.
        let m = list_cpu.measure(pid, || load(&addr, &scenarios[1], 64, duration));
        ours.push(m.rps);
        ours_p99.push(m.p99.as_secs_f64() * 1e3);
        let ceiling_rps = load(&ceiling_addr, &sized_scenario, 64, duration).rps;
        sized.push(ceiling_rps);
        paired.push(m.rps / ceiling_rps.max(1.0) * 100.0);
        small.push(load(&ceiling_addr, &ceiling_scenario, 64, duration).rps);
        let m = read_cpu.measure(pid, || load(&addr, &scenarios[5], 64, duration));
        read.push(m.rps);
        read_p99.push(m.p99.as_secs_f64() * 1e3);
    }
    let (ours, small, sized) = (median(ours), median(small), median(sized));
    let pct = |a: f64, b: f64| a / b * 100.0;
    println!();
    println!("| summary (c=64, median of {rounds}) | value |");
    println!("| --- | --- |");
    println!(
        "| tools/list (2026-07-28) | {ours:.0} req/s, p99 {:.2} ms |",
        median(ours_p99)
    );
    println!(
        "| tools/call read_file (2026-07-28) | {:.0} req/s, p99 {:.2} ms |",
        median(read),
        median(read_p99)
    );
    println!("| ceiling, fixed 36-byte body | {small:.0} req/s |");
    println!(
        "| ceiling, {}-byte body (tools/list's length) | {sized:.0} req/s |",
        tools_list_body.len()
    );
    println!(
        "| tools/list / ceiling (36 bytes) | {:.1} % |",
        pct(ours, small)
    );
    println!(
        "| tools/list / ceiling (same length) | {:.1} % |",
        pct(ours, sized)
    );
    let spread = {
        let mut sorted = paired.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        format!("{:.1}–{:.1}", sorted[0], sorted[sorted.len() - 1])
    };
    println!(
        "| tools/list / ceiling (same length), median of the {rounds} rounds' own ratios | {:.1} % (rounds: {spread} %) |",
        median(paired)
    );
    println!("| server peak RSS (VmHWM) over the whole run, up to c=256 | {hwm} KiB |");
    if served > 0 {
        println!(
            "| server CPU seconds per 10k requests (the scenarios above) | {:.3} s |",
            (cpu_after - cpu_before) / served.max(1) as f64 * 10_000.0
        );
    }
    // Less noisy than requests/s on a shared machine: what each request cost the server.
    println!(
        "| server CPU per request, c=64 rounds: tools/list / read_file | {} / {} |",
        list_cpu.per_request(),
        read_cpu.per_request()
    );
    // Peak RSS under the c=64 load alone: a fresh server, 64 connections of tools/list,
    // then 64 new ones of read_file.
    let (mut fresh, fresh_addr) = spawn_server(&workspace);
    let (idle, _) = proc_stat(fresh.id());
    load(&fresh_addr, &scenarios[1], 64, duration);
    let (after_list, _) = proc_stat(fresh.id());
    load(&fresh_addr, &scenarios[5], 64, duration);
    let (after_read, _) = proc_stat(fresh.id());
    println!("| fresh server VmHWM: at start / after c=64 tools/list / after c=64 read_file on new connections | {idle} / {after_list} / {after_read} KiB |");
    let _ = fresh.kill();
    let _ = fresh.wait();

    for child in [&mut server, &mut ceiling] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&workspace);
}

/// Starts the server under test.
fn spawn_server(workspace: &std::path::Path) -> (Child, String) {
    spawn_and_wait_for_address(launch::http_command(workspace))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn print_row(name: &str, c: usize, m: &Measured) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| {name} | {c} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
        m.rps,
        ms(m.p50),
        ms(m.p99),
        ms(m.p999),
        m.errors
    );
}
