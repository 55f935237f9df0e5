//! Checks after a run: `ledger-replay verify` over the whole ledger (hash chains and
//! invariants 1, 3, 4, 7), the seat counts of slots, the bookings and the payments the
//! ledger holds, to compare with what clients were told.

use std::collections::{HashMap, HashSet};

use anyhow::bail;
use ledger_core::{SlotState, StreamId};
use ledger_store::Store;
use replay_tools::state::StatePoint;
use replay_tools::{Command, Output, Verdict};

/// Runs `ledger-replay verify` on the bench database; any breach is an error naming it.
pub async fn verify(store: &Store) -> anyhow::Result<()> {
    let mut report = Vec::new();
    let verdict = replay_tools::run(
        store,
        Command::Verify,
        &Output::new(true, false),
        &mut report,
    )
    .await
    .map_err(|e| anyhow::anyhow!("ledger-replay verify: {e}"))?;
    match verdict {
        Verdict::Clean => Ok(()),
        Verdict::Breach => bail!(
            "ledger-replay verify found a breach:\n{}",
            String::from_utf8_lossy(&report)
        ),
    }
}

/// Seats (held, confirmed, capacity) of a slot, folded from its events with the chain
/// checked (`ledger-replay state`), not read from a cache or a read model.
pub async fn slot_seats(store: &Store, slot_id: &str) -> anyhow::Result<(u64, u64, u64)> {
    let stream = StreamId::parse(&format!("slot-{slot_id}"))?;
    let report = replay_tools::state::state(store, &stream, StatePoint::Latest)
        .await
        .map_err(|e| anyhow::anyhow!("folding {stream}: {e}"))?;
    let state: SlotState = serde_json::from_value(report.state)?;
    let capacity = state
        .spec
        .as_ref()
        .map(|s| u64::from(s.capacity))
        .unwrap_or(0);
    Ok((state.held().into(), state.confirmed().into(), capacity))
}

/// Booking streams in the ledger (`booking-<uuid>`) that hold events, and the number of
/// empty booking stream rows. A command creates its stream rows inside its transaction
/// (ledger-store `ENSURE_STREAMS`), so a rejected booking (`sold_out`), which commits its
/// outcome, leaves a row at version 0 with no event: not a booking.
pub async fn booking_streams(
    store: &ledger_store::Store,
) -> anyhow::Result<(HashSet<String>, i64)> {
    let client = store.client().await?;
    let rows = client
        .query(
            "SELECT stream_id FROM streams WHERE stream_id LIKE 'booking-%' AND version > 0",
            &[],
        )
        .await?;
    let empty: i64 = client
        .query_one(
            "SELECT count(*) FROM streams s WHERE s.stream_id LIKE 'booking-%' AND s.version = 0 \
             AND NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = s.stream_id)",
            &[],
        )
        .await?
        .get(0);
    Ok((rows.iter().map(|r| r.get::<_, String>(0)).collect(), empty))
}

/// `BookingPaid` events per booking stream.
pub async fn paid_events(store: &ledger_store::Store) -> anyhow::Result<HashMap<String, i64>> {
    let rows = store
        .client()
        .await?
        .query(
            "SELECT stream_id, count(*) FROM events WHERE event_type = 'BookingPaid' GROUP BY stream_id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect())
}
