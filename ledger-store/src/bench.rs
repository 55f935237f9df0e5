//! Benchmark support (used by `ledger-bench`, never by the service): plain scans of the
//! events table, the baselines a rebuild is compared with.

use crate::{Store, StoreError};

/// The columns a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanColumns {
    /// Every column (`SELECT * FROM events`): the plain sequential scan.
    Every,
    /// Only the columns a projection's fold reads (`Store::read_all_folds`).
    Fold,
}

/// Reads every row of the events table to the client, in table order, and returns how
/// many. Nothing is decoded beyond the protocol's rows: the floor a rebuild (which must
/// also order, decode, fold and write) is measured against.
pub async fn scan_events(store: &Store, columns: ScanColumns) -> Result<i64, StoreError> {
    use futures_util::TryStreamExt;
    let client = store.client().await?;
    let query = match columns {
        ScanColumns::Every => crate::sql::BENCH_SCAN_EVERY.to_owned(),
        ScanColumns::Fold => crate::sql::bench_scan_fold(),
    };
    let stmt = client.prepare(&query).await?;
    let rows = client.query_raw(&stmt, std::iter::empty::<i64>()).await?;
    futures_util::pin_mut!(rows);
    let mut n = 0;
    while rows.try_next().await?.is_some() {
        n += 1;
    }
    Ok(n)
}
