//! The booking aggregate (stream `booking-<uuid>`): its items, events, status and what
//! `BookingPlaced` recorded. The decision state `BookingState` (with `apply`, the
//! clock-derived status and the paid sum) is in `booking/state.rs`; the cancel and expire
//! decisions in `booking/decide.rs`. Placing a booking is `domain::place`, paying it
//! `domain::payment`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::coupon::CouponCode;
use crate::domain::payment::{
    PaymentFailure, PaymentSource, PaymentStatus, Provider, ReportedStatus,
};
use crate::ids::{BookingId, SlotId};
use crate::money::Money;
use crate::personal::Sealed;

mod decide;
mod refund;
mod state;

pub use decide::{cancel_booking, expire_booking};
pub use refund::{plan_refund, refund_idempotency_key, refundable, RefundPart, RefundRefusal};
pub use state::BookingState;
pub(crate) use state::Settlement;

/// Seats on one slot within a booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingItem {
    /// The slot.
    pub slot_id: SlotId,
    /// How many seats.
    pub seats: u32,
    /// The price of each, fixed when placed.
    pub unit_price: Money,
}

/// A fact about a booking. Stored through [`crate::domain::DomainEvent`]. Payment events
/// name their payment by `provider` and `payment_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum BookingEvent {
    /// Seats were held on every item's slot and the booking awaits payment.
    BookingPlaced {
        /// The booking's own id (absent in events written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        booking_id: Option<BookingId>,
        /// The customer (`sub`) who placed it.
        customer: String,
        /// The items, in request order.
        items: Vec<BookingItem>,
        /// Σ unit price × seats.
        subtotal: Money,
        /// What the coupon took off.
        discount: Money,
        /// What is to be paid.
        total: Money,
        /// The coupon claimed, if any.
        coupon_code: Option<CouponCode>,
        /// When the holds lapse unless paid.
        hold_expires_at: DateTime<Utc>,
    },
    /// The booking was cancelled. A paid booking's money goes back through operations
    /// (a refund at the provider), which the ledger records as `PaymentRefunded`.
    ///
    /// Schema version 2 (version 1 stored `"operator": bool`; see [`CancellerRole`]).
    BookingCancelled {
        /// Who cancelled (`sub`).
        by: String,
        /// In which role they cancelled.
        role: CancellerRole,
    },
    /// The hold lapsed before payment.
    BookingExpired,
    /// A payment was started: the provider object that will collect the money was created
    /// (a Mercado Pago preference, a Stripe PaymentIntent, a Pix immediate charge). A pure
    /// record: it changes no payment and no status, and never makes anything paid; the
    /// booking remembers the object (see [`crate::domain::PaymentRequest`]) so that a
    /// reconciliation knows what to fetch. Carries no secrets; the payer's data, when the
    /// client sent any, only sealed (v2, see [`crate::personal`]).
    PaymentRequested {
        /// The provider.
        provider: Provider,
        /// The amount requested: what was due when the object was created.
        amount: Money,
        /// The provider's id of the object: Mercado Pago preference id, Stripe
        /// PaymentIntent id or Pix txid.
        provider_reference: String,
        /// The idempotency key sent to the provider (lowercase hex SHA-256, see
        /// [`crate::domain::provider_idempotency_key`]).
        idempotency_key: String,
        /// The payer's name, e-mail, phone and document as the client sent them, sealed
        /// with the booking customer's data key (v2; absent in v1 and when none was sent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payer: Option<Sealed>,
        /// The id of that key (v2, with `payer`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_key: Option<String>,
    },
    /// A provider (or a reconciliation) reported a payment's status; written first for
    /// every report the ledger takes in, anomalies included. Changes no state by itself.
    PaymentNotified {
        /// The provider.
        provider: Provider,
        /// The provider's payment id.
        payment_id: String,
        /// What the provider said.
        status: ReportedStatus,
        /// The amount reported (cumulative for a refund).
        amount: Money,
        /// Webhook or reconciliation.
        source: PaymentSource,
        /// The provider's event id.
        provider_event_id: String,
    },
    /// A payment is pending (new, or retried after a failed attempt).
    PaymentPending {
        /// The provider.
        provider: Provider,
        /// The provider's payment id.
        payment_id: String,
        /// The amount the provider shows.
        amount: Money,
    },
    /// The provider approved a payment. Whether it counts toward the booking is
    /// [`crate::domain::PaymentRecord::counts_toward`]; one that does not is followed by
    /// `AmountMismatchFlagged`.
    PaymentApproved {
        /// The provider.
        provider: Provider,
        /// The provider's payment id.
        payment_id: String,
        /// The amount paid.
        amount: Money,
    },
    /// A payment failed: an attempt (`attempt_failed`, may still succeed) or for good
    /// (`rejected`, `cancelled`).
    PaymentRejected {
        /// The provider.
        provider: Provider,
        /// The provider's payment id.
        payment_id: String,
        /// `attempt_failed`, `rejected` or `cancelled`.
        status: PaymentFailure,
        /// The amount the provider shows for it.
        amount: Money,
    },
    /// Money of a payment went back.
    PaymentRefunded {
        /// The provider.
        provider: Provider,
        /// The provider's payment id.
        payment_id: String,
        /// The cumulative amount refunded for this payment.
        refunded: Money,
    },
    /// The payer's bank took a payment back.
    PaymentChargedBack {
        /// The provider.
        provider: Provider,
        /// The provider's payment id.
        payment_id: String,
        /// The amount the provider shows (the payment's own amount is kept when known).
        amount: Money,
    },
    /// The counted payments equal the total: the booking is paid and its seats confirmed.
    BookingPaid {
        /// The counted sum (= the total).
        paid: Money,
    },
    /// Some money counted, less than the total.
    BookingPartiallyPaid {
        /// The counted sum.
        paid: Money,
        /// What is still due.
        due: Money,
    },
    /// Money arrived that the booking cannot use (its seats are gone, or it was cancelled
    /// or refunded): operations must refund it.
    LatePaymentRequiresRefund {
        /// The counted sum.
        paid: Money,
    },
    /// An approved amount does not fit the booking (another currency, zero or less, or a
    /// counted sum above the total). It never pays the booking; operations decide.
    AmountMismatchFlagged {
        /// The provider.
        provider: Provider,
        /// The payment reported.
        payment_id: String,
        /// What the booking expects: its total.
        expected: Money,
        /// What arrived: the payment's amount, or the counted sum above the total.
        received: Money,
    },
    /// A report contradicted the payment's state and changed nothing (invariant 4: a
    /// terminal failure reported approved lands here).
    PaymentAnomalyRecorded {
        /// The provider.
        provider: Provider,
        /// The provider's payment id.
        payment_id: String,
        /// What the provider said.
        reported: ReportedStatus,
        /// Where the payment stands (`pending` for a payment the ledger does not know).
        current: PaymentStatus,
        /// Why it was not applied.
        detail: String,
    },
    /// Every counted payment went back (refunds and chargebacks); the seats were released
    /// unless the refund asked to keep them.
    BookingRefunded {
        /// The amount that went back.
        refunded: Money,
    },
    /// An operator asked the providers to refund money of the booking (API.md `POST
    /// /v1/bookings/{id}/refunds`, or a cancel of a paid booking), and each provider
    /// accepted its part. A record of the request, never money: the booking's refunded
    /// amount grows only by `PaymentRefunded`, from the provider's own report.
    RefundRequested {
        /// The refund's id (UUID v7), as answered to the operator.
        refund_id: String,
        /// Who asked (`sub`).
        by: String,
        /// The sum of the parts.
        amount: Money,
        /// One part per payment, newest payment first.
        parts: Vec<RefundPart>,
        /// A full refund keeps the seats (and the coupon claim) instead of releasing them.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        keep_seats: bool,
        /// The operator's reason, sealed with the customer's data key (it may name them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Sealed>,
        /// The id of that key (with `reason`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_key: Option<String>,
    },
    /// Seats moved between slots (API.md `POST /v1/bookings/{id}/move`): the items before
    /// and after. The total, the discount and the coupon claim stay as they were.
    BookingMoved {
        /// Who moved it (`sub`).
        by: String,
        /// The items before the move.
        from: Vec<BookingItem>,
        /// The items after it.
        items: Vec<BookingItem>,
    },
}

