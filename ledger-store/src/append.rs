//! Appending under the per-stream lock, in two round trips.
//!
//! [`Store::lock`] creates missing stream rows, opens the transaction and locks the rows
//! (`SELECT … FOR UPDATE`, sorted) in **one** pipelined round trip, and hands back each
//! stream's head and snapshot so the caller can decide. [`LockedStreams::commit`] then
//! inserts the events, moves the heads, stores the command outcome and commits in **one**
//! more pipelined round trip. So the lock is held for exactly one round trip.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use ledger_core::{
    truncate_to_micros, Clock, EventId, Hash, RecordedEvent, RequestFingerprint, StreamId,
};
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::Statement;

use crate::error::unique_violation;
use crate::outcome::{DedupKey, StoredOutcome};
use crate::{sql, Cursor, Store, StoreError};

/// Most streams one command may lock: a booking locks its slots, itself and a coupon.
/// A bound keeps lock sets (and the time others wait on them) small.
pub const MAX_STREAMS_PER_LOCK: usize = 16;
/// Most events one commit may append, so one transaction stays one quick round trip.
pub const MAX_EVENTS_PER_COMMIT: usize = 256;
/// Longest event type name (the column allows the same).
pub const MAX_EVENT_TYPE_LEN: usize = 128;

/// An event to append; its stream, version, time and hashes are assigned by the store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: EventId,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: Value,
    pub metadata: Value,
}

/// Optimistic check on top of the lock, for callers that read before locking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    Any,
    /// `Exactly(0)`: the stream must have no events yet.
    Exactly(i64),
}

/// When a stream next needs attention without a command (see `Store::due_streams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wake {
    #[default]
    Unchanged,
    At(DateTime<Utc>),
    Never,
}

/// What to write to one locked stream.
#[derive(Debug, Clone)]
pub struct StreamAppend {
    pub stream_id: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    /// New decision state of the stream at its new version (a cache; see ARCHITECTURE.md).
    pub snapshot: Option<Value>,
    pub wake: Wake,
}

impl StreamAppend {
    /// Events for `stream_id`, any version, no snapshot, wake time unchanged.
    pub fn new(stream_id: StreamId, events: Vec<NewEvent>) -> StreamAppend {
        StreamAppend {
            stream_id,
            expected: ExpectedVersion::Any,
            events,
            snapshot: None,
            wake: Wake::Unchanged,
        }
    }
}

/// The response of a client command, stored under the batch's dedup key.
#[derive(Debug, Clone)]
pub struct OutcomeToStore {
    pub fingerprint: RequestFingerprint,
    pub status: u16,
    pub body: Value,
    /// Add a `cursor` member to the stored body: the cursor of the batch's last event (the
    /// same value as `Committed::cursor`). Ignored when the batch has no events.
    pub cursor_in_body: bool,
}

/// Everything one command writes, atomically.
#[derive(Debug, Clone, Default)]
pub struct AppendBatch {
    pub streams: Vec<StreamAppend>,
    /// Carried by the batch's first event and by its outcome; the database refuses a second
    /// use of it (`Duplicate`).
    pub dedup: Option<DedupKey>,
    /// Requires `dedup`.
    pub outcome: Option<OutcomeToStore>,
}

/// A locked stream as it stands: version, last hash and snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamHead {
    pub stream_id: StreamId,
    pub version: i64,
    pub last_hash: Hash,
    pub snapshot: Option<Value>,
    pub snapshot_version: Option<i64>,
}

/// What a commit wrote.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The appended events, as stored, in append order.
    pub events: Vec<RecordedEvent>,
    /// Feed cursor of the last appended event (for read-your-writes); `None` if none.
    pub cursor: Option<Cursor>,
}

struct Statements {
    insert_events: Statement,
    update_head: Statement,
    insert_outcome: Statement,
    select_outcome: Statement,
}

/// Streams locked in an open transaction. Commit or roll back; dropping it closes the
/// connection, which makes the server roll back (never a pooled connection mid-transaction).
pub struct LockedStreams {
    conn: Option<Object>,
    statements: Statements,
    heads: Vec<StreamHead>,
    clock: Arc<dyn Clock>,
}

impl Drop for LockedStreams {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }
}

