//! `kill`: SIGKILL the server in the middle of a storm of `create_file` calls, then check
//! that every file in the workspace holds its old content or one of the new contents
//! written to it, byte for byte, never a mix or a truncation.
//!
//! Every content is derived from (file name, version): a header line naming both and the
//! length, then pseudo-random text seeded by them, so any partial or spliced file fails the
//! comparison. Version 0 is the "old" content written before the server starts; a few
//! files do not exist before the storm, and may be absent afterwards. A write the server
//! acknowledged must not be lost (the file is not left old or absent). Temporary files of
//! interrupted writes (`.mcp-write-*.tmp`) are counted and reported, not judged.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::server::{Server, TempDir};
use crate::{verdict, wire, Rng};

pub const ROUNDS: usize = 5;
const WRITERS: usize = 16;
const OLD_FILES: usize = 24;
const NEW_FILES: usize = 8;
const MIN_BYTES: u64 = 64 * 1024;
const MAX_BYTES: u64 = 1024 * 1024;
/// Acknowledged writes to wait for before the random part of the kill delay starts.
const ACKS_BEFORE_KILL: u64 = 8;
/// Upper bound of the random extra delay before SIGKILL.
const MAX_EXTRA_DELAY_MS: u64 = 2000;
/// Bound on one round's storm, whatever happens.
const STORM_LIMIT: Duration = Duration::from_secs(60);
const TEMP_PREFIX: &str = ".mcp-write-";

/// Runs `rounds` rounds; `true` when no file is ever partial, foreign or lost.
pub fn run(rounds: usize, rng: &mut Rng) -> bool {
    checker_detects_damage();
    println!("| round | kill after ms | writes sent | acked | failed before kill | files old | files new | absent (never created) | bad | leftover temp files |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut pass = true;
    for round in 1..=rounds {
        let extra = Duration::from_millis(rng.below(MAX_EXTRA_DELAY_MS + 1));
        let r = round_once(extra);
        println!(
            "| {round} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.killed_after.as_millis(),
            r.sent,
            r.acked,
            r.failed,
            r.old,
            r.new,
            r.absent,
            r.bad.len(),
            r.temps
        );
        for b in &r.bad {
            println!("bad file in round {round}: {b}");
        }
        pass &= r.bad.is_empty() && r.acked > 0 && r.failed == 0;
    }
    println!();
    verdict(
        pass,
        "after SIGKILL every file is its old or a new content, no acknowledged write lost, \
         no write failed before the kill",
    )
}

/// The checker itself must reject a truncated file and a splice of two versions.
fn checker_detects_damage() {
    let name = "data/old-00.txt";
    let (old, new) = (content(name, 0), content(name, 7));
    let sent = BTreeSet::from([7]);
    assert_eq!(judge(name, true, old.as_bytes(), &sent), Ok(0));
    assert_eq!(judge(name, true, new.as_bytes(), &sent), Ok(7));
    let truncated = &new.as_bytes()[..new.len() - 1];
    assert!(
        judge(name, true, truncated, &sent).is_err(),
        "truncation undetected"
    );
    let cut = old.len().min(new.len()) / 2;
    let spliced = [&new.as_bytes()[..cut], &old.as_bytes()[cut..]].concat();
    assert!(
        judge(name, true, &spliced, &sent).is_err(),
        "splice undetected"
    );
}

/// The files of the storm: their names and whether they exist before it.
fn files() -> Vec<(String, bool)> {
    let old = (0..OLD_FILES).map(|i| (format!("data/old-{i:02}.txt"), true));
    let new = (0..NEW_FILES).map(|i| (format!("data/new-{i:02}.txt"), false));
    old.chain(new).collect()
}

/// Who wrote what: versions sent and versions acknowledged, per file.
#[derive(Default)]
struct Ledger {
    sent: BTreeMap<String, BTreeSet<u64>>,
    acked: BTreeMap<String, BTreeSet<u64>>,
    /// Exchanges that failed before the kill.
    failed: u64,
}

struct RoundResult {
    killed_after: Duration,
    sent: usize,
    acked: usize,
    failed: u64,
    old: usize,
    new: usize,
    absent: usize,
    bad: Vec<String>,
    temps: usize,
}

fn round_once(extra: Duration) -> RoundResult {
    let workspace = TempDir::new("kill");
    let files = files();
    for (name, _) in files.iter().filter(|f| f.1) {
        workspace.write(name, &content(name, 0));
    }
    let mut server = Server::start(workspace.path(), &[]);
    let ledger = Mutex::new(Ledger::default());
    let (version, acks, stop) = (AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false));
    let started = Instant::now();
    let killed_after = thread::scope(|s| {
        for w in 0..WRITERS {
            let (files, addr) = (&files, server.addr.as_str());
            let (ledger, version, acks, stop) = (&ledger, &version, &acks, &stop);
            s.spawn(move || writer(w, addr, files, ledger, version, acks, stop));
        }
        wait_for_acks(&acks, started + STORM_LIMIT / 2);
        thread::sleep(extra);
        // Set first, so that no writer takes the kill's failures for an earlier fault.
        stop.store(true, Ordering::SeqCst);
        server.kill();
        started.elapsed()
    });
    let _ = server.wait_exit(Duration::from_secs(10));
    let ledger = ledger.into_inner().unwrap_or_default();
    let mut result = check(workspace.path(), &files, &ledger);
    result.killed_after = killed_after;
    result
}

