//! Reads: one stream from a version, the gap-free global feed, stream heads, outcomes.

use chrono::{DateTime, Utc};
use ledger_core::{Category, EventId, Hash, RecordedEvent, StreamId};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::Row;

use crate::append::{decode_head, StreamHead};
use crate::outcome::{decode_outcome, DedupKey, KeyUse};
use crate::{sql, Cursor, Store, StoreError};

/// Most events one read returns: bounds the memory of a page (auditor pages are 1000,
/// projection batches up to this).
pub const MAX_PAGE_EVENTS: i64 = 10_000;

/// An event of the global feed with its cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    pub cursor: Cursor,
    pub event: RecordedEvent,
    /// The key it was deduplicated by (a client idempotency key or a provider event id),
    /// if any. Not part of the hash chain.
    pub dedup: Option<DedupKey>,
}

/// An event of the feed without its payload: which event, of which type, on which stream.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedMark {
    pub cursor: Cursor,
    pub stream_id: StreamId,
    pub event_type: String,
    pub event_id: EventId,
    pub recorded_at: DateTime<Utc>,
}

/// A page of [`FeedMark`]s; `next` as in [`FeedPage`].
#[derive(Debug, Clone, PartialEq)]
pub struct MarkPage {
    pub marks: Vec<FeedMark>,
    pub next: Cursor,
}

/// One page of the global feed. `next` is the cursor to pass for the following page (the
/// same as `after` when nothing new was visible).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    pub events: Vec<FeedEvent>,
    pub next: Cursor,
}

fn check_limit(limit: i64) -> Result<i64, StoreError> {
    if (1..=MAX_PAGE_EVENTS).contains(&limit) {
        Ok(limit)
    } else {
        Err(StoreError::InvalidEvent(format!(
            "page size must be 1..={MAX_PAGE_EVENTS}"
        )))
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn decode_event(row: &tokio_postgres::Row) -> Result<FeedEvent, StoreError> {
    let stream_id: &str = row.try_get("stream_id")?;
    let prev: &[u8] = row.try_get("prev_hash")?;
    let hash: &[u8] = row.try_get("hash")?;
    let tx: &str = row.try_get("tx_text")?;
    let global_position: i64 = row.try_get("global_position")?;
    let event = RecordedEvent {
        global_position,
        stream_id: StreamId::parse(stream_id).map_err(|e| corrupt("stream id", e))?,
        stream_version: row.try_get("stream_version")?,
        event_id: EventId::from_uuid(row.try_get("event_id")?)
            .map_err(|e| corrupt("event id", e))?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        recorded_at: row.try_get("recorded_at")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        prev_hash: Hash::from_slice(prev).map_err(|e| corrupt("prev_hash", e))?,
        hash: Hash::from_slice(hash).map_err(|e| corrupt("hash", e))?,
    };
    let cursor = Cursor::from_row(tx, global_position).ok_or_else(|| corrupt("tx_id", tx))?;
    let scope: Option<String> = row.try_get("dedup_scope")?;
    let key: Option<String> = row.try_get("dedup_key")?;
    let dedup = match (scope, key) {
        (None, None) => None,
        (Some(scope), Some(key)) => {
            Some(DedupKey::new(scope, key).ok_or_else(|| corrupt("dedup key", "out of bounds"))?)
        }
        _ => {
            return Err(corrupt(
                "dedup key",
                "scope without key or key without scope",
            ))
        }
    };
    Ok(FeedEvent {
        cursor,
        event,
        dedup,
    })
}

/// Events as a projection folds them: the columns a fold reads (no ids, metadata or hashes),
/// kept in the rows the database sent and read in place by [`FoldRows::events`], so a
/// rebuild does not copy or parse what it never looks at.
#[derive(Debug, Default)]
pub struct FoldRows {
    rows: Vec<Row>,
}

/// One event of [`FoldRows`], borrowed from its row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoldEvent<'a> {
    pub stream_id: &'a str,
    pub category: Category,
    pub stream_version: i64,
    pub event_type: &'a str,
    pub schema_version: i32,
    /// The payload's JSON text, as stored.
    pub payload: &'a str,
    /// When the event was committed (for read models that count by day).
    pub recorded_at: DateTime<Utc>,
}

/// A page of the global feed as [`FoldRows`]; `next` as in [`FeedPage`].
#[derive(Debug)]
pub struct FoldPage {
    pub rows: FoldRows,
    pub next: Cursor,
}

impl FoldPage {
    /// The page without its events past `end` (a checkpoint, as a previous page's `next`
    /// gave it): a reader replaying the feed up to where a generation stands stops there.
    pub fn until(self, end: Cursor) -> Result<FoldPage, StoreError> {
        if self.next <= end {
            return Ok(self);
        }
        let mut rows = Vec::with_capacity(self.rows.rows.len());
        for row in self.rows.rows {
            if fold_cursor(&row)? > end {
                break;
            }
            rows.push(row);
        }
        let next = rows.last().map_or(Ok(end), fold_cursor)?;
        Ok(FoldPage {
            rows: FoldRows { rows },
            next,
        })
    }
}

impl FoldRows {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The events, in the order read.
    pub fn events(&self) -> Result<Vec<FoldEvent<'_>>, StoreError> {
        self.rows.iter().map(decode_fold).collect()
    }
}

