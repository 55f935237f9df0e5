//! Stepping a generation along the feed: each step reads one page, folds it into the
//! generation's rows and moves the checkpoint, in one transaction.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use ledger_core::domain::{BookingState, CouponState, SlotState};
use ledger_store::{Cursor, FoldEvent, FoldPage, FoldRows, StoreError};
use serde_json::Value;

use super::{decode_row, Engine, GenerationInfo, ProjectionError};
use crate::fold::{fold, QueryColumns, Row};
use crate::models::ReadModel;
use crate::sql;

/// A page's events of one stream that are ahead of its stored version, in feed order.
pub(super) struct StreamRun<'a> {
    stream_id: &'a str,
    stored: i64,
    events: Vec<FoldEvent<'a>>,
}

impl StreamRun<'_> {
    /// The versions after the stored one up to the newest in hand, when the page does not
    /// hold exactly those in order: `(from, count)` to read from the stream itself.
    fn missing(&self) -> Option<(i64, i64)> {
        let consecutive = self
            .events
            .iter()
            .enumerate()
            .all(|(i, e)| e.stream_version == self.stored + 1 + i as i64);
        let target = self.events.iter().map(|e| e.stream_version).max()?;
        (!consecutive).then_some((self.stored + 1, target - self.stored))
    }
}

/// The page's events grouped by stream, each stream's events past its stored version.
pub(super) fn stream_runs<'a>(
    page: &[FoldEvent<'a>],
    stored_version: impl Fn(&str) -> i64,
) -> Vec<StreamRun<'a>> {
    let mut by_stream: BTreeMap<&'a str, Vec<FoldEvent<'a>>> = BTreeMap::new();
    for e in page {
        by_stream.entry(e.stream_id).or_default().push(*e);
    }
    by_stream
        .into_iter()
        .filter_map(|(stream_id, events)| {
            let stored = stored_version(stream_id);
            let events: Vec<FoldEvent<'a>> = events
                .into_iter()
                .filter(|e| e.stream_version > stored)
                .collect();
            (!events.is_empty()).then_some(StreamRun {
                stream_id,
                stored,
                events,
            })
        })
        .collect()
}

/// The page's events of the category `model` folds, in feed order.
pub(super) fn events_of(
    page: &FoldPage,
    model: ReadModel,
) -> Result<Vec<FoldEvent<'_>>, StoreError> {
    let events = page.rows.events()?.into_iter();
    Ok(events.filter(|e| e.category == model.category()).collect())
}

/// Writes rows (stream id, version, state, key, at) to a generation's table, in one
/// statement.
async fn upsert_rows<'a>(
    tx: &Transaction<'_>,
    table: &str,
    rows: impl Iterator<
        Item = (
            &'a str,
            i64,
            &'a Value,
            Option<&'a str>,
            Option<DateTime<Utc>>,
        ),
    >,
) -> Result<(), ProjectionError> {
    let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, version, state, key, at) in rows {
        columns.0.push(id);
        columns.1.push(version);
        columns.2.push(state);
        columns.3.push(key);
        columns.4.push(at);
    }
    let (ids, versions, states, keys, ats) = columns;
    let upsert = tx.prepare_cached(&sql::upsert_states(table)).await?;
    tx.execute(&upsert, &[&ids, &versions, &states, &keys, &ats])
        .await?;
    Ok(())
}

