//! The hold sweeper: bookings whose hold has expired get `BookingExpired`, their slots'
//! holds are released (`HoldReleased`, reason `expired`) unless a later command on the slot
//! already did so (write-on-read), and their coupon claim is released — exactly once
//! either way, because each release is decided on the locked state.

use std::time::Duration;

use ledger_core::domain::{
    expire_booking, release_claim, release_hold, BookingState, BookingStatus, CouponState,
    ReleaseReason, SlotState,
};
use ledger_core::{BookingId, Category, StreamId};
use ledger_store::{AppendBatch, Wake};
use serde_json::json;

use crate::commands::aggregate::{append, load_locked};
use crate::commands::bookings::{find_booking, lock_set};
use crate::error::ApiError;
use crate::startup::AppState;

/// How often the sweeper looks for expired holds. Holds last minutes; seats are also
/// released by the next command on the slot, so a few seconds of delay is harmless.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Bookings expired per pass: bounded, so one pass never holds many locks for long.
pub const SWEEP_BATCH: i64 = 100;

/// Sweeps until the task is dropped.
pub async fn run(state: AppState) {
    loop {
        tokio::time::sleep(SWEEP_INTERVAL).await;
        match sweep_once(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "hold sweeper"),
            Err(e) => tracing::warn!(error = %e, "hold sweeper pass failed"),
        }
    }
}

/// One pass: expires every due booking (at most `SWEEP_BATCH`). Returns how many.
pub async fn sweep_once(state: &AppState) -> Result<usize, ApiError> {
    let due = state
        .store
        .due_streams(Category::Booking, state.clock.now(), SWEEP_BATCH)
        .await?;
    let mut expired = 0;
    for stream in &due {
        if expire_one(state, stream).await? {
            expired += 1;
        }
    }
    Ok(expired)
}

async fn expire_one(state: &AppState, stream: &StreamId) -> Result<bool, ApiError> {
    let store = &state.store;
    let id = BookingId::parse(stream.key()).map_err(|_| ApiError::internal())?;
    let Some(before) = find_booking(state, &id).await? else {
        return Ok(false);
    };
    let Some(placed) = &before.placed else {
        return Ok(false);
    };
    let streams = lock_set(
        placed.items.iter().map(|i| &i.slot_id),
        &id,
        placed.coupon_code.as_ref(),
    );
    let locked = store.lock(&streams).await?;
    let now = state.clock.now();
    let metadata = json!({"source": "sweeper"});
    let mut booking: BookingState = load_locked(store, &locked, stream).await?;
    let events = expire_booking(&booking, now);
    let mut batch = AppendBatch::default();
    if !events.is_empty() {
        for item in &placed.items {
            let slot_stream = item.slot_id.stream_id();
            let mut slot: SlotState = load_locked(store, &locked, &slot_stream).await?;
            let released = release_hold(&slot, id, ReleaseReason::Expired);
            batch.streams.push(append(
                slot_stream,
                &mut slot,
                &released,
                &metadata,
                Wake::Unchanged,
            )?);
        }
        if let Some(code) = &placed.coupon_code {
            let mut coupon: CouponState = load_locked(store, &locked, &code.stream_id()).await?;
            let released = release_claim(&coupon, id, ReleaseReason::Expired);
            batch.streams.push(append(
                code.stream_id(),
                &mut coupon,
                &released,
                &metadata,
                Wake::Unchanged,
            )?);
        }
    }
    // Nothing more to wait for once the booking is no longer held (expired, cancelled);
    // a booking still held wakes again at its own expiry, never in a loop.
    let still_held = events.is_empty()
        && matches!(
            booking.status_at(now),
            Some(BookingStatus::Held | BookingStatus::PartiallyPaid)
        );
    let wake = if still_held {
        Wake::At(placed.hold_expires_at)
    } else {
        Wake::Never
    };
    batch.streams.push(append(
        stream.clone(),
        &mut booking,
        &events,
        &metadata,
        wake,
    )?);
    locked.commit(batch).await?;
    state.commits.notify_one();
    Ok(!events.is_empty())
}
