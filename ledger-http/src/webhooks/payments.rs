//! A verified payment report, applied to its booking under the locks of the booking, its
//! slots and its coupon: the payment state machine of `ledger_core::domain`. This path —
//! a verified webhook, or an operator reconciliation that re-fetched the provider — is the
//! only one that can make a booking paid (invariant 2).

use std::collections::BTreeMap;

use ledger_core::domain::{
    apply_payment, BookingState, BookingStatus, CouponState, PaymentOutcome, PaymentReport,
    SlotState,
};
use ledger_core::provider_log::IngestOutcome;
use ledger_core::{BookingId, SlotId};
use ledger_store::Wake;
use serde_json::json;

use super::ingest::{ingest, Delivery, Ingested, Transitions};
use crate::commands::aggregate::{append, load_locked};
use crate::commands::bookings::{find_booking, lock_set};
use crate::error::ApiError;
use crate::startup::AppState;

/// Records `delivery`; when it names a placed booking, applies `report` to it.
pub async fn ingest_payment(
    state: &AppState,
    mut delivery: Delivery,
    target: Option<(BookingId, PaymentReport)>,
) -> Result<Ingested, ApiError> {
    let placed = match &target {
        Some((id, _)) => find_booking(state, id)
            .await?
            .filter(|b| b.placed.is_some()),
        None => None,
    };
    let (Some((booking_id, report)), Some(before)) = (target, placed) else {
        return ingest(state, delivery, &[], async |_| Ok(Transitions::ignored())).await;
    };
    let placed = before.placed.as_ref().ok_or_else(ApiError::internal)?;
    let slot_ids: Vec<SlotId> = placed.items.iter().map(|i| i.slot_id.clone()).collect();
    let coupon = placed.coupon_code.clone();
    let streams = lock_set(&slot_ids, &booking_id, coupon.as_ref());
    delivery.booking_id = Some(booking_id.to_string());
    let metadata = json!({"source": delivery.source, "provider": delivery.provider, "provider_event_id": delivery.event_id});
    let store = &state.store;
    ingest(state, delivery, &streams, async |locked| {
        let now = state.clock.now();
        let mut booking: BookingState = load_locked(store, locked, &booking_id.stream_id()).await?;
        let mut slots = BTreeMap::new();
        for id in &slot_ids {
            slots.insert(
                id.clone(),
                load_locked::<SlotState>(store, locked, &id.stream_id()).await?,
            );
        }
        let mut coupon_state: Option<CouponState> = match &coupon {
            Some(code) => Some(load_locked(store, locked, &code.stream_id()).await?),
            None => None,
        };
        let d = apply_payment(&booking, &slots, coupon_state.as_ref(), &report, now);
        if matches!(d.outcome, PaymentOutcome::UnknownBooking) {
            return Ok(Transitions::ignored());
        }
        let mut appends = Vec::new();
        for (id, events) in &d.slot_events {
            if let Some(slot) = slots.get_mut(id) {
                appends.push(append(
                    id.stream_id(),
                    slot,
                    events,
                    &metadata,
                    Wake::Unchanged,
                )?);
            }
        }
        if let (Some(code), Some(c)) = (&coupon, coupon_state.as_mut()) {
            appends.push(append(
                code.stream_id(),
                c,
                &d.coupon_events,
                &metadata,
                Wake::Unchanged,
            )?);
        }
        let mut after = booking.clone();
        d.booking_events.iter().for_each(|e| after.apply(e));
        // Only a booking still waiting for money keeps its expiry wake-up.
        let waiting = matches!(
            after.status_at(now),
            Some(BookingStatus::Held | BookingStatus::PartiallyPaid)
        );
        let wake = if waiting {
            Wake::Unchanged
        } else {
            Wake::Never
        };
        appends.push(append(
            booking_id.stream_id(),
            &mut booking,
            &d.booking_events,
            &metadata,
            wake,
        )?);
        Ok(Transitions {
            appends,
            outcome: IngestOutcome::Applied,
        })
    })
    .await
}
