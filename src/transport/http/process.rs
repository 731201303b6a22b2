//! Process metrics for `/metrics`, read from `/proc` at scrape time (Linux): resident and
//! virtual memory, CPU time, threads and start time from `/proc/self/stat`, open
//! descriptors from `/proc/self/fd`, the boot time from `/proc/stat`. Names and units
//! follow the Prometheus client libraries' process collector, so stock dashboards work.

use std::fmt::Write as _;
use std::fs;

use super::metrics::family;

/// One reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub start_time_seconds: f64,
    pub cpu_seconds: f64,
    pub threads: u64,
}

/// Reads the current process's numbers; `None` where `/proc` is missing or unreadable.
pub fn read() -> Option<Stats> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let boot = boot_time(&fs::read_to_string("/proc/stat").ok()?)?;
    // SAFETY: sysconf only reads system configuration values.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let mut stats = parse_stat(
        &stat,
        u64::try_from(ticks).ok()?,
        u64::try_from(page).ok()?,
        boot,
    )?;
    stats.open_fds = fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    stats.max_fds = soft_fd_limit();
    Some(stats)
}

/// The process families in the exposition format.
pub fn render(out: &mut String, p: &Stats) {
    let rows: [(&str, &str, &str, String); 6] = [
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes.to_string(),
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            p.virtual_bytes.to_string(),
        ),
        (
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            p.open_fds.to_string(),
        ),
        (
            "process_max_fds",
            "gauge",
            "The soft limit on open file descriptors.",
            p.max_fds.to_string(),
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            format!("{:.2}", p.start_time_seconds),
        ),
        (
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            format!("{:.2}", p.cpu_seconds),
        ),
    ];
    for (name, kind, help, value) in rows {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    family(
        out,
        "process_threads",
        "gauge",
        "OS threads in the process.",
    );
    let _ = writeln!(out, "process_threads {}", p.threads);
}

/// Parses `/proc/self/stat` (proc(5)): fields after the `(comm)`, which may itself hold
/// spaces and parentheses, so the split is at the last `)`.
fn parse_stat(stat: &str, ticks_per_second: u64, page_bytes: u64, boot: u64) -> Option<Stats> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // after_comm starts at field 3 (state): field N is fields[N - 3].
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    let ticks = ticks_per_second.max(1) as f64;
    let cpu = (field(14)? + field(15)?) as f64 / ticks;
    let start = boot as f64 + field(22)? as f64 / ticks;
    Some(Stats {
        resident_bytes: field(24)?.saturating_mul(page_bytes),
        virtual_bytes: field(23)?,
        open_fds: 0,
        max_fds: 0,
        start_time_seconds: start,
        cpu_seconds: cpu,
        threads: field(20)?,
    })
}

/// `btime` of `/proc/stat`: boot time in seconds since the epoch.
fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn soft_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every platform
    let soft = limit.rlim_cur as u64;
    soft
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat() {
        // A comm with a space and a parenthesis, as proc(5) allows.
        let stat = "4242 (mcp (x) y) S 1 4242 4242 0 -1 4194560 600 0 0 0 150 50 0 0 20 0 \
                    7 0 1000 123456789 500 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1";
        let s = parse_stat(stat, 100, 4096, 1_700_000_000).expect("parsed");
        assert_eq!(s.resident_bytes, 500 * 4096);
        assert_eq!(s.virtual_bytes, 123_456_789);
        assert_eq!(s.threads, 7);
        assert!((s.cpu_seconds - 2.0).abs() < 1e-9);
        assert!((s.start_time_seconds - 1_700_000_010.0).abs() < 1e-6);
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn reads_this_process() {
        let s = read().expect("/proc is there on Linux");
        assert!(s.resident_bytes > 0 && s.open_fds >= 3 && s.max_fds >= s.open_fds);
        assert!(s.threads >= 1 && s.start_time_seconds > 1.0e9);
    }
}