fn sorted_unique(streams: &[StreamId]) -> Result<Vec<StreamId>, StoreError> {
    let mut ids = streams.to_vec();
    ids.sort_by(|a, b| a.as_str().as_bytes().cmp(b.as_str().as_bytes()));
    ids.dedup();
    if ids.is_empty() || ids.len() > MAX_STREAMS_PER_LOCK {
        return Err(StoreError::InvalidEvent(format!(
            "a command locks 1..={MAX_STREAMS_PER_LOCK} streams, not {}",
            ids.len()
        )));
    }
    Ok(ids)
}

pub(crate) fn decode_head(row: &tokio_postgres::Row) -> Result<StreamHead, StoreError> {
    let id: &str = row.try_get("stream_id")?;
    let stream_id =
        StreamId::parse(id).map_err(|e| StoreError::Corrupt(format!("stream id {id:?}: {e}")))?;
    let hash: &[u8] = row.try_get("last_hash")?;
    Ok(StreamHead {
        last_hash: Hash::from_slice(hash)
            .map_err(|e| StoreError::Corrupt(format!("last hash of {stream_id}: {e}")))?,
        version: row.try_get("version")?,
        snapshot: row.try_get("snapshot")?,
        snapshot_version: row.try_get("snapshot_version")?,
        stream_id,
    })
}

impl Store {
    /// Locks `streams` (created if new) in sorted order and returns their heads. One round
    /// trip once the connection has its statements prepared.
    pub async fn lock(&self, streams: &[StreamId]) -> Result<LockedStreams, StoreError> {
        let ids = sorted_unique(streams)?;
        let conn = self.client().await?;
        let (ensure, lock, insert_events, update_head, insert_outcome, select_outcome) = tokio::try_join!(
            conn.prepare_cached(sql::ENSURE_STREAMS),
            conn.prepare_cached(sql::LOCK_STREAMS),
            conn.prepare_cached(sql::INSERT_EVENTS),
            conn.prepare_cached(sql::UPDATE_HEAD),
            conn.prepare_cached(sql::INSERT_OUTCOME),
            conn.prepare_cached(sql::SELECT_OUTCOME),
        )?;
        let mut locked = LockedStreams {
            conn: Some(conn),
            statements: Statements {
                insert_events,
                update_head,
                insert_outcome,
                select_outcome,
            },
            heads: Vec::with_capacity(ids.len()),
            clock: self.clock().clone(),
        };
        let names: Vec<&str> = ids.iter().map(StreamId::as_str).collect();
        let categories: Vec<&str> = ids.iter().map(|s| s.category().as_str()).collect();
        let (ensure_params, lock_params): (&[&(dyn ToSql + Sync)], &[&(dyn ToSql + Sync)]) =
            (&[&names, &categories], &[&names]);
        let c = locked.conn();
        // Pipelined in one round trip: BEGIN; lock the rows that exist; insert the missing
        // ones; lock them all and read the heads. The insert is inside the transaction, so a
        // new stream costs no commit (and WAL flush) of its own — about a third of the
        // database's CPU per booking (BENCHMARKS.md). Existing rows are locked *before* the
        // insert because the transaction takes its id at its first write: with ids coming
        // from locks, a stream locked first (a booking) keeps its versions in feed order,
        // which the outbox relies on (ARCHITECTURE.md). A row another transaction is still
        // creating makes the insert wait for it; the second lock then sees it committed.
        let (begun, existing, ensured, rows) = tokio::join!(
            c.batch_execute("BEGIN"),
            c.query(&lock, lock_params),
            c.execute(&ensure, ensure_params),
            c.query(&lock, lock_params),
        );
        begun?;
        existing?;
        ensured?;
        let heads = rows?
            .iter()
            .map(decode_head)
            .collect::<Result<Vec<_>, _>>()?;
        if heads.len() != ids.len() {
            return Err(StoreError::Corrupt("a locked stream row is missing".into()));
        }
        locked.heads = heads;
        Ok(locked)
    }

    /// Locks the batch's streams and commits it: the whole append in two round trips.
    pub async fn append(&self, batch: AppendBatch) -> Result<Committed, StoreError> {
        let ids: Vec<StreamId> = batch.streams.iter().map(|s| s.stream_id.clone()).collect();
        self.lock(&ids).await?.commit(batch).await
    }
}

