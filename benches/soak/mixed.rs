//! `mixed`: an unloaded baseline, then N minutes of well-behaved keep-alive clients at
//! c=64 with 100 slowloris connections mixed in, sampling the server's `VmRSS`.
//!
//! Verdicts (issue 7, "Soak and faults"): zero errors for the well-behaved clients; p99
//! over the whole soak within 2x of the baseline p99 measured in the same run; RSS after
//! warm-up grows less than 5 %. The slowloris connections dribble one head byte every
//! [`DRIBBLE`] and reconnect whenever the server closes them: the server's header deadline
//! (`--header-timeout`, 10 s) answers them 408 and closes, which is the expected outcome.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::hist::Hist;
use crate::server::{Server, TempDir};
use crate::wire;
use crate::{ms, verdict};

pub const CONCURRENCY: usize = 64;
pub const SLOWLORIS: usize = 100;
const BASELINE: Duration = Duration::from_secs(30);
/// How long the first request of each connection of the opening burst may take.
const BURST_TIMEOUT: Duration = Duration::from_secs(5);
const MINUTE: Duration = Duration::from_secs(60);
/// One byte of request head per connection this often.
const DRIBBLE: Duration = Duration::from_secs(2);
/// How often the slowloris thread looks at its sockets.
const SLOW_TICK: Duration = Duration::from_millis(100);
const RSS_EVERY: Duration = Duration::from_secs(5);
/// RSS is averaged over this window at the end of warm-up and at the end of the run.
const RSS_WINDOW: Duration = Duration::from_secs(15);
/// Error descriptions kept for the report.
const KEPT_ERRORS: usize = 10;

/// Runs the mode; `true` when every verdict passes.
pub fn run(minutes: u64) -> bool {
    let workspace = TempDir::new("mixed");
    workspace.write(wire::SMALL_FILE.0, wire::SMALL_FILE.1);
    let server = Server::start(workspace.path(), &[]);
    let mix = wire::mix(&server.addr);
    eprintln!("mixed: opening burst, {CONCURRENCY} connections at once on the fresh server");
    let stalled = burst(&server.addr, &mix);
    let shared = Shared::default();
    eprintln!("mixed: baseline, c={CONCURRENCY}, {BASELINE:?}, no slowloris");
    let base_clock = Clock::new(BASELINE, BASELINE);
    let baseline = load(&server.addr, &mix, &base_clock, &shared).merged();
    let base_errors = shared.errors.load(Ordering::Relaxed);
    let kept = |s: Shared, phase: &str| -> Vec<String> {
        let kept = s.kept.into_inner().unwrap_or_default();
        kept.into_iter().map(|e| format!("{phase}: {e}")).collect()
    };
    let mut errors_seen = kept(shared, "baseline");

    let total = MINUTE * u32::try_from(minutes).unwrap_or(u32::MAX);
    eprintln!("mixed: soak, c={CONCURRENCY} + {SLOWLORIS} slowloris, {minutes} min");
    let shared = Shared::default();
    let clock = Clock::new(total, MINUTE);
    let stop = AtomicBool::new(false);
    let (minutes_stats, slow, rss) = thread::scope(|s| {
        let slow = s.spawn(|| slowloris(&server.addr, &stop, clock.until));
        let clients = s.spawn(|| load(&server.addr, &mix, &clock, &shared));
        let rss = sample_rss(&server, &clock, &shared);
        let stats = clients.join().expect("client threads");
        stop.store(true, Ordering::SeqCst);
        (stats, slow.join().expect("slowloris thread"), rss)
    });
    let report = Report {
        stalled,
        baseline,
        base_errors,
        minutes: minutes_stats,
        slow,
        rss,
        warm: MINUTE.min(total / 3),
        errors_seen: {
            errors_seen.extend(kept(shared, "soak"));
            errors_seen
        },
    };
    let pass = report.print();
    for line in server.log_lines() {
        println!("server log: {line}");
    }
    drop(server);
    pass
}

