//! The outbox to the activity panel: rows enqueued from the gap-free feed in the same
//! transaction as the feeder's checkpoint (so nothing is enqueued twice or skipped), then
//! claimed with a lease, delivered, and marked delivered, retried or dead.
//!
//! Claiming is an autocommitted UPDATE … FOR UPDATE SKIP LOCKED that pushes
//! `next_attempt_at` forward by the lease: no transaction stays open across the HTTP call
//! (an open transaction would hold back every reader of the gap-free feed), and replicas
//! never deliver the same row at once. A worker that dies mid-call leaves the row to be
//! retried when the lease ends: delivery is at-least-once, and the panel deduplicates by
//! `webhook-id`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{sql, Cursor, Store, StoreError};

/// Most rows one claim returns: bounds one worker pass.
pub const MAX_CLAIM: i64 = 100;

/// A row to enqueue.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub event_id: Uuid,
    pub booking_id: Uuid,
    pub kind: &'static str,
    pub payload: Value,
}

/// A stored row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub event_id: Uuid,
    pub booking_id: Uuid,
    pub kind: String,
    pub payload: Value,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

fn decode(row: &tokio_postgres::Row) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        event_id: row.try_get("event_id")?,
        booking_id: row.try_get("booking_id")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
    })
}

impl Store {
    /// The checkpoint of feed consumer `name` (the start of the feed if it never ran).
    pub async fn checkpoint(&self, name: &str) -> Result<Cursor, StoreError> {
        let client = self.client().await?;
        let row = client.query_opt(sql::SELECT_CHECKPOINT, &[&name]).await?;
        match row {
            None => Ok(Cursor::START),
            Some(r) => {
                let text: &str = r.try_get(0)?;
                Cursor::parse(text)
                    .map_err(|_| StoreError::Corrupt(format!("checkpoint of {name}")))
            }
        }
    }

    /// Whether a `booking.confirmed` was ever enqueued for the booking.
    pub async fn outbox_confirmed(&self, booking_id: Uuid) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(sql::OUTBOX_CONFIRMED, &[&booking_id])
            .await?;
        Ok(row.try_get(0)?)
    }

    /// One event's stored payload (as written, before any upcast), `None` if no event has
    /// this id. For the few events whose message needs more than the stream's state.
    pub async fn event_payload(
        &self,
        event_id: ledger_core::EventId,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(sql::EVENT_PAYLOAD, &[&event_id.as_uuid()])
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Enqueues `items` (idempotently, by event id) and moves `name`'s checkpoint to
    /// `cursor`, in one transaction.
    pub async fn enqueue_outbox(
        &self,
        name: &str,
        cursor: Cursor,
        items: &[OutboxItem],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let (enqueue, checkpoint) = tokio::try_join!(
            client.prepare_cached(sql::OUTBOX_ENQUEUE),
            client.prepare_cached(sql::UPSERT_CHECKPOINT),
        )?;
        let ids: Vec<Uuid> = items.iter().map(|i| i.event_id).collect();
        let bookings: Vec<Uuid> = items.iter().map(|i| i.booking_id).collect();
        let kinds: Vec<&str> = items.iter().map(|i| i.kind).collect();
        let payloads: Vec<&Value> = items.iter().map(|i| &i.payload).collect();
        let tx = client.transaction().await?;
        let cursor = cursor.to_string();
        let checkpoint_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&name, &cursor];
        let (enqueued, moved) = tokio::join!(
            async {
                if items.is_empty() {
                    return Ok(0);
                }
                tx.execute(&enqueue, &[&ids, &bookings, &kinds, &payloads, &now])
                    .await
            },
            tx.execute(&checkpoint, &checkpoint_params),
        );
        enqueued?;
        moved?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` due pending rows for `lease`: their `next_attempt_at` moves to
    /// `now + lease`, so no other worker takes them meanwhile.
    pub async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                sql::OUTBOX_CLAIM,
                &[&now, &(now + lease), &limit.clamp(1, MAX_CLAIM)],
            )
            .await?;
        rows.iter().map(decode).collect()
    }

    pub async fn outbox_delivered(
        &self,
        event_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(sql::OUTBOX_DELIVERED, &[&event_id, &now])
            .await?;
        Ok(())
    }

    /// A failed attempt: retried at `retry_at`, or dead once `attempts` reaches `max_attempts`.
    pub async fn outbox_failed(
        &self,
        event_id: Uuid,
        error: &str,
        retry_at: DateTime<Utc>,
        max_attempts: i32,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                sql::OUTBOX_FAILED,
                &[&event_id, &error, &retry_at, &max_attempts],
            )
            .await?;
        Ok(())
    }

    /// Sends a dead row again: back to pending, due `now`. Returns its state before
    /// (`None`: no such row); only a `dead` one changed.
    pub async fn requeue_outbox(
        &self,
        event_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(sql::OUTBOX_REQUEUE, &[&event_id, &now])
            .await?;
        row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
    }

    /// Pending rows, dead rows, and the oldest pending row's age in seconds.
    pub async fn outbox_stats(&self) -> Result<(i64, i64, f64), StoreError> {
        let client = self.client().await?;
        let row = client.query_one(sql::OUTBOX_STATS, &[]).await?;
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    }

    /// Rows in `state`, oldest first.
    pub async fn outbox_rows(&self, state: &str, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                sql::OUTBOX_BY_STATE,
                &[&state, &limit.clamp(1, crate::MAX_PAGE_EVENTS)],
            )
            .await?;
        rows.iter().map(decode).collect()
    }
}