impl LockedStreams {
    fn conn(&self) -> &Object {
        self.conn
            .as_ref()
            .expect("the connection is only taken by commit, rollback or drop")
    }

    /// Returns the connection to the pool: only once the transaction has ended.
    fn release(&mut self) {
        drop(self.conn.take());
    }

    /// The locked streams' heads, in lock (byte) order of `stream_id`.
    pub fn heads(&self) -> &[StreamHead] {
        &self.heads
    }

    pub fn head(&self, stream_id: &StreamId) -> Option<&StreamHead> {
        self.heads.iter().find(|h| &h.stream_id == stream_id)
    }

    /// Ends the transaction without writing anything.
    pub async fn rollback(mut self) -> Result<(), StoreError> {
        self.conn().batch_execute("ROLLBACK").await?;
        self.release();
        Ok(())
    }

    /// Appends the batch and commits, in one pipelined round trip. A used dedup key is
    /// `Duplicate` with the stored outcome; nothing is written then.
    pub async fn commit(mut self, batch: AppendBatch) -> Result<Committed, StoreError> {
        let recorded_at = truncate_to_micros(self.clock.now());
        let plan = match self.plan(&batch, recorded_at) {
            Ok(plan) => plan,
            Err(e) => {
                self.rollback().await?;
                return Err(e);
            }
        };
        let outcome = batch.outcome.as_ref().zip(batch.dedup.as_ref());
        let st = &self.statements;
        let c = self.conn();

        let ids: Vec<&str> = plan.events.iter().map(|e| e.stream_id.as_str()).collect();
        let versions: Vec<i64> = plan.events.iter().map(|e| e.stream_version).collect();
        let event_ids: Vec<uuid::Uuid> = plan.events.iter().map(|e| e.event_id.as_uuid()).collect();
        let types: Vec<&str> = plan.events.iter().map(|e| e.event_type.as_str()).collect();
        let schemas: Vec<i32> = plan.events.iter().map(|e| e.schema_version).collect();
        let (scopes, keys): (Vec<Option<&str>>, Vec<Option<&str>>) = (0..plan.events.len())
            .map(|i| match (&plan.dedup_first, i) {
                (Some(d), 0) => (Some(d.scope()), Some(d.key())),
                _ => (None, None),
            })
            .unzip();
        let payloads: Vec<&Value> = plan.events.iter().map(|e| &e.payload).collect();
        let metadata: Vec<&Value> = plan.events.iter().map(|e| &e.metadata).collect();
        let times: Vec<DateTime<Utc>> = plan.events.iter().map(|e| e.recorded_at).collect();
        let prevs: Vec<&[u8]> = plan
            .events
            .iter()
            .map(|e| &e.prev_hash.as_bytes()[..])
            .collect();
        let hashes: Vec<&[u8]> = plan.events.iter().map(|e| &e.hash.as_bytes()[..]).collect();

        let insert = async {
            if plan.events.is_empty() {
                return Ok(Vec::new());
            }
            c.query(
                &st.insert_events,
                &[
                    &ids, &versions, &event_ids, &types, &schemas, &scopes, &keys, &payloads,
                    &metadata, &times, &prevs, &hashes,
                ],
            )
            .await
        };
        let head_params: Vec<[&(dyn ToSql + Sync); 7]> = (0..plan.head_ids.len())
            .map(|i| {
                [
                    &plan.head_ids[i] as &(dyn ToSql + Sync),
                    &plan.head_versions[i],
                    &plan.head_hashes[i],
                    &plan.head_set_snapshot[i],
                    &plan.head_snapshots[i],
                    &plan.head_wake_modes[i],
                    &plan.head_wakes[i],
                ]
            })
            .collect();
        let update = async {
            let heads = head_params.iter().map(|p| c.execute(&st.update_head, p));
            // Polled in order on the first poll, so the updates go out in order.
            futures_util::future::try_join_all(heads)
                .await
                .map(|counts| counts.into_iter().sum::<u64>())
        };
        let store_outcome = async {
            let Some((o, d)) = outcome else { return Ok(0) };
            let status = i16::try_from(o.status).unwrap_or(i16::MAX);
            let fp = &o.fingerprint.as_bytes()[..];
            let cursor = o.cursor_in_body && !plan.events.is_empty();
            c.execute(
                &st.insert_outcome,
                &[&d.scope(), &d.key(), &fp, &status, &o.body, &cursor],
            )
            .await
        };
        // Pipelined. A statement the server rejects aborts the transaction, and COMMIT then
        // rolls back. A statement that fails on our side (a parameter that does not encode)
        // is never sent and aborts nothing, so COMMIT must not follow it: such a failure
        // completes on the first poll, before the last future below is first polled. Only
        // those count: a server's answer can also arrive within a first poll (the polling
        // thread preempted between send and receive), and it must not turn the COMMIT into a
        // ROLLBACK that reads as "never sent" — a duplicate would lose its stored outcome.
        let failed_locally = AtomicBool::new(false);
        let end = async {
            let sql = if failed_locally.load(Ordering::SeqCst) {
                "ROLLBACK"
            } else {
                "COMMIT"
            };
            c.batch_execute(sql).await.map(|()| sql == "COMMIT")
        };
        // `biased`: polled in this order, so requests are sent in this order.
        let (inserted, updated, stored, ended) = tokio::join!(biased;
            noting(&failed_locally, insert),
            noting(&failed_locally, update),
            noting(&failed_locally, store_outcome),
            end
        );
        let committed = match ended {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::Database(
                "a statement failed before it was sent".into(),
            )),
            Err(e) => Err(StoreError::from(e)),
        };

