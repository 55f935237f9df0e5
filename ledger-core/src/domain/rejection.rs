//! `Rejection`: every business "no" a decide function can answer, with its stable
//! machine-readable code (the `code` of the RFC 9457 problem) and a human detail that
//! carries no internals.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::booking::BookingStatus;
use crate::ids::SlotId;
use crate::money::Money;

/// Why a command was refused. Nothing was decided: a rejected command yields no events
/// (except the write-on-read hold releases of `place_booking`, which are facts either way).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The slot was never scheduled.
    #[error("the slot does not exist")]
    SlotNotFound,
    /// The slot is blocked by the operator (or the panel) and takes no bookings.
    #[error("the slot is blocked and takes no bookings")]
    SlotBlocked,
    /// Booking closed at the slot's cutoff.
    #[error("booking for this slot closed at {}", rfc3339(bookable_until))]
    CutoffPassed {
        /// The instant booking closed (booking is allowed while `now < bookable_until`).
        bookable_until: DateTime<Utc>,
    },
    /// Not enough free seats on a slot.
    #[error("slot {slot_id} has only {available} seat(s) available")]
    SoldOut {
        /// The slot that cannot take the seats.
        slot_id: SlotId,
        /// Seats free on it now.
        available: u32,
    },
    /// The items of a booking break a rule (count, seats per item, a slot twice).
    #[error("{0}")]
    InvalidSeats(String),
    /// A slot definition breaks a rule (capacity, price, cutoff, reason).
    #[error("{0}")]
    InvalidSlot(String),
    /// A coupon code or definition breaks a rule.
    #[error("{0}")]
    InvalidCoupon(String),
    /// The client's `expected_total` differs from the price the server computed.
    #[error("the price has changed; the total is now {total}")]
    PriceChanged {
        /// The total computed by the server.
        total: Money,
    },
    /// Amounts in different currencies were combined (slots, or a slot and a coupon).
    #[error("the amounts involved are in different currencies")]
    CurrencyMismatch,
    /// The coupon code was never issued.
    #[error("the coupon does not exist")]
    CouponNotFound,
    /// The coupon's validity starts later.
    #[error("the coupon is not valid yet")]
    CouponNotYetValid,
    /// The coupon's validity has ended.
    #[error("the coupon has expired")]
    CouponExpired,
    /// The coupon has no claims left, overall or for this customer (the detail says which).
    #[error("{0}")]
    CouponExhausted(String),
    /// The code is already issued with a different definition.
    #[error("a coupon with this code already exists with a different definition")]
    CouponConflict,
    /// The booking does not exist.
    #[error("the booking does not exist")]
    BookingNotFound,
    /// The booking's status does not allow a cancellation by this caller.
    #[error("the booking cannot be cancelled in status {status}")]
    NotCancellable {
        /// The booking's status now.
        status: BookingStatus,
    },
    /// The caller neither owns the booking nor is an operator.
    #[error("only the booking's owner or an operator may do this")]
    NotOwner,
    /// A payment report or provider name breaks a rule (ids, provider).
    #[error("{0}")]
    InvalidPayment(String),
    /// The booking's status does not allow moving it (only held, partially paid and paid
    /// bookings move), or it has no such seats to move.
    #[error("{0}")]
    NotMovable(String),
    /// The slot moved to is of another activity, or sells at another unit price.
    #[error("{0}")]
    PriceDiffers(String),
}

impl Rejection {
    /// The stable, machine-readable code (`sold_out`, …) of API.md's problem documents.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::SlotNotFound => "slot_not_found",
            Rejection::SlotBlocked => "slot_blocked",
            Rejection::CutoffPassed { .. } => "cutoff_passed",
            Rejection::SoldOut { .. } => "sold_out",
            Rejection::InvalidSeats(_) => "invalid_seats",
            Rejection::InvalidSlot(_) => "invalid_slot",
            Rejection::InvalidCoupon(_) => "invalid_coupon",
            Rejection::PriceChanged { .. } => "price_changed",
            Rejection::CurrencyMismatch => "currency_mismatch",
            Rejection::CouponNotFound => "coupon_not_found",
            Rejection::CouponNotYetValid => "coupon_not_yet_valid",
            Rejection::CouponExpired => "coupon_expired",
            Rejection::CouponExhausted(_) => "coupon_exhausted",
            Rejection::CouponConflict => "coupon_conflict",
            Rejection::BookingNotFound => "booking_not_found",
            Rejection::NotCancellable { .. } => "not_cancellable",
            Rejection::NotOwner => "not_owner",
            Rejection::InvalidPayment(_) => "invalid_payment",
            Rejection::NotMovable(_) => "not_movable",
            Rejection::PriceDiffers(_) => "price_differs",
        }
    }
}

/// RFC 3339 UTC with `Z`, whole seconds unless the instant has a fraction.
fn rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests;