/// A `json` or `jsonb` value's text, borrowed from the row.
struct JsonText<'a>(&'a str);

impl<'a> FromSql<'a> for JsonText<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        // jsonb's binary form is a version byte (1) and the text; json's is the text.
        let text = if *ty == Type::JSONB {
            match raw.split_first() {
                Some((1, text)) => text,
                _ => return Err("unsupported jsonb version".into()),
            }
        } else {
            raw
        };
        Ok(JsonText(std::str::from_utf8(text)?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::JSONB
    }
}

/// A row of `sql::FOLD_COLUMNS`, read by position.
fn decode_fold(row: &Row) -> Result<FoldEvent<'_>, StoreError> {
    let stream_id: &str = row.try_get(0)?;
    let payload: JsonText<'_> = row.try_get(4)?;
    Ok(FoldEvent {
        stream_id,
        category: StreamId::category_of(stream_id).map_err(|e| corrupt("stream id", e))?,
        stream_version: row.try_get(1)?,
        event_type: row.try_get(2)?,
        schema_version: row.try_get(3)?,
        payload: payload.0,
        recorded_at: row.try_get(7)?,
    })
}

/// The cursor of a row of `sql::FOLD_COLUMNS`.
fn fold_cursor(row: &Row) -> Result<Cursor, StoreError> {
    let tx: &str = row.try_get(6)?;
    Cursor::from_row(tx, row.try_get(5)?).ok_or_else(|| corrupt("tx_id", tx))
}

impl Store {
    /// Rows of `query` (one stream from a version, see `sql::read_stream`).
    async fn stream_rows(
        &self,
        query: &str,
        stream_id: &str,
        from_version: i64,
        limit: i64,
    ) -> Result<Vec<Row>, StoreError> {
        let limit = check_limit(limit)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(query).await?;
        Ok(client
            .query(&stmt, &[&stream_id, &from_version.max(1), &limit])
            .await?)
    }

    /// Rows of `query` (the gap-free feed after a cursor, see `sql::read_all`).
    async fn feed_rows(
        &self,
        query: &str,
        after: Cursor,
        limit: i64,
    ) -> Result<Vec<Row>, StoreError> {
        let limit = check_limit(limit)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(query).await?;
        let tx = after.tx_id().to_string();
        Ok(client
            .query(&stmt, &[&tx, &after.position(), &limit])
            .await?)
    }

