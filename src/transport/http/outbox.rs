//! Answers to a client that is not reading: queued and sent by a thread of their own, so
//! no worker ever waits on a client.
//!
//! Why: a worker writes its answer straight to the client's socket (request.rs). When the
//! client stops reading, a blocking write would hold that worker until `--send-timeout`
//! without progress, and the workers of the connection's later pipelined answers wait
//! behind it for their turn: one connection that pipelined 32 large `read_file` calls and
//! read nothing held every worker, and the whole server answered nothing (even `/health`)
//! for over 40 s. Now a write is tried without waiting; whatever the socket does not take
//! at once is queued on the connection and a flusher thread (one per stalled connection,
//! only while it is stalled) sends it as the socket takes it. Answers that come while it
//! is queued are queued behind it, so order is kept. The queue counts as a request in
//! flight, so the relay's idle timeout, `Connection: close`, parking and the drain all wait
//! for it.
//!
//! Memory is bounded: a connection may hold [`MAX_QUEUED_PER_CONNECTION`] unsent bytes
//! and all connections together [`MAX_QUEUED_TOTAL`]; past either the connection is
//! closed (its client was not reading what it asked for) instead of waiting. Time is
//! bounded too ([`Pace`]): a client that takes nothing for `--send-timeout`, or that after
//! that grace takes its queue slower than [`MIN_SEND_RATE`], is disconnected. A timeout per
//! write alone let a client that reads a byte now and then keep its flusher, its relay
//! thread and up to 16 MiB of the shared 128 MiB for as long as it liked.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::front::{ClientWriter, ConnEntry};
use super::metrics::METRICS;

/// Unsent bytes one connection may hold: the largest answer (a `read_file` of the default
/// `--max-file-bytes`, 10 MiB, is ~10.5 MiB of JSON) with room for small ones behind it.
pub const MAX_QUEUED_PER_CONNECTION: usize = 16 * 1024 * 1024;
/// Unsent bytes all connections together may hold.
pub const MAX_QUEUED_TOTAL: usize = 128 * 1024 * 1024;
/// The slowest a stalled client may take its queued answers, on average from the moment it
/// stalled, once `--send-timeout` has passed: 32 KiB/s is a 256 kbit/s link, and the
/// largest queue (16 MiB) then drains within ~9 minutes.
pub const MIN_SEND_RATE: u64 = 32 * 1024;
/// Stack of a flusher thread: it only copies bytes.
const FLUSHER_STACK_BYTES: usize = 64 * 1024;

/// Unsent bytes of every connection (for [`MAX_QUEUED_TOTAL`] and the metrics).
static QUEUED_TOTAL: AtomicUsize = AtomicUsize::new(0);

/// Bytes queued across all connections right now.
pub fn queued_total() -> usize {
    QUEUED_TOTAL.load(Ordering::Relaxed)
}

/// One connection's unsent answers.
pub struct Outbox {
    state: Mutex<State>,
    /// `--send-timeout`, for [`Pace`].
    send_timeout: Duration,
}

#[derive(Default)]
struct State {
    queued: Vec<u8>,
    /// A flusher thread is sending `queued`; new answers go behind it.
    flushing: bool,
    /// The client did not take what was queued (timeout, reset, over a cap): later writes
    /// fail at once.
    failed: bool,
}

/// Why a write was refused.
fn stalled(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, why.to_string())
}

