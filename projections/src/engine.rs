//! The engine: generations, checkpointed steps, catch-up, rebuild and swap.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use ledger_core::domain::{BookingState, CouponState, SlotState};
use ledger_store::{Cursor, FoldEvent, FoldPage, FoldRows, Store, StoreError};
use serde_json::Value;

use crate::fold::{fold, EntryRow, QueryColumns, Row};
use crate::models::ReadModel;
use crate::sql;

/// Events per step: one transaction applies at most this many. Each step costs about
/// eight round trips whatever its size, so small pages slow a rebuild down (1 000 vs 5 000:
/// 167k vs 232k events/s, BENCHMARKS.md); a page of 5 000 is a few MB.
pub const BATCH_EVENTS: i64 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event or state could not be read: the projection stops here rather than
    /// skip it.
    #[error("projection {model} cannot apply {stream} v{version}: {reason}")]
    Undecodable {
        model: &'static str,
        stream: String,
        version: i64,
        reason: String,
    },
    /// Another runner moved this generation meanwhile; the step is simply retried.
    #[error("checkpoint moved by another runner")]
    Raced,
    /// No such generation.
    #[error("no generation {0}")]
    NoGeneration(i32),
    /// The generation belongs to another version of the read model (another build of the
    /// service, during a rolling deploy): this build neither folds into it nor swaps it out.
    #[error("projection {model}: generation at version {found}, this build folds version {ours}")]
    OtherVersion {
        model: &'static str,
        found: i32,
        ours: i32,
    },
}

impl From<tokio_postgres::Error> for ProjectionError {
    fn from(e: tokio_postgres::Error) -> Self {
        ProjectionError::Store(StoreError::from(e))
    }
}

/// One generation of a read model.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationInfo {
    pub model: ReadModel,
    pub generation: i32,
    pub version: i32,
    /// `building`, `live` or `retired`.
    pub state: String,
    pub checkpoint: Cursor,
    pub events_applied: i64,
}

#[derive(Clone, Debug)]
pub struct Engine {
    store: Store,
    /// Events per step ([`BATCH_EVENTS`] unless set with [`Engine::with_batch`]).
    batch: i64,
    /// Woken when a read model moved (`LISTEN`, any replica): a reader waiting for a cursor
    /// looks again at once instead of at its next poll.
    moved: Option<std::sync::Arc<tokio::sync::Notify>>,
}

fn decode_row(
    model: ReadModel,
    r: &tokio_postgres::Row,
) -> Result<GenerationInfo, ProjectionError> {
    let text: &str = r.try_get("checkpoint")?;
    Ok(GenerationInfo {
        model,
        generation: r.try_get("generation")?,
        version: r.try_get("version")?,
        state: r.try_get("state")?,
        checkpoint: Cursor::parse(text)
            .map_err(|_| StoreError::Corrupt(format!("checkpoint of {}", model.name())))?,
        events_applied: r.try_get("events_applied")?,
    })
}

