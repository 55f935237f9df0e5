//! The per-stream hash chain of API.md "Hash chain": `hash = SHA-256(prev_hash ‖
//! JCS(event))`, the recorded-event export format, and verification of one stream's chain.
//! Anyone can re-check an export with SHA-256 and an RFC 8785 implementation.

use std::fmt;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::canonical::{canonical_json, CanonicalError};
use crate::digest::{self, DigestError, DIGEST_LEN};
use crate::ids::{EventId, StreamId};

/// Sub-second digits kept in `recorded_at`: the database stores microseconds.
const RECORDED_AT_SUBSEC_DIGITS: u16 = 6;

/// A SHA-256 chain hash. Serialised (and shown by `Debug`/`Display`) as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hash([u8; DIGEST_LEN]);

impl Hash {
    /// The `prev_hash` of a stream's first event: 32 zero bytes.
    pub const ZERO: Hash = Hash([0; DIGEST_LEN]);

    /// Wraps 32 bytes.
    pub const fn from_bytes(bytes: [u8; DIGEST_LEN]) -> Hash {
        Hash(bytes)
    }

    /// Reads exactly 32 bytes (as stored in a `bytea` column).
    pub fn from_slice(bytes: &[u8]) -> Result<Hash, DigestError> {
        digest::from_slice(bytes).map(Hash)
    }

    /// Reads 64 lowercase hex digits.
    pub fn from_hex(text: &str) -> Result<Hash, DigestError> {
        digest::from_hex(text).map(Hash)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl TryFrom<String> for Hash {
    type Error = DigestError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Hash::from_hex(&text)
    }
}

impl From<Hash> for String {
    fn from(hash: Hash) -> String {
        hash.to_hex()
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// `recorded_at` as hashed and exported: RFC 3339 UTC, exactly six fractional digits, `Z`
/// (`2026-11-21T05:00:00.123456Z`). Nanoseconds beyond the microsecond are dropped.
pub fn format_recorded_at(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `at` cut down to whole microseconds, the precision the database stores.
pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(RECORDED_AT_SUBSEC_DIGITS)
}

/// The fields of an event that its hash covers.
#[derive(Debug, Clone, Copy)]
pub struct ChainedFields<'a> {
    /// The stream the event belongs to.
    pub stream_id: &'a StreamId,
    /// Its position in the stream, from 1.
    pub stream_version: i64,
    /// Its id.
    pub event_id: &'a EventId,
    /// Its type name, e.g. `SeatsHeld`.
    pub event_type: &'a str,
    /// The version of the payload's schema.
    pub schema_version: i32,
    /// When it was recorded.
    pub recorded_at: &'a DateTime<Utc>,
    /// The event body.
    pub payload: &'a Value,
    /// Who or what caused it (source, subject, correlation).
    pub metadata: &'a Value,
}

impl ChainedFields<'_> {
    /// RFC 8785 canonical JSON of `{stream_id, stream_version, event_id, event_type,
    /// schema_version, recorded_at, payload, metadata}`.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, CanonicalError> {
        let object = json!({
            "stream_id": self.stream_id.as_str(),
            "stream_version": self.stream_version,
            "event_id": self.event_id.to_string(),
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "recorded_at": format_recorded_at(self.recorded_at),
            "payload": self.payload,
            "metadata": self.metadata,
        });
        canonical_json(&object).map(String::into_bytes)
    }

    /// The event's hash when it follows `prev`.
    pub fn hash(&self, prev: &Hash) -> Result<Hash, CanonicalError> {
        Ok(chain_hash(prev, &self.canonical_bytes()?))
    }
}

/// SHA-256(`prev` bytes ‖ `canonical` bytes).
pub fn chain_hash(prev: &Hash, canonical: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(canonical);
    Hash(hasher.finalize().into())
}