    /// [`Store::read_stream`] as [`FoldRows`].
    pub async fn read_stream_folds(
        &self,
        stream_id: &str,
        from_version: i64,
        limit: i64,
    ) -> Result<FoldRows, StoreError> {
        let query = sql::read_stream_folds();
        let rows = self
            .stream_rows(&query, stream_id, from_version, limit)
            .await?;
        Ok(FoldRows { rows })
    }

    /// [`Store::read_all`] as [`FoldRows`]: the same gap-free feed, only the columns a
    /// projection folds.
    pub async fn read_all_folds(&self, after: Cursor, limit: i64) -> Result<FoldPage, StoreError> {
        let rows = self.feed_rows(&sql::read_all_folds(), after, limit).await?;
        let next = rows.last().map_or(Ok(after), fold_cursor)?;
        Ok(FoldPage {
            rows: FoldRows { rows },
            next,
        })
    }

    /// [`Store::read_all`] without payloads or metadata: which events passed, for
    /// consumers that act on a few types (the outbox).
    pub async fn read_all_marks(&self, after: Cursor, limit: i64) -> Result<MarkPage, StoreError> {
        let rows = self.feed_rows(&sql::read_all_marks(), after, limit).await?;
        let mut marks = Vec::with_capacity(rows.len());
        for row in &rows {
            let stream_id: &str = row.try_get("stream_id")?;
            let tx: &str = row.try_get("tx_text")?;
            let position: i64 = row.try_get("global_position")?;
            marks.push(FeedMark {
                cursor: Cursor::from_row(tx, position).ok_or_else(|| corrupt("tx_id", tx))?,
                stream_id: StreamId::parse(stream_id).map_err(|e| corrupt("stream id", e))?,
                event_type: row.try_get("event_type")?,
                event_id: EventId::from_uuid(row.try_get("event_id")?)
                    .map_err(|e| corrupt("event id", e))?,
                recorded_at: row.try_get("recorded_at")?,
            });
        }
        let next = marks.last().map_or(after, |m| m.cursor);
        Ok(MarkPage { marks, next })
    }

    /// Events of one stream with `stream_version >= from_version`, in version order.
    pub async fn read_stream(
        &self,
        stream_id: &StreamId,
        from_version: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self
            .read_stream_feed(stream_id, from_version, limit)
            .await?;
        Ok(events.into_iter().map(|f| f.event).collect())
    }

    /// [`Store::read_stream`] with each event's cursor and dedup key.
    pub async fn read_stream_feed(
        &self,
        stream_id: &StreamId,
        from_version: i64,
        limit: i64,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        let query = sql::read_stream();
        let rows = self
            .stream_rows(&query, stream_id.as_str(), from_version, limit)
            .await?;
        rows.iter().map(decode_event).collect()
    }

    /// The gap-free global feed strictly after `after`. Only events of transactions older
    /// than every transaction still running are returned, so an event that takes its
    /// position early and commits late is delivered later, never skipped.
    pub async fn read_all(&self, after: Cursor, limit: i64) -> Result<FeedPage, StoreError> {
        let rows = self.feed_rows(&sql::read_all(), after, limit).await?;
        let events = rows
            .iter()
            .map(decode_event)
            .collect::<Result<Vec<_>, _>>()?;
        let next = events.last().map_or(after, |e| e.cursor);
        Ok(FeedPage { events, next })
    }

