//! What readers ask of a generation: states by stream, by key, by time, and the side
//! table's entries.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Engine, ProjectionError};
use crate::fold::EntryRow;
use crate::models::ReadModel;
use crate::sql;

impl Engine {
    /// Every folded state of a generation, by stream id (for checks and diffs).
    pub async fn states(
        &self,
        model: ReadModel,
        generation: i32,
    ) -> Result<Vec<(String, i64, Value)>, ProjectionError> {
        let client = self.store.client().await?;
        let rows = client
            .query(&sql::all_states(&model.table(generation)), &[])
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// One stream's folded state in a generation.
    pub async fn state(
        &self,
        model: ReadModel,
        generation: i32,
        stream_id: &str,
    ) -> Result<Option<Value>, ProjectionError> {
        let client = self.store.client().await?;
        let row = client
            .query_opt(&sql::state_of(&model.table(generation)), &[&stream_id])
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// States whose query key is `key`, within [from, to) on the time column, by time.
    pub async fn states_by_key(
        &self,
        model: ReadModel,
        generation: i32,
        key: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<(String, Value)>, ProjectionError> {
        let client = self.store.client().await?;
        let rows = client
            .query(
                &sql::states_by_key(&model.table(generation)),
                &[&key, &from, &to, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Rows whose time column is within [from, to), by time: (stream id, key, time, state).
    pub async fn states_between(
        &self,
        model: ReadModel,
        generation: i32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(String, Option<String>, DateTime<Utc>, Value)>, ProjectionError> {
        let client = self.store.client().await?;
        let rows = client
            .query(
                &sql::states_between(&model.table(generation)),
                &[&from, &to, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// The first `limit` states by stream id.
    pub async fn states_page(
        &self,
        model: ReadModel,
        generation: i32,
        limit: i64,
    ) -> Result<Vec<(String, Value)>, ProjectionError> {
        let client = self.store.client().await?;
        let rows = client
            .query(&sql::states_page(&model.table(generation)), &[&limit])
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The side-table entries of `streams` that have lapsed at `now` (holds, claims): a
    /// reader adds them to the states it shows, so lapsed seats and claims count as free.
    pub async fn lapsed_entries(
        &self,
        model: ReadModel,
        generation: i32,
        streams: &[&str],
        now: DateTime<Utc>,
    ) -> Result<Vec<EntryRow>, ProjectionError> {
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.store.client().await?;
        let rows = client
            .query(
                &sql::lapsed_entries(&model.table(generation)),
                &[&streams, &now],
            )
            .await?;
        Ok(rows.iter().map(EntryRow::read).collect::<Result<_, _>>()?)
    }

    /// One stream's side-table entries (a slot's holds and confirmations), by booking.
    pub async fn entries_of(
        &self,
        model: ReadModel,
        generation: i32,
        stream_id: &str,
    ) -> Result<Vec<EntryRow>, ProjectionError> {
        let client = self.store.client().await?;
        let rows = client
            .query(&sql::entries_of(&model.table(generation)), &[&stream_id])
            .await?;
        Ok(rows.iter().map(EntryRow::read).collect::<Result<_, _>>()?)
    }

    /// The folded states of `streams` (those that have one), in the order given.
    pub async fn states_of(
        &self,
        model: ReadModel,
        generation: i32,
        streams: &[String],
    ) -> Result<Vec<(String, Value)>, ProjectionError> {
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.store.client().await?;
        let rows = client
            .query(&sql::select_states(&model.table(generation)), &[&streams])
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(2)?)))
            .collect()
    }

    /// Every side-table entry of a generation, by stream and booking (for checks and diffs).
    pub async fn entries(
        &self,
        model: ReadModel,
        generation: i32,
    ) -> Result<Vec<EntryRow>, ProjectionError> {
        let client = self.store.client().await?;
        let rows = client
            .query(&sql::all_entries(&model.table(generation)), &[])
            .await?;
        Ok(rows.iter().map(EntryRow::read).collect::<Result<_, _>>()?)
    }
}