impl Engine {
    /// The page's events of each stream, in stream version order from the stored version
    /// on. The feed is gap-free but not in per-stream order: a transaction takes its id at
    /// its first lock and may then wait for a stream's lock behind one with a larger id,
    /// so a stream's version n+1 can precede version n in the feed. When a stream's events
    /// in the page are not exactly the next versions in order, the versions in between are
    /// read from the stream itself (into `filled`): they are committed, because the stream
    /// lock serialised their transactions before the one whose event is in hand.
    pub(super) async fn in_version_order<'a>(
        &self,
        runs: Vec<StreamRun<'a>>,
        filled: &'a mut Vec<FoldRows>,
    ) -> Result<Vec<FoldEvent<'a>>, ProjectionError> {
        // First every read (they need `filled` mutably), then the borrows of what was read.
        let mut sources = Vec::with_capacity(runs.len());
        for run in runs {
            match run.missing() {
                None => sources.push((run, None)),
                Some((from, count)) => {
                    let rows = self
                        .store
                        .read_stream_folds(run.stream_id, from, count)
                        .await?;
                    if rows.len() as i64 != count {
                        return Err(ProjectionError::Undecodable {
                            model: "feed",
                            stream: run.stream_id.to_owned(),
                            version: from,
                            reason: "versions missing from the stream".into(),
                        });
                    }
                    sources.push((run, Some(filled.len())));
                    filled.push(rows);
                }
            }
        }
        let filled: &'a [FoldRows] = filled;
        let mut out = Vec::new();
        for (run, read) in sources {
            match read.and_then(|i| filled.get(i)) {
                None => out.extend(run.events),
                Some(rows) => out.extend(rows.events()?),
            }
        }
        Ok(out)
    }

    /// Applies the next batch to a generation and moves its checkpoint, in one
    /// transaction. Returns the events read (0 when caught up).
    pub async fn step(&self, model: ReadModel, generation: i32) -> Result<usize, ProjectionError> {
        let before = self.generation(model, generation).await?;
        if before.state == "retired" {
            return Ok(0);
        }
        // Read before opening the transaction: an open transaction holding a row lock
        // would itself hold back the gap-free feed.
        let page = self
            .store
            .read_all_folds(before.checkpoint, self.batch)
            .await?;
        self.apply_page(model, generation, before.checkpoint, &page)
            .await
    }

    /// Applies `page` (read after `expected`) and moves the checkpoint to its end, in one
    /// transaction; `Raced` if the checkpoint is no longer `expected`.
    async fn apply_page(
        &self,
        model: ReadModel,
        generation: i32,
        expected: Cursor,
        page: &FoldPage,
    ) -> Result<usize, ProjectionError> {
        if page.rows.is_empty() {
            return Ok(0);
        }
        let mut client = self.store.client().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(sql::PROJECTION_TRANSACTION).await?;
        self.apply_in(&tx, model, generation, expected, page)
            .await?;
        tx.commit().await?;
        Ok(page.rows.len())
    }

    /// Applies `page` to one generation inside `tx`: locks its row, checks its checkpoint
    /// is `expected` (else `Raced`, nothing written), folds, writes the rows the page
    /// changed and moves the checkpoint to the page's end.
    async fn apply_in(
        &self,
        tx: &Transaction<'_>,
        model: ReadModel,
        generation: i32,
        expected: Cursor,
        page: &FoldPage,
    ) -> Result<(), ProjectionError> {
        let mine = events_of(page, model)?;
        let table = model.table(generation);
        let lock = tx.prepare_cached(sql::LOCK_GENERATION).await?;
        let locked = tx.query_one(&lock, &[&model.name(), &generation]).await?;
        let checkpoint: &str = locked.try_get(0)?;
        let version: i32 = locked.try_get(2)?;
        if version != model.version() {
            return Err(ProjectionError::OtherVersion {
                model: model.name(),
                found: version,
                ours: model.version(),
            });
        }
        if checkpoint != expected.to_string() {
            return Err(ProjectionError::Raced);
        }
        if !mine.is_empty() {
            // Each stream once: the page holds many events of few streams.
            let mut ids: Vec<&str> = mine.iter().map(|e| e.stream_id).collect();
            ids.sort_unstable();
            ids.dedup();
            // Planned per call (not a prepared statement): a generic plan for an array of
            // ids, made while the table was small, would keep scanning it as it grows.
            let stored = tx.query(&sql::select_states(&table), &[&ids]).await?;
            let mut rows: HashMap<String, Row> = HashMap::with_capacity(ids.len());
            for r in &stored {
                rows.insert(
                    r.try_get("stream_id")?,
                    Row {
                        version: r.try_get("stream_version")?,
                        state: r.try_get("state")?,
                        folded: None,
                    },
                );
            }
            let runs = stream_runs(&mine, |id| rows.get(id).map_or(0, |r| r.version));
            let mut filled = Vec::new();
            let ordered = self.in_version_order(runs, &mut filled).await?;
            match model {
                ReadModel::SlotAvailability => {
                    fold::<SlotState>(tx, model, &table, &ordered, &mut rows).await?
                }
                ReadModel::BookingStatus => {
                    fold::<BookingState>(tx, model, &table, &ordered, &mut rows).await?
                }
                ReadModel::Coupons => {
                    fold::<CouponState>(tx, model, &table, &ordered, &mut rows).await?
                }
                ReadModel::Sales => {
                    // Its rows are its own (a refund adds one): written here, whole.
                    let written = crate::sales::fold(&ordered, &rows)?;
                    let written = written
                        .iter()
                        .map(|r| (r.0.as_str(), r.1, &r.2, r.3.as_deref(), r.4));
                    upsert_rows(tx, &table, written).await?;
                    rows.clear();
                }
            }
            // Only the rows this page changed: a stream whose events in the page were all
            // applied already (a gap fill took them earlier) keeps its stored row as it is.
            let touched = ids.iter().filter_map(|id| {
                let row = rows.get(*id)?;
                let (key, at): &QueryColumns = row.folded.as_ref()?;
                Some((*id, row.version, &row.state, key.as_deref(), *at))
            });
            upsert_rows(tx, &table, touched).await?;
        }
        let applied = i64::try_from(page.rows.len()).unwrap_or(i64::MAX);
        let advance = tx.prepare_cached(sql::ADVANCE).await?;
        tx.execute(
            &advance,
            &[&model.name(), &generation, &page.next.to_string(), &applied],
        )
        .await?;
        Ok(())
    }

    /// Steps until the generation has read everything visible now.
    pub async fn catch_up(
        &self,
        model: ReadModel,
        generation: i32,
    ) -> Result<usize, ProjectionError> {
        let mut total = 0;
        'restart: loop {
            let before = self.generation(model, generation).await?;
            if before.state == "retired" {
                return Ok(total);
            }
            let mut expected = before.checkpoint;
            let mut page = self.store.read_all_folds(expected, self.batch).await?;
            // Pipelined: the next page is read while this one is applied.
            while !page.rows.is_empty() {
                let (next, applied) = tokio::join!(
                    self.store.read_all_folds(page.next, self.batch),
                    self.apply_page(model, generation, expected, &page)
                );
                match applied {
                    Ok(n) => total += n,
                    Err(ProjectionError::Raced) => continue 'restart,
                    Err(e) => return Err(e),
                }
                expected = page.next;
                page = next?;
            }
            return Ok(total);
        }
    }

    /// One pass over every live and building generation: the generations at the same
    /// checkpoint (all of them, normally) share one feed read and one transaction.
    #[tracing::instrument(level = "debug", name = "projection_pass", skip_all)]
    pub async fn step_all(&self) -> Result<usize, ProjectionError> {
        let mut by_checkpoint: BTreeMap<Cursor, Vec<GenerationInfo>> = BTreeMap::new();
        // Another build's generations are that build's to step (a rolling deploy).
        let ours = self.all_generations().await?.into_iter();
        for g in ours.filter(|g| g.version == g.model.version()) {
            by_checkpoint.entry(g.checkpoint).or_default().push(g);
        }
        let mut total = 0;
        for (checkpoint, group) in by_checkpoint {
            let page = self.store.read_all_folds(checkpoint, self.batch).await?;
            if page.rows.is_empty() {
                continue;
            }
            let mut client = self.store.client().await?;
            let tx = client.transaction().await?;
            tx.batch_execute(sql::PROJECTION_TRANSACTION).await?;
            for g in &group {
                match self
                    .apply_in(&tx, g.model, g.generation, checkpoint, &page)
                    .await
                {
                    // Another runner moved that one: it stays as the other left it.
                    Ok(()) | Err(ProjectionError::Raced | ProjectionError::OtherVersion { .. }) => {
                    }
                    Err(e) => return Err(e),
                }
            }
            tx.commit().await?;
            total += page.rows.len();
        }
        Ok(total)
    }

    /// Every live and building generation of every read model, in one query.
    async fn all_generations(&self) -> Result<Vec<GenerationInfo>, ProjectionError> {
        let client = self.store.client().await?;
        let active = client.prepare_cached(sql::ACTIVE_ALL).await?;
        let mut out = Vec::new();
        for r in client.query(&active, &[]).await? {
            let name: &str = r.try_get("name")?;
            // A read model this build does not know (retired from the code) is skipped.
            if let Some(model) = ReadModel::parse(name) {
                out.push(decode_row(model, &r)?);
            }
        }
        Ok(out)
    }

    /// Steps until the generation has read every event in the table — waiting, up to
    /// `patience`, while the feed is held back by transactions still open.
    pub async fn catch_up_fully(
        &self,
        model: ReadModel,
        generation: i32,
        patience: std::time::Duration,
    ) -> Result<(), ProjectionError> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            self.catch_up(model, generation).await?;
            let info = self.generation(model, generation).await?;
            if self.lag(&info).await? == 0 {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(ProjectionError::Store(StoreError::Unavailable(
                    "the feed stayed held back by open transactions".into(),
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The live generation, reaching `min_cursor` if given: it steps the generation itself
    /// (the background runner may be idle or absent) for at most `patience`. Returns the
    /// generation and whether it is still short of `min_cursor` (stale).
    pub async fn live_at_least(
        &self,
        model: ReadModel,
        min_cursor: Option<Cursor>,
        patience: std::time::Duration,
    ) -> Result<(GenerationInfo, bool), ProjectionError> {
        let deadline = std::time::Instant::now() + patience;
        loop {
            let live = match self.live(model).await? {
                Some(live) => live,
                None => {
                    self.ensure().await?;
                    continue;
                }
            };
            let Some(min) = min_cursor else {
                return Ok((live, false));
            };
            if live.checkpoint >= min {
                return Ok((live, false));
            }
            if std::time::Instant::now() >= deadline {
                return Ok((live, true));
            }
            match self.step(model, live.generation).await {
                Ok(0) => self.pause(std::time::Duration::from_millis(20)).await,
                Ok(_) | Err(ProjectionError::Raced) => {}
                // A newer build's generation: only that build steps it; wait for it.
                Err(ProjectionError::OtherVersion { .. }) => {
                    self.pause(std::time::Duration::from_millis(20)).await
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Events the generation has not read yet.
    pub async fn lag(&self, info: &GenerationInfo) -> Result<i64, ProjectionError> {
        Ok(self.store.count_after(info.checkpoint).await?)
    }
}