    /// A stream's head without locking it; `None` if the stream was never written.
    pub async fn stream_head(
        &self,
        stream_id: &StreamId,
    ) -> Result<Option<StreamHead>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::SELECT_HEAD).await?;
        let row = client.query_opt(&stmt, &[&stream_id.as_str()]).await?;
        row.as_ref().map(decode_head).transpose()
    }

    /// Streams of `category` whose wake time is at or before `now`, oldest first.
    pub async fn due_streams(
        &self,
        category: Category,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<StreamId>, StoreError> {
        let limit = check_limit(limit)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::DUE_STREAMS).await?;
        let rows = client
            .query(&stmt, &[&category.as_str(), &now, &limit])
            .await?;
        rows.iter()
            .map(|r| {
                let id: &str = r.try_get(0)?;
                StreamId::parse(id).map_err(|e| corrupt("stream id", e))
            })
            .collect()
    }

    /// Heads (with snapshots) of a category, in stream id order after `after` (exclusive;
    /// `""` for the first page). With `field`, only streams whose snapshot has the text
    /// `value` at that JSON path.
    pub async fn list_heads(
        &self,
        category: Category,
        field: Option<(&[&str], &str)>,
        after: &str,
        limit: i64,
    ) -> Result<Vec<StreamHead>, StoreError> {
        let limit = check_limit(limit)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::LIST_HEADS).await?;
        let (path, value) = match field {
            Some((path, value)) => (Some(path.to_vec()), Some(value)),
            None => (None, None),
        };
        let rows = client
            .query(&stmt, &[&category.as_str(), &path, &value, &after, &limit])
            .await?;
        rows.iter().map(decode_head).collect()
    }

    /// Whether an event carries this dedup key already (a fast answer for a redelivery;
    /// the unique constraint still decides at commit).
    pub async fn dedup_exists(&self, dedup: &DedupKey) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::DEDUP_EXISTS).await?;
        Ok(client
            .query_one(&stmt, &[&dedup.scope(), &dedup.key()])
            .await?
            .try_get(0)?)
    }

    /// The cursor of the newest event in the ledger (what a reader must reach to have seen
    /// everything committed so far); `None` on an empty ledger.
    pub async fn newest_cursor(&self) -> Result<Option<Cursor>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::NEWEST_CURSOR).await?;
        let Some(row) = client.query_opt(&stmt, &[]).await? else {
            return Ok(None);
        };
        let tx: &str = row.try_get(0)?;
        Cursor::from_row(tx, row.try_get(1)?)
            .map(Some)
            .ok_or_else(|| corrupt("tx_id", tx))
    }

    /// How many events the feed holds after `after` (a consumer's lag).
    pub async fn count_after(&self, after: Cursor) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::COUNT_AFTER).await?;
        let tx = after.tx_id().to_string();
        Ok(client
            .query_one(&stmt, &[&tx, &after.position()])
            .await?
            .try_get(0)?)
    }

    /// [`Store::count_after`], but counting no further than `limit`.
    pub async fn count_after_at_most(&self, after: Cursor, limit: i64) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::COUNT_AFTER_AT_MOST).await?;
        let tx = after.tx_id().to_string();
        Ok(client
            .query_one(&stmt, &[&tx, &after.position(), &limit])
            .await?
            .try_get(0)?)
    }

    /// Whether the database takes writes here (the primary, not a standby or a read-only
    /// server): after a failover the pool may still reach the old node for a moment.
    pub async fn is_writable_primary(&self) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::IS_WRITABLE_PRIMARY).await?;
        Ok(client.query_one(&stmt, &[]).await?.try_get(0)?)
    }

    /// What a client command's key was used for: its stored outcome, nothing, or (in an
    /// imported ledger) events without an outcome. One statement; a used key then waits
    /// until the synchronous standby has its commit (the answer rests on it).
    pub async fn key_use(&self, dedup: &DedupKey) -> Result<KeyUse, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::SELECT_KEY_USE).await?;
        let row = client
            .query_one(&stmt, &[&dedup.scope(), &dedup.key()])
            .await?;
        let status: Option<i16> = row.try_get("status")?;
        let used = if status.is_some() {
            KeyUse::Stored(decode_outcome(&row)?)
        } else if row.try_get("in_events")? {
            KeyUse::UsedWithoutOutcome
        } else {
            return Ok(KeyUse::Unused);
        };
        // The answer will rest on that commit: only once the standby has it.
        if let Err(e) = crate::commit::witness(&client, self.commit_deadline()).await {
            drop(deadpool_postgres::Object::take(client));
            return Err(e);
        }
        Ok(used)
    }
}
