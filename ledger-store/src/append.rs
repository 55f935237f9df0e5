//! The plain append API, for tools, benchmarks and tests that write raw events (commands go
//! through the command cycle, `cycle`): [`Store::lock`] creates missing stream rows, opens
//! the transaction and locks the rows (`SELECT … FOR UPDATE`, sorted) in **one** pipelined
//! round trip and hands back each stream's head; [`LockedStreams::commit`] then writes the
//! events, heads and outcome and commits in **one** more (`commit::write_and_commit`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use ledger_core::{truncate_to_micros, Clock, EventId, Hash, RequestFingerprint, StreamId};
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::Statement;

use crate::commit::{write_and_commit, CommitError, CommitStatements, Committed};
use crate::outcome::{DedupKey, StoredOutcome};
use crate::{sql, Store, StoreError};

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
    /// When the expiry sweeper looks at the stream next.
    pub wake_at: Option<DateTime<Utc>>,
}

/// Streams locked in an open transaction. Commit or roll back; dropping it closes the
/// connection, which makes the server roll back (never a pooled connection mid-transaction).
pub struct LockedStreams {
    conn: Option<Object>,
    statements: CommitStatements,
    select_outcome: Statement,
    heads: Vec<StreamHead>,
    clock: Arc<dyn Clock>,
    commit_deadline: std::time::Duration,
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
        wake_at: row.try_get("wake_at")?,
        stream_id,
    })
}

impl Store {
    /// Locks `streams` (created if new) in sorted order and returns their heads. One round
    /// trip once the connection has its statements prepared.
    pub async fn lock(&self, streams: &[StreamId]) -> Result<LockedStreams, StoreError> {
        let ids = sorted_unique(streams)?;
        let conn = self.client().await?;
        let (ensure, lock, select_outcome) = tokio::try_join!(
            conn.prepare_cached(sql::ENSURE_STREAMS),
            conn.prepare_cached(sql::LOCK_STREAMS),
            conn.prepare_cached(sql::SELECT_OUTCOME),
        )?;
        let statements = CommitStatements::prepare(&conn).await?;
        let mut locked = LockedStreams {
            conn: Some(conn),
            statements,
            select_outcome,
            heads: Vec::with_capacity(ids.len()),
            clock: self.clock().clone(),
            commit_deadline: self.commit_deadline(),
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
    /// The transaction's connection, for statements of the store's own beside the append.
    pub(crate) fn conn(&self) -> &Object {
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
        let writes = match self.plan(&batch, recorded_at) {
            Ok(writes) => writes,
            Err(e) => {
                self.rollback().await?;
                return Err(e);
            }
        };
        match write_and_commit(self.conn(), &self.statements, writes, self.commit_deadline).await {
            Ok(committed) => {
                self.release();
                Ok(committed)
            }
            Err(CommitError::Unique("dedup_keys_pkey" | "command_outcomes_pkey")) => {
                // On an error the connection is dropped with `self`, not pooled.
                let found = self.find_outcome(batch.dedup.as_ref()).await?;
                self.release();
                Err(StoreError::Duplicate { outcome: found })
            }
            Err(CommitError::Unique(name)) => {
                self.release();
                Err(StoreError::Database(format!("unique violation on {name}")))
            }
            Err(CommitError::Failed { error, reusable }) => {
                if reusable {
                    self.release();
                }
                Err(error) // otherwise dropped, not pooled: its state is unknown
            }
        }
    }

    async fn find_outcome(
        &self,
        dedup: Option<&DedupKey>,
    ) -> Result<Option<StoredOutcome>, StoreError> {
        let Some(d) = dedup else { return Ok(None) };
        let row = self
            .conn()
            .query_opt(&self.select_outcome, &[&d.scope(), &d.key()])
            .await?;
        // The answer is the other commit's: only once the standby has it.
        crate::commit::witness(self.conn(), self.commit_deadline).await?;
        row.as_ref().map(crate::outcome::decode_outcome).transpose()
    }
}
