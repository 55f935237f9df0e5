//! `ledger-core`: the pure domain of the reservation ledger — identifiers, money,
//! idempotency keys, RFC 8785 canonical JSON, request fingerprints, the per-stream hash
//! chain, the booking domain (`domain`: slots, bookings, coupons, pricing, payments,
//! decide/evolve and the stored form of events), webhook signatures and amounts
//! (`webhook`), and the payer's phone for Mercado Pago (`phone`).
//!
//! This crate is deterministic: no I/O, no clock reads, no randomness. Time and new ids
//! come in with the command (the [`Clock`] trait is how the outer layers obtain time), so
//! replaying the same events and commands gives the same answer. It knows nothing about
//! SQL or HTTP.

pub mod canonical;
pub mod chain;
pub mod clock;
pub mod digest;
pub mod domain;
pub mod fingerprint;
pub mod idempotency;
pub mod ids;
pub mod money;
pub mod personal;
pub mod phone;
pub mod webhook;

pub use canonical::{canonical_json, CanonicalError, MAX_SAFE_INTEGER};
pub use chain::{
    chain_hash, format_recorded_at, truncate_to_micros, verify_chain, verify_chain_from,
    ChainBreak, ChainBreakReason, ChainedFields, Hash, RecordedEvent,
};
pub use clock::{Clock, ManualClock};
pub use digest::{DigestError, DIGEST_LEN};
pub use domain::{
    block_slot, bookable_until, cancel_booking, claim_coupon, confirm_claim, expire_booking,
    fold_stored, issue_coupon, place_booking, quote, release_claim, release_expired_holds,
    release_hold, schedule_slot, unblock_slot, BookingEvent, BookingItem, BookingSeats,
    BookingState, BookingStatus, CancellerRole, Claim, CouponCode, CouponEvent, CouponListState,
    CouponSpec, CouponState, Cutoff, CutoffError, DecodeError, Discount, DomainEvent, Evolve,
    PlaceBooking, PlaceDecision, PlacedBooking, Quote, Rejection, ReleaseReason, SlotEvent,
    SlotSpec, SlotState, MAX_CAPACITY,
};
pub use fingerprint::{fingerprint, RequestFingerprint};
pub use idempotency::{IdempotencyKey, IdempotencyKeyError, MAX_IDEMPOTENCY_KEY_LEN};
pub use ids::{ActivityId, BookingId, Category, EventId, IdError, SlotId, StreamId};
pub use money::{Currency, Money, MoneyError, MAX_MINOR};
pub mod provider_log;
