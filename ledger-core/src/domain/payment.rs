//! Payments of a booking: the providers, what a verified provider delivery (or an operator
//! reconciliation that re-fetched the provider) reports about one payment
//! ([`PaymentReport`]), the per-payment record a booking keeps ([`PaymentRecord`]), and
//! [`apply_payment`], the decision that turns a report into booking, slot and coupon
//! events. The per-payment state machine is in `payment/transition.rs`, the booking-level
//! consequences in `payment/decide.rs`, seat and coupon moves in `payment/seats.rs`.
//! Starting a payment (the provider idempotency key, the amount due, whether a booking is
//! payable, the [`PaymentRequest`] a booking remembers) is `payment/request.rs`.
//!
//! Only this path makes a booking paid (invariant 2); a payment in a terminal failure never
//! becomes approved (invariant 4); amounts are integer minor units (invariant 11).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::booking::BookingEvent;
use crate::domain::coupon::CouponEvent;
use crate::domain::rejection::Rejection;
use crate::domain::slot::SlotEvent;
use crate::ids::SlotId;
use crate::money::Money;

mod decide;
mod request;
mod seats;
mod transition;

pub use decide::apply_payment;
pub use request::{amount_due, payable, provider_idempotency_key, PaymentRequest};

/// Longest payment id, in bytes: 255. Provider ids are short (Stripe `pi_…` ≈ 27, Mercado
/// Pago numeric ≤ 20, Pix `endToEndId` 32); the bound matches the store's dedup keys and
/// keeps every payment event small.
pub const MAX_PAYMENT_ID_LEN: usize = 255;

/// Longest provider event id, in bytes: 255, for the same reasons as [`MAX_PAYMENT_ID_LEN`].
pub const MAX_PROVIDER_EVENT_ID_LEN: usize = 255;

/// Most distinct payments one booking records: 50. Each Mercado Pago retry is a new payment
/// id and the booking snapshot is rewritten on every payment event; a real checkout has a
/// handful, so more is a runaway integration, recorded as an anomaly.
pub const MAX_PAYMENTS_PER_BOOKING: usize = 50;

/// A payment provider. Serialised (and parsed) as `stripe`, `mercadopago`, `pix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Provider {
    /// Stripe (PaymentIntents).
    #[serde(rename = "stripe")]
    Stripe,
    /// Mercado Pago (Checkout Pro payments).
    #[serde(rename = "mercadopago")]
    MercadoPago,
    /// Pix (BCB API Pix immediate charges).
    #[serde(rename = "pix")]
    Pix,
}

impl Provider {
    /// Every provider, in declaration order.
    pub const ALL: [Provider; 3] = [Provider::Stripe, Provider::MercadoPago, Provider::Pix];

    /// The wire name, also the dedup scope of its event ids.
    pub fn as_str(&self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::MercadoPago => "mercadopago",
            Provider::Pix => "pix",
        }
    }
}

impl FromStr for Provider {
    type Err = Rejection;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|provider| provider.as_str() == text)
            .ok_or_else(|| {
                Rejection::InvalidPayment("provider must be stripe, mercadopago or pix".into())
            })
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a provider says about one payment. Terminal failures: Mercado Pago `rejected` →
/// `Rejected`, `cancelled` → `Cancelled`; Stripe `payment_intent.canceled` → `Cancelled`.
/// Stripe `payment_intent.payment_failed` is `AttemptFailed`: not terminal, the same intent
/// can still succeed with another card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportedStatus {
    /// Created or in process; no money yet.
    Pending,
    /// The money was received (`amount` = what was paid).
    Approved,
    /// One attempt failed; the payment may still succeed.
    AttemptFailed,
    /// Refused for good (terminal failure).
    Rejected,
    /// Cancelled for good (terminal failure).
    Cancelled,
    /// Money went back (`amount` = the cumulative refund so far).
    Refunded,
    /// The payer's bank took the money back (terminal).
    ChargedBack,
}

