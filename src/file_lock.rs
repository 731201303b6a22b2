//! An exclusive advisory lock (`flock(2)`) on an open file, waited for with a bound and
//! released when the guard drops. Only [`crate::workspace::Workspace::lock`] uses it, after
//! opening the file inside the sandbox.
//!
//! `flock` locks belong to the open file description, so two threads of one process that
//! each open the file exclude each other exactly as two processes do; closing the file
//! releases the lock, and so does the kernel when a holder dies (no stale locks after a
//! crash or SIGKILL). The lock is advisory: it holds off only code that takes it too.
//!
//! Where it works: local file systems (ext4, xfs, btrfs, tmpfs, APFS) and a volume shared
//! by containers on one host. Over NFS, Linux emulates `flock` with byte-range locks that
//! depend on the server's lock manager (and `nolock` mounts keep them local to each client),
//! and some network file systems ignore it, so instances on different hosts sharing such a
//! volume are not reliably serialized.
//!
//! `flock` itself cannot time out; the wait is non-blocking attempts with short pauses
//! until a deadline, so a stuck holder becomes an error instead of a hung request.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

/// The first pause between attempts; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause between attempts: short next to a lock wait, long next to a
/// non-blocking `flock` call.
const MAX_PAUSE: Duration = Duration::from_millis(10);

/// A held exclusive lock; dropping it closes the file, which releases the lock.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

/// Takes an exclusive lock on `file`, trying until `wait` has passed. `Ok(None)` when
/// another holder kept it all that time; `Err` when the file cannot be locked at all.
pub fn lock_exclusive(file: File, wait: Duration) -> io::Result<Option<FileLock>> {
    let deadline = Instant::now() + wait;
    let mut pause = FIRST_PAUSE;
    loop {
        // SAFETY: flock(2) on a descriptor `file` owns and keeps open during the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(FileLock { _file: file }));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => {}
            _ => return Err(e),
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(tag: &str) -> (std::path::PathBuf, File) {
        let path = std::env::temp_dir().join(format!("mcp-flock-{tag}-{}", std::process::id()));
        let file = File::create(&path).expect("create lock file");
        (path, file)
    }

    #[test]
    fn a_second_opening_waits_and_gets_it_after_release() {
        let (path, file) = temp_file("release");
        let held = lock_exclusive(file, Duration::ZERO)
            .expect("lockable")
            .expect("free");
        let other = File::open(&path).expect("open again");
        assert!(
            lock_exclusive(other, Duration::from_millis(30))
                .expect("lockable")
                .is_none(),
            "a separate open file description is excluded, even in the same thread"
        );
        drop(held);
        let again = File::open(&path).expect("open again");
        assert!(lock_exclusive(again, Duration::ZERO)
            .expect("lockable")
            .is_some());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_held_lock_is_released_to_a_waiting_thread() {
        let (path, file) = temp_file("thread");
        let held = lock_exclusive(file, Duration::ZERO)
            .expect("lockable")
            .expect("free");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let file = File::open(&path).expect("open");
                ready_tx.send(()).expect("main thread waits");
                lock_exclusive(file, Duration::from_secs(20)).expect("lockable")
            });
            ready_rx.recv().expect("waiter started");
            drop(held);
            assert!(waiter.join().expect("no panic").is_some());
        });
        let _ = std::fs::remove_file(&path);
    }
}
