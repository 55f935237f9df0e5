//! `rebuild`: loads a synthetic history (1,000 slot streams × 1,000 events by default),
//! times a plain scan of the events table to the client, then a full rebuild of the slot
//! read model, in the same run.

use std::time::Instant;

use anyhow::Context;
use ledger_store::bench;
use projections::{Engine, ReadModel};

use crate::checks;
use crate::harness::Bench;

/// Events per slot stream in the synthetic history.
const EVENTS_PER_STREAM: i64 = 1000;

pub struct RebuildReport {
    pub events: u64,
    pub scan_secs: f64,
    pub rebuild_secs: f64,
}

impl RebuildReport {
    pub fn scan_rate(&self) -> f64 {
        self.events as f64 / self.scan_secs
    }
    pub fn rebuild_rate(&self) -> f64 {
        self.events as f64 / self.rebuild_secs
    }
    pub fn ratio(&self) -> f64 {
        self.rebuild_secs / self.scan_secs
    }
}

pub async fn run(events: i64) -> anyhow::Result<RebuildReport> {
    // The ledger tables are re-created by the load; fsync does not matter to a read test.
    let bench = Bench::start("rebuild", ledger_store::embedded::Durability::Ephemeral).await?;
    let store = bench.store()?;
    let streams = (events / EVENTS_PER_STREAM).max(1);
    let started = Instant::now();
    let loaded = bench::load_synthetic_slots(&store, streams, EVENTS_PER_STREAM)
        .await
        .context("loading")?;
    eprintln!(
        "loaded {loaded} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    store
        .client()
        .await?
        .batch_execute("VACUUM ANALYZE events")
        .await?;

    let started = Instant::now();
    let scanned = bench::scan_events(&store).await?;
    let scan_secs = started.elapsed().as_secs_f64();

    let engine = Engine::new(store.clone());
    let started = Instant::now();
    let generation = engine
        .start_generation(ReadModel::SlotAvailability)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let applied = engine
        .catch_up(ReadModel::SlotAvailability, generation)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rebuild_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        applied as i64 == loaded,
        "rebuild read {applied} of {loaded} events"
    );
    anyhow::ensure!(
        scanned as i64 == loaded,
        "the scan read {scanned} of {loaded} events"
    );
    checks::verify(&store).await?;
    Ok(RebuildReport {
        events: applied as u64,
        scan_secs,
        rebuild_secs,
    })
}