/// Where a payment stands in the booking's ledger; the same names as [`ReportedStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Created or in process.
    Pending,
    /// Paid.
    Approved,
    /// The last attempt failed; another may succeed.
    AttemptFailed,
    /// Refused for good.
    Rejected,
    /// Cancelled for good.
    Cancelled,
    /// Refunded, wholly or in part (`refunded` says how much).
    Refunded,
    /// Taken back by the payer's bank.
    ChargedBack,
}

/// How a payment failed: the statuses `PaymentRejected` may record (so a stored failure can
/// never read as an approval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentFailure {
    /// One attempt failed; the payment may still succeed.
    AttemptFailed,
    /// Refused for good.
    Rejected,
    /// Cancelled for good.
    Cancelled,
}

impl From<PaymentFailure> for PaymentStatus {
    fn from(failure: PaymentFailure) -> PaymentStatus {
        match failure {
            PaymentFailure::AttemptFailed => PaymentStatus::AttemptFailed,
            PaymentFailure::Rejected => PaymentStatus::Rejected,
            PaymentFailure::Cancelled => PaymentStatus::Cancelled,
        }
    }
}

impl ReportedStatus {
    /// The wire name (`pending`, `attempt_failed`, …).
    pub fn as_str(&self) -> &'static str {
        PaymentStatus::from(*self).as_str()
    }
}

impl PaymentStatus {
    /// The wire name (`pending`, `attempt_failed`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Approved => "approved",
            PaymentStatus::AttemptFailed => "attempt_failed",
            PaymentStatus::Rejected => "rejected",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::ChargedBack => "charged_back",
        }
    }

    /// A state no report moves the payment out of: `Rejected`, `Cancelled`, `ChargedBack`.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            PaymentStatus::Rejected | PaymentStatus::Cancelled | PaymentStatus::ChargedBack
        )
    }
}

impl From<ReportedStatus> for PaymentStatus {
    fn from(status: ReportedStatus) -> PaymentStatus {
        match status {
            ReportedStatus::Pending => PaymentStatus::Pending,
            ReportedStatus::Approved => PaymentStatus::Approved,
            ReportedStatus::AttemptFailed => PaymentStatus::AttemptFailed,
            ReportedStatus::Rejected => PaymentStatus::Rejected,
            ReportedStatus::Cancelled => PaymentStatus::Cancelled,
            ReportedStatus::Refunded => PaymentStatus::Refunded,
            ReportedStatus::ChargedBack => PaymentStatus::ChargedBack,
        }
    }
}

impl fmt::Display for ReportedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a report came from. Both read the provider's own record (invariant 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentSource {
    /// A verified provider webhook.
    Webhook,
    /// An operator reconciliation that re-fetched the payment from the provider.
    Reconciliation,
}

/// What a verified provider delivery (or a reconciliation) says about ONE payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentReport {
    /// The provider.
    pub provider: Provider,
    /// The provider's payment id (Stripe PaymentIntent, Mercado Pago payment, Pix
    /// `endToEndId`); 1..=[`MAX_PAYMENT_ID_LEN`] bytes, no control characters.
    pub payment_id: String,
    /// What the provider says.
    pub status: ReportedStatus,
    /// For `Approved`: the amount paid. For `Refunded`: the CUMULATIVE amount refunded so
    /// far for this payment. Otherwise the amount the provider shows (informative).
    pub amount: Money,
    /// Webhook or reconciliation.
    pub source: PaymentSource,
    /// The provider's event (or notification) id, for the audit trail; at most
    /// [`MAX_PROVIDER_EVENT_ID_LEN`] bytes, no control characters (may be empty).
    pub provider_event_id: String,
}

