//! The one registry of client state the HTTP server keeps between requests:
//!
//! - legacy Streamable HTTP sessions (docs/2025-11-25/basic/transports.mdx, "Session
//!   Management"): `initialize` mints an `Mcp-Session-Id`; later requests name it; DELETE
//!   ends it;
//! - legacy HTTP+SSE sessions (docs/2024-11-05/basic/transports.mdx): `GET /sse` opens one,
//!   `POST /messages?sessionId=` feeds it, its stream carries the answers (`outbox`);
//! - REST connections of the operations API (`POST /connect`, seed compatibility).
//!
//! Ids come from the OS random source (256 bits for MCP sessions, a random UUID for
//! connections), prefixed with `--instance-id`. Every entry expires when no request or
//! heartbeat arrives within `--session-timeout`: a lookup treats an expired entry as gone
//! at once, and the [`Reaper`] thread removes expired entries and logs each removal.
//! Modern (2026-07-28) requests never touch this store.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use serde_json::Value;

use super::metrics::METRICS;
use crate::mcp::version::ProtocolVersion;
use crate::mcp::Session;

/// Most live MCP sessions (both legacy transports); past it (after expiring idle ones)
/// `initialize` and `GET /sse` get 503.
pub const MAX_SESSIONS: usize = 10_000;
/// Most live REST connections; past it `POST /connect` gets 503.
pub const MAX_REST_CONNECTIONS: usize = 10_000;
/// Random bytes in a session id (hex-encoded: 64 visible ASCII characters).
const SESSION_ID_BYTES: usize = 32;
/// The reaper runs every quarter of `--session-timeout`, within these bounds.
pub const REAP_MIN_INTERVAL: Duration = Duration::from_millis(50);
pub const REAP_MAX_INTERVAL: Duration = Duration::from_secs(30);
/// Removals the reaper logs one by one per pass; the rest are summed up in one line.
const REAP_LOG_LINES: usize = 16;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A legacy Streamable HTTP session (`Mcp-Session-Id` on `/mcp`).
    Streamable,
    /// A legacy HTTP+SSE session (`GET /sse`, `POST /messages`).
    Sse,
    /// A REST connection (`POST /connect`).
    Rest,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Streamable, Kind::Sse, Kind::Rest];

    /// The name in `/connections`, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Streamable => "streamable-http",
            Kind::Sse => "sse",
            Kind::Rest => "rest",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Kind::Streamable => 0,
            Kind::Sse => 1,
            Kind::Rest => 2,
        }
    }

    fn cap(self) -> usize {
        match self {
            Kind::Streamable | Kind::Sse => MAX_SESSIONS,
            Kind::Rest => MAX_REST_CONNECTIONS,
        }
    }
}

/// One live entry: the core's state (MCP sessions), who the client is, and when it was
/// last heard from.
pub struct Slot {
    pub kind: Kind,
    pub session: Mutex<Session>,
    /// The revision `initialize` negotiated (Streamable); for other kinds see
    /// [`Slot::protocol_version`].
    pub version: ProtocolVersion,
    /// SSE sessions: encoded JSON-RPC messages for the session's event stream.
    pub outbox: Option<Sender<String>>,
    negotiated: OnceLock<ProtocolVersion>,
    client_info: Mutex<Value>,
    created_at: SystemTime,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last request or heartbeat (lock-free touch).
    last_used_ms: AtomicU64,
}

impl Slot {
    pub fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the entry as used now (a request or a heartbeat).
    pub fn touch(&self) {
        self.last_used_ms
            .store(millis_since(self.epoch), Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = self.last_used_ms.load(Ordering::Relaxed);
        Duration::from_millis(millis_since(self.epoch).saturating_sub(last))
    }

    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// Wall-clock time of the last request or heartbeat.
    pub fn last_seen(&self) -> SystemTime {
        SystemTime::now()
            .checked_sub(self.idle_for())
            .map_or(self.created_at, |seen| seen.max(self.created_at))
    }

    /// The negotiated revision; `None` for an SSE session before `initialize`.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.negotiated.get().copied()
    }

    /// Records the revision an SSE session's `initialize` negotiated.
    pub fn set_negotiated(&self, version: ProtocolVersion) {
        let _ = self.negotiated.set(version);
    }

