//! What the auditor CLI (`ledger-replay`) needs beyond the ordinary reads: the event count,
//! the duplicate checks of invariant 3 (which the unique constraints make impossible — the
//! auditor asks anyway), stream rows a walk over the categories would miss, and the import
//! of a verified export into an empty ledger in one transaction ([`Store::begin_import`]).

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use ledger_core::{Category, Hash, RecordedEvent, StreamId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::Statement;

use crate::retention::{MIN_CLIENT_RETENTION, PROVIDER_RETENTION};
use crate::{sql, DedupKey, FeedEvent, Store, StoreError};

/// One line of an export (`ledger-replay export`): the recorded event in its serde form
/// (API.md's export format, what the hash chain covers) and, when the event carries one,
/// the key it was deduplicated by — so an imported ledger still refuses a provider's
/// redelivery or a client's retry. The key is not covered by the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedEvent {
    #[serde(flatten)]
    pub event: RecordedEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup: Option<ExportedDedup>,
    /// `true` when the event holds sealed personal data whose subject was erased (not
    /// covered by the hash chain; the payload is as stored). Ignored by import: subject
    /// keys never travel in an export, so nothing sealed opens in an imported ledger.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

/// A dedup key as exported: `scope` is `client:<sub>` or a provider name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedDedup {
    pub scope: String,
    pub key: String,
}

impl ExportedEvent {
    pub fn from_feed(feed: &FeedEvent) -> ExportedEvent {
        ExportedEvent {
            event: feed.event.clone(),
            dedup: feed.dedup.as_ref().map(|d| ExportedDedup {
                scope: d.scope().to_owned(),
                key: d.key().to_owned(),
            }),
            erased: false,
        }
    }

    /// The dedup key, checked as the store checks one; `None` without one.
    pub fn dedup_key(&self) -> Result<Option<DedupKey>, StoreError> {
        self.dedup
            .as_ref()
            .map(|d| {
                DedupKey::new(d.scope.as_str(), d.key.as_str()).ok_or_else(|| {
                    StoreError::InvalidEvent("dedup scope or key empty or too long".into())
                })
            })
            .transpose()
    }
}

/// Most rows one audit query returns: a report names the first finding, and a handful more
/// only help to see a pattern.
pub const MAX_AUDIT_ROWS: i64 = 100;

/// Most streams or events one import statement carries: about a megabyte of parameters for
/// typical events, far below the statement timeout, and a bounded buffer on both sides.
pub const MAX_IMPORT_BATCH: usize = 1_000;

/// An event that shares its dedup key with an earlier event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateDedup {
    /// The later event's stream (as stored; not parsed, so a stray id is still named).
    pub stream_id: String,
    pub stream_version: i64,
    pub scope: String,
    pub key: String,
}

/// A command outcome key stored more than once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateOutcome {
    pub scope: String,
    pub key: String,
    pub count: i64,
}

/// A stream row whose category is unknown or not its id's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrayStream {
    pub stream_id: String,
    pub category: String,
    pub version: i64,
}

/// Where the gap-free feed stands: a reader sees every event of transactions below
/// `horizon`; every transaction that began before the bounds were taken is below `next`.
/// So once a later `horizon` reaches an earlier `next`, the feed shows everything that was
/// committed (or in flight) at that earlier moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedBounds {
    pub horizon: u64,
    pub next: u64,
}

/// The head an imported stream ends at.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedStream {
    pub stream_id: StreamId,
    pub version: i64,
    pub last_hash: Hash,
    /// When the stream next needs the sweeper (a booking still held), as `streams.wake_at`.
    pub wake_at: Option<DateTime<Utc>>,
}

/// The start of an import: the ledger was empty and is now locked for it, or it was not.
pub enum ImportStart {
    /// Boxed: the transaction carries a connection and its statements.
    Ready(Box<ImportTx>),
    /// `events` has rows: nothing was changed.
    NotEmpty,
}

fn check_limit(limit: i64) -> Result<i64, StoreError> {
    if (1..=MAX_AUDIT_ROWS).contains(&limit) {
        Ok(limit)
    } else {
        Err(StoreError::InvalidEvent(format!(
            "audit rows must be 1..={MAX_AUDIT_ROWS}"
        )))
    }
}

