//! A pool of named worker threads fed by a bounded crossbeam channel, started small and
//! grown on demand up to a cap.
//!
//! [`Pool::try_submit`] never blocks: when the queue is full the job comes back and the
//! caller answers 503 with `Retry-After`, so load never turns into unbounded memory.
//! Why it grows instead of starting every worker: each thread costs ~70 µs of start-up and
//! ~20 KiB of touched memory, and most servers (an editor's, a CI job's) never have more
//! requests in flight than cores. A job queued while no worker waits for one starts
//! another worker, until `max`; workers then stay until the pool stops (a thread that
//! exits leaves its stack and arena to the allocator, which does not shrink RSS either).
//! Each job runs under `catch_unwind`; a panic costs that one job (a request dropped
//! unanswered gets a 500, request.rs). Dropping the sender ends `for job in rx`
//! in every worker, and [`Pool::join`] waits for them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// Queued jobs allowed per worker before the pool answers 503.
pub const QUEUE_PER_WORKER: usize = 32;

/// How many workers a pool starts with and may grow to.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub initial: usize,
    pub max: usize,
}

impl Size {
    /// `max` workers, of which as many as the machine has cores start at once (at least one).
    pub fn up_to(max: usize) -> Size {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        Size {
            initial: cores.clamp(1, max.max(1)),
            max: max.max(1),
        }
    }
}

/// The worker pool over jobs of type `J`.
pub struct Pool<J: Send + 'static> {
    sender: Option<Sender<J>>,
    workers: Arc<Workers<J>>,
}

/// What starting another worker needs, shared by the pool and its workers.
struct Workers<J> {
    name: String,
    /// `--workers`, or fewer once the system refused a thread.
    max: AtomicUsize,
    receiver: Receiver<J>,
    run: Box<dyn Fn(J) + Send + Sync>,
    /// Workers started so far (read by the metrics through [`Pool::start`]'s counter).
    started: Arc<AtomicUsize>,
    /// Workers waiting for a job right now.
    idle: AtomicUsize,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl<J: Send + 'static> Pool<J> {
    /// Starts `size.initial` threads named `{name}-{i}` running `run` on each job; more
    /// start as load needs them, up to `size.max`. `started` counts them (for metrics).
    pub fn start<F>(
        name: &str,
        size: Size,
        queue: usize,
        started: Arc<AtomicUsize>,
        run: F,
    ) -> std::io::Result<Pool<J>>
    where
        F: Fn(J) + Send + Sync + 'static,
    {
        let (sender, receiver) = bounded::<J>(queue);
        let workers = Arc::new(Workers {
            name: name.to_owned(),
            max: AtomicUsize::new(size.max.max(1)),
            receiver,
            run: Box::new(run),
            started,
            idle: AtomicUsize::new(0),
            handles: Mutex::new(Vec::with_capacity(size.max)),
        });
        for _ in 0..size.initial.clamp(1, size.max.max(1)) {
            Workers::spawn(&workers)?;
        }
        Ok(Pool {
            sender: Some(sender),
            workers,
        })
    }

    /// Queues a job; `Err(job)` when the queue is full (or the pool is stopping). Starts
    /// another worker when none is waiting for this job.
    pub fn try_submit(&self, job: J) -> Result<(), J> {
        let Some(sender) = &self.sender else {
            return Err(job);
        };
        sender.try_send(job).map_err(|e| match e {
            TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
        })?;
        // More jobs waiting than workers waiting for them: start one more.
        let workers = &self.workers;
        if workers.started.load(Ordering::SeqCst) < workers.max.load(Ordering::SeqCst)
            && sender.len() > workers.idle.load(Ordering::SeqCst)
        {
            Workers::grow(workers);
        }
        Ok(())
    }

    /// Stops taking jobs, lets queued ones run, and joins every worker.
    pub fn join(mut self) {
        self.sender = None;
        let handles = std::mem::take(
            &mut *self
                .workers
                .handles
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for worker in handles {
            let _ = worker.join();
        }
    }
}

impl<J: Send + 'static> Workers<J> {
    /// Starts one more worker unless `max` have started. When the system refuses a thread
    /// (its thread or memory limit), the pool stays at the workers it has, and says so once:
    /// queued jobs still run, on those.
    fn grow(workers: &Arc<Workers<J>>) {
        if let Err(e) = Workers::spawn(workers) {
            let running = workers.started.load(Ordering::SeqCst);
            workers.max.store(running, Ordering::SeqCst);
            log::warn!("could not start another request worker ({e}); staying at {running}");
        }
    }