    pub fn client_info(&self) -> Value {
        self.client_info
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adds fields to the recorded client information (an object).
    pub fn merge_client_info(&self, fields: &serde_json::Map<String, Value>) {
        let mut info = self
            .client_info
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Value::Object(map) = &mut *info {
            map.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
}

/// What a new entry starts with.
pub struct NewEntry {
    pub kind: Kind,
    pub session: Session,
    /// Known at creation for Streamable sessions and REST connections.
    pub version: Option<ProtocolVersion>,
    pub client_info: Value,
    pub outbox: Option<Sender<String>>,
}

/// Why a session could not be found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Never issued, deleted or expired: 404.
    Unknown,
}

/// Live entries of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub streamable: usize,
    pub sse: usize,
    pub rest: usize,
}

#[derive(Default)]
struct Table {
    map: HashMap<String, Arc<Slot>>,
    counts: [usize; 3],
}

impl Table {
    fn remove(&mut self, id: &str) -> Option<Arc<Slot>> {
        let slot = self.map.remove(id)?;
        self.counts[slot.kind.index()] -= 1;
        Some(slot)
    }
}

/// The registry.
pub struct Sessions {
    table: Mutex<Table>,
    timeout: Duration,
    /// `"ID."` with `--instance-id`, else empty: lets a proxy route by session id.
    id_prefix: String,
    epoch: Instant,
}

impl Sessions {
    pub fn new(timeout: Duration) -> Sessions {
        Sessions {
            table: Mutex::default(),
            timeout,
            id_prefix: String::new(),
            epoch: Instant::now(),
        }
    }

