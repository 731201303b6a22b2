//! The server under test and its surroundings: spawning the real binary on a free
//! loopback port, reading the address it logs, its `VmRSS`, signals sent by the PID this
//! program spawned (never by name), waiting for its exit with a deadline, and temporary
//! workspaces that remove themselves.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};

use crate::launch;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long the server may take to log its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Warning and error lines kept from the server's log, for the report.
const KEPT_LOG_LINES: usize = 20;

/// A running server this program spawned.
pub struct Server {
    child: Child,
    pub addr: String,
    log: Arc<Mutex<Vec<String>>>,
    log_reader: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts `launch::http_command` with `extra` flags.
    pub fn start(workspace: &Path, extra: &[&str]) -> Server {
        let mut child = launch::http_command(workspace)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the server binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let kept = Arc::clone(&log);
        // Drains stderr until the server exits (a full pipe would stall its logging);
        // joined in `wait_exit`.
        let log_reader = thread::Builder::new()
            .name("soak-server-log".into())
            .spawn(move || read_log(stderr, &tx, &kept))
            .expect("log reader thread");
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not log its address within {START_TIMEOUT:?}");
            }
        };
        Server {
            child,
            addr,
            log,
            log_reader: Some(log_reader),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in KiB, from `/proc/PID/status`; `None` once it has exited.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
    }

    /// Sends SIGTERM to the spawned PID.
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends SIGKILL to the spawned PID.
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits pid_t");
        // SAFETY: kill(2) on the PID of our own child, which is not reaped before
        // `wait_exit`, so the PID cannot have been reused by another process.
        unsafe {
            libc::kill(pid, sig);
        }
    }

    /// Waits for the exit; past `timeout` the server is killed and `None` returned.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if std::time::Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
        status
    }

    /// Warning and error lines the server logged (after the address line).
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.log_reader.is_some() {
            self.kill();
            let _ = self.wait_exit(Duration::from_secs(5));
        }
    }
}

fn read_log(stderr: impl std::io::Read, tx: &mpsc::Sender<String>, kept: &Mutex<Vec<String>>) {
    let mut sent = false;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if !sent {
            if let Some(addr) = launch::address_in(&line) {
                let _ = tx.send(addr);
                sent = true;
                continue;
            }
        }
        if let Ok(mut kept) = kept.lock() {
            if kept.len() < KEPT_LOG_LINES {
                kept.push(line);
            }
        }
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("mcp-soak-{label}-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp workspace");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `content` at `rel`, creating parents.
    pub fn write(&self, rel: &str, content: &str) {
        let path = self.0.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(path, content).expect("write fixture");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