/// Waits (bounded) until the storm is under way: some writes acknowledged.
fn wait_for_acks(acks: &AtomicU64, deadline: Instant) {
    while acks.load(Ordering::SeqCst) < ACKS_BEFORE_KILL && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
}

/// One storm client: picks a file, records the version it is about to send, sends it.
/// Ends at the first failed exchange after the kill, or at the storm limit.
fn writer(
    seed: usize,
    addr: &str,
    files: &[(String, bool)],
    ledger: &Mutex<Ledger>,
    version: &AtomicU64,
    acks: &AtomicU64,
    stop: &AtomicBool,
) {
    let mut rng = Rng::new(seed as u64 + 1);
    let until = Instant::now() + STORM_LIMIT;
    let Ok((mut w, mut r)) = wire::connect(addr) else {
        return;
    };
    while Instant::now() < until {
        let name = &files[rng.below(files.len() as u64) as usize].0;
        let v = version.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut l) = ledger.lock() {
            l.sent.entry(name.clone()).or_default().insert(v);
        }
        let request = create_request(addr, name, &content(name, v));
        let sent = w.write_all(&request).is_ok();
        match wire::read_response(&mut r) {
            Ok(resp) if sent && resp.ok() => {
                acks.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut l) = ledger.lock() {
                    l.acked.entry(name.clone()).or_default().insert(v);
                }
            }
            _ if stop.load(Ordering::SeqCst) => return,
            // Before the kill every write should succeed: count it, reconnect, go on.
            _ => {
                if let Ok(mut l) = ledger.lock() {
                    l.failed += 1;
                }
                match wire::connect(addr) {
                    Ok((nw, nr)) => (w, r) = (nw, nr),
                    Err(_) => return,
                }
            }
        }
    }
}

fn create_request(host: &str, path: &str, content: &str) -> Vec<u8> {
    let escaped = content.replace('\n', "\\n");
    let params =
        format!(r#""name":"create_file","arguments":{{"path":"{path}","content":"{escaped}"}}"#);
    wire::mcp_request(host, "tools/call", Some("create_file"), &params)
}

/// The content of `name` at `version`: length and every byte follow from the two.
pub fn content(name: &str, version: u64) -> String {
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) ^ version.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut rng = Rng::new(seed);
    let len = (MIN_BYTES + rng.below(MAX_BYTES - MIN_BYTES + 1)) as usize;
    let mut text = format!("soak file={name} version={version} bytes={len}\n");
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789 ";
    while text.len() < len {
        let c = if text.len() % 80 == 79 {
            '\n'
        } else {
            ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char
        };
        text.push(c);
    }
    text
}

/// Judges every entry under `data/`.
fn check(root: &Path, files: &[(String, bool)], ledger: &Ledger) -> RoundResult {
    let mut r = RoundResult {
        killed_after: Duration::ZERO,
        sent: ledger.sent.values().map(BTreeSet::len).sum(),
        acked: ledger.acked.values().map(BTreeSet::len).sum(),
        failed: ledger.failed,
        old: 0,
        new: 0,
        absent: 0,
        bad: Vec::new(),
        temps: 0,
    };
    let known: BTreeSet<&str> = files.iter().map(|f| f.0.as_str()).collect();
    for entry in std::fs::read_dir(root.join("data"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with(TEMP_PREFIX) {
            r.temps += 1;
        } else if !known.contains(format!("data/{file_name}").as_str()) {
            r.bad
                .push(format!("data/{file_name}: not a file of the storm"));
        }
    }
    for (name, existed) in files {
        let empty = BTreeSet::new();
        let acked = ledger.acked.get(name).unwrap_or(&empty);
        match std::fs::read(root.join(name)) {
            Err(_) if *existed => r.bad.push(format!("{name}: missing")),
            Err(_) if !acked.is_empty() => r.bad.push(format!("{name}: acknowledged write lost")),
            Err(_) => r.absent += 1,
            Ok(bytes) => match judge(
                name,
                *existed,
                &bytes,
                ledger.sent.get(name).unwrap_or(&empty),
            ) {
                Ok(0) if !acked.is_empty() => r
                    .bad
                    .push(format!("{name}: old content after an acknowledged write")),
                Ok(0) => r.old += 1,
                Ok(_) => r.new += 1,
                Err(why) => r.bad.push(format!("{name}: {why}")),
            },
        }
    }
    r
}

/// The version a file holds, if it is exactly one it may hold.
fn judge(name: &str, existed: bool, bytes: &[u8], sent: &BTreeSet<u64>) -> Result<u64, String> {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let header = String::from_utf8_lossy(first);
    let version: u64 = header
        .strip_prefix(&format!("soak file={name} version="))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .ok_or_else(|| {
            format!(
                "unrecognised header {:.80?} ({} bytes)",
                header,
                bytes.len()
            )
        })?;
    if !((version == 0 && existed) || sent.contains(&version)) {
        return Err(format!("version {version} was never written to it"));
    }
    let expected = content(name, version);
    if bytes != expected.as_bytes() {
        return Err(format!(
            "version {version}: {} bytes, expected {} and identical",
            bytes.len(),
            expected.len()
        ));
    }
    Ok(version)
}
