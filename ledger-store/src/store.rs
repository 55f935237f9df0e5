//! The `Store` handle: a connection pool with the ledger's session limits, and a clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use ledger_core::Clock;

use crate::cycle::Writers;
use crate::tls::Tls;
use crate::{clock::SystemClock, StoreError};

/// Limits of a store's connections. Every one is bounded; the defaults say why.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Connections in the pool. Each holds a server process; a hot slot is serialised by its
    /// row lock anyway, so more connections than the server has cores mostly queue.
    pub pool_max_size: usize,
    /// How long a request waits for a free connection before answering "unavailable".
    pub pool_wait_timeout: Duration,
    /// Longest single statement. Appends take milliseconds; anything near this is a fault.
    pub statement_timeout: Duration,
    /// Longest wait for a row lock, so a stuck holder turns into 503s instead of a pile-up.
    pub lock_timeout: Duration,
    /// A transaction left open this long is killed: an open transaction holds back the
    /// gap-free feed for every reader (see ARCHITECTURE.md).
    pub idle_in_transaction_timeout: Duration,
    /// How connections are secured (`sslmode`, `sslrootcert`: see [`crate::tls`]).
    pub tls: Tls,
}

impl StoreSettings {
    /// How long a COMMIT may take before the command answers 503: half the statement
    /// timeout. With a synchronous standby a COMMIT waits until the standby has the commit;
    /// while no standby confirms (after a failover, the old primary restarted by its keeper)
    /// the wait does not end on its own, and a client must get a retryable 503, not a hang.
    /// The connection is dropped then, its outcome unknown: a retry with the same key finds
    /// out, and a replay is itself answered only once the standby confirms.
    pub fn commit_deadline(&self) -> Duration {
        self.statement_timeout / 2
    }

    /// How long one batch of the command cycle may take in all before its commands answer
    /// 503 and its connection is dropped: a lock wait, the statements and the commit. The
    /// server's own timeouts cannot end a wait for a server that does not answer (a hung
    /// database or network); this does, so a writer is never stuck.
    pub fn batch_deadline(&self) -> Duration {
        self.lock_timeout + self.statement_timeout
    }

    /// The longest a request should wait for the database in all: a connection from the
    /// pool, then a batch. The HTTP layer answers 503 past it.
    pub fn request_deadline(&self) -> Duration {
        self.pool_wait_timeout + self.batch_deadline()
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            pool_max_size: 16,
            pool_wait_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(5),
            idle_in_transaction_timeout: Duration::from_secs(15),
            tls: Tls::default(),
        }
    }
}

/// Handle on the event store. Cheap to clone; clones share the pool and the writers.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    clock: Arc<dyn Clock>,
    writers: Arc<Writers>,
    counters: Arc<Counters>,
    commit_deadline: Duration,
    request_deadline: Duration,
    batch_deadline: Duration,
    /// For connections of their own (`LISTEN`): the settings the pool connects with.
    pub(crate) direct: Arc<(tokio_postgres::Config, Tls)>,
    /// The key-encryption key and the sealing cache of personal data (`personal.rs`).
    pub(crate) keyring: Arc<crate::personal::Keyring>,
}

/// What the command cycle has read, since the store was opened: how much of the
/// per-booking detail each decision needed, and how often a stream had to be folded.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) folds: AtomicU64,
    pub(crate) index_rows: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) batched_commands: AtomicU64,
}

/// A reading of [`Store::counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCounters {
    /// Streams folded from their events under a lock (a missing or old snapshot).
    pub folds: u64,
    /// Rows read from `slot_holds` and `coupon_claims` under a lock.
    pub index_rows: u64,
    /// Batches the writers ran (group commit)…
    pub batches: u64,
    /// …and the commands in them: their ratio is the mean batch size.
    pub batched_commands: u64,
}

/// The connection pool now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    pub max_size: usize,
    /// Connections open.
    pub size: usize,
    /// Open and idle.
    pub available: usize,
    /// Callers waiting for one.
    pub waiting: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("pool", &self.pool.status())
            .finish()
    }
}

