//! The schedule of automatic reconciliations (`reconciliation_due`): bookings with a
//! payment requested and no verified outcome, looked at again with the provider when due.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{sql, Cursor, Store, StoreError};

impl Store {
    /// Schedules `(booking, due at)` (a booking already scheduled keeps its schedule) and
    /// moves consumer `name`'s checkpoint to `cursor`, in one transaction.
    pub async fn schedule_reconciliations(
        &self,
        name: &str,
        cursor: Cursor,
        rows: &[(Uuid, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let (enqueue, checkpoint) = tokio::try_join!(
            client.prepare_cached(sql::RECONCILIATION_ENQUEUE),
            client.prepare_cached(sql::UPSERT_CHECKPOINT),
        )?;
        let ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
        let due: Vec<DateTime<Utc>> = rows.iter().map(|(_, at)| *at).collect();
        let cursor = cursor.to_string();
        let tx = client.transaction().await?;
        if !rows.is_empty() {
            tx.execute(&enqueue, &[&ids, &due]).await?;
        }
        tx.execute(&checkpoint, &[&name, &cursor]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` bookings due at `now`, earliest first, with the attempts made so far.
    pub async fn due_reconciliations(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(Uuid, i32)>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::RECONCILIATION_DUE).await?;
        let rows = client.query(&stmt, &[&now, &limit]).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The booking no longer awaits payment: off the schedule.
    pub async fn reconciliation_done(&self, booking_id: Uuid) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::RECONCILIATION_DONE).await?;
        client.execute(&stmt, &[&booking_id]).await?;
        Ok(())
    }

    /// Looked at `attempts` times; next at `due_at`.
    pub async fn reconciliation_later(
        &self,
        booking_id: Uuid,
        attempts: i32,
        due_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::RECONCILIATION_LATER).await?;
        client
            .execute(&stmt, &[&booking_id, &attempts, &due_at])
            .await?;
        Ok(())
    }

    /// (scheduled, due at `now`).
    pub async fn reconciliation_counts(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(i64, i64), StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::RECONCILIATION_COUNTS).await?;
        let row = client.query_one(&stmt, &[&now]).await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }
}
