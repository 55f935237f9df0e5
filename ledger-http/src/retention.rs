//! The retention job (`ledger_store::retention`): every [`PASS_INTERVAL`] one replica (the
//! lease holder) prunes the client idempotency keys and outcomes older than
//! `AppState::key_retention` (`LEDGER_IDEMPOTENCY_RETENTION_HOURS`) and the provider event
//! ids older than 30 days, in small batches. Counts are in `/metrics`
//! (`ledger_retention_pruned_total{kind="outcomes"|"keys"}`).

use std::sync::LazyLock;
use std::time::Duration;

use ledger_store::retention::Pruned;
use prometheus::{IntCounterVec, Opts};

use crate::error::ApiError;
use crate::startup::AppState;

/// How often the job looks for rows past their window.
pub const PASS_INTERVAL: Duration = Duration::from_secs(60);
/// The pause between two batches of one pass: commands get the database in between.
pub const BATCH_PAUSE: Duration = Duration::from_millis(20);

/// `ledger_retention_pruned_total{kind}`: outcomes and dedup keys pruned.
pub static PRUNED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "ledger_retention_pruned_total",
            "Command outcomes and dedup keys pruned past their retention window",
        ),
        &["kind"],
    )
    .expect("valid metric")
});

/// Runs until the task is dropped.
pub async fn run(state: AppState) {
    loop {
        match prune(&state).await {
            Ok(Pruned {
                outcomes: 0,
                keys: 0,
            }) => {}
            Ok(p) => tracing::info!(outcomes = p.outcomes, keys = p.keys, "retention pass"),
            Err(e) => tracing::warn!(error = %e, "retention pass failed"),
        }
        tokio::time::sleep(PASS_INTERVAL).await;
    }
}

/// One pass: everything past its window at the clock's now.
pub async fn prune(state: &AppState) -> Result<Pruned, ApiError> {
    let pruned = state
        .store
        .prune_all(state.clock.now(), state.key_retention, BATCH_PAUSE)
        .await?;
    PRUNED
        .with_label_values(&["outcomes"])
        .inc_by(pruned.outcomes);
    PRUNED.with_label_values(&["keys"]).inc_by(pruned.keys);
    Ok(pruned)
}
