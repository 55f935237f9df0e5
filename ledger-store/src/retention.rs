//! Retention (DESIGN.md "The ledger"): dedup keys are unique while kept and free once
//! pruned. Client idempotency keys and their outcomes are kept for a window of at least
//! [`MIN_CLIENT_RETENTION`] ([`DEFAULT_CLIENT_RETENTION`] unless configured), provider
//! event ids for [`PROVIDER_RETENTION`]; the events themselves keep their key for ever.
//!
//! Pruning runs in batches of one short statement each, oldest first, skipping rows a
//! command holds: a command never waits for the pruner beyond one batch, and the pruner
//! never waits for a command.

use chrono::{DateTime, Duration, Utc};

use crate::{sql, Store, StoreError};

/// The default window of client idempotency keys: 7 days.
pub const DEFAULT_CLIENT_RETENTION: Duration = Duration::hours(168);
/// The shortest window allowed: 3 days, longer than any client's retries.
pub const MIN_CLIENT_RETENTION: Duration = Duration::hours(72);
/// Provider event ids are kept this long: longer than any provider retries a delivery
/// (Stripe: 3 days; Mercado Pago and Pix: less).
pub const PROVIDER_RETENTION: Duration = Duration::days(30);
/// Rows per pruning statement.
pub const PRUNE_BATCH: i64 = 250;
/// The pruner rests this many times as long as its last batch took (see
/// [`Store::prune_all`]).
pub const REST_PER_WORK: u32 = 4;

/// The shortest time a key of `scope` is kept: client keys ([`MIN_CLIENT_RETENTION`], the
/// configured window may be longer) or provider event ids ([`PROVIDER_RETENTION`]).
pub fn shortest_window(scope: &str) -> Duration {
    match scope.starts_with(CLIENT_SCOPE_PREFIX) {
        true => MIN_CLIENT_RETENTION,
        false => PROVIDER_RETENTION,
    }
}

/// Whether a key of `scope` first used at `earlier` may carry an event again at `later`:
/// only once it can have been pruned (what `verify` and `import` accept; the SQL of
/// `sql::DUPLICATE_DEDUP_KEYS` says the same).
pub fn reuse_allowed(scope: &str, earlier: DateTime<Utc>, later: DateTime<Utc>) -> bool {
    later - earlier >= shortest_window(scope)
}

/// Scopes of client idempotency keys start with this (`client:<sub>`); the SQL's
/// `LIKE 'client:%'` says the same.
pub const CLIENT_SCOPE_PREFIX: &str = "client:";

/// What one batch removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub outcomes: u64,
    pub keys: u64,
}

impl Pruned {
    fn add(&mut self, other: Pruned) {
        self.outcomes += other.outcomes;
        self.keys += other.keys;
    }
}

/// Which rows a pruning batch removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Client outcomes with their keys.
    Outcomes,
    /// Client keys with their outcomes (keys that have none included).
    ClientKeys,
    /// Provider event ids.
    ProviderIds,
}

impl Kept {
    fn statement(self) -> &'static str {
        match self {
            Kept::Outcomes => sql::PRUNE_OUTCOMES,
            Kept::ClientKeys => sql::PRUNE_CLIENT_KEYS,
            Kept::ProviderIds => sql::PRUNE_PROVIDER_KEYS,
        }
    }
}

impl Store {
    /// One batch: at most `limit` rows of `kept` recorded before `before`, oldest first, in
    /// one statement (its own transaction).
    pub async fn prune(
        &self,
        kept: Kept,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Pruned, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(kept.statement()).await?;
        let row = client.query_one(&stmt, &[&before, &limit]).await?;
        let count = |i: usize| -> Result<u64, StoreError> {
            Ok(u64::try_from(row.try_get::<_, i64>(i)?).unwrap_or(0))
        };
        Ok(Pruned {
            outcomes: count(0)?,
            keys: count(1)?,
        })
    }

    /// Prunes everything past its window at `now`, batch after batch. Between two batches
    /// it rests [`REST_PER_WORK`] times as long as the batch took, and at least `pause`:
    /// however large the backlog, pruning takes a small share of the database, and
    /// commands keep theirs.
    pub async fn prune_all(
        &self,
        now: DateTime<Utc>,
        client_retention: Duration,
        pause: std::time::Duration,
    ) -> Result<Pruned, StoreError> {
        let mut total = Pruned::default();
        for (kept, window) in [
            (Kept::Outcomes, client_retention),
            (Kept::ClientKeys, client_retention),
            (Kept::ProviderIds, PROVIDER_RETENTION),
        ] {
            loop {
                let began = std::time::Instant::now();
                let batch = self.prune(kept, now - window, PRUNE_BATCH).await?;
                let worked = began.elapsed();
                total.add(batch);
                let rows = match kept {
                    Kept::Outcomes => batch.outcomes,
                    Kept::ClientKeys | Kept::ProviderIds => batch.keys,
                };
                if rows < PRUNE_BATCH as u64 {
                    break;
                }
                tokio::time::sleep(pause.max(worked * REST_PER_WORK)).await;
            }
        }
        Ok(total)
    }

    /// Dedup keys and command outcomes kept now.
    pub async fn retained(&self) -> Result<(i64, i64), StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::RETAINED_COUNTS).await?;
        let row = client.query_one(&stmt, &[]).await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }
}
