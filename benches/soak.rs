//! Soak and fault tests against the real binary (issue 7, "Soak and faults"), run on
//! demand only: they take minutes, so neither `cargo test` nor CI runs them.
//!
//! ```text
//! cargo bench --bench soak -- <mixed|kill|term|all> [--minutes N] [--rounds N]
//! ```
//! - `mixed`: unloaded baseline, then N minutes (default 10) of c=64 keep-alive clients
//!   plus 100 slowloris connections; errors, p99 against the baseline, RSS growth.
//! - `kill`: SIGKILL mid-storm of `create_file`; every file old or new, never partial.
//! - `term`: SIGTERM under c=64 load; every request sent before the signal completes.
//!
//! Each mode prints Markdown tables for BENCHMARKS.md, `verdict:` lines and a final
//! `PASS`/`FAIL`; the exit code is 1 on any failed verdict. Network traffic stays on
//! 127.0.0.1, every loop has a deadline, only the PID this program spawned is signalled,
//! and workspaces are temporary directories removed afterwards. The modules live under
//! `benches/soak/` (included by path so cargo does not take them for bench targets).
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "soak/hist.rs"]
mod hist;
#[path = "soak/kill.rs"]
mod kill;
#[path = "shared/launch.rs"]
mod launch;
#[path = "soak/mixed.rs"]
mod mixed;
#[path = "soak/server.rs"]
mod server;
#[path = "soak/term.rs"]
mod term;
#[path = "soak/wire.rs"]
mod wire;

use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str =
    "usage: cargo bench --bench soak -- <mixed|kill|term|all> [--minutes N] [--rounds N]";

/// What the command line asks for.
struct Args {
    mode: String,
    minutes: u64,
    /// Rounds of `kill` and `term` (each has its own default when absent).
    rounds: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        mode: String::new(),
        minutes: 10,
        rounds: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        };
        match arg.as_str() {
            // cargo bench passes `--bench` to every harness = false target.
            "--bench" => {}
            "--minutes" => args.minutes = number("--minutes")?.max(1),
            "--rounds" => args.rounds = Some(number("--rounds")?.max(1) as usize),
            "mixed" | "kill" | "term" | "all" if args.mode.is_empty() => args.mode = arg,
            other => return Err(format!("unexpected argument: {other}")),
        }
    }
    if args.mode.is_empty() {
        return Err("no mode given".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("soak: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut rng = Rng::new(seed);
    println!("soak run: mode {}, random seed {seed}", args.mode);
    let all = args.mode == "all";
    let mut pass = true;
    if all || args.mode == "mixed" {
        println!(
            "\n### mixed: {} minutes, c={}, {} slowloris\n",
            args.minutes,
            mixed::CONCURRENCY,
            mixed::SLOWLORIS
        );
        pass &= mixed::run(args.minutes);
    }
    if all || args.mode == "kill" {
        let rounds = args.rounds.unwrap_or(kill::ROUNDS);
        println!("\n### kill: SIGKILL during a create_file storm, {rounds} rounds\n");
        pass &= kill::run(rounds, &mut rng);
    }
    if all || args.mode == "term" {
        let rounds = args.rounds.unwrap_or(term::ROUNDS);
        println!("\n### term: SIGTERM under load, {rounds} rounds\n");
        pass &= term::run(rounds, &mut rng);
    }
    println!("\n{}", if pass { "PASS" } else { "FAIL" });
    if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints a `verdict:` line and passes `ok` through.
pub fn verdict(ok: bool, what: &str) -> bool {
    println!("verdict: {} {what}", if ok { "PASS" } else { "FAIL" });
    ok
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// xorshift64*: kill delays, file choices and contents; the seed is printed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// Uniform-enough in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}
