//! A verified payment report, applied to its booking under the locks of the booking, its
//! slots and its coupon: the payment state machine of `ledger_core::domain`
//! (`PayBooking`). This path — a verified webhook, or an operator reconciliation that
//! re-fetched the provider — is the only one that can make a booking paid (invariant 2).

use ledger_core::domain::{PayBooking, PaymentReport};
use ledger_core::BookingId;

use super::ingest::{ingest, Delivery, Ingested};
use crate::commands::bookings::{find_booking, streams_of};
use crate::error::ApiError;
use crate::startup::AppState;

/// Records `delivery`; when it names a placed booking, applies `report` to it. The
/// payload is sealed with the key of the booking's customer — the booking of the report,
/// or the one the delivery names although it reports nothing we use (`booking_hint`).
pub async fn ingest_payment(
    state: &AppState,
    delivery: Delivery,
    target: Option<(BookingId, PaymentReport)>,
) -> Result<Ingested, ApiError> {
    // Planned on the booking's slots as read: again if it moved before the lock.
    crate::commands::planned_again(|| ingest_once(state, delivery.clone(), target.clone())).await
}

async fn ingest_once(
    state: &AppState,
    mut delivery: Delivery,
    target: Option<(BookingId, PaymentReport)>,
) -> Result<Ingested, ApiError> {
    let named = target.as_ref().map(|(id, _)| *id).or(delivery.booking_hint);
    // The booking's items decide what to lock (its customer never changes).
    let before = match named {
        Some(id) => find_booking(state, &id).await?,
        None => None,
    };
    delivery.subject = before
        .as_ref()
        .and_then(|b| b.placed.as_ref())
        .map(|p| p.customer.clone());
    let (Some((booking_id, report)), Some(before)) = (target, before) else {
        return ingest::<PayBooking>(state, delivery, None).await;
    };
    delivery.booking_id = Some(booking_id.to_string());
    let change = PayBooking {
        streams: streams_of(booking_id, &before)?,
        report,
    };
    ingest(state, delivery, Some(change)).await
}
