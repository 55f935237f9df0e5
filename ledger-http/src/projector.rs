//! Keeps every read-model generation caught up with the feed. Woken at once by this
//! process's own commits and by other replicas' (`AppState::commits`: their announcer's
//! `COMMITTED` notification, at most one per few milliseconds and never on a command's own
//! transaction, whose commit would then share the cluster-wide NOTIFY lock), and by a poll
//! for commits made elsewhere (the CLI). Each pass that moved a read model is announced
//! (`PROJECTED`), so that readers waiting for a cursor on any replica look again.

use std::time::Duration;

use crate::startup::AppState;

/// Fallback poll when nothing local woke the runner (commits by other processes).
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// After a wake-up the commit may not be visible in the feed yet (an older transaction
/// still open holds the feed back), so the runner keeps trying this often…
const EAGER_RETRY: Duration = Duration::from_millis(20);
/// …for this long before it falls back to waiting for the next wake-up or poll.
const EAGER_WINDOW: Duration = Duration::from_secs(2);
/// After a pass that applied something, the runner lets commits gather this long before
/// the next pass: under load one pass then applies many commits in one transaction
/// instead of one small transaction per commit (BENCHMARKS.md), at the cost of a few
/// milliseconds of read-model lag.
const GATHER: Duration = Duration::from_millis(10);

/// Steps every generation until the task is dropped; sleeps only when caught up.
pub async fn run(state: AppState, poll: Duration) {
    let engine = projections::Engine::new(state.store.clone());
    let mut eager_until = std::time::Instant::now();
    loop {
        // Registered before stepping, so a commit during the step is not missed.
        let woken = state.commits.notified();
        match engine.step_all().await {
            Ok(0) if std::time::Instant::now() < eager_until => {
                tokio::time::sleep(EAGER_RETRY).await
            }
            Ok(0) => {
                if tokio::time::timeout(poll, woken).await.is_ok() {
                    eager_until = std::time::Instant::now() + EAGER_WINDOW;
                }
            }
            Ok(_) => {
                if let Err(e) = state.store.notify(ledger_store::listen::PROJECTED).await {
                    tracing::debug!(error = %e, "could not announce a projection pass");
                }
                tokio::time::sleep(GATHER).await
            }
            Err(e) => {
                tracing::warn!(error = %e, "projection pass failed");
                tokio::time::sleep(poll).await;
            }
        }
    }
}
