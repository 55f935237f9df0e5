//! The background jobs of a replica, each run under its lease (`ledger_store::lease`): with
//! several replicas on one database, exactly one runs each job, and another takes it over
//! within seconds when that one dies.

use ledger_store::{listen, Job, Store};

use crate::startup::AppState;
use crate::{outbox, projector, reconciler, retention, sweeper};

/// Between two `COMMITTED` announcements of this replica: a hot slot commits every few
/// milliseconds, and a runner needs one wake-up per pass, not per commit.
const ANNOUNCE_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// Spawns every background job on the current runtime, and on every replica the listener
/// and the announcer of `ledger_store::listen`; abort the handles to stop them.
pub fn spawn(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let (store, wakes) = (
        state.store.clone(),
        vec![
            (listen::PROJECTED, state.projected.clone()),
            (listen::COMMITTED, state.commits.clone()),
        ],
    );
    let listener = tokio::spawn(async move { store.listen(wakes).await });
    let (store, announce) = (state.store.clone(), state.announce.clone());
    let announcer = tokio::spawn(async move {
        loop {
            announce.notified().await;
            if let Err(e) = store.notify(listen::COMMITTED).await {
                tracing::debug!(error = %e, "could not announce a commit");
            }
            tokio::time::sleep(ANNOUNCE_EVERY).await;
        }
    });
    let jobs = Job::ALL.iter().map(|&job| {
        let (store, state) = (state.store.clone(), state.clone());
        match job {
            Job::Projections => leased(store, job, move || {
                projector::run(state.clone(), projector::POLL_INTERVAL)
            }),
            Job::Outbox => leased(store, job, move || {
                outbox::run(state.clone(), outbox::OutboxSettings::default())
            }),
            Job::Sweeper => leased(store, job, move || sweeper::run(state.clone())),
            Job::Reconciliation => leased(store, job, move || reconciler::run(state.clone())),
            Job::Retention => leased(store, job, move || retention::run(state.clone())),
        }
    });
    [listener, announcer].into_iter().chain(jobs).collect()
}

/// `work` as `job`, under its lease (`Store::run_leased`), on a task of its own.
fn leased<F, W>(store: Store, job: Job, work: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> W + Send + 'static,
    W: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move { store.run_leased(job, work).await })
}
