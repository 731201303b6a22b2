//! A fixed pool of named worker threads fed by a bounded crossbeam channel.
//!
//! [`Pool::try_submit`] never blocks: when the queue is full the job comes back and the
//! caller answers 503 with `Retry-After`, so load never turns into unbounded memory.
//! Each job runs under `catch_unwind`; a panic costs that one job (a request dropped
//! unanswered gets a 500, request.rs). Dropping the sender ends `for job in rx`
//! in every worker, and [`Pool::join`] waits for them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{bounded, Sender, TrySendError};

/// Queued jobs allowed per worker before the pool answers 503.
pub const QUEUE_PER_WORKER: usize = 32;

/// The worker pool over jobs of type `J`.
pub struct Pool<J: Send + 'static> {
    sender: Option<Sender<J>>,
    workers: Vec<JoinHandle<()>>,
}

impl<J: Send + 'static> Pool<J> {
    /// Starts `workers` threads named `{name}-{i}` running `run` on each job.
    pub fn start<F>(name: &str, workers: usize, queue: usize, run: F) -> std::io::Result<Pool<J>>
    where
        F: Fn(J) + Send + Sync + 'static,
    {
        let (sender, receiver) = bounded::<J>(queue);
        let run = Arc::new(run);
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let receiver = receiver.clone();
            let run = Arc::clone(&run);
            let handle = thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    for job in receiver {
                        if catch_unwind(AssertUnwindSafe(|| run(job))).is_err() {
                            log::error!("a request handler panicked; the worker goes on");
                        }
                    }
                })?;
            handles.push(handle);
        }
        Ok(Pool {
            sender: Some(sender),
            workers: handles,
        })
    }

    /// Queues a job; `Err(job)` when the queue is full (or the pool is stopping).
    pub fn try_submit(&self, job: J) -> Result<(), J> {
        match &self.sender {
            Some(sender) => sender.try_send(job).map_err(|e| match e {
                TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
            }),
            None => Err(job),
        }
    }

    /// Stops taking jobs, lets queued ones run, and joins every worker.
    pub fn join(mut self) {
        self.sender = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::Receiver;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    #[test]
    fn full_queue_hands_the_job_back() {
        let (started_tx, started_rx) = bounded::<()>(1);
        let (release_tx, release_rx) = bounded::<()>(0);
        let release_rx = Mutex::new(release_rx);
        let pool = Pool::start("test-worker", 1, 1, move |_job: u32| {
            let _ = started_tx.send(());
            let rx: &Receiver<()> = &release_rx.lock().expect("lock");
            let _ = rx.recv();
        })
        .expect("pool");
        pool.try_submit(1).expect("first job runs");
        started_rx.recv().expect("worker busy");
        pool.try_submit(2).expect("second job queues");
        assert_eq!(pool.try_submit(3), Err(3), "queue of one is full");
        drop(release_tx); // unblocks both jobs
        pool.join();
    }

    #[test]
    fn a_panicking_job_does_not_kill_the_worker() {
        let done = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&done);
        let pool = Pool::start("test-panic", 1, 4, move |job: u32| {
            assert!(job != 0, "job zero panics");
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .expect("pool");
        for job in [0, 1, 2] {
            pool.try_submit(job).expect("queued");
        }
        pool.join();
        assert_eq!(done.load(Ordering::SeqCst), 2);
    }
}