/// Opens [`CONCURRENCY`] connections at once on the fresh server, one request on each,
/// and counts those not answered within [`BURST_TIMEOUT`]. Measured apart from the
/// baseline so that a stalled connection cannot quietly lower the baseline's
/// concurrency (and its p99); all connections close before the baseline starts.
fn burst(addr: &str, mix: &[Vec<u8>]) -> usize {
    let barrier = Barrier::new(CONCURRENCY);
    thread::scope(|s| {
        let handles: Vec<_> = (0..CONCURRENCY)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    let Ok((mut w, mut r)) = wire::connect(addr) else {
                        return false;
                    };
                    let _ = r.get_ref().set_read_timeout(Some(BURST_TIMEOUT));
                    barrier.wait();
                    w.write_all(&mix[i % mix.len()]).is_ok()
                        && wire::read_response(&mut r).is_ok_and(|resp| resp.ok())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| matches!(h.join(), Ok(true)))
            .filter(|answered| !answered)
            .count()
    })
}

/// When a load phase ends and how it is cut into report rows.
struct Clock {
    start: Instant,
    until: Instant,
    row: Duration,
    rows: usize,
}

impl Clock {
    fn new(total: Duration, row: Duration) -> Clock {
        let start = Instant::now();
        let rows = (total.as_secs().div_ceil(row.as_secs().max(1))).max(1) as usize;
        Clock {
            start,
            until: start + total,
            row,
            rows,
        }
    }

    fn row_of(&self, t: Instant) -> usize {
        let i = (t.duration_since(self.start).as_secs_f64() / self.row.as_secs_f64()) as usize;
        i.min(self.rows - 1)
    }
}

/// Counters every client updates, read live by the progress lines.
#[derive(Default)]
struct Shared {
    ok: AtomicU64,
    errors: AtomicU64,
    kept: Mutex<Vec<String>>,
}

impl Shared {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() < KEPT_ERRORS {
                kept.push(what);
            }
        }
    }
}

/// One report row: latencies and errors of a time slice.
#[derive(Clone, Default)]
struct Row {
    hist: Hist,
    errors: u64,
}

/// The rows of every client, merged per slice.
struct Rows(Vec<Row>);

impl Rows {
    fn merged(&self) -> Row {
        let mut all = Row::default();
        for r in &self.0 {
            all.hist.merge(&r.hist);
            all.errors += r.errors;
        }
        all
    }
}

