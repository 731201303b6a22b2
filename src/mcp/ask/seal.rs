//! Sealing the `requestState` of 2026-07-28 multi round-trip requests
//! (docs/2026-07-28/basic/patterns/mrtr.mdx, "Server Requirements"): the state is
//! attacker-controlled input, so it carries an HMAC-SHA-256 over the tool name, a digest of
//! the arguments and the issue time, and is rejected when any of them does not match.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::STATE_TTL_SECS;
use crate::sha256::{constant_time_eq, hex, hmac_sha256, sha256_hex};

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A random key for sealing `requestState`, fresh per process. `RandomState` is seeded
/// from the operating system's random source, so no crate or file read is needed.
pub fn random_key() -> [u8; 32] {
    use std::hash::{BuildHasher, Hasher};
    let mut key = [0u8; 32];
    for (i, chunk) in key.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    key
}

/// `v1|tool|args digest|issued|state|mac`: readable, and useless when altered.
pub(super) fn seal(
    key: &[u8],
    tool: &str,
    args: &Map<String, Value>,
    state: &str,
    now: u64,
) -> String {
    let payload = format!("v1|{tool}|{}|{now}|{state}", args_digest(args));
    let mac = hex(&hmac_sha256(key, payload.as_bytes()));
    format!("{payload}|{mac}")
}

/// Verifies a sealed state for this tool and these arguments; returns the tool's state.
pub(super) fn open<'a>(
    key: &[u8],
    tool: &str,
    args: &Map<String, Value>,
    sealed: &'a str,
    now: u64,
) -> Result<&'a str, &'static str> {
    let (payload, mac) = sealed.rsplit_once('|').ok_or("malformed")?;
    let expected = hex(&hmac_sha256(key, payload.as_bytes()));
    if !constant_time_eq(mac.as_bytes(), expected.as_bytes()) {
        return Err("not issued by this server process (or altered)");
    }
    let mut fields = payload.splitn(5, '|');
    let (Some("v1"), Some(t), Some(digest), Some(issued), Some(state)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err("malformed");
    };
    if t != tool || digest != args_digest(args) {
        return Err("it belongs to a different call (tool or arguments changed)");
    }
    let issued: u64 = issued.parse().map_err(|_| "malformed")?;
    if now.saturating_sub(issued) > STATE_TTL_SECS {
        return Err("expired: call the tool again without it");
    }
    Ok(state)
}

/// SHA-256 of the arguments' canonical JSON (serde_json maps are sorted by key).
fn args_digest(args: &Map<String, Value>) -> String {
    sha256_hex(Value::Object(args.clone()).to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().expect("object").clone()
    }

    #[test]
    fn sealed_state_round_trips_and_rejects_tampering() {
        let key = [7u8; 32];
        let a = args(json!({"name": "x", "doc": "requirements"}));
        let sealed = seal(&key, "spec_review", &a, "requirements|approve|ab|c", 1000);
        assert_eq!(
            open(&key, "spec_review", &a, &sealed, 1100),
            Ok("requirements|approve|ab|c")
        );
        let other_key = [8u8; 32];
        assert!(open(&other_key, "spec_review", &a, &sealed, 1100).is_err());
        let forged = sealed.replace("approve", "approvf");
        assert!(open(&key, "spec_review", &a, &forged, 1100).is_err());
        let b = args(json!({"name": "y", "doc": "requirements"}));
        assert_eq!(
            open(&key, "spec_review", &b, &sealed, 1100),
            Err("it belongs to a different call (tool or arguments changed)")
        );
        assert!(open(&key, "spec_change", &a, &sealed, 1100).is_err());
        assert_eq!(
            open(&key, "spec_review", &a, &sealed, 1000 + STATE_TTL_SECS + 1),
            Err("expired: call the tool again without it")
        );
        assert!(open(&key, "spec_review", &a, "garbage", 1100).is_err());
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(random_key(), random_key());
    }
}