/// A page's events of one stream that are ahead of its stored version, in feed order.
struct StreamRun<'a> {
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
fn stream_runs<'a>(page: &[FoldEvent<'a>], rows: &HashMap<String, Row>) -> Vec<StreamRun<'a>> {
    let mut by_stream: BTreeMap<&'a str, Vec<FoldEvent<'a>>> = BTreeMap::new();
    for e in page {
        by_stream.entry(e.stream_id).or_default().push(*e);
    }
    by_stream
        .into_iter()
        .filter_map(|(stream_id, events)| {
            let stored = rows.get(stream_id).map_or(0, |r| r.version);
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

impl Engine {
    pub fn new(store: Store) -> Engine {
        Engine {
            store,
            batch: BATCH_EVENTS,
            moved: None,
        }
    }

    /// The same engine, its waits for a cursor woken by `moved` (see the field).
    pub fn with_wake(self, moved: std::sync::Arc<tokio::sync::Notify>) -> Engine {
        Engine {
            moved: Some(moved),
            ..self
        }
    }

    /// Until `moved` is woken or `poll` has passed.
    async fn pause(&self, poll: std::time::Duration) {
        match &self.moved {
            Some(moved) => {
                let _ = tokio::time::timeout(poll, moved.notified()).await;
            }
            None => tokio::time::sleep(poll).await,
        }
    }

    /// The same engine reading `events` per step (1..=[`ledger_store::MAX_PAGE_EVENTS`]):
    /// small pages put a page boundary where a test needs one.
    pub fn with_batch(self, events: i64) -> Engine {
        Engine {
            batch: events.clamp(1, ledger_store::MAX_PAGE_EVENTS),
            ..self
        }
    }

    /// The page's events of each stream, in stream version order from the stored version
    /// on. The feed is gap-free but not in per-stream order: a transaction takes its id at
    /// its first lock and may then wait for a stream's lock behind one with a larger id,
    /// so a stream's version n+1 can precede version n in the feed. When a stream's events
    /// in the page are not exactly the next versions in order, the versions in between are
    /// read from the stream itself (into `filled`): they are committed, because the stream
    /// lock serialised their transactions before the one whose event is in hand.
    async fn in_version_order<'a>(
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

    /// The live and building generations of `model`.
    pub async fn generations(
        &self,
        model: ReadModel,
    ) -> Result<Vec<GenerationInfo>, ProjectionError> {
        let client = self.store.client().await?;
        let rows = client.query(sql::ACTIVE, &[&model.name()]).await?;
        rows.iter().map(|r| decode_row(model, r)).collect()
    }

    pub async fn live(&self, model: ReadModel) -> Result<Option<GenerationInfo>, ProjectionError> {
        Ok(self
            .generations(model)
            .await?
            .into_iter()
            .find(|g| g.state == "live"))
    }

    /// Starts a new generation of `model` at the code's version: its table is created
    /// empty and its checkpoint is the start of the feed.
    pub async fn start_generation(&self, model: ReadModel) -> Result<i32, ProjectionError> {
        let mut client = self.store.client().await?;
        let tx = client.transaction().await?;
        // Numbered under a lock: two replicas numbering at once would pick the same one.
        tx.execute(sql::LOCK_MODEL_XACT, &[&model.name()]).await?;
        let row = tx
            .query_one(sql::NEXT_GENERATION, &[&model.name(), &model.version()])
            .await?;
        let generation: i32 = row.try_get(0)?;
        tx.batch_execute(&sql::create_table(&model.table(generation)))
            .await?;
        if model == ReadModel::Sales {
            // Reports read a range of days across every key.
            tx.batch_execute(&sql::index_at(&model.table(generation)))
                .await?;
        }
        tx.commit().await?;
        Ok(generation)
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
        let mine: Vec<FoldEvent<'_>> = page
            .rows
            .events()?
            .into_iter()
            .filter(|e| e.category == model.category())
            .collect();
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
            let runs = stream_runs(&mine, &rows);
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
                    let ids: Vec<&str> = written.iter().map(|r| r.0.as_str()).collect();
                    let versions: Vec<i64> = written.iter().map(|r| r.1).collect();
                    let states: Vec<&Value> = written.iter().map(|r| &r.2).collect();
                    let keys: Vec<Option<&str>> = written.iter().map(|r| r.3.as_deref()).collect();
                    let ats: Vec<Option<DateTime<Utc>>> = written.iter().map(|r| r.4).collect();
                    let upsert = tx.prepare_cached(&sql::upsert_states(&table)).await?;
                    tx.execute(&upsert, &[&ids, &versions, &states, &keys, &ats])
                        .await?;
                    rows.clear();
                }
            }
            // Only the rows this page changed: a stream whose events in the page were all
            // applied already (a gap fill took them earlier) keeps its stored row as it is.
            let touched: Vec<(&str, &Row, &QueryColumns)> = ids
                .iter()
                .filter_map(|id| {
                    let row = rows.get(*id)?;
                    Some((*id, row, row.folded.as_ref()?))
                })
                .collect();
            let ids: Vec<&str> = touched.iter().map(|(id, _, _)| *id).collect();
            let versions: Vec<i64> = touched.iter().map(|(_, r, _)| r.version).collect();
            let states: Vec<&Value> = touched.iter().map(|(_, r, _)| &r.state).collect();
            let keys: Vec<Option<&str>> = touched.iter().map(|(_, _, c)| c.0.as_deref()).collect();
            let ats: Vec<Option<DateTime<Utc>>> = touched.iter().map(|(_, _, c)| c.1).collect();
            let upsert = tx.prepare_cached(&sql::upsert_states(&table)).await?;
            tx.execute(&upsert, &[&ids, &versions, &states, &keys, &ats])
                .await?;
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

    pub async fn generation(
        &self,
        model: ReadModel,
        generation: i32,
    ) -> Result<GenerationInfo, ProjectionError> {
        let client = self.store.client().await?;
        let row = client
            .query_opt(sql::GENERATION, &[&model.name(), &generation])
            .await?;
        row.as_ref()
            .map(|r| decode_row(model, r))
            .transpose()?
            .ok_or(ProjectionError::NoGeneration(generation))
    }

    /// Makes `generation` live and retires (and drops) the previous live one, in one
    /// transaction, once the new one has caught up with it.
    pub async fn promote(&self, model: ReadModel, generation: i32) -> Result<(), ProjectionError> {
        loop {
            self.catch_up(model, generation).await?;
            let new = self.generation(model, generation).await?;
            let live = self.live(model).await?;
            if live.as_ref().is_none_or(|l| new.checkpoint >= l.checkpoint) {
                break;
            }
        }
        let mut client = self.store.client().await?;
        let tx = client.transaction().await?;
        tx.query(sql::LOCK_MODEL, &[&model.name()]).await?;
        // A newer build's generation stays live: an older replica still running during a
        // rolling deploy must not swap it back out.
        if let Some(live) = tx.query_opt(sql::LIVE_VERSION, &[&model.name()]).await? {
            let found: i32 = live.try_get(0)?;
            if found > model.version() {
                return Err(ProjectionError::OtherVersion {
                    model: model.name(),
                    found,
                    ours: model.version(),
                });
            }
        }
        // Tables of generations retired by earlier swaps go; the one retired now stays
        // until the next swap, so a query that has just resolved it still succeeds.
        for r in tx.query(sql::LONG_RETIRED, &[&model.name()]).await? {
            let old: i32 = r.try_get(0)?;
            tx.batch_execute(&sql::drop_table(&model.table(old)))
                .await?;
        }
        tx.query(sql::RETIRE_LIVE, &[&model.name()]).await?;
        tx.execute(sql::MAKE_LIVE, &[&model.name(), &generation])
            .await?;
        tx.commit().await?;
        tracing::info!(
            model = model.name(),
            generation,
            "projection generation live"
        );
        Ok(())
    }

    /// Builds a new generation from the start of the feed beside the live one, then swaps.
    pub async fn rebuild(&self, model: ReadModel) -> Result<i32, ProjectionError> {
        let generation = self.start_generation(model).await?;
        self.promote(model, generation).await?;
        Ok(generation)
    }

    /// At start-up: every read model gets a live generation at the code's version (the
    /// first one, or a rebuild when the version changed).
    ///
    /// Replicas starting together build each read model once: the check and the build run
    /// under a lock per read model (a session lock on a connection of its own, released
    /// when it closes), so the second replica waits and then finds the first one's
    /// generation live. A live generation of a newer version is left alone (this build is
    /// the older one of a rolling deploy).
    pub async fn ensure(&self) -> Result<(), ProjectionError> {
        for model in ReadModel::ALL {
            let lock = deadpool_postgres::Object::take(self.store.client().await?);
            lock.execute(sql::LOCK_MODEL_SESSION, &[&model.name()])
                .await?;
            let gens = self.generations(model).await?;
            let live = gens.iter().find(|g| g.state == "live");
            let current = live.is_some_and(|g| g.version >= model.version());
            if let Some(newer) = live.filter(|g| g.version > model.version()) {
                tracing::warn!(
                    model = model.name(),
                    live = newer.version,
                    ours = model.version(),
                    "a newer build's read model is live; this replica leaves it alone"
                );
            }
            if !current {
                let building = gens
                    .iter()
                    .find(|g| g.state == "building" && g.version == model.version());
                let generation = match building {
                    Some(g) => g.generation,
                    None => self.start_generation(model).await?,
                };
                match self.promote(model, generation).await {
                    // A newer build went live meanwhile: it stays, as above.
                    Ok(()) | Err(ProjectionError::OtherVersion { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
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

    /// Retires a generation that was never made live (a `diff`'s scratch copy) and drops
    /// its table. Refuses the live one.
    pub async fn discard(&self, model: ReadModel, generation: i32) -> Result<(), ProjectionError> {
        if self.generation(model, generation).await?.state == "live" {
            return Err(ProjectionError::NoGeneration(generation));
        }
        let client = self.store.client().await?;
        client
            .execute(sql::RETIRE_GENERATION, &[&model.name(), &generation])
            .await?;
        client
            .batch_execute(&sql::drop_table(&model.table(generation)))
            .await?;
        Ok(())
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

    /// Events the generation has not read yet.
    pub async fn lag(&self, info: &GenerationInfo) -> Result<i64, ProjectionError> {
        Ok(self.store.count_after(info.checkpoint).await?)
    }
}
