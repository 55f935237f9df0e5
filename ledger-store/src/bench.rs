//! Benchmark support (used by `ledger-bench`, never by the service): a plain scan of the
//! events table, the baseline a rebuild is compared with.

use crate::{Store, StoreError};

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
