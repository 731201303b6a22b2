//! Change notification: a generation counter that tools bump when the resource list
//! changes (a spec was created), and that sessions compare with what they last announced.
//!
//! Stdio sessions catch up after each message they handle; long-lived HTTP streams block
//! in [`ChangeFeed::wait_past`] and then catch up the same way, so one mechanism serves
//! both transports without a thread per subscriber.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// A monotonically increasing generation of the resource list.
#[derive(Debug, Default)]
pub struct ChangeFeed {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl ChangeFeed {
    /// Records a change and wakes every waiter.
    pub fn publish(&self) {
        let mut g = self
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *g += 1;
        self.changed.notify_all();
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        *self
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks until the generation passes `seen` or `timeout` elapses; the generation then.
    pub fn wait_past(&self, seen: u64, timeout: Duration) -> u64 {
        let guard = self
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |g| *g <= seen)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn waiters_wake_on_publish_and_time_out_otherwise() {
        let feed = Arc::new(ChangeFeed::default());
        assert_eq!(feed.wait_past(0, Duration::from_millis(10)), 0);
        let publisher = Arc::clone(&feed);
        let handle = std::thread::spawn(move || publisher.publish());
        assert_eq!(feed.wait_past(0, Duration::from_secs(10)), 1);
        handle.join().expect("publisher");
        assert_eq!(feed.generation(), 1);
    }
}