    /// Session ids start with `"{instance}."` (see `--instance-id`).
    pub fn with_instance_id(mut self, instance: Option<&str>) -> Sessions {
        self.id_prefix = instance.map(|i| format!("{i}.")).unwrap_or_default();
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores an initialized Streamable HTTP session; its new id, or `None` when full.
    #[cfg(test)]
    pub fn insert(&self, session: Session, version: ProtocolVersion) -> io::Result<Option<String>> {
        self.insert_entry(NewEntry {
            kind: Kind::Streamable,
            session,
            version: Some(version),
            client_info: Value::Object(serde_json::Map::new()),
            outbox: None,
        })
    }

    /// Stores a new entry of any kind; its new id, or `None` when that kind is full.
    pub fn insert_entry(&self, entry: NewEntry) -> io::Result<Option<String>> {
        let random = match entry.kind {
            Kind::Rest => new_connection_id()?,
            Kind::Streamable | Kind::Sse => new_session_id()?,
        };
        let id = format!("{}{random}", self.id_prefix);
        let now = millis_since(self.epoch);
        let slot = Slot {
            kind: entry.kind,
            session: Mutex::new(entry.session),
            version: entry.version.unwrap_or(ProtocolVersion::V2024_11_05),
            outbox: entry.outbox,
            negotiated: entry.version.map(OnceLock::from).unwrap_or_default(),
            client_info: Mutex::new(entry.client_info),
            created_at: SystemTime::now(),
            epoch: self.epoch,
            last_used_ms: AtomicU64::new(now),
        };
        let kind = entry.kind;
        let mut table = self.table();
        if table.counts[kind.index()] >= kind.cap() {
            self.expire_all(&mut table);
            if table.counts[kind.index()] >= kind.cap() {
                return Ok(None);
            }
        }
        table.counts[kind.index()] += 1;
        table.map.insert(id.clone(), Arc::new(slot));
        Ok(Some(id))
    }

    /// The live Streamable HTTP session with this id, marked as used now.
    pub fn get(&self, id: &str) -> Result<Arc<Slot>, Lookup> {
        self.get_kind(id, Kind::Streamable)
    }

    /// The live entry of this kind with this id, marked as used now.
    pub fn get_kind(&self, id: &str, kind: Kind) -> Result<Arc<Slot>, Lookup> {
        self.touch(id)
            .filter(|slot| slot.kind == kind)
            .ok_or(Lookup::Unknown)
    }

    /// The live entry with this id, of any kind, marked as used now (a heartbeat).
    pub fn touch(&self, id: &str) -> Option<Arc<Slot>> {
        let mut table = self.table();
        let slot = Arc::clone(table.map.get(id)?);
        if slot.idle_for() >= self.timeout {
            table.remove(id);
            drop(table);
            expired(id, &slot, "on lookup");
            return None;
        }
        slot.touch();
        Some(slot)
    }

    /// Whether the entry is still live (streams poll this to end with their session).
    pub fn contains(&self, id: &str) -> bool {
        self.table().map.contains_key(id)
    }

    /// Whether the entry is live, expiring it if idle (unlike [`Sessions::get`], it does
    /// not count as use: a call parked on the user must not keep its session alive).
    pub fn live(&self, id: &str) -> bool {
        let mut table = self.table();
        let Some(slot) = table.map.get(id).map(Arc::clone) else {
            return false;
        };
        if slot.idle_for() >= self.timeout {
            table.remove(id);
            drop(table);
            expired(id, &slot, "on lookup");
            return false;
        }
        true
    }

    /// Ends an entry of any kind; false if it was not live.
    pub fn remove(&self, id: &str) -> bool {
        self.table().remove(id).is_some()
    }

    /// Ends an entry if it is of this kind; false if no such live entry.
    pub fn remove_kind(&self, id: &str, kind: Kind) -> bool {
        let mut table = self.table();
        if table.map.get(id).is_some_and(|slot| slot.kind == kind) {
            return table.remove(id).is_some();
        }
        false
    }

    /// Live entries of each kind (expired ones the reaper has not reached yet included).
    pub fn counts(&self) -> Counts {
        let table = self.table();
        Counts {
            streamable: table.counts[Kind::Streamable.index()],
            sse: table.counts[Kind::Sse.index()],
            rest: table.counts[Kind::Rest.index()],
        }
    }

    /// Every live entry, oldest first.
    pub fn snapshot(&self) -> Vec<(String, Arc<Slot>)> {
        let mut entries: Vec<(String, Arc<Slot>)> = self
            .table()
            .map
            .iter()
            .filter(|(_, slot)| slot.idle_for() < self.timeout)
            .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
            .collect();
        entries.sort_by_key(|(_, slot)| slot.created_at);
        entries
    }

    /// Removes every expired entry and logs the removals; how many there were.
    pub fn reap(&self) -> usize {
        let mut table = self.table();
        let gone = self.expire_all(&mut table);
        drop(table);
        for (id, slot) in gone.iter().take(REAP_LOG_LINES) {
            expired(id, slot, "by the reaper");
        }
        if gone.len() > REAP_LOG_LINES {
            for (_, slot) in &gone[REAP_LOG_LINES..] {
                METRICS.session_expired(slot.kind);
            }
            log::info!(
                "reaper: removed {} more idle entries",
                gone.len() - REAP_LOG_LINES
            );
        }
        gone.len()
    }

    fn expire_all(&self, table: &mut Table) -> Vec<(String, Arc<Slot>)> {
        let stale: Vec<String> = table
            .map
            .iter()
            .filter(|(_, slot)| slot.idle_for() >= self.timeout)
            .map(|(id, _)| id.clone())
            .collect();
        stale
            .into_iter()
            .filter_map(|id| table.remove(&id).map(|slot| (id, slot)))
            .collect()
    }
}

/// Logs and counts one expiry. Only a prefix of the id is logged: MCP session ids are
/// bearer secrets for their session.
fn expired(id: &str, slot: &Slot, how: &str) {
    METRICS.session_expired(slot.kind);
    log::info!(
        "reaper: removed {} {} {how}: idle for {}s",
        slot.kind.as_str(),
        short_id(id),
        slot.idle_for().as_secs()
    );
}

/// The first characters of an id, enough to correlate log lines.
pub fn short_id(id: &str) -> String {
    let cut = id
        .char_indices()
        .nth(id.find('.').map_or(0, |dot| dot + 1) + 8)
        .map_or(id.len(), |(i, _)| i);
    format!("{}…", &id[..cut])
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The thread that removes expired entries; [`Reaper::stop`] ends and joins it.
pub struct Reaper {
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Reaper {
    /// Starts `mcp-reaper`, waking every quarter of the session timeout.
    pub fn start(sessions: Arc<Sessions>) -> io::Result<Reaper> {
        let interval = (sessions.timeout / 4).clamp(REAP_MIN_INTERVAL, REAP_MAX_INTERVAL);
        let (stop, stopped) = bounded::<()>(0);
        let handle = thread::Builder::new()
            .name("mcp-reaper".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    sessions.reap();
                }
            })?;
        Ok(Reaper {
            stop: Some(stop),
            handle: Some(handle),
        })
    }

    pub fn stop(&mut self) {
        self.stop = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.stop();
    }
}

fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// 256 bits from the OS random source, hex-encoded (visible ASCII, as the spec requires).
fn new_session_id() -> io::Result<String> {
    Ok(random_bytes::<SESSION_ID_BYTES>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A random (version 4) UUID, the form the seed's `connection_id` had.
fn new_connection_id() -> io::Result<String> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest(sessions: &Sessions) -> String {
        sessions
            .insert_entry(NewEntry {
                kind: Kind::Rest,
                session: Session::default(),
                version: Some(ProtocolVersion::V2026_07_28),
                client_info: serde_json::json!({"name": "curl"}),
                outbox: None,
            })
            .expect("random")
            .expect("room")
    }

    #[test]
    fn ids_are_unique_and_visible_ascii() {
        let a = new_session_id().expect("random");
        let b = new_session_id().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 * SESSION_ID_BYTES);
        assert!(a.bytes().all(|c| (0x21..=0x7e).contains(&c)));
        let uuid = new_connection_id().expect("random");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4", "version 4: {uuid}");
    }

    #[test]
    fn instance_prefix() {
        let sessions = Sessions::new(Duration::from_secs(60)).with_instance_id(Some("b"));
        let id = sessions
            .insert(Session::default(), ProtocolVersion::V2025_11_25)
            .expect("random")
            .expect("room");
        assert!(
            id.starts_with("b.") && id.len() == 2 + 2 * SESSION_ID_BYTES,
            "{id}"
        );
        assert!(sessions.get(&id).is_ok());
        assert!(rest(&sessions).starts_with("b."));
        assert_eq!(short_id(&id), format!("{}…", &id[..10]));
    }

    #[test]
    fn lifecycle_and_expiry() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let id = sessions
            .insert(Session::default(), ProtocolVersion::V2025_11_25)
            .expect("random")
            .expect("room");
        assert!(sessions.get(&id).is_ok());
        assert_eq!(sessions.get("nope").err(), Some(Lookup::Unknown));
        assert!(sessions.remove(&id));
        assert_eq!(sessions.get(&id).err(), Some(Lookup::Unknown));

        let expiring = Sessions::new(Duration::ZERO);
        let id = expiring
            .insert(Session::default(), ProtocolVersion::V2025_03_26)
            .expect("random")
            .expect("room");
        assert_eq!(
            expiring.get(&id).err(),
            Some(Lookup::Unknown),
            "idle past the timeout"
        );
    }