        let first_error = [
            inserted.as_ref().err(),
            updated.as_ref().err(),
            stored.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .next();
        if let Some(e) = first_error {
            let duplicate = matches!(
                unique_violation(e),
                Some("events_dedup_key" | "command_outcomes_pkey")
            );
            let err = if duplicate {
                StoreError::Duplicate { outcome: None }
            } else {
                StoreError::from_statement(e)
            };
            if committed.is_err() {
                return Err(err); // connection state unknown: dropped, not pooled
            }
            if duplicate {
                let found = self.find_outcome(batch.dedup.as_ref()).await;
                self.release();
                return Err(StoreError::Duplicate { outcome: found? });
            }
            self.release();
            return Err(err);
        }
        committed?;
        self.release();
        finish(plan.events, inserted?)
    }

    async fn find_outcome(
        &self,
        dedup: Option<&DedupKey>,
    ) -> Result<Option<StoredOutcome>, StoreError> {
        let Some(d) = dedup else { return Ok(None) };
        let row = self
            .conn()
            .query_opt(&self.statements.select_outcome, &[&d.scope(), &d.key()])
            .await?;
        row.as_ref().map(crate::outcome::decode_outcome).transpose()
    }
}

/// Awaits `f` and raises `flag` if it failed on our side: any error that is not the
/// server's answer (which means the statement was sent, and the transaction is aborted).
async fn noting<T>(
    flag: &AtomicBool,
    f: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    let r = f.await;
    if r.as_ref().is_err_and(|e| e.as_db_error().is_none()) {
        flag.store(true, Ordering::SeqCst);
    }
    r
}

/// Fills in the global positions the database assigned and the cursor of the last event.
fn finish(
    mut events: Vec<RecordedEvent>,
    rows: Vec<tokio_postgres::Row>,
) -> Result<Committed, StoreError> {
    if rows.len() != events.len() {
        return Err(StoreError::Corrupt(
            "insert returned the wrong number of rows".into(),
        ));
    }
    let mut cursor = None;
    for (event, row) in events.iter_mut().zip(&rows) {
        let stream_id: &str = row.try_get("stream_id")?;
        let version: i64 = row.try_get("stream_version")?;
        if stream_id != event.stream_id.as_str() || version != event.stream_version {
            return Err(StoreError::Corrupt(
                "insert returned rows out of order".into(),
            ));
        }
        event.global_position = row.try_get("global_position")?;
        let tx: &str = row.try_get("tx_id")?;
        cursor = Some(
            Cursor::from_row(tx, event.global_position)
                .ok_or_else(|| StoreError::Corrupt(format!("transaction id {tx:?}")))?,
        );
    }
    Ok(Committed { events, cursor })
}