/// One recorded event as stored and exported (API.md "Auditor"); field names are the
/// export format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Position in the gap-free global feed.
    pub global_position: i64,
    /// The stream the event belongs to.
    pub stream_id: StreamId,
    /// Its position in the stream, from 1.
    pub stream_version: i64,
    /// Its id.
    pub event_id: EventId,
    /// Its type name.
    pub event_type: String,
    /// The version of the payload's schema.
    pub schema_version: i32,
    /// When it was recorded; exported exactly as hashed (six fractional digits, `Z`).
    #[serde(serialize_with = "serialize_recorded_at")]
    pub recorded_at: DateTime<Utc>,
    /// The event body.
    pub payload: Value,
    /// Who or what caused it.
    pub metadata: Value,
    /// The previous event's hash in this stream ([`Hash::ZERO`] for version 1).
    pub prev_hash: Hash,
    /// SHA-256(`prev_hash` ‖ JCS of the chained fields).
    pub hash: Hash,
}

fn serialize_recorded_at<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_recorded_at(at))
}

impl RecordedEvent {
    /// The fields the hash covers.
    pub fn chained_fields(&self) -> ChainedFields<'_> {
        ChainedFields {
            stream_id: &self.stream_id,
            stream_version: self.stream_version,
            event_id: &self.event_id,
            event_type: &self.event_type,
            schema_version: self.schema_version,
            recorded_at: &self.recorded_at,
            payload: &self.payload,
            metadata: &self.metadata,
        }
    }
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreakReason {
    /// The event's version is not the next one (a gap, a repeat, or not starting at 1).
    #[error("stream versions are not consecutive (gap or repeat)")]
    GapOrRepeat,
    /// The event belongs to another stream than the first event.
    #[error("event belongs to another stream")]
    WrongStream,
    /// `prev_hash` is not the previous event's hash (32 zero bytes for version 1).
    #[error("prev_hash is not the previous event's hash")]
    PrevHashMismatch,
    /// `hash` does not recompute from `prev_hash` and the event's fields.
    #[error("hash does not match the event's contents")]
    HashMismatch,
    /// The event's fields have no canonical form, so no hash can be computed.
    #[error("event has no canonical form: {0}")]
    Canonical(CanonicalError),
}

/// Where and why a stream's chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hash chain breaks at stream version {stream_version}: {reason}")]
pub struct ChainBreak {
    /// The version the breaking event should have had (its position in the chain).
    pub stream_version: i64,
    /// What is wrong there.
    pub reason: ChainBreakReason,
}

/// Verifies the events of ONE stream, in version order from version 1: versions
/// consecutive from 1, one stream id throughout, each `prev_hash` the previous event's
/// hash ([`Hash::ZERO`] first), and each `hash` recomputing. Empty input verifies.
pub fn verify_chain(events: &[RecordedEvent]) -> Result<(), ChainBreak> {
    verify_chain_from(&Hash::ZERO, 1, events)
}

/// Verifies a later page of one stream: the first event must have version
/// `first_version` and `prev_hash == prev`, where `prev` is the hash of the event before
/// it (already verified by the caller); otherwise as [`verify_chain`].
pub fn verify_chain_from(
    prev: &Hash,
    first_version: i64,
    events: &[RecordedEvent],
) -> Result<(), ChainBreak> {
    let Some(first) = events.first() else {
        return Ok(());
    };
    let mut expected_prev = *prev;
    let mut expected_version = first_version;
    for event in events {
        let broken = |reason| ChainBreak {
            stream_version: expected_version,
            reason,
        };
        if event.stream_version != expected_version {
            return Err(broken(ChainBreakReason::GapOrRepeat));
        }
        if event.stream_id != first.stream_id {
            return Err(broken(ChainBreakReason::WrongStream));
        }
        if event.prev_hash != expected_prev {
            return Err(broken(ChainBreakReason::PrevHashMismatch));
        }
        let recomputed = event
            .chained_fields()
            .hash(&event.prev_hash)
            .map_err(|error| broken(ChainBreakReason::Canonical(error)))?;
        if recomputed != event.hash {
            return Err(broken(ChainBreakReason::HashMismatch));
        }
        expected_prev = event.hash;
        expected_version = expected_version.saturating_add(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
