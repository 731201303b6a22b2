//! Legacy Streamable HTTP sessions (docs/2025-11-25/basic/transports.mdx, "Session
//! Management"): `initialize` mints an `Mcp-Session-Id` of 256 bits from the OS random
//! source; later requests name it; DELETE ends it; idle sessions expire after
//! `--session-timeout`. Modern (2026-07-28) requests never touch this store.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::mcp::version::ProtocolVersion;
use crate::mcp::Session;

/// Most live sessions; past it (after expiring idle ones) `initialize` gets 503.
pub const MAX_SESSIONS: usize = 10_000;
/// Random bytes in a session id (hex-encoded: 64 visible ASCII characters).
const SESSION_ID_BYTES: usize = 32;

/// One live session: the core's state plus when it was last used.
pub struct Slot {
    pub session: Mutex<Session>,
    pub version: ProtocolVersion,
    last_used: Mutex<Instant>,
}

impl Slot {
    pub fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }
}

/// Why a session could not be found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Never issued, deleted or expired: 404.
    Unknown,
}

/// The session table.
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Slot>>>,
    timeout: Duration,
    /// `"ID."` with `--instance-id`, else empty: lets a proxy route by session id.
    id_prefix: String,
}

impl Sessions {
    pub fn new(timeout: Duration) -> Sessions {
        Sessions {
            map: Mutex::default(),
            timeout,
            id_prefix: String::new(),
        }
    }

    /// Session ids start with `"{instance}."` (see `--instance-id`).
    pub fn with_instance_id(mut self, instance: Option<&str>) -> Sessions {
        self.id_prefix = instance.map(|i| format!("{i}.")).unwrap_or_default();
        self
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Slot>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores an initialized session; its new id, or `None` when the table is full.
    pub fn insert(&self, session: Session, version: ProtocolVersion) -> io::Result<Option<String>> {
        let id = format!("{}{}", self.id_prefix, new_session_id()?);
        let mut map = self.map();
        self.expire(&mut map);
        if map.len() >= MAX_SESSIONS {
            return Ok(None);
        }
        let slot = Slot {
            session: Mutex::new(session),
            version,
            last_used: Mutex::new(Instant::now()),
        };
        map.insert(id.clone(), Arc::new(slot));
        Ok(Some(id))
    }

    /// The live session with this id, marked as used now.
    pub fn get(&self, id: &str) -> Result<Arc<Slot>, Lookup> {
        let mut map = self.map();
        self.expire(&mut map);
        let slot = map.get(id).cloned().ok_or(Lookup::Unknown)?;
        slot.touch();
        Ok(slot)
    }

    /// Whether the session is still live (streams poll this to end with their session).
    pub fn contains(&self, id: &str) -> bool {
        self.map().contains_key(id)
    }

    /// Whether the session is live, expiring idle ones first (unlike [`Sessions::get`], it
    /// does not count as use: a call parked on the user must not keep its session alive).
    pub fn live(&self, id: &str) -> bool {
        let mut map = self.map();
        self.expire(&mut map);
        map.contains_key(id)
    }

    /// Ends a session; false if it was not live.
    pub fn remove(&self, id: &str) -> bool {
        self.map().remove(id).is_some()
    }

    /// Live sessions (expiring idle ones first).
    pub fn count(&self) -> usize {
        let mut map = self.map();
        self.expire(&mut map);
        map.len()
    }

    fn expire(&self, map: &mut HashMap<String, Arc<Slot>>) {
        let before = map.len();
        map.retain(|_, slot| slot.idle_for() < self.timeout);
        if map.len() < before {
            log::info!("expired {} idle session(s)", before - map.len());
        }
    }
}

/// 256 bits from the OS random source, hex-encoded (visible ASCII, as the spec requires).
fn new_session_id() -> io::Result<String> {
    let mut bytes = [0u8; SESSION_ID_BYTES];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_visible_ascii() {
        let a = new_session_id().expect("random");
        let b = new_session_id().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 * SESSION_ID_BYTES);
        assert!(a.bytes().all(|c| (0x21..=0x7e).contains(&c)));
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
}
