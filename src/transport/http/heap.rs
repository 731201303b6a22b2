//! Gives freed heap memory back to the operating system on a timer.
//!
//! Why: glibc's allocator keeps pages freed inside its per-thread arenas (it returns only
//! the top of each heap), so a server whose connections come and go (threads that start,
//! allocate and exit, as slow clients cut off with 408 do) holds memory that is free.
//! `malloc_trim(0)` releases free pages of every arena; it takes each arena's lock
//! briefly, so it runs from the otherwise idle main thread every [`TRIM_INTERVAL`]. In the
//! 10-minute soak it lowers RSS by about 18 % (16.3 vs 19.9 MiB after a minute); the slow
//! creep that fragmentation adds stays (+9.6 %, BENCHMARKS.md "Soak and faults"). musl's
//! allocator returns memory by itself and has no such call.

use std::time::Duration;

/// How often freed heap is handed back.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Releases free heap pages to the OS; returns whether any were released.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() -> bool {
    // SAFETY: malloc_trim only walks the allocator's own arenas under their locks.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Nothing to do: this allocator gives memory back by itself.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 MiB freed below a block still in use cannot leave with the top of the heap; only
    /// a trim gives those pages back.
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn freed_pages_below_a_live_block_are_released() {
        let pin = std::thread::spawn(|| {
            let blocks: Vec<Vec<u8>> = (0..32 * 1024).map(|i| vec![i as u8; 1024]).collect();
            let pin = vec![1u8; 1024];
            drop(blocks);
            pin
        })
        .join()
        .expect("allocating thread");
        assert!(trim(), "free pages were released");
        assert_eq!(pin[1023], 1);
    }
}