/// In which role a `BookingCancelled` was decided, stored as `"role"` (schema version 2).
///
/// Why it replaced version 1's `"operator": bool`: `false` said only who the canceller was
/// not, while the rule that wrote it (`cancel_booking`) allows exactly two roles — the
/// owner, or an operator. Naming the role makes the audit row read as the rule reads, and
/// lets a third kind of canceller (the panel, a system job) be added as a variant instead
/// of a second boolean. The upcast is exact: v1 `false` was only ever written for the
/// booking's owner (anyone else got `NotOwner`), so it becomes `owner`; `true` becomes
/// `operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancellerRole {
    /// The customer who placed the booking (`by` == the booking's customer).
    Owner,
    /// Someone acting with the operator role (`by` may or may not be the customer).
    Operator,
}

/// A booking's status (API.md "Bookings").
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Seats held, awaiting payment.
    #[default]
    Held,
    /// Some payment received, not the whole total.
    PartiallyPaid,
    /// Paid in full.
    Paid,
    /// The hold lapsed unpaid.
    Expired,
    /// Cancelled by the owner or an operator.
    Cancelled,
    /// Paid, then every counted payment went back.
    Refunded,
    /// Paid after the seats were gone, or after a cancellation or refund; operations must
    /// refund.
    RefundRequired,
}