impl Outbox {
    pub fn new(send_timeout: Duration) -> Outbox {
        Outbox {
            state: Mutex::default(),
            send_timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A flusher thread is sending queued answers.
    pub fn flushing(&self) -> bool {
        self.lock().flushing
    }
}

/// Writes all of `data` to the connection's client without waiting for it: what the socket
/// does not take now is queued for a flusher thread. `Err` when an earlier answer could not
/// be delivered, or when queuing would pass a cap (the connection is then closed).
pub fn send(entry: &Arc<ConnEntry>, client: &ClientWriter, data: &[u8]) -> io::Result<()> {
    let mut state = entry.outbox.lock();
    if state.failed {
        return Err(stalled("an earlier answer was not delivered"));
    }
    let rest = if state.flushing {
        data
    } else {
        let sent = client.try_write(data)?;
        if sent == data.len() && !client.unsent() {
            return Ok(());
        }
        &data[sent..]
    };
    let per_connection = state.queued.len() + rest.len() > MAX_QUEUED_PER_CONNECTION;
    let total = QUEUED_TOTAL.fetch_add(rest.len(), Ordering::SeqCst) + rest.len();
    if per_connection || total > MAX_QUEUED_TOTAL {
        QUEUED_TOTAL.fetch_sub(rest.len(), Ordering::SeqCst);
        fail(&mut state);
        drop(state);
        METRICS.answer_dropped();
        log::warn!(
            "{}: closing the connection: its client is not reading its answers ({} bytes \
             unsent, cap {})",
            entry.peer,
            rest.len(),
            if per_connection {
                MAX_QUEUED_PER_CONNECTION
            } else {
                MAX_QUEUED_TOTAL
            }
        );
        entry.abort();
        return Err(stalled("the client is not reading its answers"));
    }
    state.queued.extend_from_slice(rest);
    if state.flushing {
        return Ok(());
    }
    state.flushing = true;
    // Counted in flight until the flusher is done, so nothing closes under it.
    entry.begin_flush();
    drop(state);
    METRICS.answer_queued();
    let (flusher_entry, flusher_client) = (Arc::clone(entry), client.clone());
    let spawned = thread::Builder::new()
        .name("mcp-flush".into())
        .stack_size(FLUSHER_STACK_BYTES)
        .spawn(move || flush(&flusher_entry, flusher_client));
    if let Err(e) = spawned {
        // No thread to spare: send it from here, as before there was a queue.
        log::warn!("{}: no flusher thread ({e}); the worker sends", entry.peer);
        flush(entry, client.clone());
    }
    Ok(())
}

/// Sends the queue as the client takes it until it is empty, then gives the connection
/// back to direct writes. One [`Pace`] for the whole stall, however often it is refilled.
fn flush(entry: &ConnEntry, client: ClientWriter) {
    let mut pace = Pace::new(Instant::now(), entry.outbox.send_timeout);
    loop {
        let chunk = std::mem::take(&mut entry.outbox.lock().queued);
        let result = send_paced(&client, &chunk, &mut pace);
        QUEUED_TOTAL.fetch_sub(chunk.len(), Ordering::SeqCst);
        let mut state = entry.outbox.lock();
        if let Err(e) = result {
            fail(&mut state);
            // Done here: the relay waits for this before it closes (`wait_flushed`).
            state.flushing = false;
            drop(state);
            METRICS.answer_dropped();
            log::info!("{}: queued answers not delivered: {e}", entry.peer);
            entry.abort();
            break;
        }
        if state.queued.is_empty() {
            state.flushing = false;
            break;
        }
    }
    entry.finish_request();
}

/// Writes all of `data` (and any TLS records left behind) as fast as the socket takes it,
/// waiting for room in between; `Err` once `pace` finds the client too slow.
fn send_paced(client: &ClientWriter, data: &[u8], pace: &mut Pace) -> io::Result<()> {
    let mut rest = data;
    loop {
        let taken = client.try_write(rest)?;
        rest = &rest[taken..];
        let now = Instant::now();
        pace.took(taken, now);
        if rest.is_empty() && !client.unsent() {
            return Ok(());
        }
        match pace.patience(now) {
            Some(wait) => {
                client.wait_writable(wait)?;
            }
            None => return Err(pace.verdict(now)),
        }
    }
}

/// How long a stalled client may keep the server waiting: no more than the send timeout
/// without taking a byte, and, after that grace, on average at least [`MIN_SEND_RATE`]
/// since it stalled. Pure arithmetic on instants, so tests need no clock.
struct Pace {
    stalled: Instant,
    last_progress: Instant,
    taken: u64,
    grace: Duration,
}

impl Pace {
    fn new(stalled: Instant, grace: Duration) -> Pace {
        Pace {
            stalled,
            last_progress: stalled,
            taken: 0,
            grace,
        }
    }

    /// The client took `bytes` at `now`.
    fn took(&mut self, bytes: usize, now: Instant) {
        if bytes > 0 {
            self.taken += bytes as u64;
            self.last_progress = now;
        }
    }

    /// How long to wait at `now` for the client to take its next byte; `None` when it has
    /// had its time.
    fn patience(&self, now: Instant) -> Option<Duration> {
        let earned = Duration::from_secs_f64(self.taken as f64 / MIN_SEND_RATE as f64);
        let by_rate = self.stalled + self.grace + earned;
        let by_silence = self.last_progress + self.grace;
        by_rate
            .min(by_silence)
            .checked_duration_since(now)
            .filter(|wait| !wait.is_zero())
    }

    /// Why the client was cut off.
    fn verdict(&self, now: Instant) -> io::Error {
        let elapsed = now.duration_since(self.stalled).as_secs_f64();
        let message = if now >= self.last_progress + self.grace {
            format!(
                "the client took nothing for {:.1} s (--send-timeout)",
                now.duration_since(self.last_progress).as_secs_f64()
            )
        } else {
            format!(
                "the client took {} bytes in {elapsed:.1} s, slower than the {} KiB/s minimum",
                self.taken,
                MIN_SEND_RATE / 1024
            )
        };
        io::Error::new(io::ErrorKind::TimedOut, message)
    }
}

/// Marks the outbox failed and forgets its bytes.
fn fail(state: &mut State) {
    QUEUED_TOTAL.fetch_sub(state.queued.len(), Ordering::SeqCst);
    state.queued = Vec::new();
    state.failed = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(30);

    #[test]
    fn a_client_that_takes_nothing_has_the_send_timeout() {
        let t0 = Instant::now();
        let pace = Pace::new(t0, GRACE);
        assert_eq!(pace.patience(t0), Some(GRACE));
        assert_eq!(
            pace.patience(t0 + Duration::from_secs(29)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(pace.patience(t0 + GRACE), None);
        let why = pace.verdict(t0 + GRACE).to_string();
        assert!(why.contains("took nothing for 30.0 s"), "{why}");
    }

    #[test]
    fn a_client_at_the_minimum_rate_is_never_cut_off() {
        let t0 = Instant::now();
        let mut pace = Pace::new(t0, GRACE);
        // Takes MIN_SEND_RATE every second for ten minutes, after waiting out the grace
        // less one second.
        for second in 29..629 {
            let now = t0 + Duration::from_secs(second);
            assert!(pace.patience(now).is_some(), "cut off at {second} s");
            pace.took(MIN_SEND_RATE as usize, now);
        }
    }

    #[test]
    fn a_trickling_client_is_cut_off_once_it_falls_behind_the_rate() {
        let t0 = Instant::now();
        let mut pace = Pace::new(t0, GRACE);
        // One byte every 20 s: never silent for the whole grace, far below the rate.
        let mut now = t0;
        let mut cut_at = None;
        for _ in 0..100 {
            now += Duration::from_secs(20);
            if pace.patience(now).is_none() {
                cut_at = Some(now.duration_since(t0));
                break;
            }
            pace.took(1, now);
        }
        // Owed by 30 s plus what its few bytes earned (microseconds).
        assert_eq!(cut_at, Some(Duration::from_secs(40)));
        let why = pace.verdict(now).to_string();
        assert!(why.contains("slower than the 32 KiB/s minimum"), "{why}");
    }

    #[test]
    fn a_fast_start_buys_time_but_not_more_than_the_send_timeout_of_silence() {
        let t0 = Instant::now();
        let mut pace = Pace::new(t0, GRACE);
        // 64 MiB at once earns 2048 s at the minimum rate, but silence still ends at 30 s.
        pace.took(64 << 20, t0 + Duration::from_secs(1));
        assert!(pace.patience(t0 + Duration::from_secs(30)).is_some());
        assert_eq!(pace.patience(t0 + Duration::from_secs(31)), None);
    }
}
