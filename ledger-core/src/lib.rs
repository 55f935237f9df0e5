//! `ledger-core`: the pure domain of the reservation ledger — identifiers, money,
//! idempotency keys, RFC 8785 canonical JSON, request fingerprints and the per-stream hash
//! chain.
//!
//! This crate is deterministic: no I/O, no clock reads, no randomness. Time and new ids
//! come in with the command (the [`Clock`] trait is how the outer layers obtain time), so
//! replaying the same events and commands gives the same answer. It knows nothing about
//! SQL or HTTP.

pub mod canonical;
pub mod chain;
pub mod clock;
pub mod digest;
pub mod fingerprint;
pub mod idempotency;
pub mod ids;
pub mod money;

pub use canonical::{canonical_json, CanonicalError, MAX_SAFE_INTEGER};
pub use chain::{
    chain_hash, format_recorded_at, truncate_to_micros, verify_chain, verify_chain_from,
    ChainBreak, ChainBreakReason, ChainedFields, Hash, RecordedEvent,
};
pub use clock::{Clock, ManualClock};
pub use digest::{DigestError, DIGEST_LEN};
pub use fingerprint::{fingerprint, RequestFingerprint};
pub use idempotency::{IdempotencyKey, IdempotencyKeyError, MAX_IDEMPOTENCY_KEY_LEN};
pub use ids::{ActivityId, BookingId, Category, EventId, IdError, SlotId, StreamId};
pub use money::{Currency, Money, MoneyError, MAX_MINOR};
