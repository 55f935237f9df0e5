//! The booking domain in decide/evolve style: slots (capacity, holds, cutoffs), bookings,
//! coupons, pricing, the all-or-nothing placement across streams, payments (the provider
//! reports and what they do to a booking), the business `Rejection`s, and the stored form
//! of every event.
//!
//! `decide` functions (`schedule_slot`, `place_booking`, `cancel_booking`, …) hold every
//! business rule and return events or a [`Rejection`]; `apply` (evolve) holds none and
//! never fails or panics. Time comes in as an argument; nothing here reads a clock.

pub mod booking;
pub mod commands;
pub mod coupon;
pub mod cutoff;
pub mod decision;
pub mod events;
pub mod payment;
pub mod place;
pub mod pricing;
pub mod rejection;
pub mod slot;
#[cfg(test)]
pub(crate) mod test_support;

pub use booking::{
    cancel_booking, expire_booking, plan_refund, refund_idempotency_key, refundable, BookingEvent,
    BookingItem, BookingState, BookingStatus, CancellerRole, PlacedBooking, RefundPart,
    RefundRefusal,
};
pub use commands::{
    AcceptedRefund, BookingStreams, CancelBooking, ChangeSlot, ExpireBooking, Ingested,
    IssueCoupon, MoveBooking, MoveItem, PayBooking, ReadBooking, Receive, RequestPayment,
    RequestRefund, RequestedObject, SlotChange,
};
pub use coupon::{
    claim_coupon, confirm_claim, issue_coupon, release_claim, Claim, CouponCode, CouponEvent,
    CouponListState, CouponSpec, CouponState, Discount, MAX_COUPON_CLAIMS, MAX_COUPON_CODE_LEN,
    MAX_LAPSED_CLAIMS_LOADED, MAX_PERCENT_OFF, MAX_PER_CUSTOMER_LIMIT,
};
pub use cutoff::{bookable_until, Cutoff, CutoffError, MAX_CUTOFF_MINUTES};
pub use decision::{changed_entries, wake_at, Decide, Decision, Fact, Needs, World};
pub use events::{fold_stored, DecodeError, DomainEvent, Evolve, Snapshot, FIRST_SCHEMA_VERSION};
pub use payment::{
    amount_due, apply_payment, payable, payment_key, provider_idempotency_key, PaymentDecision,
    PaymentFailure, PaymentOutcome, PaymentRecord, PaymentReport, PaymentRequest, PaymentSource,
    PaymentStatus, Provider, ReportedStatus, MAX_PAYMENTS_PER_BOOKING, MAX_PAYMENT_ID_LEN,
    MAX_PROVIDER_EVENT_ID_LEN,
};
pub use place::{
    place_booking, PlaceBooking, PlaceDecision, MAX_HOLD_TTL, MAX_ITEMS, MAX_SEATS_PER_ITEM,
    MIN_HOLD_TTL,
};
pub use pricing::{quote, Quote};
pub use rejection::Rejection;
pub use slot::{
    block_slot, parse_time_zone, release_expired_holds, release_hold, schedule_slot, unblock_slot,
    without_lapsed, BookingSeats, ReleaseReason, SlotEvent, SlotSpec, SlotState, MAX_CAPACITY,
    MAX_LAPSED_RELEASES, MAX_REASON_CHARS,
};
