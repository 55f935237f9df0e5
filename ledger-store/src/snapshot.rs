//! Decision states as their stream rows store them, and states read outside the command
//! cycle. A snapshot is `{"v": <layout>, "state": …}` (`Snapshot::SNAPSHOT_VERSION`); one
//! of another layout, or none, is never read: the state is folded from the stream's events.

use deadpool_postgres::Object;
use ledger_core::domain::{DomainEvent, Snapshot};
use ledger_core::StreamId;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio_postgres::types::Json;
use tokio_postgres::{Row, Statement};

use crate::{sql, Store, StoreError};

/// A state as a snapshot stores it, serialised once (no `serde_json::Value` in between).
pub(crate) fn encode_snapshot<S: Snapshot>(state: &S) -> Result<Box<RawValue>, StoreError> {
    #[derive(serde::Serialize)]
    struct Tagged<'a, S> {
        v: i32,
        state: &'a S,
    }
    let tagged = Tagged {
        v: S::SNAPSHOT_VERSION,
        state,
    };
    serde_json::value::to_raw_value(&tagged)
        .map_err(|e| StoreError::InvalidEvent(format!("snapshot: {e}")))
}

/// A stored snapshot of this layout, read from its text; `None` for any other (or none).
pub(crate) fn decode_snapshot<S: Snapshot>(text: Option<&RawValue>) -> Option<S> {
    #[derive(serde::Deserialize)]
    struct Tagged<'a> {
        v: Option<i64>,
        #[serde(borrow)]
        state: Option<&'a RawValue>,
    }
    let tagged: Tagged<'_> = serde_json::from_str(text?.get()).ok()?;
    if tagged.v != Some(i64::from(S::SNAPSHOT_VERSION)) {
        return None;
    }
    serde_json::from_str(tagged.state?.get()).ok()
}

/// A stream row's snapshot column as text, if it is at the row's version.
pub(crate) fn snapshot_text(row: &Row) -> Result<Option<Box<RawValue>>, StoreError> {
    let version: i64 = row.try_get("version")?;
    let at: Option<i64> = row.try_get("snapshot_version")?;
    let text: Option<Json<Box<RawValue>>> = row.try_get("snapshot")?;
    Ok(text.map(|t| t.0).filter(|_| at == Some(version)))
}

/// Events read per page when a stream is folded.
const FOLD_PAGE: i64 = 1000;

/// Folds a stream's events 1..=`version` from scratch (every per-booking entry known);
/// `read_stream` is `sql::read_stream()` prepared on `conn`.
pub(crate) async fn fold<S: Snapshot>(
    conn: &Object,
    read_stream: &Statement,
    stream: &StreamId,
    version: i64,
) -> Result<S, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(format!("{stream}: {what}"));
    let mut state = S::default();
    let mut next = 1;
    while next <= version {
        let rows = conn
            .query(read_stream, &[&stream.as_str(), &next, &FOLD_PAGE])
            .await?;
        if rows.is_empty() {
            return Err(corrupt("shorter than its head".into()));
        }
        for row in &rows {
            let v: i64 = row.try_get("stream_version")?;
            if v > version {
                break;
            }
            let event_type: &str = row.try_get("event_type")?;
            let schema: i32 = row.try_get("schema_version")?;
            let payload: Value = row.try_get("payload")?;
            let event = S::Event::decode(event_type, schema, &payload)
                .map_err(|e| corrupt(format!("v{v}: {e}")))?;
            state.evolve(&event);
            next = v + 1;
        }
    }
    Ok(state)
}

impl Store {
    /// A stream's decision state as committed now, without a lock (for reads and for
    /// learning which streams a command must lock): its snapshot, else the fold of its
    /// events. `None` when the stream has no event. Per-booking entries are known only
    /// when it was folded.
    pub async fn state<S: Snapshot>(
        &self,
        stream: &StreamId,
    ) -> Result<Option<(i64, S)>, StoreError> {
        let mut found = self.states(std::slice::from_ref(stream)).await?;
        Ok(found.pop().flatten())
    }

    /// [`Store::state`] of several streams, read on one connection in one pipelined round
    /// trip (plus a fold for each stream without a usable snapshot); in the order asked.
    pub async fn states<S: Snapshot>(
        &self,
        streams: &[StreamId],
    ) -> Result<Vec<Option<(i64, S)>>, StoreError> {
        let client = self.client().await?;
        let read_stream = sql::read_stream();
        let (head, read_stream) = tokio::try_join!(
            client.prepare_cached(sql::SELECT_HEAD),
            client.prepare_cached(&read_stream),
        )?;
        let ids: Vec<&str> = streams.iter().map(StreamId::as_str).collect();
        let params: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 1]> =
            ids.iter().map(|id| [id as _]).collect();
        let rows =
            futures_util::future::try_join_all(params.iter().map(|p| client.query_opt(&head, p)))
                .await?;
        let mut out = Vec::with_capacity(streams.len());
        for (stream, row) in streams.iter().zip(rows) {
            let Some(row) = row else {
                out.push(None);
                continue;
            };
            let version: i64 = row.try_get("version")?;
            if version == 0 {
                out.push(None);
                continue;
            }
            let state = match decode_snapshot(snapshot_text(&row)?.as_deref()) {
                Some(state) => state,
                None => fold(&client, &read_stream, stream, version).await?,
            };
            out.push(Some((version, state)));
        }
        Ok(out)
    }
}
