//! Answers to a client that is not reading: queued and sent by a thread of their own, so
//! no worker ever waits on a client.
//!
//! Why: a worker writes its answer straight to the client's socket (request.rs). When the
//! client stops reading, a blocking write would hold that worker until `SEND_TIMEOUT`
//! without progress, and the workers of the connection's later pipelined answers wait
//! behind it for their turn: one connection that pipelined 32 large `read_file` calls and
//! read nothing held every worker, and the whole server answered nothing (even `/health`)
//! for over 40 s. Now a write is tried without waiting; whatever the socket does not take
//! at once is queued on the connection and a flusher thread (one per stalled connection,
//! only while it is stalled) sends it with the usual blocking writes and timeouts. Answers
//! that come while it is queued are queued behind it, so order is kept. The queue counts
//! as a request in flight, so the relay's idle timeout, `Connection: close`, parking and
//! the drain all wait for it.
//!
//! Memory is bounded: a connection may hold [`MAX_QUEUED_PER_CONNECTION`] unsent bytes
//! and all connections together [`MAX_QUEUED_TOTAL`]; past either the connection is
//! closed (its client was not reading what it asked for) instead of waiting.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;

use super::front::{ClientWriter, ConnEntry};
use super::metrics::METRICS;

/// Unsent bytes one connection may hold: the largest answer (a `read_file` of the default
/// `--max-file-bytes`, 10 MiB, is ~10.5 MiB of JSON) with room for small ones behind it.
pub const MAX_QUEUED_PER_CONNECTION: usize = 16 * 1024 * 1024;
/// Unsent bytes all connections together may hold.
pub const MAX_QUEUED_TOTAL: usize = 128 * 1024 * 1024;
/// Stack of a flusher thread: it only copies bytes.
const FLUSHER_STACK_BYTES: usize = 64 * 1024;

/// Unsent bytes of every connection (for [`MAX_QUEUED_TOTAL`] and the metrics).
static QUEUED_TOTAL: AtomicUsize = AtomicUsize::new(0);

/// Bytes queued across all connections right now.
pub fn queued_total() -> usize {
    QUEUED_TOTAL.load(Ordering::Relaxed)
}

/// One connection's unsent answers.
#[derive(Default)]
pub struct Outbox {
    state: Mutex<State>,
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
        entry.force_close();
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

/// Sends the queue with blocking writes (the socket's send timeout applies) until it is
/// empty, then gives the connection back to direct writes.
fn flush(entry: &ConnEntry, mut client: ClientWriter) {
    loop {
        let chunk = std::mem::take(&mut entry.outbox.lock().queued);
        let result = client.write_all(&chunk).and_then(|()| client.flush());
        QUEUED_TOTAL.fetch_sub(chunk.len(), Ordering::SeqCst);
        let mut state = entry.outbox.lock();
        if let Err(e) = result {
            fail(&mut state);
            // Done here: the relay waits for this before it closes (`wait_flushed`).
            state.flushing = false;
            drop(state);
            METRICS.answer_dropped();
            log::info!("{}: queued answers not delivered: {e}", entry.peer);
            entry.force_close();
            break;
        }
        if state.queued.is_empty() {
            state.flushing = false;
            break;
        }
    }
    entry.finish_request();
}

/// Marks the outbox failed and forgets its bytes.
fn fail(state: &mut State) {
    QUEUED_TOTAL.fetch_sub(state.queued.len(), Ordering::SeqCst);
    state.queued = Vec::new();
    state.failed = true;
}
