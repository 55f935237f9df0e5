//! The engine: a read model's generations — started, stepped along the feed (`step`),
//! promoted and retired — and what readers ask of them (`read`); `replay` folds one in
//! memory for `ledger-replay diff`.

mod read;
mod replay;
mod step;

use ledger_store::{Cursor, Store, StoreError};

use crate::models::ReadModel;
use crate::sql;

pub use replay::Replayed;

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
}