impl PaymentReport {
    /// Checks the ids' bounds. `apply_payment` records nothing for a report that fails
    /// this (outcome `Anomaly`); the edge should refuse it first (a malformed delivery).
    pub fn validate(&self) -> Result<(), Rejection> {
        let invalid = |detail: String| Err(Rejection::InvalidPayment(detail));
        if self.payment_id.is_empty() || self.payment_id.len() > MAX_PAYMENT_ID_LEN {
            return invalid(format!(
                "payment_id must be 1 to {MAX_PAYMENT_ID_LEN} bytes"
            ));
        }
        if self.provider_event_id.len() > MAX_PROVIDER_EVENT_ID_LEN {
            return invalid(format!(
                "provider_event_id must be at most {MAX_PROVIDER_EVENT_ID_LEN} bytes"
            ));
        }
        if self.payment_id.chars().any(char::is_control)
            || self.provider_event_id.chars().any(char::is_control)
        {
            return invalid("payment ids must not contain control characters".into());
        }
        Ok(())
    }

    /// The key of this payment in [`crate::domain::BookingState::payments`].
    pub fn key(&self) -> String {
        payment_key(self.provider, &self.payment_id)
    }
}

/// `"<provider>:<payment_id>"`, the key of a payment within its booking.
pub fn payment_key(provider: Provider, payment_id: &str) -> String {
    format!("{}:{payment_id}", provider.as_str())
}

/// One payment of a booking, as the ledger recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRecord {
    /// The provider.
    pub provider: Provider,
    /// The provider's payment id.
    pub payment_id: String,
    /// Where it stands.
    pub status: PaymentStatus,
    /// Once approved, the amount paid; before that, the amount last reported.
    pub amount: Money,
    /// The cumulative amount refunded (zero until a refund).
    pub refunded: Money,
    /// Whether the provider ever approved it (stays true through refunds and chargebacks).
    #[serde(default)]
    pub approved: bool,
    /// The cumulative amount operators asked the provider to refund (`RefundRequested`),
    /// confirmed or not; absent until a refund is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_requested: Option<Money>,
}

impl PaymentRecord {
    /// Whether its money counts toward a booking whose total is `total`: approved, in the
    /// total's currency, above zero.
    pub fn counts_toward(&self, total: Money) -> bool {
        self.approved && countable(self.amount, total)
    }

    /// How much of a counted payment went back (minor units): the refund (at most the
    /// amount) or, charged back, all of it.
    pub(crate) fn reversed_minor(&self) -> i64 {
        match self.status {
            PaymentStatus::ChargedBack => self.amount.minor(),
            PaymentStatus::Refunded if self.refunded.currency() == self.amount.currency() => {
                self.refunded.minor().clamp(0, self.amount.minor())
            }
            _ => 0,
        }
    }
}

/// An approved amount counts when it is in the total's currency and above zero.
pub(crate) fn countable(amount: Money, total: Money) -> bool {
    amount.currency() == total.currency() && amount.minor() > 0
}

/// What [`apply_payment`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentOutcome {
    /// The report moved the payment (events to append).
    Applied,
    /// The payment already stands where the report says (idempotent): no events.
    Unchanged,
    /// The report contradicts the payment's state (a terminal failure reported approved,
    /// …): recorded as `PaymentNotified` + `PaymentAnomalyRecorded`, nothing else changes.
    /// Also an invalid report (see [`PaymentReport::validate`]), with no events.
    Anomaly,
    /// The booking was never placed: no events.
    UnknownBooking,
}

/// Everything to append, per stream, and the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentDecision {
    /// Events for the booking stream; `PaymentNotified` first whenever any.
    pub booking_events: Vec<BookingEvent>,
    /// Events per slot stream, only for slots that have any.
    pub slot_events: BTreeMap<SlotId, Vec<SlotEvent>>,
    /// Events for the booking's coupon stream.
    pub coupon_events: Vec<CouponEvent>,
    /// What happened.
    pub outcome: PaymentOutcome,
}

impl PaymentDecision {
    /// No events at all.
    pub(crate) fn nothing(outcome: PaymentOutcome) -> PaymentDecision {
        PaymentDecision {
            booking_events: Vec::new(),
            slot_events: BTreeMap::new(),
            coupon_events: Vec::new(),
            outcome,
        }
    }
}

#[cfg(test)]
mod tests;
