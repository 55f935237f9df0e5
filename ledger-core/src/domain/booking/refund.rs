//! Refunds an operator asks for (API.md `POST /v1/bookings/{id}/refunds`, and an operator's
//! cancel of a paid booking): what is still refundable, how an amount splits across the
//! booking's payments (newest approval first), and the idempotency key of each provider
//! call. `RefundRequested` records a request the providers accepted; money moves only when
//! a provider reports it (`PaymentRefunded`).
//!
//! What a payment can still give back is its amount less the larger of what it refunded
//! and what operators already asked it to refund: a request waiting for its confirmation
//! is never asked for twice.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::BookingState;
use crate::canonical::canonical_json;
use crate::domain::payment::{payment_key, PaymentRecord, PaymentStatus, Provider};
use crate::ids::BookingId;
use crate::money::Money;

/// One payment's share of a refund request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundPart {
    /// The provider.
    pub provider: Provider,
    /// The provider's payment id.
    pub payment_id: String,
    /// What this part gives back.
    pub amount: Money,
    /// The payment's cumulative requested refunds once this part is asked for: the part
    /// covers the payment's money from `through − amount` to `through`.
    pub through: Money,
    /// The idempotency key sent with the provider call ([`refund_idempotency_key`]).
    pub idempotency_key: String,
    /// The provider's id of the refund (a Stripe refund, a Mercado Pago refund, a Pix
    /// devolução); empty in a plan, before the provider answered.
    pub provider_refund_id: String,
}

/// Why a refund cannot be asked for (API.md 409 `not_refundable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundRefusal {
    /// The booking does not exist.
    UnknownBooking,
    /// Nothing paid is left to refund.
    NothingRefundable,
    /// More than is refundable was asked for.
    MoreThanRefundable { refundable: Money },
    /// The amount is zero or less, or in another currency than the booking's payments.
    InvalidAmount,
    /// Every part was already asked for (a concurrent request with the same plan).
    AlreadyRequested,
}

impl RefundRefusal {
    /// The problem's detail (no personal data).
    pub fn detail(&self) -> String {
        match self {
            RefundRefusal::UnknownBooking => "no such booking".to_owned(),
            RefundRefusal::NothingRefundable => {
                "nothing paid is left to refund (refunds already asked for count)".to_owned()
            }
            RefundRefusal::MoreThanRefundable { refundable } => format!(
                "at most {} {} minor units can still be refunded",
                refundable.minor(),
                refundable.currency().as_str()
            ),
            RefundRefusal::InvalidAmount => {
                "the amount must be above zero and in the booking's currency".to_owned()
            }
            RefundRefusal::AlreadyRequested => {
                "a concurrent refund request already asked for this money".to_owned()
            }
        }
    }
}

/// The counted payments that can still give money back, newest approval first, each with
/// where its refundable money starts (minor units already refunded or asked for).
fn refundable_payments(booking: &BookingState) -> Vec<(&PaymentRecord, i64)> {
    let Some(placed) = &booking.placed else {
        return Vec::new();
    };
    let rank = |record: &PaymentRecord| {
        let key = payment_key(record.provider, &record.payment_id);
        booking.approvals.iter().position(|k| *k == key)
    };
    let mut payments: Vec<(&PaymentRecord, i64)> = booking
        .payments
        .values()
        .filter(|r| r.counts_toward(placed.total))
        .filter(|r| matches!(r.status, PaymentStatus::Approved | PaymentStatus::Refunded))
        .filter_map(|r| {
            let requested = r
                .refund_requested
                .filter(|m| m.currency() == r.amount.currency())
                .map_or(0, |m| m.minor());
            let from = r.reversed_minor().max(requested);
            (from < r.amount.minor()).then_some((r, from))
        })
        .collect();
    // Newest approval first; payments approved before the order was recorded last.
    payments.sort_by_key(|(r, _)| std::cmp::Reverse(rank(r)));
    payments
}

/// What can still be refunded, in the booking's currency; `None` when it does not exist.
pub fn refundable(booking: &BookingState) -> Option<Money> {
    let currency = booking.placed.as_ref()?.total.currency();
    let room: i64 = refundable_payments(booking)
        .iter()
        .map(|(r, from)| r.amount.minor() - from)
        .sum();
    Money::new(room, currency).ok()
}

/// Splits a refund of `amount` (`None`: everything refundable) across the booking's
/// payments, newest approval first, each part with its provider idempotency key. The
/// provider refund ids are left empty for the caller to fill in.
pub fn plan_refund(
    booking_id: &BookingId,
    booking: &BookingState,
    amount: Option<Money>,
) -> Result<Vec<RefundPart>, RefundRefusal> {
    let placed = booking
        .placed
        .as_ref()
        .ok_or(RefundRefusal::UnknownBooking)?;
    let room = refundable(booking).ok_or(RefundRefusal::UnknownBooking)?;
    if room.minor() <= 0 {
        return Err(RefundRefusal::NothingRefundable);
    }
    let wanted = amount.unwrap_or(room);
    if wanted.currency() != placed.total.currency() || wanted.minor() <= 0 {
        return Err(RefundRefusal::InvalidAmount);
    }
    if wanted.minor() > room.minor() {
        return Err(RefundRefusal::MoreThanRefundable { refundable: room });
    }
    let mut left = wanted.minor();
    let mut parts = Vec::new();
    for (record, from) in refundable_payments(booking) {
        if left == 0 {
            break;
        }
        let take = left.min(record.amount.minor() - from);
        left -= take;
        let currency = record.amount.currency();
        // In range: 0 < take <= from + take <= the payment's amount.
        let (Ok(part), Ok(through)) = (
            Money::new(take, currency),
            Money::new(from + take, currency),
        ) else {
            return Err(RefundRefusal::InvalidAmount);
        };
        parts.push(RefundPart {
            provider: record.provider,
            payment_id: record.payment_id.clone(),
            amount: part,
            through,
            idempotency_key: refund_idempotency_key(
                booking_id,
                record.provider,
                &record.payment_id,
                from,
                &through,
            ),
            provider_refund_id: String::new(),
        });
    }
    Ok(parts)
}

/// The idempotency key of the provider call refunding the money of payment `payment_id`
/// from `from` (minor units already refunded or asked for) to `through`: the lowercase hex
/// SHA-256 of the RFC 8785 canonical JSON of `{"booking_id", "provider", "payment_id",
/// "refund_from_minor", "refund_through_minor", "currency"}`. A retry of a request — the
/// client's own, or a concurrent one that planned on the same state — asks for the same
/// money with the same key, so the provider refunds it once; the next request starts where
/// this one ended, with a new key.
pub fn refund_idempotency_key(
    booking_id: &BookingId,
    provider: Provider,
    payment_id: &str,
    from: i64,
    through: &Money,
) -> String {
    let document = json!({
        "booking_id": booking_id.to_string(),
        "provider": provider.as_str(),
        "payment_id": payment_id,
        "refund_from_minor": from,
        "refund_through_minor": through.minor(),
        "currency": through.currency().as_str(),
    });
    // A flat object of strings and safe integers: JCS cannot fail on it; were it ever to,
    // the plain JSON text (key order of serde_json's map) still gives a stable key.
    let canonical = canonical_json(&document).unwrap_or_else(|_| document.to_string());
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests;
