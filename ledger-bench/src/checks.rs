//! Checks after a run: `ledger-replay verify` over the whole ledger (hash chains and
//! invariants 1, 3, 4, 7), and the seat counts of slots against what clients were told.

use anyhow::bail;
use ledger_core::{SlotState, StreamId};
use ledger_store::Store;
use replay_tools::state::StatePoint;
use replay_tools::{Command, Output, Verdict};

/// Runs `ledger-replay verify` on the bench database; any breach is an error naming it.
pub async fn verify(store: &Store) -> anyhow::Result<()> {
    let mut report = Vec::new();
    let verdict = replay_tools::run(
        store,
        Command::Verify,
        &Output::new(true, false),
        &mut report,
    )
    .await
    .map_err(|e| anyhow::anyhow!("ledger-replay verify: {e}"))?;
    match verdict {
        Verdict::Clean => Ok(()),
        Verdict::Breach => bail!(
            "ledger-replay verify found a breach:\n{}",
            String::from_utf8_lossy(&report)
        ),
    }
}

/// Seats (held, confirmed, capacity) of a slot, folded from its events with the chain
/// checked (`ledger-replay state`), not read from a cache or a read model.
pub async fn slot_seats(store: &Store, slot_id: &str) -> anyhow::Result<(u64, u64, u64)> {
    let stream = StreamId::parse(&format!("slot-{slot_id}"))?;
    let report = replay_tools::state::state(store, &stream, StatePoint::Latest)
        .await
        .map_err(|e| anyhow::anyhow!("folding {stream}: {e}"))?;
    let state: SlotState = serde_json::from_value(report.state)?;
    let capacity = state
        .spec
        .as_ref()
        .map(|s| u64::from(s.capacity))
        .unwrap_or(0);
    Ok((state.held().into(), state.confirmed().into(), capacity))
}
