//! The background jobs of a replica, each run under its lease (`ledger_store::lease`): with
//! several replicas on one database, exactly one runs each job, and another takes it over
//! within seconds when that one dies.

use ledger_store::Job;

use crate::startup::AppState;
use crate::{outbox, projector, reconciler, sweeper};

/// Spawns every background job on the current runtime; abort the handles to stop them.
pub fn spawn(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    Job::ALL
        .iter()
        .map(|&job| {
            let (store, state) = (state.store.clone(), state.clone());
            let task = match job {
                Job::Projections => tokio::spawn(async move {
                    store
                        .run_leased(job, || {
                            projector::run(state.clone(), projector::POLL_INTERVAL)
                        })
                        .await
                }),
                Job::Outbox => tokio::spawn(async move {
                    store
                        .run_leased(job, || {
                            outbox::run(state.clone(), outbox::OutboxSettings::default())
                        })
                        .await
                }),
                Job::Sweeper => tokio::spawn(async move {
                    store.run_leased(job, || sweeper::run(state.clone())).await
                }),
                Job::Reconciliation => tokio::spawn(async move {
                    store
                        .run_leased(job, || reconciler::run(state.clone()))
                        .await
                }),
            };
            task
        })
        .collect()
}
