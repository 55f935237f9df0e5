//! Benchmark support (used by `ledger-bench`, never by the service): loading a large
//! synthetic history fast, and a plain scan of the events table as the baseline a
//! rebuild is compared with.

use crate::{Store, StoreError};

/// Rows inserted per statement when loading (one transaction each).
pub const LOAD_BATCH_STREAMS: i64 = 100;

/// Slot streams `slot-bench-<n>` (n in 1..=streams), each `SlotScheduled` then
/// `CapacityChanged` up to `per_stream` events, with valid payloads and v7-shaped event
/// ids. Hashes are zero: a rebuild does not verify chains (`ledger-replay verify` does).
pub async fn load_synthetic_slots(
    store: &Store,
    streams: i64,
    per_stream: i64,
) -> Result<i64, StoreError> {
    let client = store.client().await?;
    let mut first = 1;
    while first <= streams {
        let last = (first + LOAD_BATCH_STREAMS - 1).min(streams);
        client
            .execute(crate::sql::BENCH_STREAMS, &[&first, &last, &per_stream])
            .await?;
        client
            .execute(crate::sql::BENCH_EVENTS, &[&first, &last, &per_stream])
            .await?;
        first = last + 1;
    }
    Ok(streams * per_stream)
}

/// Reads every row of the events table to the client (the columns a feed reader reads)
/// and returns how many: the I/O floor a rebuild cannot beat.
pub async fn scan_events(store: &Store) -> Result<i64, StoreError> {
    use futures_util::TryStreamExt;
    let client = store.client().await?;
    let stmt = client.prepare_cached(crate::sql::BENCH_SCAN).await?;
    let rows = client.query_raw(&stmt, std::iter::empty::<i64>()).await?;
    futures_util::pin_mut!(rows);
    let mut n = 0;
    while let Some(row) = rows.try_next().await? {
        let _: serde_json::Value = row.try_get("payload")?;
        n += 1;
    }
    Ok(n)
}