fn check_batch(len: usize) -> Result<(), StoreError> {
    if len > MAX_IMPORT_BATCH {
        return Err(StoreError::InvalidEvent(format!(
            "{len} rows exceed {MAX_IMPORT_BATCH} per import statement"
        )));
    }
    Ok(())
}

impl Store {
    /// How many events the ledger holds.
    pub async fn count_events(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::COUNT_EVENTS).await?;
        Ok(client.query_one(&stmt, &[]).await?.try_get(0)?)
    }

    /// The feed's bounds now (see [`FeedBounds`]).
    pub async fn feed_bounds(&self) -> Result<FeedBounds, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::FEED_BOUNDS).await?;
        let row = client.query_one(&stmt, &[]).await?;
        let xid = |i: usize| -> Result<u64, StoreError> {
            let text: &str = row.try_get(i)?;
            text.parse()
                .map_err(|_| StoreError::Corrupt(format!("transaction id {text:?}")))
        };
        Ok(FeedBounds {
            horizon: xid(0)?,
            next: xid(1)?,
        })
    }

    /// Events whose dedup key an earlier event carries too, recorded within the shortest
    /// window a key is kept ([`MIN_CLIENT_RETENTION`], [`PROVIDER_RETENTION`]), oldest
    /// first (invariant 3: a key is free again only once pruned).
    pub async fn duplicate_dedup_keys(
        &self,
        limit: i64,
    ) -> Result<Vec<DuplicateDedup>, StoreError> {
        let limit = check_limit(limit)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::DUPLICATE_DEDUP_KEYS).await?;
        let (client_window, provider_window) = (
            MIN_CLIENT_RETENTION.num_seconds(),
            PROVIDER_RETENTION.num_seconds(),
        );
        let rows = client
            .query(&stmt, &[&limit, &client_window, &provider_window])
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DuplicateDedup {
                    stream_id: r.try_get(0)?,
                    stream_version: r.try_get(1)?,
                    scope: r.try_get(2)?,
                    key: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Command outcome keys stored more than once (invariant 3).
    pub async fn duplicate_outcomes(
        &self,
        limit: i64,
    ) -> Result<Vec<DuplicateOutcome>, StoreError> {
        let limit = check_limit(limit)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::DUPLICATE_OUTCOMES).await?;
        let rows = client.query(&stmt, &[&limit]).await?;
        rows.iter()
            .map(|r| {
                Ok(DuplicateOutcome {
                    scope: r.try_get(0)?,
                    key: r.try_get(1)?,
                    count: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Stream rows that [`Store::list_heads`] over [`Category::ALL`] never returns.
    pub async fn stray_streams(&self, limit: i64) -> Result<Vec<StrayStream>, StoreError> {
        let limit = check_limit(limit)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::STRAY_STREAMS).await?;
        let known: Vec<&str> = Category::ALL.iter().map(Category::as_str).collect();
        let rows = client.query(&stmt, &[&known, &limit]).await?;
        rows.iter()
            .map(|r| {
                Ok(StrayStream {
                    stream_id: r.try_get(0)?,
                    category: r.try_get(1)?,
                    version: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Opens the import transaction: locks `streams` and `events` against writers, then
    /// checks that `events` is empty (under the lock, so no writer slips in between).
    pub async fn begin_import(&self) -> Result<ImportStart, StoreError> {
        let conn = self.client().await?;
        let (streams, events, sequence, has_events) = tokio::try_join!(
            conn.prepare_cached(sql::IMPORT_STREAMS),
            conn.prepare_cached(sql::IMPORT_EVENTS),
            conn.prepare_cached(sql::IMPORT_MOVE_SEQUENCE),
            conn.prepare_cached(sql::IMPORT_HAS_EVENTS),
        )?;
        let tx = ImportTx {
            conn: Some(conn),
            streams,
            events,
            sequence,
        };
        let c = tx.conn()?;
        c.batch_execute("BEGIN").await?;
        c.batch_execute(sql::IMPORT_LOCK).await?;
        let found: bool = c.query_one(&has_events, &[]).await?.try_get(0)?;
        if found {
            tx.rollback().await?;
            return Ok(ImportStart::NotEmpty);
        }
        Ok(ImportStart::Ready(Box::new(tx)))
    }
}

/// An open import transaction on an empty, locked ledger. Insert the streams first (events
/// reference them), then the events, then [`ImportTx::commit`]. Dropping it without commit
/// closes its connection, so the server rolls everything back.
pub struct ImportTx {
    conn: Option<Object>,
    streams: Statement,
    events: Statement,
    sequence: Statement,
}

impl Drop for ImportTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }
}

impl ImportTx {
    fn conn(&self) -> Result<&Object, StoreError> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Database("the import transaction has ended".into()))
    }

    /// Writes stream rows with their final heads (at most [`MAX_IMPORT_BATCH`]); snapshots
    /// stay empty: they are caches, rebuilt by folding when missing.
    pub async fn insert_streams(&mut self, streams: &[ImportedStream]) -> Result<(), StoreError> {
        check_batch(streams.len())?;
        if streams.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = streams.iter().map(|s| s.stream_id.as_str()).collect();
        let categories: Vec<&str> = streams
            .iter()
            .map(|s| s.stream_id.category().as_str())
            .collect();
        let versions: Vec<i64> = streams.iter().map(|s| s.version).collect();
        let hashes: Vec<&[u8]> = streams
            .iter()
            .map(|s| &s.last_hash.as_bytes()[..])
            .collect();
        let wakes: Vec<Option<DateTime<Utc>>> = streams.iter().map(|s| s.wake_at).collect();
        let written = self
            .conn()?
            .execute(
                &self.streams,
                &[&ids, &categories, &versions, &hashes, &wakes],
            )
            .await?;
        if written != streams.len() as u64 {
            return Err(StoreError::Corrupt(
                "a stream row with a version already exists in a ledger without events".into(),
            ));
        }
        Ok(())
    }

    /// Writes events exactly as exported (at most [`MAX_IMPORT_BATCH`]), global positions
    /// and dedup keys included; their streams must have been inserted.
    pub async fn insert_events(&mut self, lines: &[ExportedEvent]) -> Result<(), StoreError> {
        check_batch(lines.len())?;
        if lines.is_empty() {
            return Ok(());
        }
        let dedups = lines
            .iter()
            .map(ExportedEvent::dedup_key)
            .collect::<Result<Vec<_>, _>>()?;
        let scopes: Vec<Option<&str>> = dedups
            .iter()
            .map(|d| d.as_ref().map(DedupKey::scope))
            .collect();
        let keys: Vec<Option<&str>> = dedups
            .iter()
            .map(|d| d.as_ref().map(DedupKey::key))
            .collect();
        let events: Vec<&RecordedEvent> = lines.iter().map(|l| &l.event).collect();
        let positions: Vec<i64> = events.iter().map(|e| e.global_position).collect();
        let ids: Vec<&str> = events.iter().map(|e| e.stream_id.as_str()).collect();
        let versions: Vec<i64> = events.iter().map(|e| e.stream_version).collect();
        let event_ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id.as_uuid()).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let schemas: Vec<i32> = events.iter().map(|e| e.schema_version).collect();
        let payloads: Vec<&Value> = events.iter().map(|e| &e.payload).collect();
        let metadata: Vec<&Value> = events.iter().map(|e| &e.metadata).collect();
        let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.recorded_at).collect();
        let prevs: Vec<&[u8]> = events.iter().map(|e| &e.prev_hash.as_bytes()[..]).collect();
        let hashes: Vec<&[u8]> = events.iter().map(|e| &e.hash.as_bytes()[..]).collect();
        self.conn()?
            .execute(
                &self.events,
                &[
                    &positions, &ids, &versions, &event_ids, &types, &schemas, &payloads,
                    &metadata, &times, &prevs, &hashes, &scopes, &keys,
                ],
            )
            .await?;
        Ok(())
    }

    /// Moves the position sequence past the imported events and commits.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        let c = self.conn()?;
        c.query(&self.sequence, &[]).await?;
        c.batch_execute("COMMIT").await?;
        // Ended: the connection goes back to the pool.
        drop(self.conn.take());
        Ok(())
    }

    /// Ends the transaction without writing anything.
    pub async fn rollback(mut self) -> Result<(), StoreError> {
        self.conn()?.batch_execute("ROLLBACK").await?;
        drop(self.conn.take());
        Ok(())
    }
}