/// Runs [`CONCURRENCY`] well-behaved clients until the clock ends.
fn load(addr: &str, mix: &[Vec<u8>], clock: &Clock, shared: &Shared) -> Rows {
    let per_client: Vec<Vec<Row>> = thread::scope(|s| {
        let handles: Vec<_> = (0..CONCURRENCY)
            .map(|i| s.spawn(move || client(addr, mix, i, clock, shared)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    let mut rows = vec![Row::default(); clock.rows];
    for client_rows in per_client {
        for (row, r) in rows.iter_mut().zip(client_rows) {
            row.hist.merge(&r.hist);
            row.errors += r.errors;
        }
    }
    Rows(rows)
}

/// One keep-alive client cycling through the request mix; any failure is an error and
/// costs the connection (a front error closes it anyway).
fn client(addr: &str, mix: &[Vec<u8>], seq: usize, clock: &Clock, shared: &Shared) -> Vec<Row> {
    let mut rows = vec![Row::default(); clock.rows];
    let mut conn = None;
    let mut n = seq;
    // Requests answered on the current connection, for the error report.
    let mut served = 0u64;
    while Instant::now() < clock.until {
        let (w, r) = match &mut conn {
            Some(c) => c,
            None => match wire::connect(addr) {
                Ok(c) => {
                    served = 0;
                    conn.insert(c)
                }
                Err(e) => {
                    rows[clock.row_of(Instant::now())].errors += 1;
                    shared.error(format!("connect: {e}"));
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            },
        };
        let request = &mix[n % mix.len()];
        n += 1;
        let start = Instant::now();
        let outcome = match w.write_all(request) {
            Err(e) => Err(format!("write: {e}")),
            Ok(()) => match wire::read_response(r) {
                Ok(resp) if resp.ok() => Ok(()),
                Ok(resp) => Err(format!(
                    "status {} body {:.120}",
                    resp.status,
                    String::from_utf8_lossy(&resp.body)
                )),
                Err(f) => Err(format!("{f:?}")),
            },
        };
        let row = &mut rows[clock.row_of(start)];
        match outcome {
            Ok(()) => {
                row.hist.record(start.elapsed());
                shared.ok.fetch_add(1, Ordering::Relaxed);
                served += 1;
            }
            Err(what) => {
                row.errors += 1;
                let at = start.duration_since(clock.start).as_secs_f64();
                let kind = ["tools/list", "prompts/get", "read_file"][(n - 1) % 3];
                shared.error(format!(
                    "{what} ({kind}, request {} on its connection, sent at {at:.1} s)",
                    served + 1
                ));
                conn = None;
            }
        }
    }
    rows
}

/// What the slowloris connections saw.
#[derive(Default)]
struct SlowStats {
    connects: u64,
    connect_errors: u64,
    closed_by_server: u64,
    answered_408: u64,
    bytes_sent: u64,
}

/// One slow connection: the next head byte and when to send it.
struct Slow {
    stream: TcpStream,
    sent: usize,
    next: Instant,
    saw_408: bool,
}

const SLOW_HEAD: &[u8] = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

/// Keeps [`SLOWLORIS`] connections dribbling from one thread (non-blocking sockets).
fn slowloris(addr: &str, stop: &AtomicBool, until: Instant) -> SlowStats {
    let mut stats = SlowStats::default();
    let mut conns: Vec<Option<Slow>> = (0..SLOWLORIS).map(|_| None).collect();
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        for (i, slot) in conns.iter_mut().enumerate() {
            if slot.is_none() {
                // Staggered so the dribbles and deadlines spread over the interval.
                let first = start + DRIBBLE.mul_f64(i as f64 / SLOWLORIS as f64);
                *slot = open_slow(addr, first.max(Instant::now()), &mut stats);
            }
            if let Some(conn) = slot {
                if !tend(conn, &mut stats) {
                    stats.closed_by_server += 1;
                    stats.answered_408 += u64::from(conn.saw_408);
                    *slot = None;
                }
            }
        }
        thread::sleep(SLOW_TICK);
    }
    stats
}

fn open_slow(addr: &str, next: Instant, stats: &mut SlowStats) -> Option<Slow> {
    let stream = TcpStream::connect(addr).and_then(|s| s.set_nonblocking(true).map(|()| s));
    match stream {
        Ok(stream) => {
            stats.connects += 1;
            Some(Slow {
                stream,
                sent: 0,
                next,
                saw_408: false,
            })
        }
        Err(_) => {
            stats.connect_errors += 1;
            None
        }
    }
}

/// Reads whatever the server sent and sends the next byte when due; `false` once the
/// server has closed the connection.
fn tend(conn: &mut Slow, stats: &mut SlowStats) -> bool {
    let mut buf = [0u8; 512];
    match conn.stream.read(&mut buf) {
        Ok(0) => return false,
        Ok(n) => conn.saw_408 |= buf[..n].starts_with(b"HTTP/1.1 408"),
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(_) => return false,
    }
    if Instant::now() < conn.next {
        return true;
    }
    let byte = SLOW_HEAD.get(conn.sent).copied().unwrap_or(b'a');
    match conn.stream.write(&[byte]) {
        Ok(1) => {
            conn.sent += 1;
            stats.bytes_sent += 1;
            conn.next += DRIBBLE;
            true
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => true,
        _ => false,
    }
}

/// Samples `VmRSS` every [`RSS_EVERY`] until the clock ends, with a progress line per
/// minute on stderr. Returns (seconds since start, KiB).
fn sample_rss(server: &Server, clock: &Clock, shared: &Shared) -> Vec<(f64, u64)> {
    let mut samples = Vec::new();
    let mut printed = 0;
    while Instant::now() < clock.until {
        let t = clock.start.elapsed().as_secs_f64();
        if let Some(kib) = server.rss_kib() {
            samples.push((t, kib));
        }
        let minute = (t / 60.0) as u64;
        if minute > printed {
            printed = minute;
            eprintln!(
                "  minute {minute}: {} ok, {} errors so far, RSS {} KiB",
                shared.ok.load(Ordering::Relaxed),
                shared.errors.load(Ordering::Relaxed),
                samples.last().map_or(0, |s| s.1)
            );
        }
        let left = clock.until.saturating_duration_since(Instant::now());
        thread::sleep(RSS_EVERY.min(left));
    }
    if let Some(kib) = server.rss_kib() {
        samples.push((clock.start.elapsed().as_secs_f64(), kib));
    }
    samples
}

struct Report {
    /// First requests of the opening burst not answered within [`BURST_TIMEOUT`].
    stalled: usize,
    baseline: Row,
    base_errors: u64,
    minutes: Rows,
    slow: SlowStats,
    rss: Vec<(f64, u64)>,
    warm: Duration,
    errors_seen: Vec<String>,
}

impl Report {
    /// Prints the tables and verdicts; `true` when all pass.
    fn print(&self) -> bool {
        println!(
            "| phase | requests | req/s | p50 ms | p99 ms | p99.9 ms | errors | RSS at end KiB |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        self.row("baseline (no slowloris)", &self.baseline, BASELINE, None);
        for (i, r) in self.minutes.0.iter().enumerate() {
            let end = ((i + 1) * 60) as f64;
            let rss = self.rss.iter().rfind(|s| s.0 <= end + 1.0).map(|s| s.1);
            self.row(&format!("soak minute {}", i + 1), r, MINUTE, rss);
        }
        let all = self.minutes.merged();
        let span = MINUTE * self.minutes.0.len() as u32;
        self.row("soak, whole run", &all, span, self.rss.last().map(|s| s.1));
        println!();
        let s = &self.slow;
        println!("| slowloris | value |");
        println!("| --- | --- |");
        println!("| connections opened (100 at a time) | {} |", s.connects);
        println!(
            "| closed by the server | {} (408 answered: {}) |",
            s.closed_by_server, s.answered_408
        );
        println!("| head bytes dribbled | {} |", s.bytes_sent);
        println!("| connect errors | {} |", s.connect_errors);
        println!();
        for e in &self.errors_seen {
            println!("error sample: {e}");
        }
        self.verdicts(&all)
    }

    fn row(&self, name: &str, r: &Row, span: Duration, rss: Option<u64>) {
        println!(
            "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |",
            r.hist.count(),
            r.hist.count() as f64 / span.as_secs_f64(),
            ms(r.hist.quantile(0.5)),
            ms(r.hist.quantile(0.99)),
            ms(r.hist.quantile(0.999)),
            r.errors,
            rss.map_or("–".into(), |k| k.to_string())
        );
    }

    fn verdicts(&self, all: &Row) -> bool {
        // Both phases are well-behaved clients; reported apart because the baseline starts
        // on a fresh server (64 connections at once) and the soak on a warm one.
        let errors = verdict(
            all.errors == 0,
            &format!("well-behaved client errors during the soak: {}", all.errors),
        ) & verdict(
            self.base_errors == 0,
            &format!(
                "well-behaved client errors during the baseline: {}",
                self.base_errors
            ),
        );
        let burst = verdict(
            self.stalled == 0,
            &format!(
                "opening burst on the fresh server: {} of {CONCURRENCY} first requests \
                 unanswered within {BURST_TIMEOUT:?}",
                self.stalled
            ),
        );
        let (base, soak) = (self.baseline.hist.quantile(0.99), all.hist.quantile(0.99));
        let p99 = verdict(
            soak <= base * 2,
            &format!(
                "p99 soak {:.2} ms <= 2 x baseline {:.2} ms ({:.2}x)",
                ms(soak),
                ms(base),
                ms(soak) / ms(base).max(1e-9)
            ),
        );
        let rss = self.rss_verdict();
        burst && errors && p99 && rss
    }

    fn rss_verdict(&self) -> bool {
        let end = self.rss.last().map_or(0.0, |s| s.0);
        let warm = self.warm.as_secs_f64();
        let window = RSS_WINDOW.as_secs_f64();
        let mean = |from: f64, to: f64| {
            let v: Vec<u64> = self
                .rss
                .iter()
                .filter(|s| s.0 >= from && s.0 <= to)
                .map(|s| s.1)
                .collect();
            v.iter().sum::<u64>() as f64 / v.len().max(1) as f64
        };
        let (at_warm, at_end) = (mean(warm - window, warm), mean(end - window, end));
        let after: Vec<u64> = self
            .rss
            .iter()
            .filter(|s| s.0 >= warm)
            .map(|s| s.1)
            .collect();
        let growth = (at_end - at_warm) / at_warm.max(1.0) * 100.0;
        verdict(
            at_warm > 0.0 && growth < 5.0,
            &format!(
                "RSS growth after warm-up ({warm:.0} s): {at_warm:.0} -> {at_end:.0} KiB = {growth:+.1} % \
                 (< 5 %; min {} max {} KiB after warm-up)",
                after.iter().min().unwrap_or(&0),
                after.iter().max().unwrap_or(&0)
            ),
        )
    }
}
