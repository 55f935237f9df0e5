//! Leases on background work, so that with several replicas on one database exactly one
//! runs each job (projection runner, outbox, sweeper, reconciliation, retention).
//!
//! A lease is a session-level advisory lock held on a connection of its own, taken out of
//! the pool. PostgreSQL releases it the moment that session ends — the replica died, its
//! connection broke, the database failed over (a new primary holds no locks) — and another
//! replica, retrying every [`LEASE_RETRY`], takes the job over. The holder checks its
//! connection every [`LEASE_CHECK`]; when the check fails it stops the job, because the
//! lock may already be someone else's.

use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Object};

use crate::{sql, Store, StoreError};

/// How often a replica without the lease tries to take it: takeover within about this
/// long once the holder's session has ended (the target is 5 s).
pub const LEASE_RETRY: Duration = Duration::from_secs(1);
/// How often the holder checks that its session (and so the lock) is still there…
pub const LEASE_CHECK: Duration = Duration::from_secs(1);
/// …and how long that check may take before the lease counts as lost.
pub const LEASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The background jobs that run on one replica at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    Projections,
    Outbox,
    Sweeper,
    Reconciliation,
    Retention,
}

impl Job {
    pub const ALL: [Job; 5] = [
        Job::Projections,
        Job::Outbox,
        Job::Sweeper,
        Job::Reconciliation,
        Job::Retention,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Job::Projections => "projections",
            Job::Outbox => "outbox",
            Job::Sweeper => "sweeper",
            Job::Reconciliation => "reconciliation",
            Job::Retention => "retention",
        }
    }

    /// The advisory lock key: a constant per job, in a range of its own (the high 32 bits
    /// spell "LDGR"), so it cannot meet another application's keys by accident.
    fn key(self) -> i64 {
        const BASE: i64 = 0x4c44_4752 << 32;
        BASE + match self {
            Job::Projections => 1,
            Job::Outbox => 2,
            Job::Sweeper => 3,
            Job::Reconciliation => 4,
            Job::Retention => 5,
        }
    }
}

/// A held lease. Dropping it closes its session, which releases the lock.
pub struct Lease {
    job: Job,
    client: ClientWrapper,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("job", &self.job).finish()
    }
}

impl Lease {
    pub fn job(&self) -> Job {
        self.job
    }

    /// Whether the session holding the lock still answers (within [`LEASE_CHECK_TIMEOUT`]).
    pub async fn held(&self) -> bool {
        let check = self.client.simple_query("SELECT 1");
        matches!(
            tokio::time::timeout(LEASE_CHECK_TIMEOUT, check).await,
            Ok(Ok(_))
        )
    }

    /// Returns when the lease is lost (checked every [`LEASE_CHECK`]); never while it holds.
    pub async fn lost(&self) {
        loop {
            tokio::time::sleep(LEASE_CHECK).await;
            if !self.held().await {
                return;
            }
        }
    }
}

impl Store {
    /// Takes `job`'s lease if no session holds it: `None` when another one does.
    pub async fn try_lease(&self, job: Job) -> Result<Option<Lease>, StoreError> {
        // Out of the pool: the session is the lease's for as long as it lives.
        let client = Object::take(self.client().await?);
        let row = client.query_one(sql::TRY_LEASE, &[&job.key()]).await?;
        let taken: bool = row.try_get(0)?;
        Ok(taken.then_some(Lease { job, client }))
    }

    /// Runs `work` while this process holds `job`'s lease, for as long as `work` runs:
    /// waits for the lease, runs `work` until it ends or the lease is lost, then waits for
    /// the lease again. Never returns while `work` does not; for a task that is aborted.
    pub async fn run_leased<F, W>(&self, job: Job, mut work: F)
    where
        F: FnMut() -> W,
        W: std::future::Future<Output = ()>,
    {
        loop {
            match self.try_lease(job).await {
                Ok(Some(lease)) => {
                    tracing::info!(job = job.name(), "took the lease: running here");
                    tokio::select! {
                        () = work() => {}
                        () = lease.lost() => {
                            tracing::warn!(job = job.name(), "lost the lease: stopped here");
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(job = job.name(), error = %e, "lease not taken"),
            }
            tokio::time::sleep(LEASE_RETRY).await;
        }
    }
}