    fn spawn(workers: &Arc<Workers<J>>) -> std::io::Result<()> {
        let mut handles = workers
            .handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let i = workers.started.load(Ordering::SeqCst);
        if i >= workers.max.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Counted idle before it runs, so jobs submitted meanwhile do not start more.
        workers.idle.fetch_add(1, Ordering::SeqCst);
        let own = Arc::clone(workers);
        let spawned = thread::Builder::new()
            .name(format!("{}-{i}", workers.name))
            .spawn(move || own.work());
        match spawned {
            Ok(handle) => {
                handles.push(handle);
                workers.started.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => {
                workers.idle.fetch_sub(1, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// One worker's loop: until the pool's sender is dropped and the queue is empty.
    fn work(&self) {
        while let Ok(job) = self.receiver.recv() {
            self.idle.fetch_sub(1, Ordering::SeqCst);
            if catch_unwind(AssertUnwindSafe(|| (self.run)(job))).is_err() {
                log::error!("a request handler panicked; the worker goes on");
            }
            self.idle.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::Receiver;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    fn one() -> Size {
        Size { initial: 1, max: 1 }
    }

    fn fresh_counter() -> Arc<AtomicUsize> {
        Arc::new(AtomicUsize::new(0))
    }

    /// A pool whose jobs report that they started, then wait for `release` to close.
    fn blocking_pool(size: Size) -> (Pool<u32>, Receiver<u32>, Sender<()>, Arc<AtomicUsize>) {
        let (started_tx, started_rx) = crossbeam_channel::unbounded::<u32>();
        let (release_tx, release_rx) = bounded::<()>(0);
        let started = fresh_counter();
        let pool = Pool::start(
            "test-grow",
            size,
            16,
            Arc::clone(&started),
            move |job: u32| {
                let _ = started_tx.send(job);
                let _ = release_rx.recv();
            },
        )
        .expect("pool");
        (pool, started_rx, release_tx, started)
    }

    #[test]
    fn starts_small_and_grows_while_every_worker_is_busy() {
        let (pool, started_rx, release, started) = blocking_pool(Size { initial: 1, max: 3 });
        assert_eq!(started.load(Ordering::SeqCst), 1, "one worker at start");
        for job in 0..3 {
            pool.try_submit(job).expect("queued");
        }
        // All three run at once: each needs a worker of its own.
        let mut running: Vec<u32> = (0..3)
            .map(|_| {
                started_rx
                    .recv_timeout(Duration::from_secs(10))
                    .expect("job started")
            })
            .collect();
        running.sort_unstable();
        assert_eq!(running, [0, 1, 2]);
        assert_eq!(started.load(Ordering::SeqCst), 3);
        drop(release);
        pool.join();
    }

    #[test]
    fn never_grows_past_its_cap_and_queues_the_rest() {
        let (pool, started_rx, release, started) = blocking_pool(Size { initial: 1, max: 2 });
        for job in 0..5 {
            pool.try_submit(job).expect("queued");
        }
        for _ in 0..2 {
            started_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("job started");
        }
        assert_eq!(started.load(Ordering::SeqCst), 2, "capped at two workers");
        assert!(
            started_rx.recv_timeout(Duration::from_millis(100)).is_err(),
            "a third job ran while two workers were busy"
        );
        drop(release); // the queued jobs run on the two workers
        pool.join();
        assert_eq!(started_rx.try_iter().count(), 3, "every queued job ran");
        assert_eq!(started.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_idle_worker_takes_the_next_job_without_a_new_thread() {
        let started = fresh_counter();
        let (done_tx, done_rx) = bounded::<u32>(8);
        let pool = Pool::start(
            "test-idle",
            Size { initial: 1, max: 4 },
            8,
            Arc::clone(&started),
            move |job: u32| {
                let _ = done_tx.send(job);
            },
        )
        .expect("pool");
        for job in 0..5 {
            pool.try_submit(job).expect("queued");
            assert_eq!(done_rx.recv_timeout(Duration::from_secs(10)), Ok(job));
            // The worker counts itself idle again just after its job returns.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while pool.workers.idle.load(Ordering::SeqCst) == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "worker never idle again"
                );
                thread::yield_now();
            }
        }
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "a waiting worker took every job"
        );
        pool.join();
    }

    #[test]
    fn full_queue_hands_the_job_back() {
        let (started_tx, started_rx) = bounded::<()>(1);
        let (release_tx, release_rx) = bounded::<()>(0);
        let release_rx = Mutex::new(release_rx);
        let pool = Pool::start(
            "test-worker",
            one(),
            1,
            fresh_counter(),
            move |_job: u32| {
                let _ = started_tx.send(());
                let rx: &Receiver<()> = &release_rx.lock().expect("lock");
                let _ = rx.recv();
            },
        )
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
        let pool = Pool::start("test-panic", one(), 4, fresh_counter(), move |job: u32| {
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
