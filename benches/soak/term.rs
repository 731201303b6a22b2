//! `term`: SIGTERM under load at c=64. Each client stamps the moment its request's bytes
//! were all written; the signal is sent at a recorded moment after that, so "sent before
//! the signal" is exact and conservative (the server sees the signal later still).
//!
//! Verdicts per round: every request sent before the signal gets a complete, valid 2xx
//! answer; requests sent after it end cleanly (an answer, a close before any response
//! byte, or a refused connection), never with a cut-off response; the server exits 0.
//! The mix adds a 256 KiB `create_file` (temp file, fsync, rename) as every eighth
//! request, so some requests are in the slow part of a write when the signal lands.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::server::{Server, TempDir};
use crate::wire::{self, Failure};
use crate::{verdict, Rng};

pub const ROUNDS: usize = 3;
const CONCURRENCY: usize = 64;
const SHUTDOWN_TIMEOUT: &str = "10s";
/// Load before the signal: this long, plus up to [`MAX_EXTRA_LOAD_MS`].
const LOAD_BEFORE: Duration = Duration::from_secs(3);
const MAX_EXTRA_LOAD_MS: u64 = 1000;
/// Bound on how long clients keep going after the signal, and on the server's exit.
const AFTER_LIMIT: Duration = Duration::from_secs(30);
const WRITE_BYTES: usize = 256 * 1024;

/// One exchange: when its bytes were all written (`None`: the connect or the write
/// failed, at `at`) and how it ended.
struct Exchange {
    sent_at: Option<Instant>,
    at: Instant,
    outcome: Result<bool, Failure>,
}

/// Counts of one round.
#[derive(Default)]
struct Tally {
    before: u64,
    completed: u64,
    unanswered: u64,
    partial: u64,
    not_2xx: u64,
    timeout: u64,
    after_answered: u64,
    after_closed: u64,
    after_refused: u64,
    after_partial: u64,
    /// Connection or write failures before the signal.
    early_faults: u64,
}

impl Tally {
    fn failed(&self) -> u64 {
        self.unanswered + self.partial + self.not_2xx + self.timeout
    }
}

/// Runs `rounds` rounds; `true` when every round passes.
pub fn run(rounds: usize, rng: &mut Rng) -> bool {
    println!("| round | load before signal ms | sent before signal | completed | failed (unanswered / partial / non-2xx / timeout) | after signal: answered / closed / refused / partial | server exit | exit after signal ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut pass = true;
    for round in 1..=rounds {
        let load = LOAD_BEFORE + Duration::from_millis(rng.below(MAX_EXTRA_LOAD_MS + 1));
        let (t, exit, exit_after) = round_once(load);
        let exit_text = exit.map_or("did not exit".to_string(), |c| format!("code {c}"));
        println!(
            "| {round} | {} | {} | {} | {} ({} / {} / {} / {}) | {} / {} / {} / {} | {exit_text} | {} |",
            load.as_millis(),
            t.before,
            t.completed,
            t.failed(),
            t.unanswered,
            t.partial,
            t.not_2xx,
            t.timeout,
            t.after_answered,
            t.after_closed,
            t.after_refused,
            t.after_partial,
            exit_after.as_millis()
        );
        if t.early_faults > 0 {
            println!(
                "round {round}: {} connection faults before the signal",
                t.early_faults
            );
        }
        pass &= t.failed() == 0 && t.after_partial == 0 && t.early_faults == 0 && exit == Some(0);
    }
    println!();
    verdict(
        pass,
        "SIGTERM: every request sent before the signal completed, no cut-off response, exit 0",
    )
}

/// One round: returns the tally, the exit code and how long the exit took.
fn round_once(load: Duration) -> (Tally, Option<i32>, Duration) {
    let workspace = TempDir::new("term");
    workspace.write(wire::SMALL_FILE.0, wire::SMALL_FILE.1);
    let mut server = Server::start(workspace.path(), &["--shutdown-timeout", SHUTDOWN_TIMEOUT]);
    let signalled = AtomicBool::new(false);
    let addr = server.addr.as_str();
    let (logs, signal_at) = thread::scope(|s| {
        let handles: Vec<_> = (0..CONCURRENCY)
            .map(|i| {
                let signalled = &signalled;
                s.spawn(move || client(addr, i, signalled))
            })
            .collect();
        thread::sleep(load);
        signalled.store(true, Ordering::SeqCst);
        let signal_at = Instant::now();
        server.terminate();
        let logs: Vec<Vec<Exchange>> = handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect();
        (logs, signal_at)
    });
    let status = server.wait_exit(AFTER_LIMIT);
    let exit_after = signal_at.elapsed();
    for line in server.log_lines() {
        eprintln!("  server: {line}");
    }
    let tally = classify(logs.iter().flatten(), signal_at);
    (tally, status.and_then(|s| s.code()), exit_after)
}

/// Requests of one client, in order, until the server is gone (or the time limit).
fn client(addr: &str, seq: usize, signalled: &AtomicBool) -> Vec<Exchange> {
    let mix = wire::mix(addr);
    let content = "w".repeat(WRITE_BYTES - 1) + "\n";
    let params = format!(
        r#""name":"create_file","arguments":{{"path":"data/term-{seq:02}.txt","content":"{}"}}"#,
        content.replace('\n', "\\n")
    );
    let write = wire::mcp_request(addr, "tools/call", Some("create_file"), &params);
    let mut log = Vec::new();
    let mut conn = None;
    let hard_limit = Instant::now() + LOAD_BEFORE * 10 + AFTER_LIMIT;
    let mut limit = hard_limit;
    for n in seq.. {
        if signalled.load(Ordering::SeqCst) {
            limit = limit.min(Instant::now() + AFTER_LIMIT);
        }
        if Instant::now() >= limit {
            break;
        }
        let (w, r) = match &mut conn {
            Some(c) => c,
            None => match wire::connect(addr) {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    let at = Instant::now();
                    log.push(Exchange {
                        sent_at: None,
                        at,
                        outcome: Err(Failure::NoResponse),
                    });
                    if signalled.load(Ordering::SeqCst) {
                        break; // the listener is closed: this client is done
                    }
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            },
        };
        let request = if n % 8 == 7 {
            &write
        } else {
            &mix[n % mix.len()]
        };
        let sent_at = w.write_all(request).ok().map(|()| Instant::now());
        let outcome = match sent_at {
            Some(_) => wire::read_response(r).map(|resp| resp.ok()),
            None => Err(Failure::NoResponse),
        };
        if !matches!(outcome, Ok(true)) {
            conn = None;
        }
        log.push(Exchange {
            sent_at,
            at: Instant::now(),
            outcome,
        });
    }
    log
}

fn classify<'a>(exchanges: impl Iterator<Item = &'a Exchange>, signal_at: Instant) -> Tally {
    let mut t = Tally::default();
    for e in exchanges {
        match (e.sent_at, e.outcome) {
            (None, _) if e.at >= signal_at => t.after_refused += 1,
            (None, _) => t.early_faults += 1,
            (Some(at), outcome) if at < signal_at => {
                t.before += 1;
                match outcome {
                    Ok(true) => t.completed += 1,
                    Ok(false) => t.not_2xx += 1,
                    Err(Failure::NoResponse) => t.unanswered += 1,
                    Err(Failure::Partial) => t.partial += 1,
                    Err(Failure::Timeout) => t.timeout += 1,
                }
            }
            (Some(_), Ok(_)) => t.after_answered += 1,
            (Some(_), Err(Failure::NoResponse)) => t.after_closed += 1,
            (Some(_), Err(_)) => t.after_partial += 1,
        }
    }
    t
}