    #[test]
    fn one_registry_for_every_kind() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let conn = rest(&sessions);
        let mcp = sessions
            .insert(Session::default(), ProtocolVersion::V2025_06_18)
            .expect("random")
            .expect("room");
        assert_eq!(
            sessions.counts(),
            Counts {
                streamable: 1,
                sse: 0,
                rest: 1
            }
        );
        assert!(
            sessions.get(&conn).is_err(),
            "a connection id is no Mcp-Session-Id"
        );
        assert!(sessions.touch(&conn).is_some() && sessions.touch(&mcp).is_some());
        assert!(!sessions.remove_kind(&conn, Kind::Streamable));
        let listed: Vec<Kind> = sessions.snapshot().iter().map(|(_, s)| s.kind).collect();
        assert_eq!(listed, [Kind::Rest, Kind::Streamable], "oldest first");
        assert!(sessions.remove(&conn));
        assert_eq!(sessions.counts().rest, 0);
    }

    #[test]
    fn the_reaper_removes_idle_entries() {
        let sessions = Arc::new(Sessions::new(Duration::from_millis(1)));
        rest(&sessions);
        let start = Instant::now();
        while sessions.snapshot().len() == 1 {
            assert!(start.elapsed() < Duration::from_secs(5), "never idle");
            std::thread::yield_now();
        }
        assert_eq!(sessions.counts().rest, 1, "still stored until reaped");
        let mut reaper = Reaper::start(Arc::clone(&sessions)).expect("thread");
        while sessions.counts().rest == 1 {
            assert!(start.elapsed() < Duration::from_secs(5), "not reaped");
            std::thread::yield_now();
        }
        reaper.stop();
    }
}
