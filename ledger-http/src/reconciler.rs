//! Automatic reconciliation, for webhooks that never come: every booking with a payment
//! requested is looked at again with its providers once `AppState::reconcile_after` (10 min
//! by default, `LEDGER_RECONCILE_AFTER_MINUTES`) has passed without it being paid, exactly
//! as the operator's `POST /v1/bookings/{id}/reconcile` does (same events, `source:
//! reconciliation`, the same dedup keys, so a report is applied once however often it is
//! fetched), then again after twice as long, and so on (at most every [`MAX_BACKOFF`]),
//! until the booking no longer awaits payment.
//!
//! The schedule (`reconciliation_due`) is fed from the ledger's feed (`PaymentRequested`),
//! like the outbox. One replica runs the job (its lease). Provider calls are rate-limited
//! per provider ([`PER_PROVIDER_PER_PASS`] per [`PASS_INTERVAL`]); counts are in
//! `/metrics` (`ledger_reconciliations_total{provider,result}`,
//! `ledger_reconciliation_bookings{state="scheduled"|"due"}`).

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use ledger_core::domain::{BookingState, BookingStatus, Provider};
use ledger_core::{BookingId, Category, StreamId};
use prometheus::{IntCounterVec, Opts};

use crate::commands::reconcile::reconcile;
use crate::error::ApiError;
use crate::startup::AppState;

/// The feed consumer's checkpoint name.
pub const CONSUMER: &str = "reconciliation";
/// Default wait after a payment request before the first look.
pub const DEFAULT_AFTER: chrono::Duration = chrono::Duration::minutes(10);
/// How often the job looks for due bookings.
pub const PASS_INTERVAL: Duration = Duration::from_secs(10);
/// Bookings reconciled per provider and pass: at most one provider look-up per second on
/// average, well inside every provider's API limits, whatever the backlog.
pub const PER_PROVIDER_PER_PASS: usize = 10;
/// Due rows read per pass.
const DUE_BATCH: i64 = 100;
/// Feed events read per feeder pass.
const FEED_BATCH: i64 = 1000;
/// The longest wait between two looks at one booking.
pub const MAX_BACKOFF: chrono::Duration = chrono::Duration::hours(6);

/// `ledger_reconciliations_total{provider, result}`: bookings looked at by the job, by
/// provider and result (`applied`: something new was applied; `unchanged`; `failed`).
pub static RECONCILIATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "ledger_reconciliations_total",
            "Automatic reconciliations by provider and result",
        ),
        &["provider", "result"],
    )
    .expect("valid metric")
});

/// Runs until the task is dropped.
pub async fn run(state: AppState) {
    loop {
        if let Err(e) = feed(&state).await {
            tracing::warn!(error = %e, "reconciliation feeder pass failed");
        }
        match reconcile_due(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(bookings = n, "automatic reconciliation"),
            Err(e) => tracing::warn!(error = %e, "reconciliation pass failed"),
        }
        tokio::time::sleep(PASS_INTERVAL).await;
    }
}

/// Schedules every `PaymentRequested` of the feed after the checkpoint, until caught up.
/// Returns the bookings scheduled.
pub async fn feed(state: &AppState) -> Result<usize, ApiError> {
    let store = &state.store;
    let mut scheduled = 0;
    loop {
        let after = store.checkpoint(CONSUMER).await?;
        let page = store.read_all_marks(after, FEED_BATCH).await?;
        if page.marks.is_empty() {
            return Ok(scheduled);
        }
        let rows: Vec<_> = page
            .marks
            .iter()
            .filter(|e| {
                e.stream_id.category() == Category::Booking && e.event_type == "PaymentRequested"
            })
            .filter_map(|e| {
                let id = BookingId::parse(e.stream_id.key()).ok()?;
                Some((id.as_uuid(), e.recorded_at + state.reconcile_after))
            })
            .collect();
        store
            .schedule_reconciliations(CONSUMER, page.next, &rows)
            .await?;
        scheduled += rows.len();
        if page.marks.len() < FEED_BATCH as usize {
            return Ok(scheduled);
        }
    }
}

/// The wait before the next look after `attempts` looks.
pub fn backoff(after: chrono::Duration, attempts: i32) -> chrono::Duration {
    let doublings = attempts.clamp(0, 20) as u32;
    after
        .checked_mul(1 << doublings)
        .map_or(MAX_BACKOFF, |d| d.min(MAX_BACKOFF))
}

fn provider_name(p: Provider) -> &'static str {
    match p {
        Provider::Stripe => "stripe",
        Provider::MercadoPago => "mercadopago",
        Provider::Pix => "pix",
    }
}

/// Still waiting for a payment it requested: held or partly paid, with a request.
fn awaiting_payment(booking: &BookingState) -> bool {
    matches!(
        booking.status,
        BookingStatus::Held | BookingStatus::PartiallyPaid
    ) && !booking.requests().is_empty()
}

/// One pass over the due bookings (at most [`DUE_BATCH`], within each provider's budget).
/// Returns the bookings reconciled.
pub async fn reconcile_due(state: &AppState) -> Result<usize, ApiError> {
    let store = &state.store;
    let now = state.clock.now();
    let due = store.due_reconciliations(now, DUE_BATCH).await?;
    let streams: Vec<StreamId> = due
        .iter()
        .map(|(id, _)| BookingId::from_uuid(*id).stream_id())
        .collect();
    let bookings = store.states::<BookingState>(&streams).await?;
    let mut budget: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut done = 0;
    for ((uuid, attempts), found) in due.into_iter().zip(bookings) {
        let awaiting = found.as_ref().is_some_and(|(_, b)| awaiting_payment(b));
        let Some((_, booking)) = found.filter(|_| awaiting) else {
            store.reconciliation_done(uuid).await?;
            continue;
        };
        let mut providers: Vec<&'static str> = booking
            .requests()
            .iter()
            .map(|r| provider_name(r.provider))
            .collect();
        providers.sort_unstable();
        providers.dedup();
        if providers
            .iter()
            .any(|p| budget.get(p).copied().unwrap_or(0) >= PER_PROVIDER_PER_PASS)
        {
            continue; // over a provider's budget: stays due for the next pass
        }
        for p in &providers {
            *budget.entry(p).or_default() += 1;
        }
        let id = BookingId::from_uuid(uuid);
        let result = match reconcile(state, &id, &booking).await {
            Ok(0) => "unchanged",
            Ok(_) => "applied",
            Err(e) => {
                tracing::warn!(booking_id = %id, error = %e, "automatic reconciliation failed");
                "failed"
            }
        };
        for p in &providers {
            RECONCILIATIONS.with_label_values(&[p, result]).inc();
        }
        done += 1;
        // Paid now (or otherwise settled): off the schedule at once.
        if result == "applied" {
            let after = store.state::<BookingState>(&id.stream_id()).await?;
            if !after.as_ref().is_some_and(|(_, b)| awaiting_payment(b)) {
                store.reconciliation_done(uuid).await?;
                continue;
            }
        }
        let attempts = attempts.saturating_add(1);
        store
            .reconciliation_later(
                uuid,
                attempts,
                now + backoff(state.reconcile_after, attempts),
            )
            .await?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_and_is_capped() {
        let after = chrono::Duration::minutes(10);
        assert_eq!(backoff(after, 1), chrono::Duration::minutes(20));
        assert_eq!(backoff(after, 2), chrono::Duration::minutes(40));
        assert_eq!(backoff(after, 6), MAX_BACKOFF);
        assert_eq!(backoff(after, i32::MAX), MAX_BACKOFF);
    }
}
