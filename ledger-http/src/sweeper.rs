//! The hold sweeper: bookings whose hold has expired get `BookingExpired`, their slots'
//! holds are released (`HoldReleased`, reason `expired`) unless a later command on the slot
//! already did so (write-on-read), and their coupon claim is released — exactly once
//! either way, because each release is decided on the locked state (`ExpireBooking`).
//! A booking's wake time follows `ledger_core::domain::wake_at`, so one that still waits
//! is looked at again at its own expiry, never in a loop.

use std::time::Duration;

use ledger_core::domain::ExpireBooking;
use ledger_core::{BookingId, Category, StreamId};
use ledger_store::{Command, Executed};
use serde_json::json;

use crate::commands::bookings::{find_booking, streams_of};
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
    let id = BookingId::parse(stream.key()).map_err(|_| ApiError::internal())?;
    let Some(before) = find_booking(state, &id).await? else {
        return Ok(false);
    };
    let command = Command {
        decision: ExpireBooking {
            streams: streams_of(id, &before)?,
        },
        key: None,
        metadata: json!({"source": "sweeper"}),
        render: None,
    };
    match state.store.execute(command).await? {
        Executed::Decided { output, .. } => {
            if output {
                state.committed();
            }
            Ok(output)
        }
        _ => Ok(false),
    }
}
