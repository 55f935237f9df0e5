//! `rebuild`: loads a synthetic history (1,000 slot streams × 1,000 events by default),
//! times a plain scan of the events table to the client, then a full rebuild of the slot
//! read model, in the same run.

use std::time::Instant;

use anyhow::Context;
use ledger_store::{bench, AppendBatch, NewEvent, Store, StreamAppend, MAX_EVENTS_PER_COMMIT};
use projections::{Engine, ReadModel};
use serde_json::json;

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
    let loaded = load_chained(&store, streams, EVENTS_PER_STREAM)
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

/// Loaders working at once (the machine has 2 cores; PostgreSQL does most of the work).
const LOADERS: i64 = 4;

/// Slot streams `slot-bench-<n>`: `SlotScheduled`, then `CapacityChanged` up to
/// `per_stream` events, appended through the real append path in commits of
/// [`MAX_EVENTS_PER_COMMIT`], so every hash chain is genuine and `verify` checks them.
async fn load_chained(store: &Store, streams: i64, per_stream: i64) -> anyhow::Result<i64> {
    let mut loaders = tokio::task::JoinSet::new();
    for worker in 0..LOADERS {
        let store = store.clone();
        loaders.spawn(async move {
            let mut n = 1 + worker;
            while n <= streams {
                let stream = ledger_core::StreamId::parse(&format!("slot-bench-{n}"))?;
                let versions: Vec<i64> = (1..=per_stream).collect();
                for chunk in versions.chunks(MAX_EVENTS_PER_COMMIT) {
                    let events = chunk
                        .iter()
                        .map(|&v| synthetic_event(v))
                        .collect::<anyhow::Result<_>>()?;
                    store
                        .append(AppendBatch {
                            streams: vec![StreamAppend::new(stream.clone(), events)],
                            dedup: None,
                            outcome: None,
                        })
                        .await?;
                }
                n += LOADERS;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = loaders.join_next().await {
        done??;
    }
    Ok(streams * per_stream)
}

fn synthetic_event(version: i64) -> anyhow::Result<NewEvent> {
    let (event_type, payload) = if version == 1 {
        (
            "SlotScheduled",
            json!({"spec": {
                "activity_id": "bench", "capacity": 20,
                "cutoff": {"kind": "minutes_before", "minutes": 30},
                "price": {"amount_minor": 100, "currency": "ARS"},
                "starts_at": "2026-12-01T12:00:00Z",
                "time_zone": "America/Argentina/Buenos_Aires"}}),
        )
    } else {
        (
            "CapacityChanged",
            json!({"capacity": 20 + version % 50, "oversold": 0}),
        )
    };
    Ok(NewEvent {
        event_id: ledger_core::EventId::from_uuid(uuid::Uuid::now_v7())?,
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload,
        metadata: json!({"source": "bench"}),
    })
}