impl BookingStatus {
    /// Every status, in the order above (the OpenAPI document lists them).
    pub const ALL: [BookingStatus; 7] = [
        BookingStatus::Held,
        BookingStatus::PartiallyPaid,
        BookingStatus::Paid,
        BookingStatus::Expired,
        BookingStatus::Cancelled,
        BookingStatus::Refunded,
        BookingStatus::RefundRequired,
    ];

    /// The wire name (`held`, `partially_paid`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            BookingStatus::Held => "held",
            BookingStatus::PartiallyPaid => "partially_paid",
            BookingStatus::Paid => "paid",
            BookingStatus::Expired => "expired",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Refunded => "refunded",
            BookingStatus::RefundRequired => "refund_required",
        }
    }
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `BookingPlaced` recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacedBooking {
    /// The booking's own id; `None` for bookings placed before it was recorded.
    #[serde(default)]
    pub booking_id: Option<BookingId>,
    /// The customer (`sub`) who placed it; the owner.
    pub customer: String,
    /// The items, in request order.
    pub items: Vec<BookingItem>,
    /// Σ unit price × seats.
    pub subtotal: Money,
    /// What the coupon took off.
    pub discount: Money,
    /// What is to be paid.
    pub total: Money,
    /// The coupon claimed, if any.
    pub coupon_code: Option<CouponCode>,
    /// When the holds lapse unless paid.
    pub hold_expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod status_list {
    use super::BookingStatus;

    /// Its place in [`BookingStatus::ALL`]: a status added to the enum fails to compile here
    /// until it is placed, and then the test until `ALL` lists it.
    fn place(status: BookingStatus) -> usize {
        match status {
            BookingStatus::Held => 0,
            BookingStatus::PartiallyPaid => 1,
            BookingStatus::Paid => 2,
            BookingStatus::Expired => 3,
            BookingStatus::Cancelled => 4,
            BookingStatus::Refunded => 5,
            BookingStatus::RefundRequired => 6,
        }
    }

    #[test]
    fn all_lists_every_status_once_in_order() {
        for (i, status) in BookingStatus::ALL.into_iter().enumerate() {
            assert_eq!(place(status), i, "{status}");
        }
    }
}
