//! The dashboard's file watcher and its SSE streams (`GET /ui/events`).
//!
//! One named thread polls the workspace's spec folders every [`POLL_INTERVAL`]: it stats
//! every file under `specs/` and `.kiro/specs/` (path, size, modification time in
//! nanoseconds) and folds them into one fingerprint; when the fingerprint changes it
//! bumps a [`ChangeFeed`] generation. Polling needs no new dependency and sees edits made
//! by any means (an editor, `git checkout`, another server process). It starts with the
//! first dashboard request, so a server nobody opens the dashboard on never polls, and it
//! stops when its stop channel's sender is dropped at shutdown.
//!
//! Each open page holds one stream: it counts against `--max-streams`, runs on the capped
//! stream thread set, sends `{"generation": N}` as a `message` event per change (the page
//! then re-fetches its fragment), and a keep-alive comment when quiet.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, UNIX_EPOCH};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

use super::sse::{SseWriter, Streams, KEEPALIVE_INTERVAL, STREAM_TICK};
use crate::mcp::changes::ChangeFeed;

/// How often the watcher stats the spec files.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Files the watcher looks at, at most (a guard against a runaway tree under `specs/`).
pub const MAX_WATCHED_FILES: usize = 10_000;
/// Folder depth below each watched root.
const MAX_DEPTH: usize = 4;
/// Folders watched, relative to the workspace root.
const WATCHED: [&str; 2] = ["specs", ".kiro/specs"];

/// The polling watcher: a change generation plus the thread that advances it.
pub struct Watcher {
    root: PathBuf,
    feed: Arc<ChangeFeed>,
    running: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl Watcher {
    pub fn new(root: &Path) -> Watcher {
        Watcher {
            root: root.to_path_buf(),
            feed: Arc::new(ChangeFeed::default()),
            running: Mutex::new(None),
        }
    }

    /// Starts the polling thread unless it runs already.
    pub fn ensure_started(&self) -> io::Result<()> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.is_some() {
            return Ok(());
        }
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let root = self.root.clone();
        let feed = Arc::clone(&self.feed);
        // The baseline is taken before this returns, so any change made after a page's
        // stream opened is seen (taken on the new thread, it could race with that change).
        let mut last = fingerprint(&root);
        let handle = thread::Builder::new()
            .name("ui-watcher".into())
            .spawn(move || {
                // Ends when the sender is dropped (Disconnected), never on a message.
                while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(POLL_INTERVAL) {
                    let now = fingerprint(&root);
                    if now != last {
                        last = now;
                        feed.publish();
                    }
                }
            })?;
        *running = Some((stop_tx, handle));
        Ok(())
    }

    /// Announces a change the server made itself (a decision recorded from the page), so
    /// open pages refresh without waiting for the next poll.
    pub fn bump(&self) {
        self.feed.publish();
    }

    /// Stops and joins the polling thread (shutdown).
    pub fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((stop_tx, handle)) = running {
            drop(stop_tx);
            let _ = handle.join();
        }
    }

    /// Serves one page's event stream until the client leaves or the server stops.
    pub fn serve_stream(&self, streams: &Streams, mut out: SseWriter) -> io::Result<()> {
        let mut seen = self.feed.generation();
        let mut last_write = Instant::now();
        loop {
            if streams.stopping() {
                return out.finish();
            }
            let generation = self.feed.wait_past(seen, STREAM_TICK);
            if generation > seen {
                seen = generation;
                out.event(&serde_json::json!({ "generation": generation }))?;
                last_write = Instant::now();
            }
            if last_write.elapsed() >= KEEPALIVE_INTERVAL {
                out.comment("keep-alive")?;
                last_write = Instant::now();
            }
        }
    }
}

/// A hash of (path, size, mtime) of every file under the watched folders.
fn fingerprint(root: &Path) -> u64 {
    let mut hasher = DefaultHasher::new();
    let mut seen = 0usize;
    for dir in WATCHED {
        walk(&root.join(dir), MAX_DEPTH, &mut hasher, &mut seen);
    }
    hasher.finish()
}

fn walk(dir: &Path, depth: usize, hasher: &mut DefaultHasher, seen: &mut usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if *seen >= MAX_WATCHED_FILES {
            return;
        }
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let path = entry.path();
        if meta.is_dir() {
            if depth > 0 {
                walk(&path, depth - 1, hasher, seen);
            }
            continue;
        }
        *seen += 1;
        path.hash(hasher);
        meta.len().hash(hasher);
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        modified.hash(hasher);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_files() {
        let root = std::env::temp_dir().join(format!("ui-watch-{}", std::process::id()));
        let specs = root.join("specs/a");
        std::fs::create_dir_all(&specs).expect("mkdir");
        let empty = fingerprint(&root);
        std::fs::write(specs.join("requirements.md"), "one").expect("write");
        let one = fingerprint(&root);
        assert_ne!(empty, one);
        assert_eq!(one, fingerprint(&root), "stable without changes");
        std::fs::write(specs.join("requirements.md"), "one more").expect("write");
        assert_ne!(one, fingerprint(&root), "a size change is seen");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn watcher_stops_promptly() {
        let watcher = Watcher::new(&std::env::temp_dir());
        watcher.ensure_started().expect("start");
        watcher.ensure_started().expect("idempotent");
        watcher.bump();
        assert_eq!(watcher.feed.generation(), 1);
        watcher.stop();
    }
}