/// Adds the ledger's session settings to whatever options the configuration already has.
pub fn with_session_limits(
    mut pg: tokio_postgres::Config,
    settings: &StoreSettings,
) -> tokio_postgres::Config {
    let ours = format!(
        "-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
        settings.statement_timeout.as_millis(),
        settings.lock_timeout.as_millis(),
        settings.idle_in_transaction_timeout.as_millis(),
    );
    let options = match pg.get_options() {
        Some(existing) if !existing.trim().is_empty() => format!("{existing} {ours}"),
        _ => ours,
    };
    pg.options(&options);
    if pg.get_application_name().is_none() {
        pg.application_name("ledger");
    }
    pg
}

impl Store {
    /// Builds the pool. Connections are opened on first use; call [`Store::ping`] to check.
    pub fn connect(
        pg: tokio_postgres::Config,
        settings: &StoreSettings,
    ) -> Result<Store, StoreError> {
        let config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let sockets_only = crate::tls::sockets_only(&pg);
        let pg = with_session_limits(pg, settings);
        let direct = Arc::new((pg.clone(), settings.tls.clone()));
        let manager = if sockets_only {
            Manager::from_config(pg, tokio_postgres::NoTls, config)
        } else {
            let connector = settings
                .tls
                .connector()
                .map_err(|e| StoreError::Database(e.to_string()))?;
            Manager::from_config(pg, connector, config)
        };
        let pool = Pool::builder(manager)
            .max_size(settings.pool_max_size)
            .wait_timeout(Some(settings.pool_wait_timeout))
            .create_timeout(Some(settings.pool_wait_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("connection pool: {e}")))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let counters = Arc::new(Counters::default());
        let commit_deadline = settings.commit_deadline();
        Ok(Store {
            writers: Arc::new(Writers::new(
                pool.clone(),
                clock.clone(),
                counters.clone(),
                (commit_deadline, settings.batch_deadline()),
            )),
            pool,
            clock,
            counters,
            commit_deadline,
            request_deadline: settings.request_deadline(),
            batch_deadline: settings.batch_deadline(),
            direct,
            keyring: Arc::new(crate::personal::Keyring::new(
                crate::personal::Kek::ephemeral(),
                false,
            )),
        })
    }

    /// Replaces the clock that stamps `recorded_at` and times every decision (tests move
    /// time without sleeping). Call it before the store is used: the writers are new.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Store {
        self.writers = Arc::new(Writers::new(
            self.pool.clone(),
            clock.clone(),
            self.counters.clone(),
            (self.commit_deadline, self.batch_deadline),
        ));
        self.clock = clock;
        self
    }

    /// See [`StoreSettings::request_deadline`].
    pub fn request_deadline(&self) -> Duration {
        self.request_deadline
    }

    /// See [`StoreSettings::commit_deadline`].
    pub(crate) fn commit_deadline(&self) -> Duration {
        self.commit_deadline
    }

    pub(crate) fn writers(&self) -> &Writers {
        &self.writers
    }

    /// What the command cycle has read so far (see [`StoreCounters`]).
    pub fn counters(&self) -> StoreCounters {
        StoreCounters {
            folds: self.counters.folds.load(Ordering::Relaxed),
            index_rows: self.counters.index_rows.load(Ordering::Relaxed),
            batches: self.counters.batches.load(Ordering::Relaxed),
            batched_commands: self.counters.batched_commands.load(Ordering::Relaxed),
        }
    }

    /// The connection pool's size and use.
    pub fn pool_status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        }
    }

    /// Lock requests waiting in this database now (`pg_locks`, not granted).
    pub async fn lock_waits(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                 WHERE NOT l.granted AND d.datname = current_database()",
                &[],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// A pooled connection, for crates that own their own SQL (projections).
    pub async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Closes the pool: waiting requests fail and idle connections are dropped.
    pub fn close(&self) {
        self.pool.close();
    }
}
