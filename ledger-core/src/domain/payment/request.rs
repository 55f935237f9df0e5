//! Starting a payment (API.md, `POST /v1/bookings/{booking_id}/payments`): the provider
//! idempotency key sent with the call that creates the provider object, what a booking
//! still owes ([`amount_due`]), whether it can be paid now ([`payable`]), and
//! [`PaymentRequest`], the provider object (Mercado Pago preference, Stripe PaymentIntent,
//! Pix txid) a booking remembers from `PaymentRequested` so that a reconciliation knows
//! what to fetch.
//!
//! A request is a record that a provider object exists, never money: nothing here, and
//! nothing `PaymentRequested` does to a [`BookingState`], makes a booking paid.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Provider;
use crate::canonical::canonical_json;
use crate::domain::booking::{BookingState, BookingStatus};
use crate::ids::BookingId;
use crate::money::Money;
use crate::personal::Sealed;

/// A provider object created to collect a booking's money, as `PaymentRequested` recorded
/// it. A booking keeps one per `(provider, provider_reference)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// The provider.
    pub provider: Provider,
    /// The amount requested (what was due when it was created).
    pub amount: Money,
    /// The provider's id of the object: a Mercado Pago preference id, a Stripe
    /// PaymentIntent id or a Pix txid.
    pub provider_reference: String,
    /// The payer's data, sealed (never in clear: read models store this state as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Sealed>,
}

/// The idempotency key of the provider call that creates the payment object for
/// `booking_id`, `provider` and `amount` (API.md): the lowercase hex SHA-256 of the RFC 8785
/// canonical JSON of `{"booking_id", "provider", "amount_minor", "currency"}`. The same
/// booking, provider and amount due always give the same key, so a client retry never
/// creates a second preference or intent; a different amount due (after a partial payment)
/// gives a new one.
pub fn provider_idempotency_key(
    booking_id: &BookingId,
    provider: Provider,
    amount: &Money,
) -> String {
    let document = json!({
        "booking_id": booking_id.to_string(),
        "provider": provider.as_str(),
        "amount_minor": amount.minor(),
        "currency": amount.currency().as_str(),
    });
    // Cannot fail: the value is one flat object and `Money` bounds `amount_minor` to the
    // safe-integer range JCS needs. Were it ever to, the hand-written canonical form (the
    // same bytes, checked by the tests) keeps the key stable instead of panicking.
    let canonical = canonical_json(&document)
        .unwrap_or_else(|_| canonical_by_hand(booking_id, provider, amount));
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// The canonical JSON of the key document written out: members in JCS order (sorted by
/// name), no whitespace. Every string in it is ASCII without characters JCS escapes (a
/// hyphenated UUID, a provider name, a currency code), so no escaping is needed.
pub(crate) fn canonical_by_hand(
    booking_id: &BookingId,
    provider: Provider,
    amount: &Money,
) -> String {
    format!(
        r#"{{"amount_minor":{},"booking_id":"{booking_id}","currency":"{}","provider":"{}"}}"#,
        amount.minor(),
        amount.currency().as_str(),
        provider.as_str(),
    )
}

/// What the booking still owes, in its total's currency: total − [`BookingState::paid`],
/// zero when it holds the total or more (never negative). `None` when it was never placed.
/// It is what a new payment request asks for.
pub fn amount_due(booking: &BookingState) -> Option<Money> {
    let total = booking.placed.as_ref()?.total;
    let paid = booking.paid()?;
    let nothing = Money::zero(total.currency());
    // `paid` is in the total's currency and both lie in 0..=MAX_MINOR, so the difference
    // is in range; the fallback is unreachable.
    let due = total.checked_sub(paid).unwrap_or(nothing);
    Some(if due.is_negative() { nothing } else { due })
}

/// Whether a payment may be started at `now`: the booking exists and its status at `now`
/// ([`BookingState::status_at`], so a lapsed hold reads expired) is `held` or
/// `partially_paid`. API.md answers 409 `not_payable` otherwise.
pub fn payable(booking: &BookingState, now: DateTime<Utc>) -> bool {
    matches!(
        booking.status_at(now),
        Some(BookingStatus::Held | BookingStatus::PartiallyPaid)
    )
}

#[cfg(test)]
mod tests;
